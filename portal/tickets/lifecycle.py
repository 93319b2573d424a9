"""The ticket lifecycle of DOMAIN.md §6/§6a as pure rules: no Flask, no database, time passed in.

A ticket's state is a :class:`TicketState`. Each event function takes the state, who acts and
``now``, checks the rule and returns the new state (or raises :class:`Refused` with a message a
person can read). :func:`advance` is what the timer sweep calls: it performs the one automatic
action that is due and returns what happened, so the caller can record it.

Time rules (the reading we build)
---------------------------------
* Deadlines are computed in the **account's** time zone (``Rules.tz``). Any automatic action that
  would fall on a Saturday or Sunday there happens the following **Monday at the same local clock
  time** (:func:`weekend_adjusted`); business-day counts skip Saturday and Sunday
  (:func:`add_business_days`). So a deadline produced by these rules is always on a weekday.
* Customer refund/cancel requests (order page, phone, or tech support turned into a request) are
  processed 24 h after they were made; requests the vendor opens from the transaction after 5
  minutes. Processing starts the settle delay (sandbox setting, 24 h), after which the request is
  finalized and the ticket closes. Each of these deadlines gets the weekend rule.
* **Chained tech-support warnings.** "After 48 h a warning, after two more days a second warning,
  after two more days (6 days in all) the ticket closes" is read as a *chain*: each step is due two
  days after the moment the previous step was due (after the weekend rule), not at fixed offsets
  of 48/96/144 h from the last reply. With fixed offsets, a reply on Thursday morning would put
  both warnings on the same Monday (Saturday and Monday-morning deadlines both move to Monday);
  the chain keeps the promise of "two more days" between the steps, so both parties always get two
  working days after a warning. A reply by either side restarts the chain from the reply.
  Customer silent (the vendor answered last): a warning after 7 business days and the close after
  14 business days, both counted from the vendor's reply.
* **Catching up.** The sweep may run late (downtime). A step is then carried out at once, still
  dated by when it was due, and the following step is computed from that due time, so the
  timeline is the same as if the worker had never stopped. One exception keeps the weekend free:
  if the late sweep itself runs on a Saturday or Sunday in the account's zone, a step that was
  due on a weekday waits until Monday (:func:`advance` returns ``None``). A step due *on* a
  weekend instant can only come from a person's explicit "process now" (:func:`process_now`) and
  runs at once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

MIN_COMMENT_LENGTH = 6


class TicketType(StrEnum):
    TECH_SUPPORT = "tech_support"
    REFUND = "refund"
    CANCEL = "cancel"

    @property
    def is_money(self) -> bool:
        """Refund and cancel requests are processed by a timer; tech support is not."""
        return self is not TicketType.TECH_SUPPORT


class Status(StrEnum):
    OPEN = "open"
    REOPENED = "reopened"
    CLOSED = "closed"


class RefundState(StrEnum):
    REQUESTED = "requested"  # savable: the vendor may still help the customer
    PROCESSING = "processing"  # initiated: may not be closed or changed, stays in the queue
    FINALIZED = "finalized"  # money returned / subscription stopped; the ticket is closed
    WITHDRAWN = "withdrawn"  # closed or turned into tech support before processing


class Source(StrEnum):
    """Who opened the ticket (DOMAIN.md §5)."""

    CUSTOMER = "customer"
    VENDOR = "vendor"
    CLERK = "clerk"
    PHONE = "phone"  # ClickBank phone support, on the customer's behalf
    API = "api"


class Party(StrEnum):
    CUSTOMER = "customer"
    VENDOR = "vendor"  # the owner, a clerk, the vendor's no-login link, an API user


class ActorKind(StrEnum):
    OWNER = "owner"
    CLERK = "clerk"
    CUSTOMER = "customer"
    VENDOR_LINK = "vendor_link"
    API = "api"
    SYSTEM = "system"
    PHONE = "phone"

    @property
    def party(self) -> Party | None:
        if self in (ActorKind.CUSTOMER, ActorKind.PHONE):
            return Party.CUSTOMER
        if self is ActorKind.SYSTEM:
            return None
        return Party.VENDOR


class Action(StrEnum):
    """The automatic action a ticket is waiting for; its time is the queue's "expiration"."""

    PROCESS = "process"  # refund / cancel request is carried out
    SETTLE = "settle"  # processing refund is finalized and the ticket closes
    WARN = "warn"  # inactivity warning to both parties
    CLOSE = "close"  # inactive tech-support ticket closes


