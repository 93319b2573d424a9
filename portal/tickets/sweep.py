"""The timers sweep: carry out every due automatic action on sandbox accounts.

Deadlines live in the database (``tickets.next_action_at``). Each ticket is handled in its own
short transaction that re-reads the row under a write lock (``BEGIN IMMEDIATE`` on SQLite,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so running the sweep twice, or in two workers at once,
does each thing exactly once; a sweep after downtime catches up on everything that fell due.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from portal.accounts.models import AccountSource, AccountStatus, LinkedAccount
from portal.extensions import db
from portal.tickets.models import Ticket
from portal.tickets.services import run_due

log = logging.getLogger(__name__)


def due_ticket_ids(now: datetime, limit: int = 1000) -> list[int]:
    ids = db.session.scalars(
        select(Ticket.id)
        .join(LinkedAccount, LinkedAccount.id == Ticket.linked_account_id)
        .where(
            Ticket.next_action_at <= now,
            Ticket.status != "closed",
            LinkedAccount.source == AccountSource.SANDBOX,
            LinkedAccount.status == AccountStatus.LINKED,
        )
        .order_by(Ticket.next_action_at, Ticket.id)
        .limit(limit)
    ).all()
    db.session.commit()
    return list(ids)


def run(now: datetime) -> dict[str, int]:
    """One sweep. Returns how many of each automatic action it performed."""
    counts: dict[str, int] = {}
    while True:
        ids = due_ticket_ids(now)
        if not ids:
            break
        progressed = False
        for ticket_id in ids:
            query = select(Ticket).where(Ticket.id == ticket_id).execution_options(populate_existing=True)
            if db.session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ticket = db.session.scalar(query)
            if ticket is None:
                db.session.rollback()
                continue
            try:
                done = run_due(ticket, now=now)
            except StaleDataError:
                db.session.rollback()  # someone else changed it first; their result stands
                continue
            db.session.commit()
            progressed = progressed or bool(done)
            for kind in done:
                counts[kind.value] = counts.get(kind.value, 0) + 1
        if not progressed:
            break
    if counts:
        log.info("Timers sweep at %s: %s", now.isoformat(), counts)
    return counts
