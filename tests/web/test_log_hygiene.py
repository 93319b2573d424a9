"""S29 LOG-HYGIENE: the secrets of a sign-up and its mailed links never reach a log line, neither
the application's nor the web servers' access logs (gunicorn in `make run`, Werkzeug in
development)."""
from __future__ import annotations

import logging
import threading
import urllib.request
from datetime import timedelta
from types import SimpleNamespace
from urllib.error import HTTPError

import pytest
from werkzeug.serving import make_server

from portal.web.logs import MASK, GunicornLogger, redact
from tests.auth.conftest import GOOD_PASSWORD, SIGNUP, last_link


@pytest.mark.parametrize("line, secret", [
    ("GET /auth/set-password?token=Zq9sEcReT HTTP/1.1", "Zq9sEcReT"),
    ("GET /auth/reset?next=/x&token=Zq9sEcReT HTTP/1.1", "Zq9sEcReT"),
    ("GET /accounts/link/Zq9sEcReT HTTP/1.1", "Zq9sEcReT"),
    ("GET /accounts/link/Zq9sEcReT?x=1 HTTP/1.1", "Zq9sEcReT"),
    ("GET /s/v/Zq9sEcReT HTTP/1.1", "Zq9sEcReT"),
    ("https://portal.test/s/c/Zq9sEcReT", "Zq9sEcReT"),
])
def test_link_tokens_are_masked(line, secret):
    cleaned = redact(line)
    assert secret not in cleaned
    assert MASK in cleaned


@pytest.mark.parametrize("line", [
    "GET /s/v/tickets/42/reply HTTP/1.1",  # a ticket page opened from a link: no secret in it
    "GET /tickets/?q=ann&status=open HTTP/1.1",
    "GET /accounts/ketovital/settings HTTP/1.1",
])
def test_ordinary_urls_are_left_alone(line):
    assert redact(line) == line


def test_gunicorns_access_log_atoms_carry_no_token_or_key():
    from gunicorn.config import Config

    logger = GunicornLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET", "RAW_URI": "/accounts/link/Zq9sEcReT", "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/accounts/link/Zq9sEcReT", "QUERY_STRING": "token=AlsoSecret",
        "HTTP_REFERER": "https://portal.test/auth/set-password?token=RefSecret",
        "REMOTE_ADDR": "127.0.0.1",
    }
    request = SimpleNamespace(headers=[("X-API-Key", "mak_KeySecret"), ("Cookie", "session=CookieSecret")])
    response = SimpleNamespace(status="303 See Other", headers=[], sent=0)
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=3))
    written = " ".join(str(v) for v in atoms.values())
    for secret in ("Zq9sEcReT", "AlsoSecret", "RefSecret", "mak_KeySecret", "CookieSecret"):
        assert secret not in written
    assert atoms["r"] == f"GET /accounts/link/{MASK} HTTP/1.1"
    assert atoms["s"] == "303"


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_the_development_servers_request_log_masks_tokens(app):
    # A handler on the werkzeug logger itself: other tests (the live portal of the browser tests)
    # may quieten that logger or stop it propagating, which would hide its lines from caplog.
    werkzeug = logging.getLogger("werkzeug")
    saved = (werkzeug.level, werkzeug.disabled)
    collect = _Collect()
    werkzeug.addHandler(collect)
    werkzeug.setLevel(logging.INFO)
    werkzeug.disabled = False
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        for path in ("/auth/set-password?token=Zq9sEcReT", "/accounts/link/Zq9sEcReT"):
            try:
                urllib.request.urlopen(base + path, timeout=10).close()
            except HTTPError:
                pass  # a refusal is fine: only the log line matters here
    finally:
        server.shutdown()
        thread.join(5)
        werkzeug.removeHandler(collect)
        werkzeug.setLevel(saved[0])
        werkzeug.disabled = saved[1]
    lines = collect.lines
    assert any("/accounts/link/" in line for line in lines), lines
    assert not any("Zq9sEcReT" in line for line in lines), lines


def test_a_whole_sign_up_logs_none_of_its_secrets(client, caplog):
    """Sign up, confirm from the mail, set the password, log out, fail and succeed a login:
    no password, PIN, answer or link token appears in any log record."""
    # A logging.config call elsewhere in the session (migrations/env.py keeps existing loggers
    # on, others may not) could have disabled loggers; switch them back on, or this test would
    # read nothing and pass for it.
    disabled = [logger for logger in logging.root.manager.loggerDict.values()
                if isinstance(logger, logging.Logger) and logger.disabled]
    for logger in disabled:
        logger.disabled = False
    try:
        _sign_up_with_logs(client, caplog)
    finally:
        for logger in disabled:
            logger.disabled = True


def _sign_up_with_logs(client, caplog):
    with caplog.at_level(logging.DEBUG):
        assert client.post("/auth/signup", data=SIGNUP).status_code in (200, 303)
        link = last_link("signup_confirm")
        token = link.split("token=", 1)[1]
        first = client.get(link)
        page = client.get(first.headers["Location"])
        assert page.status_code == 200
        done = client.post("/auth/set-password", data={
            "step": "password", "new_password": GOOD_PASSWORD, "confirm_password": GOOD_PASSWORD})
        assert done.status_code == 303
        client.post("/auth/logout")
        failed = client.post("/auth/login", data={"email": SIGNUP["email"],
                                                  "password": "Wrong 42 Tulip!!"})
        assert failed.status_code == 200
        entered = client.post("/auth/login", data={"email": SIGNUP["email"],
                                                   "password": GOOD_PASSWORD})
        assert entered.status_code in (302, 303)
        assert "/auth/login" not in entered.headers["Location"]
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )
    secrets = [token, GOOD_PASSWORD, "Wrong 42 Tulip!!", SIGNUP["pin"], SIGNUP["answer_1"],
               SIGNUP["answer_2"], SIGNUP["account_password"]]
    assert not [s for s in secrets if s in logged]
