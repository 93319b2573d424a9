"""The inbox of Instant Notifications: stored raw before anything else, then processed once."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime


class InboundNotification(db.Model):
    __tablename__ = "inbound_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    linked_account_id: Mapped[int | None] = mapped_column(ForeignKey("linked_accounts.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="received")  # processed | rejected
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(200))
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
