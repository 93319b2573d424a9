"""The refund hand-off of seed 001, read side: what the ticket-page panel shows, and the
Escalations list. (The writes are ``tickets.services.record_return``, ``hand_off`` and
``process_refund``; each appends a ticket event, so every step shows in the reports.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import url_for
from sqlalchemy import func, select

from portal.authz.permissions import Action
from portal.authz.policy import Principal, can
from portal.authz.scope import current_principal
from portal.extensions import db
from portal.tickets.lifecycle import EventKind, RefundState, Status, TicketType
from portal.tickets.models import Ticket, TicketEvent
from portal.tickets.services import RETURN_EVENTS, RETURN_STEPS
from portal.transactions.plan import no_index

STEP_LABELS = {
    "label_sent": "Return label sent",
    "in_transit": "In transit",
    "received": "Received at the warehouse",
}
STEP_ACTIONS = {
    "label_sent": "Record: return label sent",
    "in_transit": "Record: return in transit",
    "received": "Record: received at the warehouse",
}
HANDOFF_KINDS = [
    EventKind.HANDOFF.value,
    EventKind.REFUND_APPROVED.value,
    *(k.value for k in RETURN_EVENTS.values()),
]
LIST_LIMIT = 200
PROCESSED_DAYS = 30


@dataclass
class Step:
    key: str
    label: str
    done: bool
    at: datetime | None = None
    by: str = ""


@dataclass
class Panel:
    """Everything the hand-off panel needs about one ticket, permissions included."""

    ticket: Ticket
    steps: list[Step]
    next_step: str | None
    handed_off_at: datetime | None
    handed_off_by: str
    approved_at: datetime | None
    approved_by: str
    pending: bool  # refund/cancel still requested (not processing, finalized or withdrawn)
    can_work: bool
    can_refund: bool
    process_blocked: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def applies(self) -> bool:
        return self.ticket.ticket_type == TicketType.REFUND or self.ticket.return_status is not None

    @property
    def can_record(self) -> bool:
        return self.pending and self.can_work and self.next_step is not None

    @property
    def can_hand_off(self) -> bool:
        return (
            self.pending
            and self.can_work
            and self.ticket.return_status is not None
            and self.ticket.handoff_at is None
        )

    @property
    def can_process(self) -> bool:
        return self.pending and self.can_refund and self.process_blocked is None

    @property
    def shows_process(self) -> bool:
        return self.pending and self.can_refund


def ticket_home(ticket: Ticket, principal: Principal | None = None) -> str:
    """Where to look at ``ticket``: its page, or -- for someone who may work its order but not
    view tickets (Search Orders without Orders/Tickets, e.g. a refund authority) -- its order's
    page, which lists the ticket and its hand-off panel (never a link into a 403)."""
    if can(principal or current_principal(), Action.TICKET_VIEW, ticket):
        return url_for("tickets.show", ticket_id=ticket.id)
    return url_for("transactions.show", txn_id=ticket.transaction_id)


def user_may_view_ticket(user, ticket: Ticket) -> bool:
    """For mail to ``user`` (no request of theirs to ask): may they open the ticket page?"""
    from portal.authz.scope import principal_for

    return can(principal_for(user), Action.TICKET_VIEW, ticket)


def panel_for(ticket: Ticket, principal: Principal | None = None) -> Panel:
    principal = principal or current_principal()
    events = [e for e in ticket.events if e.kind in HANDOFF_KINDS]
    by_kind: dict[str, TicketEvent] = {}
    for event in events:  # oldest first: the latest of each kind wins
        by_kind[event.kind] = event
    done_upto = RETURN_STEPS.index(ticket.return_status) if ticket.return_status else -1
    steps = []
    for i, key in enumerate(RETURN_STEPS):
        event = by_kind.get(RETURN_EVENTS[key].value)
        steps.append(
            Step(
                key,
                STEP_LABELS[key],
                i <= done_upto,
                event.at if event and i <= done_upto else None,
                event.actor_label if event and i <= done_upto else "",
            )
        )
    handoff = by_kind.get(EventKind.HANDOFF.value)
    approved = by_kind.get(EventKind.REFUND_APPROVED.value)
    pending = (
        ticket.status != Status.CLOSED
        and ticket.refund_state == RefundState.REQUESTED
        and TicketType(ticket.ticket_type).is_money
    )
    panel = Panel(
        ticket=ticket,
        steps=steps,
        next_step=RETURN_STEPS[done_upto + 1] if done_upto + 1 < len(RETURN_STEPS) else None,
        handed_off_at=ticket.handoff_at,
        handed_off_by=handoff.actor_label if handoff and ticket.handoff_at else "",
        approved_at=approved.at if approved else None,
        approved_by=approved.actor_label if approved else "",
        pending=pending,
        can_work=can(principal, Action.TICKET_WORK, ticket),
        can_refund=can(principal, Action.TICKET_REFUND, ticket),
    )
    if ticket.return_status not in (None, "received"):
        panel.process_blocked = "The return has not reached the warehouse yet."
    return panel


def ago(moment: datetime | None, now: datetime) -> str:
    """ "3d 4h", "2h 05m", "12m": how long something has waited."""
    if moment is None:
        return ""
    seconds = max(0, int((now - moment).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {rest // 60:02d}m"
    return f"{rest // 60}m"


# ---------------------------------------------------------------------------------------------
# The Escalations list

TABS = ("handed_off", "returns", "processed")
TAB_LABELS = {
    "handed_off": "Handed off",
    "returns": "Returns not yet handed off",
    "processed": f"Processed (last {PROCESSED_DAYS} days)",
}


def _returns_in(account_ids):
    """Open tickets with a return, in these accounts (through the partial returns index)."""
    return [
        Ticket.return_status.is_not(None),
        no_index(Ticket.linked_account_id).in_(account_ids),
        Ticket.status != Status.CLOSED,
    ]


def counts(principal: Principal, now: datetime) -> dict[str, int]:
    if not principal.account_ids:
        return dict.fromkeys(TABS, 0)
    base = _returns_in(principal.account_ids)
    handed = db.session.scalar(
        select(func.count(Ticket.id)).where(*base, Ticket.handoff_at.is_not(None))
    )
    returns = db.session.scalar(
        select(func.count(Ticket.id)).where(*base, Ticket.handoff_at.is_(None))
    )
    processed = db.session.scalar(
        select(func.count(func.distinct(TicketEvent.ticket_id))).where(
            no_index(TicketEvent.linked_account_id).in_(principal.account_ids),
            TicketEvent.kind == EventKind.REFUND_APPROVED.value,
            TicketEvent.at >= now - timedelta(days=PROCESSED_DAYS),
        )
    )
    return {"handed_off": handed or 0, "returns": returns or 0, "processed": processed or 0}


def escalations(
    principal: Principal, tab: str, now: datetime, account_id: int | None = None
) -> list[Ticket]:
    """Tickets of one tab, oldest hand-off (or return) first so nothing waits forever."""
    ids = [a for a in principal.account_ids if account_id is None or a == account_id]
    if not ids:
        return []
    if tab == "processed":
        recent = select(TicketEvent.ticket_id).where(
            no_index(TicketEvent.linked_account_id).in_(ids),
            TicketEvent.kind == EventKind.REFUND_APPROVED.value,
            TicketEvent.at >= now - timedelta(days=PROCESSED_DAYS),
        )
        stmt = select(Ticket).where(Ticket.id.in_(recent)).order_by(Ticket.updated_at.desc())
    else:
        stmt = select(Ticket).where(*_returns_in(ids))
        if tab == "handed_off":
            stmt = stmt.where(Ticket.handoff_at.is_not(None)).order_by(Ticket.handoff_at, Ticket.id)
        else:
            stmt = stmt.where(Ticket.handoff_at.is_(None)).order_by(Ticket.updated_at, Ticket.id)
    return list(db.session.scalars(stmt.limit(LIST_LIMIT)))
