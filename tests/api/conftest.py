"""A small world for the API tests: an owner with accounts A1 and A2, API users with keys, a
clerk restricted to A1, a tech-support ticket and a refund request on A1, a ticket on A2."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from portal.auth.models import User
from portal.extensions import db
from portal.types import utcnow
from portal.users import apikeys


@dataclass
class Shop:
    owner: User
    a1: object
    a2: object
    owner_key: str
    writer: User  # API-only, Read/Write on A1
    writer_key: str
    reader: User  # API-only, Read on A1
    reader_key: str
    sale: object  # on A1, five days old, with a tech-support ticket
    ticket: object
    refund: object  # a customer's refund request on A1 (an hour old)
    other_ticket: object  # on A2 (no clerk was granted A2)


@pytest.fixture
def shop(make):
    now = utcnow()
    owner = make.owner()
    a1, a2 = make.account(owner, "apishopa1"), make.account(owner, "apishopa2")
    writer = make.clerk(owner, perms=("api_read", "api_write"), accounts=[a1], api_only=True,
                        first_name="Wendy", last_name="Writer")
    reader = make.clerk(owner, perms=("api_read",), accounts=[a1], api_only=True,
                        first_name="Rita", last_name="Reader")
    sale = make.sale(a1, at=now - timedelta(days=5), email="buyer.one@example.com")
    ticket = make.ticket(sale, now=now - timedelta(days=1))
    refund_sale = make.sale(a1, at=now - timedelta(days=5))
    refund = make.ticket(refund_sale, ticket_type="refund", now=now - timedelta(hours=1))
    other_ticket = make.ticket(make.sale(a2, at=now - timedelta(days=5)), now=now - timedelta(days=1))
    keys = {u.id: apikeys.issue(u, now=now - timedelta(days=1)) for u in (owner, writer, reader)}
    db.session.commit()
    return Shop(owner, a1, a2, keys[owner.id], writer, keys[writer.id], reader, keys[reader.id],
                sale, ticket, refund, other_ticket)


@pytest.fixture
def api(client):
    """``api(key).get(path)`` / ``.post(path, json=...)`` with the key in the header.

    The test's app context (and so its database session) outlives each request here, unlike in
    a server; each call first ends the transaction an earlier request left open, as a new
    request would start with a new session."""

    class Caller:
        def __init__(self, key, **headers):
            self.headers = {"X-API-Key": key, **headers} if key else dict(headers)

        def open(self, path, method="GET", **kw):
            db.session.rollback()
            headers = {**self.headers, **kw.pop("headers", {})}
            return client.open(path, method=method, headers=headers, **kw)

        def get(self, path, **kw):
            return self.open(path, "GET", **kw)

        def post(self, path, **kw):
            return self.open(path, "POST", **kw)

    return Caller
