"""Idempotency keys of API writes (SECURITY.md §3: a retried request must not act twice)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime


class IdempotencyKey(db.Model):
    """One ``Idempotency-Key`` a user sent with a write, and the answer it got.

    The row is inserted in the same database transaction as the change it guards, and the
    answer is written into it just before that transaction commits: either both the change and
    its stored answer exist, or neither does. The unique constraint makes a concurrent or later
    retry with the same key find this row (and replay the answer) instead of acting again.
    Refused requests roll back, so they leave no row: the client may correct and retry.
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_api_idempotency_keys_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict | None] = mapped_column(JSON)
