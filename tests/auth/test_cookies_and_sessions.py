"""Flask / Flask-Login defaults that must be overridden, and when sessions end
(SECURITY.md S6, S7, S8, S11; ASVS 3.3, 7.2.4, 7.4.1)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import create_app
from portal.auth import hashing, sessions
from portal.auth.models import User, UserSession
from portal.extensions import db
from portal.types import utcnow
from tests.factories import PASSWORD


def cookies(response) -> dict[str, str]:
    """name -> the whole Set-Cookie header."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_session_and_remember_cookies_are_httponly_and_samesite_lax(client, make):
    owner = make.owner()
    response = client.post("/auth/login", data={"email": owner.email, "password": PASSWORD, "remember": "y"})
    jar = cookies(response)
    assert set(jar) == {"portal_session", "remember_token"}
    for header in jar.values():
        assert "HttpOnly" in header and "SameSite=Lax" in header


def test_the_remember_cookie_lasts_at_most_30_days(app, client, make):
    owner = make.owner()
    response = client.post("/auth/login", data={"email": owner.email, "password": PASSWORD, "remember": "y"})
    header = cookies(response)["remember_token"]
    from email.utils import parsedate_to_datetime

    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", header).group(1))
    assert timedelta(days=29) < expires - utcnow() <= timedelta(days=30, seconds=5)
    assert app.config["REMEMBER_COOKIE_DURATION"] <= timedelta(days=30)


def test_production_cookies_are_secure_with_the_host_prefix(tmp_path, make):
    app = create_app({
        "ENV": "production", "SECRET_KEY": "x" * 32, "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.db'}", "RATELIMIT_ENABLED": False,
    })
    with app.app_context():
        db.create_all()
        owner = make.owner()
        client = app.test_client()
        response = client.post("https://portal.test/auth/login", data={
            "email": owner.email, "password": PASSWORD, "remember": "y"})
        jar = cookies(response)
        assert set(jar) == {"__Host-portal_session", "__Host-portal_remember"}
        for header in jar.values():
            assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
            assert "Path=/" in header and "Domain=" not in header  # what __Host- requires
        assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
        db.session.remove()


def test_the_session_cookie_changes_at_login(client, make):
    """ASVS 7.2.4: a new session at login (no fixation)."""
    owner = make.owner()
    before = cookies(client.post("/auth/login", data={"email": owner.email, "password": "wrong"}))
    client.get("/auth/login")
    with client.session_transaction() as s:
        s["planted"] = "by an attacker"
        old = dict(s)
    client.post("/auth/login", data={"email": owner.email, "password": PASSWORD})
    with client.session_transaction() as s:
        assert "planted" not in s and s.get("_user_id") and s != old
    assert before is not None


def test_the_cookie_holds_a_random_session_token_not_the_user_id(client, make, login):
    owner = make.owner()
    login(owner)
    with client.session_transaction() as s:
        token = s["_user_id"]
    assert token != str(owner.id) and len(token) >= 43
    row = db.session.scalar(select(UserSession))
    assert row.token_hash != token  # only a keyed hash is stored


