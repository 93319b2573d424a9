"""Reading the outbox in tests: mails by recipient, the links inside them."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import OutboxMessage

MONDAY = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York
LINK_RE = re.compile(r"https?://[^\s<>\"']+")


def mails(to: str | None = None, *, dedupe_prefix: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.channel == "email").order_by(OutboxMessage.id)
    rows = list(db.session.scalars(query))
    if to:
        rows = [m for m in rows if m.recipient == to]
    if dedupe_prefix:
        rows = [m for m in rows if (m.payload.get("dedupe") or "").startswith(dedupe_prefix)]
    return rows


def link_in(message: OutboxMessage, part: str) -> str:
    """The first link in a mail's text containing ``part`` (e.g. "/s/v/"), as a path."""
    for url in LINK_RE.findall(message.payload["text"]):
        if part in url:
            return "/" + url.split("://", 1)[1].split("/", 1)[1]
    raise AssertionError(f"no {part} link in mail {message.subject!r}")


def last_mail(to: str, ticket=None) -> OutboxMessage:
    rows = [m for m in mails(to) if ticket is None or m.ticket_id == ticket.id]
    assert rows, f"no mail to {to}"
    return rows[-1]
