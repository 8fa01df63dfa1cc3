import logging
import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from imaging.dimse.scp import Listener
from imaging.dimse.tls import server_context


class Command(BaseCommand):
    help = (
        "Run the DICOM listener (C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE) for every clinic: the called AE "
        "title picks the clinic, the calling AE title must be one of its registered AEs (register_ae)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=11112, help="Port to listen on (default 11112).")
        parser.add_argument(
            "--tls-cert", type=Path, help="Server certificate (PEM): the listener speaks TLS only."
        )
        parser.add_argument("--tls-key", type=Path, help="Private key (PEM) of --tls-cert.")
        parser.add_argument(
            "--tls-ca",
            type=Path,
            help="CA certificates (PEM) that client certificates must chain to (mutual TLS).",
        )

    def handle(
        self,
        host: str,
        port: int,
        tls_cert: Path | None,
        tls_key: Path | None,
        tls_ca: Path | None,
        **options,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise CommandError("--tls-cert and --tls-key go together.")
        if tls_ca is not None and tls_cert is None:
            raise CommandError("--tls-ca needs --tls-cert and --tls-key.")
        ssl_context = None
        if tls_cert is not None:
            try:
                ssl_context = server_context(tls_cert, tls_key, tls_ca)
            except OSError as exc:  # ssl.SSLError included
                raise CommandError(f"Cannot use the TLS files: {exc.strerror or exc}.") from exc
        # pynetdicom narrates every PDU at INFO; operators need its warnings only.
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        try:
            listener = Listener(host, port, ssl_context)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from exc

        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        mode = "DICOM TLS" + (" with client certificates" if tls_ca else "") if ssl_context else "plain DICOM"
        self.stdout.write(f"DICOM listener on {host}:{listener.port} ({mode}); Ctrl-C stops it.")
        self.stdout.flush()
        stopping.wait()
        listener.stop()
        self.stdout.write("DICOM listener stopped.")
