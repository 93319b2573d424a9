"""Per-IP rate limits on login, second factor, sign-up, recovery and the PIN re-check
(Flask-Limiter, memory store). The ``app`` fixture turns them off; these tests build an app with
them on (SECURITY.md S13)."""
from __future__ import annotations

import pytest

from portal import create_app
from portal.auth import sessions, stepup
from portal.extensions import db, limiter
from portal.types import utcnow
from tests.auth.conftest import SIGNUP
from tests.conftest import HX
from tests.factories import PIN, Factory


@pytest.fixture
def limited(tmp_path):
    app = create_app({
        "ENV": "testing", "TESTING": True, "SECRET_KEY": "limits", "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'limits.db'}", "BASE_URL": "http://portal.test",
    })
    with app.app_context():
        db.create_all()
        limiter.reset()
        yield app
        limiter.reset()
        db.session.remove()
        db.engine.dispose()


def hammer(client, path, data, times, **kw):
    return [client.post(path, data=data, **kw).status_code for _ in range(times)]


def test_login_is_limited_per_ip_and_a_spoofed_forwarded_for_does_not_help(limited):
    client = limited.test_client()
    codes = hammer(client, "/auth/login", {"email": "a@shop.test", "password": "x"}, 20)
    assert 429 not in codes
    assert client.post("/auth/login", data={"email": "a@shop.test", "password": "x"}).status_code == 429
    for n in range(5):
        spoofed = client.post("/auth/login", data={"email": "a@shop.test", "password": "x"},
                              headers={"X-Forwarded-For": f"203.0.113.{n}"})
        assert spoofed.status_code == 429
    other_ip = client.post("/auth/login", data={"email": "a@shop.test", "password": "x"},
                           environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other_ip.status_code == 200  # the limit is per client address


def test_a_rate_limited_htmx_request_gets_a_friendly_alert(limited):
    client = limited.test_client()
    hammer(client, "/auth/login", {"email": "a@shop.test", "password": "x"}, 20)
    response = client.post("/auth/login", data={"email": "a@shop.test", "password": "x"}, headers=HX)
    assert response.status_code == 429 and "Too many attempts" in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#page-alerts"


def test_sign_up_is_limited(limited):
    client = limited.test_client()
    codes = [client.post("/auth/signup", data=dict(SIGNUP, nickname=f"shop{n:04d}", email=f"n{n}@shop.test")).status_code
             for n in range(6)]
    assert codes[:5] == [303] * 5 and codes[5] == 429


def test_forgot_password_and_pin_are_limited(limited):
    client = limited.test_client()
    assert hammer(client, "/auth/forgot-password", {"email": "a@shop.test"}, 6)[-1] == 429
    assert hammer(client, "/auth/forgot-pin", {"email": "a@shop.test"}, 6)[-1] == 429


def test_recovery_steps_and_resending_links_are_limited(limited):
    client = limited.test_client()
    codes = hammer(client, "/auth/set-password", {"step": "question", "answer": "x"}, 21)
    assert codes[-1] == 429 and 429 not in codes[:20]
    assert hammer(client, "/auth/resend-link", {"kind": "password"}, 4)[-1] == 429


def test_the_second_factor_step_is_limited(limited):
    client = limited.test_client()
    assert hammer(client, "/auth/login/verify", {"code": "123456"}, 11)[-1] == 429


def test_the_pin_re_check_is_limited_per_ip_across_users(limited):
    make = Factory()
    now = utcnow()
    owners = [make.owner() for _ in range(3)]
    results = []
    with limited.test_request_context("/accounts/x/unlink", method="POST"):
        for n in range(21):
            owner = owners[n % 3]
            owner.pin_locked_until = None  # the per-user block is a separate brake
            sessions.start(owner, now=now)
            try:
                results.append(stepup.verify(owner, "0000" if n < 20 else PIN, now))
            except stepup.StepUpRateLimited:
                results.append("limited")
    assert results[:20] == [False] * 20 and results[20] == "limited"