class EventKind(StrEnum):
    OPENED = "opened"
    COMMENTED = "commented"
    TYPE_CHANGED = "type_changed"
    CLOSED = "closed"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    EMAIL_CHANGED = "email_changed"
    WARNING = "warning"
    PROCESSING = "processing"
    FINALIZED = "finalized"
    AUTO_CLOSED = "auto_closed"
    RECEIPT_EMAILED = "receipt_emailed"
    RETURN_LABEL_SENT = "return_label_sent"
    RETURN_IN_TRANSIT = "return_in_transit"
    RETURN_RECEIVED = "return_received"
    HANDOFF = "handoff"  # escalated to the refund authority (seed 001)
    REFUND_APPROVED = "refund_approved"  # the refund authority let a held refund go through


class Refused(Exception):
    """A rule says no. ``code`` is stable (for the API); ``message`` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Rules:
    """Per-account settings the rules depend on (DOMAIN.md §6; REFERENCE.md §8)."""

    tz: ZoneInfo
    customer_refund_days: int = 60
    vendor_refund_days: int = 90
    settle_hours: int = 24
    customer_process_hours: int = 24
    vendor_process_minutes: int = 5
    vendor_silent_step_hours: int = 48  # warning, second warning, close: 2 days apart
    customer_silent_warn_business_days: int = 7
    customer_silent_close_business_days: int = 14


class Reversal(StrEnum):
    """What already took the money of a charge back."""

    REFUNDED = "refunded"
    CHARGED_BACK = "charged_back"


@dataclass(frozen=True)
class OrderFacts:
    """What already happened to the order, looked up by the caller (the rules stay pure).

    A refund or cancellation is about the order as it is now, not as it was when the ticket was
    opened: the last charge may have been refunded through another ticket or charged back, the
    subscription may have been cancelled on the transaction page. The defaults describe an order
    nothing has happened to."""

    last_charge: Reversal | None = None  # the charge a refund is about is already reversed
    subscription_live: bool = True  # the subscription is active or paused (recurring only)
    open_request: int | None = None  # another refund/cancel ticket still open on the order


@dataclass(frozen=True)
class TicketState:
    ticket_type: TicketType
    status: Status
    refund_state: RefundState | None
    vendor_initiated: bool
    opened_at: datetime
    sale_at: datetime  # purchase or rebill date of the charge the ticket is about
    recurring: bool
    escalated: bool = False
    last_party: Party | None = None
    timer_started_at: datetime | None = None
    warnings_sent: int = 0
    next_action: Action | None = None
    next_action_at: datetime | None = None
    # A return is on its way back (seed 001): the refund waits for the goods, not for a clock,
    # whatever else happens to the ticket (reopened, refund turned into a cancellation).
    held_for_return: bool = False
    order: OrderFacts = OrderFacts()

    @property
    def is_closed(self) -> bool:
        return self.status is Status.CLOSED


@dataclass(frozen=True)
class Step:
    """What :func:`advance` did: the action, when it was due, and the state after it."""

    action: Action
    due_at: datetime
    state: TicketState
    event: EventKind
    reason: str | None = None  # the Refused code when a due request turned out to be moot


# ---------------------------------------------------------------------------------------------
# Time rules


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("lifecycle times must be timezone-aware")


def _local_wall(local_day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The instant at ``wall`` o'clock on ``local_day`` in ``tz``, as UTC."""
    return datetime.combine(local_day, wall, tzinfo=tz).astimezone(timezone.utc)