def test_max_content_length_refuses_huge_posts(client):
    response = client.post("/auth/login", data={"email": "a@b.test", "password": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413


def test_the_csrf_token_has_no_time_limit(app):
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None


def test_csrf_is_enforced_on_auth_forms_and_a_token_hours_old_still_works(tmp_path, make):
    app = create_app({
        "ENV": "testing", "SECRET_KEY": "csrf-test", "WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'csrf.db'}", "BASE_URL": "http://portal.test",
    })
    with app.app_context():
        db.create_all()
        owner = make.owner()
        client = app.test_client()
        for path in ("/auth/login", "/auth/signup", "/auth/forgot-password", "/auth/password-check",
                     "/auth/set-password", "/auth/resend-link", "/auth/logout"):
            assert client.post(path, data={"email": owner.email}).status_code == 400, path
        page = client.get("/auth/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        from freezegun import freeze_time

        with freeze_time(utcnow() + timedelta(hours=11)):  # an htmx page left open all day
            response = client.post("/auth/login", data={
                "csrf_token": token, "email": owner.email, "password": PASSWORD})
        assert response.status_code == 303
        db.session.remove()


# --- when sessions end (S6, S7) -------------------------------------------------------------------


def replay_cookie(app, token) -> int:
    other = app.test_client()
    with other.session_transaction() as s:
        s["_user_id"] = token
    return other.get("/dashboard/").status_code


def test_a_post_after_a_minute_of_quiet_is_not_stuck_behind_the_session_touch(app, client, make, login):
    """The touch of last_seen_at inside a write request must not wait for SQLite's lock."""
    owner = make.owner()
    login(owner)
    row = db.session.scalar(select(UserSession))
    row.last_seen_at = row.last_seen_at - timedelta(minutes=5)
    db.session.commit()
    app.config["SQLITE_BUSY_TIMEOUT_MS"] = 200
    response = client.post("/auth/security/sessions/others/end")
    assert response.status_code == 303
    db.session.refresh(row)
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)


def test_logout_ends_the_session_on_the_server(app, client, make, login):
    owner = make.owner()
    login(owner)
    with client.session_transaction() as s:
        token = s["_user_id"]
    assert replay_cookie(app, token) == 200
    client.post("/auth/logout")
    assert replay_cookie(app, token) == 302


def test_disabling_or_deleting_a_user_ends_their_sessions(app, make):
    owner = make.owner()
    account = make.account(owner)
    for change in ("disable", "delete"):
        clerk = make.clerk(owner, accounts=[account])
        token = sessions.start(clerk, now=utcnow())
        db.session.commit()
        other = app.test_client()
        with other.session_transaction() as s:
            s["_user_id"] = token
        assert other.get("/tickets/").status_code == 200
        if change == "disable":
            clerk.is_enabled = False
        else:
            clerk.deleted_at = utcnow()
        db.session.commit()
        assert other.get("/tickets/").status_code == 302


@pytest.mark.parametrize("which", ["idle", "absolute"])
def test_idle_and_absolute_timeouts_to_the_second(app, make, which):
    owner = make.owner()
    start = utcnow()
    token = sessions.start(owner, now=start)
    db.session.commit()
    limit = app.config["SESSION_IDLE_TIMEOUT" if which == "idle" else "SESSION_ABSOLUTE_LIFETIME"]
    assert limit == (timedelta(minutes=30) if which == "idle" else timedelta(hours=12))
    if which == "absolute":  # keep it busy: touched a minute ago
        row = db.session.scalar(select(UserSession))
        row.last_seen_at = start + limit - timedelta(minutes=1)
        db.session.commit()
    assert sessions.load(token, now=start + limit + timedelta(seconds=1)) is None
    assert sessions.load(token, now=start + limit - timedelta(seconds=1)) is not None  # (touches it)


def test_a_remembered_session_lasts_thirty_days_without_idle_timeout(make):
    owner = make.owner()
    start = utcnow()
    token = sessions.start(owner, now=start, remember=True)
    db.session.commit()
    assert sessions.load(token, now=start + timedelta(days=29)) is not None
    assert sessions.load(token, now=start + timedelta(days=30, seconds=1)) is None


def test_a_shorter_remember_setting_ends_the_session_on_the_server_too(app, make):
    """The server keeps a remembered session as long as the cookie is meant to live: a copied
    cookie is refused once that time is over (never more than 30 days, whatever the setting)."""
    owner = make.owner()
    start = utcnow()
    token = sessions.start(owner, now=start, remember=True)
    db.session.commit()
    saved = app.config["REMEMBER_COOKIE_DURATION"]
    try:
        app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=7)
        assert sessions.load(token, now=start + timedelta(days=6)) is not None
        assert sessions.load(token, now=start + timedelta(days=7, seconds=1)) is None
        app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=90)
        assert sessions.load(token, now=start + timedelta(days=30, seconds=1)) is None
    finally:
        app.config["REMEMBER_COOKIE_DURATION"] = saved


# --- hashes (S11) ---------------------------------------------------------------------------------


def test_every_stored_secret_is_argon2id_at_the_agreed_cost(client, make, login):
    owner = make.owner()
    from portal.auth import totp

    totp.begin_enrolment(owner)
    totp.enable(owner, now=utcnow())
    db.session.commit()
    hashes = [owner.password_hash, owner.pin_hash]
    from portal.auth.models import RecoveryCode

    hashes += [r.code_hash for r in db.session.scalars(select(RecoveryCode))]
    for h in hashes:
        assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), h


