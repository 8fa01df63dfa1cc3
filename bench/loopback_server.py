"""A server that answers every GET with the same N bytes from memory, and does nothing else.

run_dicom.py retrieves from it as it retrieves a study from Palisade and Orthanc, with the same client
code: what that client reaches here is the most any server could show on this machine, so a ratio
target can be read against it. Run as its own process (the client's and the server's Python never
share a GIL): `python loopback_server.py SIZE` prints its port, then serves until killed.
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(size: int) -> None:
    body = bytes(size)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/related; boundary=x")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