def weekend_adjusted(moment: datetime, tz: ZoneInfo) -> datetime:
    """Move a moment that falls on Saturday or Sunday in ``tz`` to Monday, same clock time."""
    _require_aware(moment)
    local = moment.astimezone(tz)
    weekday = local.weekday()
    if weekday < 5:
        return moment.astimezone(timezone.utc)
    monday = local.date() + timedelta(days=7 - weekday)
    return _local_wall(monday, local.time().replace(tzinfo=None), tz)


def add_business_days(moment: datetime, days: int, tz: ZoneInfo) -> datetime:
    """``days`` working days (Monday–Friday in ``tz``) after ``moment``, same clock time."""
    _require_aware(moment)
    local = moment.astimezone(tz)
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            counted += 1
    return _local_wall(day, local.time().replace(tzinfo=None), tz)


def is_weekend(moment: datetime, tz: ZoneInfo) -> bool:
    return moment.astimezone(tz).weekday() >= 5


def sale_age_days(sale_at: datetime, now: datetime) -> int:
    return (now - sale_at).days


def customer_may_request(sale_at: datetime, now: datetime, rules: Rules) -> bool:
    """A customer may ask for a refund within 60 days (a setting) of the purchase or rebill."""
    return now - sale_at <= timedelta(days=rules.customer_refund_days)


def vendor_may_refund(sale_at: datetime, now: datetime, rules: Rules, escalated: bool) -> bool:
    """A vendor may refund within 90 days (a setting); older sales need the Escalate flag."""
    return escalated or now - sale_at <= timedelta(days=rules.vendor_refund_days)


# ---------------------------------------------------------------------------------------------
# Scheduling


def _schedule_process(state: TicketState, start: datetime, rules: Rules, *, vendor: bool) -> TicketState:
    if state.held_for_return:
        return replace(state, refund_state=RefundState.REQUESTED, vendor_initiated=vendor,
                       last_party=None, timer_started_at=start, warnings_sent=0,
                       next_action=None, next_action_at=None)
    delay = (
        timedelta(minutes=rules.vendor_process_minutes)
        if vendor
        else timedelta(hours=rules.customer_process_hours)
    )
    return replace(
        state,
        refund_state=RefundState.REQUESTED,
        vendor_initiated=vendor,
        last_party=None,
        timer_started_at=start,
        warnings_sent=0,
        next_action=Action.PROCESS,
        next_action_at=weekend_adjusted(start + delay, rules.tz),
    )


def _schedule_tech(state: TicketState, start: datetime, last_party: Party, rules: Rules) -> TicketState:
    """(Re)start the tech-support inactivity timers from ``start``."""
    if last_party is Party.CUSTOMER:  # the vendor must answer
        at = weekend_adjusted(start + timedelta(hours=rules.vendor_silent_step_hours), rules.tz)
    else:  # the vendor answered; waiting for the customer
        at = add_business_days(start, rules.customer_silent_warn_business_days, rules.tz)
    return replace(
        state,
        refund_state=None,
        vendor_initiated=False,
        last_party=last_party,
        timer_started_at=start,
        warnings_sent=0,
        next_action=Action.WARN,
        next_action_at=at,
    )


def _closed(state: TicketState, refund_state: RefundState | None = None) -> TicketState:
    return replace(
        state,
        status=Status.CLOSED,
        refund_state=refund_state if refund_state is not None else state.refund_state,
        next_action=None,
        next_action_at=None,
    )


# ---------------------------------------------------------------------------------------------
# Events


def check_comment(comment: str | None) -> str:
    """Every action needs a comment of at least 6 characters (spaces around it not counted)."""
    text = (comment or "").strip()
    if len(text) < MIN_COMMENT_LENGTH:
        raise Refused(
            "comment_too_short",
            f"Please write a comment of at least {MIN_COMMENT_LENGTH} characters.",
        )
    return text