def test_a_login_rehashes_a_password_stored_with_old_parameters(client, make):
    from argon2 import PasswordHasher

    owner = make.owner()
    owner.password_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    db.session.commit()
    client.post("/auth/login", data={"email": owner.email, "password": PASSWORD})
    db.session.refresh(owner)
    assert owner.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hashing.verify_secret(owner.password_hash, PASSWORD)


def test_a_long_password_is_verified_in_full(client, make):
    owner = make.owner()
    long_password = ("Harbor 42 Tulip!! " * 8)[:128]
    owner.password_hash = hashing.hash_secret(long_password)
    db.session.commit()
    cut = client.post("/auth/login", data={"email": owner.email, "password": long_password[:72]})
    assert cut.status_code == 200  # no bcrypt-style truncation
    assert client.post("/auth/login", data={"email": owner.email, "password": long_password}).status_code == 303


def test_unicode_passwords_match_after_nfkc(client, make):
    owner = make.owner()
    owner.password_hash = hashing.hash_secret(hashing.normalise_password("Ｈａｒｂｏｒ ４２ Ｔｕｌｉｐ!!"))
    db.session.commit()
    assert client.post("/auth/login", data={"email": owner.email, "password": "Harbor 42 Tulip!!"}).status_code == 303


@pytest.mark.parametrize("state", ["unknown", "wrong", "locked", "unconfirmed", "disabled"])
def test_login_answers_the_same_with_exactly_one_hash_check(client, make, counting_hasher, state):
    """S12 for login: every failure looks the same and costs one argon2 verification."""
    email = "ghost@shop.test"
    if state != "unknown":
        user = make.owner(email="olivia@shop.test")
        email = user.email
        if state == "locked":
            user.locked_until = utcnow() + timedelta(days=1)
        elif state == "unconfirmed":
            user.confirmed_at = None
        elif state == "disabled":
            user.is_enabled = False
        db.session.commit()
    counting_hasher.update(verify=0)
    password = "wrong-password" if state in ("unknown", "wrong") else PASSWORD
    response = client.post("/auth/login", data={"email": email, "password": password})
    assert counting_hasher["verify"] == 1
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Wrong email or password, or the account cannot log in right now." in page
    assert db.session.scalar(select(User).where(User.email == "nobody")) is None


def test_session_lifetimes_from_the_environment_are_seconds(monkeypatch, tmp_path):
    """PORTAL_SESSION_IDLE_TIMEOUT=900 arrives as the int 900: it must mean 900 seconds, and
    logged-in pages must keep working (an int added to a datetime crashed every one of them)."""
    monkeypatch.setenv("PORTAL_SESSION_IDLE_TIMEOUT", "900")
    monkeypatch.setenv("PORTAL_SESSION_ABSOLUTE_LIFETIME", "7200")
    monkeypatch.setenv("PORTAL_REMEMBER_COOKIE_DURATION", "86400")
    app = create_app({
        "ENV": "testing", "SECRET_KEY": "x" * 32, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'env.db'}",
    })
    assert app.config["SESSION_IDLE_TIMEOUT"] == timedelta(seconds=900)
    assert app.config["SESSION_ABSOLUTE_LIFETIME"] == timedelta(hours=2)
    assert app.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=1)
    from tests.factories import Factory

    now = utcnow()
    with app.app_context():
        db.create_all()
        owner = Factory().owner()
        client = app.test_client()
        client.post("/auth/login", data={"email": owner.email, "password": PASSWORD})
        assert client.get("/auth/security").status_code == 200
        token = sessions.start(owner, now=now)
        db.session.commit()
        assert sessions.load(token, now=now + timedelta(seconds=899)) is not None  # (touches it)
        assert sessions.load(token, now=now + timedelta(seconds=899 + 901)) is None
        db.session.remove()


@pytest.mark.parametrize("value", ["soon", "0", "-5", "true"])
def test_a_session_lifetime_that_is_not_seconds_stops_the_start_clearly(monkeypatch, tmp_path, value):
    monkeypatch.setenv("PORTAL_SESSION_IDLE_TIMEOUT", value)
    with pytest.raises(RuntimeError, match="PORTAL_SESSION_IDLE_TIMEOUT must be a positive number of seconds"):
        create_app({"ENV": "testing", "SECRET_KEY": "x" * 32,
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'env.db'}"})
