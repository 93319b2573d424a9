"""What the Tickets templates print about a ticket, worked out once in Python.

A queue page shows 50 rows of a dozen formatted fields; doing the formatting (labels, badge
classes, time left, times in two zones) here instead of in nested template macros makes a page
several times cheaper to render. The ticket page uses the same values, so the two never differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.web.templating import iso, label, local, money, time_left

STATUS_CLASS = {
    "open": "text-bg-primary",
    "reopened": "text-bg-info",
    "closed": "text-bg-secondary",
}
REFUND_CLASS = {
    "requested": "text-warning-emphasis bg-warning-subtle border border-warning-subtle",
    "processing": "text-danger-emphasis bg-danger-subtle border border-danger-subtle",
    "finalized": "text-success-emphasis bg-success-subtle border border-success-subtle",
    "withdrawn": "text-body-secondary bg-body-tertiary border",
}
TYPE_ICON = {
    "tech_support": "bi-tools",
    "refund": "bi-arrow-counterclockwise",
    "cancel": "bi-x-octagon",
}
SOURCE_SHORT = {"phone": "Phone"}
LONG_FORMAT = "%a %d %b %Y, %H:%M %Z"


def next_action_label(ticket, short: bool = False) -> str:
    """What the ticket's timer will do: "Refund is processed", "Inactivity warning" …"""
    what = "Refund" if ticket.ticket_type == "refund" else "Cancellation"
    if short:
        return {
            "process": f"{what.lower()} runs",
            "settle": "completes",
            "warn": "warning",
            "close": "auto-close",
        }.get(ticket.next_action, label(ticket.next_action))
    return {
        "process": f"{what} is processed",
        "settle": f"{what} completes, ticket closes",
        "warn": "Inactivity warning",
        "close": "Closes for inactivity",
    }.get(ticket.next_action, label(ticket.next_action))


@dataclass(frozen=True, slots=True)
class Expiration:
    """The queue's "expiration": time left until the ticket's next automatic action (the
    lifecycle computed it in the account's zone with the weekend rule)."""

    text: str  # "3d 4h", "2h 05m", "due now", or a word when there is no timer
    urgency: str  # overdue | urgent | soon | later | none
    at: datetime | None = None
    iso: str = ""
    countdown: bool = False  # due within a day: the page counts down live
    title: str = ""
    label: str = ""
    short: str = ""


def expiration(ticket, account, *, now: datetime, viewer_tz: str) -> Expiration:
    if ticket.status != "closed" and ticket.next_action_at is not None:
        at = ticket.next_action_at
        left = (at - now).total_seconds()
        urgency = (
            "overdue"
            if left <= 0
            else "urgent"
            if left < 4 * 3600
            else "soon"
            if left < 86400
            else "later"
        )
        long_label = next_action_label(ticket)
        title = f"{long_label}: {local(at, account.timezone, LONG_FORMAT)} (account time)"
        if account.timezone != viewer_tz:
            title += f" · {local(at, viewer_tz, '%a %d %b, %H:%M %Z')} (your time)"
        return Expiration(
            time_left(at, now),
            urgency,
            at,
            iso(at),
            0 < left < 86400,
            title,
            long_label,
            next_action_label(ticket, short=True),
        )
    if ticket.status == "closed":
        closed = (
            f"Closed {local(ticket.closed_at, account.timezone, LONG_FORMAT)}"
            if ticket.closed_at
            else "Closed"
        )
        return Expiration("—", "none", title=closed)
    if ticket.return_status:
        return Expiration(
            "Held for return",
            "none",
            title="The refund waits for the returned goods, not for a timer",
        )
    if account.source == "clickbank":
        return Expiration("At ClickBank", "none", title="ClickBank runs this account's timers")
    return Expiration("—", "none")


@dataclass(slots=True)
class Row:
    """One ticket as the queue (and the ticket page's header) shows it."""

    ticket: object
    account: object
    id: int
    url: str
    type_label: str
    type_icon: str
    status_label: str
    status_class: str
    refund_label: str
    refund_class: str
    refund_title: str
    expiration: Expiration
    opened_iso: str
    opened_text: str
    opened_title: str
    customer_name: str
    customer_email: str
    receipt: str
    product_label: str
    amount: str
    source_label: str
    locale: str
    locale_label: str
    closed: bool
    may_see_order: bool
    may_work: bool


def row(
    ticket, account, *, now: datetime, viewer_tz: str, url: str, may_see_order: bool, may_work: bool
) -> Row:
    refund = ticket.refund_state
    what = "Refund" if ticket.ticket_type == "refund" else "Cancellation"
    return Row(
        ticket=ticket,
        account=account,
        id=ticket.id,
        url=url,
        type_label=label(ticket.ticket_type),
        type_icon=TYPE_ICON.get(ticket.ticket_type, "bi-ticket"),
        status_label=label(ticket.status),
        status_class=STATUS_CLASS.get(ticket.status, "text-bg-light"),
        refund_label=label(refund) if refund else "",
        refund_class=REFUND_CLASS.get(refund, "text-bg-light") if refund else "",
        refund_title=f"{what} {refund}" if refund else "",
        expiration=expiration(ticket, account, now=now, viewer_tz=viewer_tz),
        opened_iso=iso(ticket.opened_at),
        opened_text=local(ticket.opened_at, viewer_tz, "%d %b %H:%M"),
        opened_title=f"{local(ticket.opened_at, account.timezone, LONG_FORMAT)} account time",
        customer_name=ticket.customer_name,
        customer_email=ticket.customer_email,
        receipt=ticket.receipt,
        product_label=label(ticket.product_type),
        amount=money(ticket.amount_cents, ticket.currency),
        source_label=SOURCE_SHORT.get(ticket.source) or label(ticket.source),
        locale=(ticket.locale or "").upper(),
        locale_label=label(ticket.locale),
        closed=ticket.status == "closed",
        may_see_order=may_see_order,
        may_work=may_work and ticket.status != "closed",
    )