def _check_type_allowed(ticket_type: TicketType, recurring: bool) -> None:
    if ticket_type is TicketType.CANCEL and not recurring:
        raise Refused(
            "cancel_needs_recurring",
            "A cancellation is only possible for a recurring product (subscription).",
        )


def check_order_allows(ticket_type: TicketType, order: OrderFacts) -> None:
    """A refund needs a last charge that still holds money; a cancellation a subscription that
    still bills; and only one refund/cancel request may be open per order at a time."""
    if not ticket_type.is_money:
        return
    if ticket_type is TicketType.REFUND and order.last_charge is Reversal.REFUNDED:
        raise Refused(
            "already_refunded",
            "The last charge of this order was already refunded; there is nothing left to refund.",
        )
    if ticket_type is TicketType.REFUND and order.last_charge is Reversal.CHARGED_BACK:
        raise Refused(
            "charged_back",
            "The customer charged the last payment of this order back; it cannot be refunded as well.",
        )
    if ticket_type is TicketType.CANCEL and not order.subscription_live:
        raise Refused(
            "no_active_subscription",
            "The subscription is no longer active (already cancelled or ended); there is nothing "
            "to cancel.",
        )
    if order.open_request is not None:
        raise Refused(
            "request_already_open",
            "A refund or cancellation request is already open for this order "
            f"(ticket #{order.open_request}).",
        )


def _moot(state: TicketState) -> Refused | None:
    """Why a due request can no longer be carried out (the order changed while it waited)."""
    try:
        check_order_allows(state.ticket_type, replace(state.order, open_request=None))
    except Refused as refused:
        return refused
    return None


def _check_window(party: Party, sale_at: datetime, now: datetime, rules: Rules, escalated: bool) -> None:
    if party is Party.CUSTOMER:
        if not customer_may_request(sale_at, now, rules):
            raise Refused(
                "outside_customer_window",
                f"Refunds can be requested within {rules.customer_refund_days} days of the "
                "purchase or rebill date; this one is older.",
            )
    elif not vendor_may_refund(sale_at, now, rules, escalated):
        raise Refused(
            "outside_vendor_window",
            f"This sale is more than {rules.vendor_refund_days} days old. Tick Escalate to let "
            "ClickBank customer service refund it.",
        )


def open_ticket(
    ticket_type: TicketType,
    *,
    by: Party,
    sale_at: datetime,
    recurring: bool,
    now: datetime,
    rules: Rules,
    escalated: bool = False,
    order: OrderFacts = OrderFacts(),
) -> TicketState:
    """A new ticket. Refund/cancel requests by the customer are processed after 24 h, those the
    vendor opens from the transaction after 5 minutes; tech support starts inactivity timers."""
    _require_aware(now)
    _check_type_allowed(ticket_type, recurring)
    check_order_allows(ticket_type, order)
    base = TicketState(
        ticket_type=ticket_type,
        status=Status.OPEN,
        refund_state=None,
        vendor_initiated=False,
        opened_at=now,
        sale_at=sale_at,
        recurring=recurring,
        escalated=escalated,
        order=order,
    )
    if ticket_type.is_money:
        _check_window(by, sale_at, now, rules, escalated)
        return _schedule_process(base, now, rules, vendor=by is Party.VENDOR)
    # Tech support waits on whoever did not write last: a customer's question starts the
    # vendor-silent timer (48 h / 96 h / 6 d); a ticket the vendor opens (it wrote the first
    # message, e.g. a follow-up from the T action) waits on the customer (7 / 14 business days).
    return _schedule_tech(base, now, by, rules)


def _check_open(state: TicketState) -> None:
    if state.is_closed:
        raise Refused("ticket_closed", "This ticket is closed. Reopen it first.")


def _check_not_processing(state: TicketState, what: str) -> None:
    if state.refund_state is RefundState.PROCESSING:
        raise Refused(
            "refund_processing",
            f"The {state.ticket_type.value.replace('_', ' ')} is already being processed; "
            f"the ticket cannot be {what} now. It leaves the queue by itself once finished.",
        )


