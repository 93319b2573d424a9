"""Fixtures for the Accounts tab: a logged-in owner, the link from the confirmation mail."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import OutboxMessage
from tests.factories import PIN

LINK_RE = re.compile(r"https?://\S+/accounts/link/([A-Za-z0-9_\-]+)")


@pytest.fixture
def owner(make):
    return make.owner(timezone="America/New_York")


@pytest.fixture
def owner_client(client, login, owner):
    login(owner)
    return client


def mails(kind: str | None = None, to: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    if to:
        query = query.where(OutboxMessage.recipient == to)
    return list(db.session.scalars(query))


def link_token(to: str) -> str:
    """The token in the newest confirmation mail sent to ``to``."""
    message = mails("account_link", to)[-1]
    match = LINK_RE.search(message.payload["text"])
    assert match, message.payload["text"]
    return match.group(1)


def add_form(
    nickname="newacct", email="newacct@vendor.test", password="sandbox-pass", pin=PIN, **extra
):
    data = {
        "nickname": nickname,
        "source": "sandbox",
        "account_email": email,
        "password": password,
        "timezone": "Europe/Berlin",
        "colour": "#10b981",
        "stepup": pin,
    }
    data.update(extra)
    return data
