"""Audit rows for security events: who, what, when, from where. Appended by services."""
from __future__ import annotations

from datetime import datetime

from flask import has_request_context, request
from sqlalchemy import ForeignKey, Index, JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_master_at", "master_account_id", "at"),
        Index("ix_audit_events_user_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    master_account_id: Mapped[int | None] = mapped_column(ForeignKey("master_accounts.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    event: Mapped[str] = mapped_column(String(40))  # e.g. login.success, pin.locked
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict | None] = mapped_column(JSON)


def record(
    event: str,
    *,
    user=None,
    actor=None,
    master_account_id: int | None = None,
    now: datetime | None = None,
    **details,
) -> AuditEvent:
    """Append an audit row to the current transaction (the caller commits).

    ``user`` is the account the event is about, ``actor`` who caused it (defaults to ``user``).
    Never pass secrets in ``details``.
    """
    actor = actor if actor is not None else user
    row = AuditEvent(
        at=now or utcnow(),
        event=event,
        user_id=getattr(user, "id", None),
        actor_id=getattr(actor, "id", None),
        master_account_id=master_account_id
        or getattr(user, "master_account_id", None)
        or getattr(actor, "master_account_id", None),
        details=details or None,
    )
    if has_request_context():
        row.ip = request.remote_addr
        row.user_agent = (request.user_agent.string or "")[:255]
    db.session.add(row)
    return row
