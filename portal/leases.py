"""A lease row per periodic job, so a job runs in one process at a time across hosts."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime


class Lease(db.Model):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


def acquire(name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take the lease if it is free or expired (one atomic UPDATE, or the first INSERT)."""
    result = db.session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.expires_at <= now, Lease.holder == holder))
        .values(holder=holder, expires_at=now + ttl)
    )
    if result.rowcount:
        db.session.commit()
        return True
    if db.session.get(Lease, name) is not None:
        db.session.rollback()
        return False
    try:
        db.session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
        db.session.commit()
        return True
    except IntegrityError:
        db.session.rollback()
        return False


def release(name: str, holder: str) -> None:
    db.session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder).values(
            expires_at=datetime(1970, 1, 1).astimezone()
        )
    )
    db.session.commit()
