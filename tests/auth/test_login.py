"""Login, logout and server-side sessions."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.audit import AuditEvent
from portal.auth.models import UserSession
from portal.extensions import db
from tests.factories import PASSWORD


def events(kind):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.event == kind)).all()


def test_owner_logs_in_and_lands_on_the_dashboard(client, make):
    owner = make.owner()
    response = client.post("/auth/login", data={"email": owner.email.upper(), "password": PASSWORD})
    assert response.status_code == 303
    home = client.get(response.headers["Location"])
    assert home.headers["Location"].endswith("/dashboard/")
    assert events("login.success")


def test_wrong_password_and_unknown_email_get_the_same_answer(client, make):
    owner = make.owner()
    wrong = client.post("/auth/login", data={"email": owner.email, "password": "nope"})
    unknown = client.post("/auth/login", data={"email": "ghost@example.test", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 200
    error = "Wrong email or password"
    assert error in wrong.get_data(as_text=True) and error in unknown.get_data(as_text=True)


def test_login_runs_exactly_one_hash_check_whether_or_not_the_email_exists(client, make, monkeypatch):
    from portal.auth import hashing

    calls = []

    class CountingHasher:  # Django's technique: count the hash checks, not the milliseconds
        def __init__(self, real):
            self.real = real

        def verify(self, *args):
            calls.append(1)
            return self.real.verify(*args)

        def __getattr__(self, name):
            return getattr(self.real, name)

    monkeypatch.setattr(hashing, "HASHER", CountingHasher(hashing.HASHER))
    owner = make.owner()
    for email in (owner.email, "nobody@example.test"):
        calls.clear()
        client.post("/auth/login", data={"email": email, "password": "wrong-password"})
        assert len(calls) == 1


def test_five_failures_lock_the_account_and_email_the_owner(client, make):
    from portal.notifications.models import OutboxMessage

    owner = make.owner()
    clerk = make.clerk(owner)
    for _ in range(5):
        client.post("/auth/login", data={"email": clerk.email, "password": "wrong"})
    db.session.refresh(clerk)
    assert clerk.locked_until is not None
    ok = client.post("/auth/login", data={"email": clerk.email, "password": PASSWORD})
    assert ok.status_code == 200  # still refused while locked, with the same message
    assert events("login.lock")
    recipients = {m.recipient for m in db.session.scalars(select(OutboxMessage))}
    assert {clerk.email, owner.email} <= recipients


def test_api_only_and_disabled_users_cannot_log_in(client, make):
    owner = make.owner()
    for user in (make.clerk(owner, api_only=True), make.clerk(owner, enabled=False)):
        user.password_hash = owner.password_hash
        db.session.commit()
        response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 200 and "Wrong email or password" in response.get_data(as_text=True)


def test_logout_ends_the_session_on_the_server(client, make, login):
    owner = make.owner()
    login(owner)
    with client.session_transaction() as s:
        cookie_session = dict(s)
    client.post("/auth/logout")
    with client.session_transaction() as s:
        s.update(cookie_session)  # replay the old cookie
    assert client.get("/dashboard/").status_code == 302


def test_session_is_renewed_at_login(client, make, login):
    owner = make.owner()
    client.get("/auth/login")
    with client.session_transaction() as s:
        s["marker"] = "before"
    login(owner)
    with client.session_transaction() as s:
        assert "marker" not in s


def test_idle_timeout_ends_a_session(app, client, make, login):
    owner = make.owner()
    login(owner)
    row = db.session.scalar(select(UserSession))
    row.last_seen_at = row.last_seen_at - app.config["SESSION_IDLE_TIMEOUT"] - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/dashboard/").status_code == 302


def test_absolute_lifetime_ends_a_busy_session(app, client, make, login):
    owner = make.owner()
    login(owner)
    row = db.session.scalar(select(UserSession))
    row.created_at = row.created_at - app.config["SESSION_ABSOLUTE_LIFETIME"] - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/dashboard/").status_code == 302


def test_disabling_a_user_ends_their_session_at_the_next_request(client, make, login):
    owner = make.owner()
    account = make.account(owner)
    clerk = make.clerk(owner, accounts=[account])
    login(clerk)
    assert client.get("/tickets/").status_code == 200
    clerk.is_enabled = False
    db.session.commit()
    assert client.get("/tickets/").status_code == 302


def test_login_follows_only_local_next_urls(client, make):
    owner = make.owner()
    evil = client.post("/auth/login?next=https://evil.test/", data={
        "email": owner.email, "password": PASSWORD, "next": "https://evil.test/"})
    assert "evil.test" not in evil.headers["Location"]


def test_a_write_request_after_a_quiet_minute_does_not_wait_on_itself(client, make, login):
    """The session touch must ride on a POST's own transaction (SQLite holds one write lock)."""
    owner = make.owner()
    login(owner)
    row = db.session.scalar(select(UserSession))
    row.last_seen_at = row.last_seen_at - timedelta(minutes=2)
    db.session.commit()
    response = client.post("/auth/logout")
    assert response.status_code in (302, 303)
    db.session.refresh(row)
    assert row.revoked_at is not None


def test_an_unknown_email_does_the_same_database_work_as_a_wrong_password(client, make, db_work):
    """Issue 3 item 4: the response time must not reveal whether the email exists. Counted, not
    timed: the same statements on the same tables and the same commits on both paths."""
    known = make.clerk(make.owner()).email
    work = {}
    for label, email in (("known", known), ("unknown", "Ghost@Example.test")):
        db_work["reset"]()
        response = client.post("/auth/login", data={"email": email, "password": "wrong-password"})
        assert "Wrong email or password" in response.get_data(as_text=True)
        work[label] = (dict(db_work["statements"]), db_work["commits"])
    assert work["known"] == work["unknown"]
    assert work["unknown"][1] >= 1 and work["unknown"][0].get("UPDATE users") == 1
    [row] = events("login.unknown_email")
    assert row.user_id is None and row.details["step"] == "password"
    assert "ghost" not in str(row.details) and len(row.details["email_hash"]) == 32
    client.post("/auth/login", data={"email": "ghost@example.test", "password": "again"})
    assert len({r.details["email_hash"] for r in events("login.unknown_email")}) == 1