def _vendor_needs_consent(state: TicketState, by: Party, customer_agreed: bool, what: str) -> None:
    """A customer's refund/cancel request may be changed or closed by the vendor only with the
    customer's consent; the vendor's own request may be changed freely until it is processed."""
    if (
        by is Party.VENDOR
        and state.ticket_type.is_money
        and state.refund_state is RefundState.REQUESTED
        and not state.vendor_initiated
        and not customer_agreed
    ):
        raise Refused(
            "customer_consent_required",
            f"Tick \u201cCustomer agreed\u201d: a customer's request may only be {what} with "
            "the customer's consent.",
        )


def comment(state: TicketState, *, by: Party, now: datetime, rules: Rules) -> TicketState:
    """A reply. On tech support it restarts the inactivity timers for the other side."""
    _check_open(state)
    if state.ticket_type is TicketType.TECH_SUPPORT:
        return _schedule_tech(state, now, by, rules)
    return state


def change_type(
    state: TicketState,
    to_type: TicketType,
    *,
    by: Party,
    now: datetime,
    rules: Rules,
    customer_agreed: bool = False,
) -> TicketState:
    """Refund ↔ tech support (and cancellation for recurring products)."""
    _check_open(state)
    _check_not_processing(state, "changed")
    if to_type is state.ticket_type:
        raise Refused("same_type", "The ticket already has this type.")
    _check_type_allowed(to_type, state.recurring)
    if state.ticket_type.is_money:
        _vendor_needs_consent(state, by, customer_agreed, "changed")
    changed = replace(state, ticket_type=to_type)
    if to_type.is_money:
        check_order_allows(to_type, state.order)
        _check_window(by, state.sale_at, now, rules, state.escalated)
        # The vendor's own pending request stays the vendor's (5 minutes from the change,
        # still editable); anything else turned into a request is processed 24 h from now.
        own = (
            by is Party.VENDOR
            and state.ticket_type.is_money
            and state.vendor_initiated
            and state.refund_state is RefundState.REQUESTED
        )
        return _schedule_process(changed, now, rules, vendor=own)
    return _schedule_tech(changed, now, by, rules)


def close(
    state: TicketState, *, by: Party, now: datetime, customer_agreed: bool = False
) -> TicketState:
    """Closed by the customer or the vendor; a pending request is withdrawn, nothing refunded."""
    _check_open(state)
    _check_not_processing(state, "closed")
    if state.ticket_type.is_money:
        _vendor_needs_consent(state, by, customer_agreed, "closed")
        return _closed(state, RefundState.WITHDRAWN)
    return _closed(state)


def allowed_type_changes(
    state: TicketState, *, by: Party, now: datetime, rules: Rules, customer_agreed: bool = False
) -> list[TicketType]:
    """The types ``by`` may turn the ticket into right now (what a page should offer)."""
    allowed = []
    for to_type in TicketType:
        try:
            change_type(state, to_type, by=by, now=now, rules=rules, customer_agreed=customer_agreed)
        except Refused:
            continue
        allowed.append(to_type)
    return allowed


def may_close(state: TicketState, *, by: Party, now: datetime, customer_agreed: bool = False) -> bool:
    try:
        close(state, by=by, now=now, customer_agreed=customer_agreed)
    except Refused:
        return False
    return True


def reopen(state: TicketState, *, by: Party, now: datetime, rules: Rules) -> TicketState:
    """A closed ticket opens again (not one closed by a completed refund or cancellation)."""
    if not state.is_closed:
        raise Refused("not_closed", "Only a closed ticket can be reopened.")
    if state.refund_state is RefundState.FINALIZED:
        raise Refused(
            "already_finalized",
            "This request was already carried out; open a new ticket instead.",
        )
    reopened = replace(state, status=Status.REOPENED)
    if state.ticket_type.is_money:
        check_order_allows(state.ticket_type, state.order)
        _check_window(by, state.sale_at, now, rules, state.escalated)
        return _schedule_process(reopened, now, rules, vendor=False)
    return _schedule_tech(reopened, now, by, rules)


