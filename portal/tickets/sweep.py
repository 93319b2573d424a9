"""The timers sweep: carry out every due automatic action on sandbox accounts (DOMAIN.md §6).

Deadlines live in the database (``tickets.next_action_at``; what is due is ``next_action``). The
worker runs :func:`run` every minute (``portal.tasks.sweep_timers``, under a lease), and
``flask --app portal sweep --now …`` runs it by hand.

* **Exactly once.** Each ticket is handled in its own short transaction that re-reads the row
  under a write lock (``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE SKIP LOCKED`` on
  PostgreSQL) and only acts if the ticket is still due; the row's version column catches anything
  else. Running the sweep twice, or in two workers at once, does each thing exactly once.
* **Catching up.** After downtime one run performs everything that fell due, step by step and in
  order (``services.run_due`` loops over ``lifecycle.advance``): each step is dated by when it was
  due (its event, ``closed_at`` and the RFND it makes), so the timeline and the reports are the
  same as if the worker had never stopped. The one exception keeps a ticket's history in order: a
  step is never dated before the ticket's latest event (e.g. a comment written while the worker
  was down), then it carries that event's time. The mail goes out when the sweep runs. A late run that finds
  itself on a weekend in the account's zone waits for Monday (see ``lifecycle.advance``).
* **Sandbox only.** ClickBank accounts' tickets keep the expiration ClickBank reports and are
  never acted on here; accounts that were unlinked are left alone.
* **One bad ticket never stops the rest**: it is logged and retried on the next run.

The tickets are visited in keyset order of (due time, id), so tickets that are held (weekend) or
locked by another worker are passed over instead of being read again in a loop.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm.exc import StaleDataError

from portal.accounts.models import AccountSource, AccountStatus, LinkedAccount
from portal.db_setup import walk_in_pages
from portal.extensions import db
from portal.tickets.models import Ticket
from portal.tickets.services import run_due

log = logging.getLogger(__name__)

BATCH = 500


def _due(now: datetime, *, by_time: bool = False):
    # ``linked_account_id + 0`` keeps the column out of index selection when the query walks
    # the due-time index: at any minute only a few tickets are due, while SQLite without planner
    # statistics would otherwise scan every ticket of the sandbox accounts through the account
    # index (measured: 0.9 ms instead of 900 ms on 200k tickets; bench/support_sweep.py).
    account = Ticket.linked_account_id + 0 if by_time else Ticket.linked_account_id
    return and_(
        Ticket.next_action_at <= now,
        Ticket.next_action.is_not(None),
        Ticket.status != "closed",
        account.in_(
            select(LinkedAccount.id).where(
                LinkedAccount.source == AccountSource.SANDBOX,
                LinkedAccount.status == AccountStatus.LINKED,
            )
        ),
    )


def due_query(now: datetime, *, after: tuple[datetime, int] | None = None, limit: int = BATCH):
    query = select(Ticket.next_action_at, Ticket.id).where(_due(now, by_time=True))
    if after is not None:
        at, ticket_id = after
        query = query.where(or_(Ticket.next_action_at > at, and_(Ticket.next_action_at == at, Ticket.id > ticket_id)))
    return query.order_by(Ticket.next_action_at, Ticket.id).limit(limit)


def due_tickets(now: datetime, *, after: tuple[datetime, int] | None = None, limit: int = BATCH):
    """(due time, id) of up to ``limit`` due tickets, oldest first, after the keyset ``after``."""
    rows = db.session.execute(due_query(now, after=after, limit=limit)).all()
    db.session.commit()
    return [(row[0], row[1]) for row in rows]


def due_ticket_ids(now: datetime, limit: int = 1000) -> list[int]:
    """Ids of the tickets due at ``now`` (oldest first)."""
    return [ticket_id for _, ticket_id in due_tickets(now, limit=limit)]


def _run_one(ticket_id: int, now: datetime) -> list:
    query = (
        select(Ticket)
        .where(Ticket.id == ticket_id, _due(now))
        .execution_options(populate_existing=True)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Ticket)
    try:
        ticket = db.session.scalar(query)
        if ticket is None:  # done meanwhile by another worker, or locked by it right now
            db.session.rollback()
            return []
        return run_due(ticket, now=now)  # commits
    except StaleDataError:
        db.session.rollback()  # someone else changed it first; their result stands
        return []
    except Exception:
        db.session.rollback()
        log.exception("Timers sweep: ticket %s failed; it is retried on the next run", ticket_id)
        return []


def run(now: datetime, *, batch: int = BATCH, between_batches=None) -> dict[str, int]:
    """One sweep. Returns how many of each automatic step it performed (e.g. ``{"warning": 2}``).
    ``between_batches()`` is called before each batch after the first (the worker renews its
    lease there during a long catch-up)."""
    counts: dict[str, int] = {}
    due = walk_in_pages(lambda after, limit: due_tickets(now, after=after, limit=limit),
                        limit=batch, between_pages=between_batches)
    for _, ticket_id in due:
        for kind in _run_one(ticket_id, now):
            counts[kind.value] = counts.get(kind.value, 0) + 1
    if counts:
        log.info("Timers sweep at %s: %s", now.isoformat(), counts)
    return counts
