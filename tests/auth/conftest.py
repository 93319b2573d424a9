"""Helpers for the auth tests: read the outbox, follow mailed links, count audit rows."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.audit import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage

SIGNUP = dict(
    email="nora@shop.test", first_name="Nora", last_name="Newman",
    question_1="first_pet", answer_1="Rex", hint_1="A dog, three letters",
    question_2="birth_city", answer_2="Lyon", hint_2="Silk and bouchons",
    pin="482913", pin_confirm="482913", nickname="norashop", account_password="sandbox-pass",
    timezone="Europe/Berlin",
)
GOOD_PASSWORD = "Harbor 42 Tulip!!"


def mails(kind: str | None = None, to: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    if to:
        query = query.where(OutboxMessage.recipient == to)
    return list(db.session.scalars(query))


def link_in(message: OutboxMessage) -> str:
    """The path + query of the first portal link in a mail."""
    url = re.search(r"https?://\S+/auth/\S+", message.payload["text"]).group(0)
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def last_link(kind: str, to: str | None = None) -> str:
    return link_in(mails(kind, to)[-1])


def events(kind: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == kind)))


@pytest.fixture
def open_link(client):
    """Open a mailed link like a browser: GET with the token, follow the redirect to the bare
    page. Returns the page response."""

    def _open(path: str):
        first = client.get(path)
        assert first.status_code == 303, first.get_data(as_text=True)[:300]
        assert "token=" not in first.headers["Location"]
        return client.get(first.headers["Location"])

    return _open


@pytest.fixture
def counting_hasher(monkeypatch):
    """Django's technique: count argon2 hash and verify calls instead of timing them."""
    from portal.auth import hashing

    calls = {"hash": 0, "verify": 0}

    class Counting:
        def __init__(self, real):
            self.real = real

        def hash(self, *args, **kwargs):
            calls["hash"] += 1
            return self.real.hash(*args, **kwargs)

        def verify(self, *args, **kwargs):
            calls["verify"] += 1
            return self.real.verify(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.real, name)

    monkeypatch.setattr(hashing, "HASHER", Counting(hashing.HASHER))
    return calls


@pytest.fixture
def db_work(app, monkeypatch):
    """Count what a request does in the database and the mail renderer, to compare the paths of
    an existing and an unknown email without timing them (issue 3 item 4): statements as
    ``"VERB table"``, commits, and rendered mail bodies."""
    from collections import Counter

    from sqlalchemy import event

    from portal.notifications import mail as mail_module

    seen = {"statements": Counter(), "commits": 0, "renders": 0}
    real_render = mail_module.render_email

    def render(kind, context):
        seen["renders"] += 1
        return real_render(kind, context)

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        verb = words[0].upper()
        table = ""
        upper = [w.upper() for w in words]
        if verb == "UPDATE" and len(words) > 1:
            table = words[1]
        else:
            for keyword in ("INTO", "FROM"):
                if keyword in upper and upper.index(keyword) + 1 < len(words):
                    table = words[upper.index(keyword) + 1]
                    break
        table = table.strip('"')
        seen["statements"][f"{verb} {table}"] += 1

    def on_commit(conn):
        seen["commits"] += 1

    monkeypatch.setattr(mail_module, "render_email", render)
    engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)

    def reset():
        db.session.commit()  # the test's own open transaction is not the request's work
        seen["statements"] = Counter()
        seen["commits"] = seen["renders"] = 0

    seen["reset"] = reset
    yield seen
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)
