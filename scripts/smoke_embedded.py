"""Drive a portal started by `make run`: sign in with the printed demo password, see the role, and
wait until the Celery worker (heartbeat from beat) and the clinic summary task have run."""

import base64
import http.cookiejar
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

BASE = "http://127.0.0.1:8000"
DEADLINE_SECONDS = 150


def wait_for(description: str, check, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            print(f"ok: {description}")
            return result
        time.sleep(1)
    raise SystemExit(f"smoke failed: {description} (not within {timeout:.0f}s)")


def totp_now(secret: str) -> str:
    """RFC 6238 with an authenticator app's defaults (SHA-1, 30 s, six digits), as django-otp checks it."""
    from django_otp.oath import totp

    return f"{totp(base64.b32decode(secret)):06d}"


def main(log_path: str) -> None:
    log = Path(log_path)
    creds = wait_for(
        "make run printed the demo credentials",
        lambda: re.search(r"^(radiologist@\S+)\s+Radiologist\s+(\S+)$", log.read_text(), re.M),
        300,
    )
    email, password = creds.group(1), creds.group(2)
    # The demo clinic requires a second factor of its staff: seed_demo prints each one's TOTP secret in
    # a second table, which may reach the log a moment after the first.
    secret = wait_for(
        "make run printed the demo TOTP secrets",
        lambda: re.search(rf"^{re.escape(email)}\s+([A-Z2-7]{{32}})$", log.read_text(), re.M),
        60,
    ).group(1)

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def get(path: str) -> str:
        try:
            with opener.open(BASE + path, timeout=10) as response:
                return response.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return ""

    wait_for("/readyz answers ready", lambda: '"status": "ready"' in get("/readyz"), 120)
    login_page = get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
    form = urllib.parse.urlencode({"username": email, "password": password, "csrfmiddlewaretoken": token})
    request = urllib.request.Request(BASE + "/accounts/login/", data=form.encode(), headers={"Referer": BASE})
    with opener.open(request, timeout=10) as response:
        page, landed = response.read().decode(), response.url
    if landed.startswith(BASE + "/accounts/login/verify/"):
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"code": totp_now(secret), "csrfmiddlewaretoken": token})
        request = urllib.request.Request(landed, data=form.encode(), headers={"Referer": BASE})
        with opener.open(request, timeout=10) as response:
            page, landed = response.read().decode(), response.url
    if landed != BASE + "/t/demo/":
        raise SystemExit(f"smoke failed: sign-in landed on {landed}")
    if 'data-testid="dashboard-role">Radiologist<' not in page:
        raise SystemExit("smoke failed: the dashboard does not show the role")
    print("ok: the demo radiologist signed in and sees their role")

    wait_for(
        "the worker counted the clinic", lambda: 'data-testid="summary"' in get("/t/demo/"), DEADLINE_SECONDS
    )
    wait_for(
        "beat's heartbeat reached the worker",
        lambda: 'data-testid="worker-status">running<' in get("/t/demo/"),
        DEADLINE_SECONDS,
    )


if __name__ == "__main__":
    main(sys.argv[1])
