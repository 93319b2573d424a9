"""Background work (Huey): outbox delivery, the ticket timers sweep, sandbox rebills.

Each task calls a service with an explicit ``now``. Periodic tasks take a lease first, so with
several workers on several hosts each run happens once. Huey uses SQLite in instance/ by default
and Redis when ``PORTAL_HUEY_URL`` is a redis:// URL; tests run tasks immediately.
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from functools import wraps
from pathlib import Path

from flask import Flask, current_app, has_app_context
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab

from portal import leases
from portal.config import ROOT
from portal.types import utcnow

log = logging.getLogger(__name__)

_app: Flask | None = None
HOLDER = f"{socket.gethostname()}:{os.getpid()}"


def _make_huey():
    url = os.environ.get("PORTAL_HUEY_URL", "")
    if os.environ.get("PORTAL_ENV") == "testing":
        return MemoryHuey("portal", immediate=True)
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey("portal", url=url)
    path = url.removeprefix("sqlite:///") if url else str(
        Path(os.environ.get("PORTAL_INSTANCE_PATH", ROOT / "instance")) / "huey.db"
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("portal", filename=path)


huey = _make_huey()


def with_app(fn):
    """Run a task inside an application context (the worker has none of its own)."""

    @wraps(fn)
    def wrapped(*args, **kwargs):
        if has_app_context():
            return fn(*args, **kwargs)
        if _app is None:
            raise RuntimeError("portal.tasks used before create_app()")
        with _app.app_context():
            return fn(*args, **kwargs)

    return wrapped


def _with_lease(name: str, ttl: timedelta, job):
    from portal.extensions import db

    now = utcnow()
    if not leases.acquire(name, HOLDER, now, ttl):
        log.info("Skipping %s: another worker holds the lease", name)
        return None
    try:
        return job(now)
    finally:
        db.session.rollback()
        leases.release(name, HOLDER)


@huey.task()
@with_app
def deliver_outbox():
    from portal.notifications import outbox

    return outbox.deliver_due(utcnow())


@huey.periodic_task(crontab(minute="*"))
@with_app
def deliver_outbox_periodically():
    from portal.notifications import outbox

    return _with_lease("outbox", timedelta(minutes=5), lambda now: outbox.deliver_due(now, limit=500))


TIMERS_LEASE = timedelta(minutes=5)


@huey.periodic_task(crontab(minute="*"))
@with_app
def sweep_timers():
    """Process due refunds, warnings and automatic closes on sandbox accounts (DOMAIN.md §6).

    One worker at a time holds the "timers" lease; a long catch-up renews it between batches,
    so the other workers skip instead of sweeping alongside (which would be safe, only wasteful:
    every ticket is handled under a row lock, see ``portal.tickets.sweep``)."""
    from portal.tickets import sweep

    def renew() -> None:
        leases.acquire("timers", HOLDER, utcnow(), TIMERS_LEASE)

    return _with_lease("timers", TIMERS_LEASE, lambda now: sweep.run(now, between_batches=renew))


@huey.periodic_task(crontab(minute="*"))
@with_app
def record_expired_unlocks():
    """Issue 3 item 4: an audit row for every lock that ran out, dated when it did."""
    from portal.auth import services

    return _with_lease("unlocks", timedelta(minutes=5), services.record_expired_unlocks)


BILLING_LEASE = timedelta(minutes=5)


@huey.periodic_task(crontab(minute="*"))
@with_app
def bill_subscriptions():
    """Charge the rebills that fell due on sandbox accounts (``portal.transactions.billing``).

    One worker at a time holds the "billing" lease (renewed between pages of a long catch-up);
    each period is also claimed by a conditional UPDATE, so even two runs at once bill it once."""
    from portal.transactions import billing

    def renew() -> None:
        leases.acquire("billing", HOLDER, utcnow(), BILLING_LEASE)

    return _with_lease(
        "billing", BILLING_LEASE, lambda now: billing.bill_due(now, between_batches=renew)
    )


@huey.periodic_task(crontab(minute="17"))
@with_app
def refresh_planner_statistics():
    """SQLite plans from statistics only ANALYZE gathers; without them some queries walk an
    account's whole history (bench/README.md); new data shifts them, so they are refreshed every
    hour. PostgreSQL's autovacuum does this itself."""
    from portal.db_setup import refresh_statistics

    return refresh_statistics()


@huey.periodic_task(crontab(minute="41"))
@with_app
def purge_idempotency_keys():
    """API ``Idempotency-Key`` answers are kept 24 hours; drop the older ones of every user."""
    from portal.api import idempotency

    return idempotency.purge(utcnow())


def kick_outbox() -> None:
    """Ask the worker to deliver now (it also runs every minute). Synchronous when immediate."""
    if current_app.config.get("HUEY_IMMEDIATE") and not huey.immediate:
        return  # tests without immediate mode deliver explicitly
    try:
        deliver_outbox()
    except Exception:  # noqa: BLE001 - the periodic run will pick it up
        log.exception("Could not enqueue outbox delivery")


def init_app(app: Flask) -> None:
    global _app
    _app = app
    if app.config.get("HUEY_IMMEDIATE"):
        huey.immediate = True