def escalate(state: TicketState, *, now: datetime, rules: Rules) -> TicketState:
    """Mark a sale older than the vendor window so it may still be refunded."""
    _check_open(state)
    if state.escalated:
        raise Refused("already_escalated", "This ticket is already escalated.")
    if now - state.sale_at <= timedelta(days=rules.vendor_refund_days):
        raise Refused(
            "escalation_not_needed",
            f"Escalation is only needed for sales older than {rules.vendor_refund_days} days.",
        )
    return replace(state, escalated=True)


def hold_for_return(state: TicketState) -> TicketState:
    """A return label was sent (seed 001): the refund waits for the goods, not for the clock."""
    _check_open(state)
    if not state.ticket_type.is_money or state.refund_state is not RefundState.REQUESTED:
        raise Refused(
            "not_a_pending_refund",
            "Returns can only be tracked on a refund or cancellation that is still pending.",
        )
    return replace(state, held_for_return=True, next_action=None, next_action_at=None)


def process_now(state: TicketState, *, now: datetime) -> TicketState:
    """The refund authority lets a pending request go through at once."""
    _check_open(state)
    if not state.ticket_type.is_money or state.refund_state is not RefundState.REQUESTED:
        raise Refused(
            "not_a_pending_refund", "Only a pending refund or cancellation can be processed."
        )
    moot = _moot(state)
    if moot is not None:
        raise moot
    return replace(state, next_action=Action.PROCESS, next_action_at=now)


def check_can_change_details(state: TicketState) -> None:
    """Changing the customer's email (and similar edits) needs a ticket that is not closed."""
    _check_open(state)


# ---------------------------------------------------------------------------------------------
# Timers


def advance(state: TicketState, now: datetime, rules: Rules) -> Step | None:
    """Perform the automatic action that is due at ``now``, if any. Call again to catch up."""
    _require_aware(now)
    if state.is_closed or state.next_action is None or state.next_action_at is None:
        return None
    due = state.next_action_at
    if due > now:
        return None
    if is_weekend(now, rules.tz) and not is_weekend(due, rules.tz):
        return None  # a late catch-up never acts on a weekend; it waits for Monday
    action = state.next_action
    if action is Action.PROCESS:
        moot = _moot(state)
        if moot is not None:
            # Already refunded, charged back or cancelled elsewhere: nothing is carried out and
            # nobody is told it was; the request closes as withdrawn, saying why.
            return Step(action, due, _closed(state, RefundState.WITHDRAWN), EventKind.CLOSED, moot.code)
        after = replace(
            state,
            refund_state=RefundState.PROCESSING,
            next_action=Action.SETTLE,
            next_action_at=weekend_adjusted(due + timedelta(hours=rules.settle_hours), rules.tz),
        )
        return Step(action, due, after, EventKind.PROCESSING)
    if action is Action.SETTLE:
        return Step(action, due, _closed(state, RefundState.FINALIZED), EventKind.FINALIZED)
    if action is Action.WARN:
        warned = state.warnings_sent + 1
        if state.last_party is Party.CUSTOMER:
            step = timedelta(hours=rules.vendor_silent_step_hours)
            nxt = Action.WARN if warned < 2 else Action.CLOSE
            at = weekend_adjusted(due + step, rules.tz)
        else:
            nxt = Action.CLOSE
            at = add_business_days(
                state.timer_started_at or due, rules.customer_silent_close_business_days, rules.tz
            )
        after = replace(state, warnings_sent=warned, next_action=nxt, next_action_at=at)
        return Step(action, due, after, EventKind.WARNING)
    if action is Action.CLOSE:
        return Step(action, due, _closed(state), EventKind.AUTO_CLOSED)
    raise AssertionError(f"unknown action {action!r}")
