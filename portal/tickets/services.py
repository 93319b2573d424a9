"""Working tickets. Every change goes through here: check the permission and the lifecycle rule,
change the row, append a ticket event, queue the notifications — in one database transaction.

Views pass ``expected_version`` (from the form) so a second clerk acting on a ticket that changed
meanwhile gets :class:`Conflict` instead of overwriting the first clerk's work.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm.exc import StaleDataError

from portal.accounts.models import AccountSource, LinkedAccount
from portal.authz.permissions import Action as Perm_Action
from portal.authz.policy import Principal, can
from portal.extensions import db
from portal.tickets import lifecycle
from portal.tickets.lifecycle import (
    ActorKind,
    EventKind,
    Party,
    Refused,
    RefundState,
    Source,
    Status,
    TicketState,
    TicketType,
)
from portal.tickets.models import Ticket, TicketEvent
from portal.tickets.queries import unindexed
from portal.transactions import services as txn_services
from portal.transactions.models import Subscription, SubscriptionStatus, Transaction, TxnType

RETURN_STEPS = ("label_sent", "in_transit", "received")
RETURN_HOLDS = ("label_sent", "in_transit")  # the goods are on their way back: no refund timer
RETURN_EVENTS = {
    "label_sent": EventKind.RETURN_LABEL_SENT,
    "in_transit": EventKind.RETURN_IN_TRANSIT,
    "received": EventKind.RETURN_RECEIVED,
}


class NotAllowed(Exception):
    """The actor lacks the permission (views answer 403, the API 403 JSON)."""


class Conflict(Exception):
    """The ticket changed since the actor loaded it. ``ticket`` holds the new state."""

    def __init__(self, ticket: Ticket):
        super().__init__("This ticket was changed by someone else in the meantime.")
        self.ticket = ticket


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user (owner, clerk, API user) with their principal, or a party reached
    through a signed link, or the system (timers)."""

    kind: ActorKind
    user_id: int | None = None
    label: str = ""
    principal: Principal | None = None

    @property
    def party(self) -> Party | None:
        return self.kind.party

    @classmethod
    def for_user(cls, user, principal: Principal, *, via_api: bool = False) -> "Actor":
        if via_api:
            kind = ActorKind.API
        else:
            kind = ActorKind.OWNER if user.is_owner else ActorKind.CLERK
        return cls(kind, user.id, user.full_name, principal)

    @classmethod
    def customer(cls, ticket_or_order) -> "Actor":
        """The customer of a ticket or an order (both carry the customer's name and email)."""
        return cls(ActorKind.CUSTOMER, label=ticket_or_order.customer_name or ticket_or_order.customer_email)

    @classmethod
    def phone(cls) -> "Actor":
        return cls(ActorKind.PHONE, label="ClickBank phone support")

    @classmethod
    def vendor_link(cls, account: LinkedAccount) -> "Actor":
        return cls(ActorKind.VENDOR_LINK, label=f"{account.nickname} (email link)")

    @classmethod
    def system(cls) -> "Actor":
        return cls(ActorKind.SYSTEM, label="System")


# What a party reached through a signed link may do (everything else is for logged-in users).
LINK_ACTIONS = {
    ActorKind.CUSTOMER: {"comment", "close", "change_type", "open", "change_email"},
    ActorKind.PHONE: {"open", "comment", "change_type", "close"},
    ActorKind.VENDOR_LINK: {"comment", "close"},
    ActorKind.SYSTEM: set(),
}


def _authorize(actor: Actor, what: str, ticket_or_txn, action: Perm_Action) -> None:
    if actor.principal is not None:
        if not can(actor.principal, action, ticket_or_txn):
            raise NotAllowed(what)
        return
    if what not in LINK_ACTIONS.get(actor.kind, set()):
        raise NotAllowed(what)


# ---------------------------------------------------------------------------------------------
# State <-> row


def rules_for(account: LinkedAccount) -> lifecycle.Rules:
    return lifecycle.Rules(
        tz=ZoneInfo(account.timezone),
        customer_refund_days=account.customer_refund_days,
        vendor_refund_days=account.vendor_refund_days,
        settle_hours=account.settle_hours,
    )


CHARGE_TYPES = (TxnType.SALE, TxnType.BILL, TxnType.TEST_SALE, TxnType.TEST_BILL)
SALE_TYPES = (TxnType.SALE, TxnType.TEST_SALE)
REVERSALS = {
    TxnType.RFND: lifecycle.Reversal.REFUNDED,
    TxnType.TEST_RFND: lifecycle.Reversal.REFUNDED,
    TxnType.CGBK: lifecycle.Reversal.CHARGED_BACK,
}
LIVE_SUBSCRIPTION = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED)
MONEY_TYPES = (TicketType.REFUND.value, TicketType.CANCEL.value)


@dataclass(frozen=True)
class OrderNow:
    """An order as it is now: the charge a refund is about and what already happened to it."""

    sale_at: datetime  # purchase or latest rebill: refund windows count from here
    last_charge_receipt: str
    facts: lifecycle.OrderFacts


def order_now(txn: Transaction, *, ticket_id: int | None = None) -> OrderNow:
    """What the rules need to know about the order of ``txn`` (the sale): the last charge and
    whether it was refunded or charged back, whether the subscription still bills, and another
    refund/cancel ticket still open on it (other than ``ticket_id``).

    The rows of one order are few: they are read through the (account, sale_receipt) index and
    sorted here (with a time order or a max() to serve, SQLite would walk every transaction of
    the account instead)."""
    rows = db.session.execute(
        select(Transaction.id, Transaction.occurred_at, Transaction.receipt, Transaction.txn_type).where(
            Transaction.linked_account_id == txn.linked_account_id,
            Transaction.sale_receipt == txn.sale_receipt,
        )
    ).all()
    charges = [r for r in rows if r.txn_type in CHARGE_TYPES]
    last = max(charges, key=lambda r: (r.occurred_at, r.id), default=None)
    sale_at, receipt = (last.occurred_at, last.receipt) if last else (txn.occurred_at, txn.receipt)
    reversals = {REVERSALS[TxnType(r.txn_type)] for r in rows
                 if r.receipt == receipt and TxnType(r.txn_type) in REVERSALS}
    reversal = next((r for r in lifecycle.Reversal if r in reversals), None)
    live = True
    if txn.recurring:
        sale_id = next((r.id for r in rows if r.txn_type in SALE_TYPES), txn.id)
        status = db.session.scalar(select(Subscription.status).where(Subscription.sale_transaction_id == sale_id))
        live = status in LIVE_SUBSCRIPTION
    other = select(Ticket.id).where(
        Ticket.transaction_id == txn.id,
        unindexed(Ticket.ticket_type).in_(MONEY_TYPES),
        Ticket.status != Status.CLOSED.value,
    )
    if ticket_id is not None:
        other = other.where(Ticket.id != ticket_id)
    open_request = db.session.scalar(other.order_by(Ticket.id).limit(1))
    return OrderNow(sale_at, receipt, lifecycle.OrderFacts(
        last_charge=reversal, subscription_live=live, open_request=open_request))


def state_of(ticket: Ticket) -> TicketState:
    order = order_now(ticket.transaction, ticket_id=ticket.id)
    return TicketState(
        ticket_type=TicketType(ticket.ticket_type),
        status=Status(ticket.status),
        refund_state=RefundState(ticket.refund_state) if ticket.refund_state else None,
        vendor_initiated=ticket.vendor_initiated,
        opened_at=ticket.opened_at,
        sale_at=order.sale_at,
        recurring=ticket.product_type == "recurring",
        escalated=ticket.escalated,
        last_party=Party(ticket.last_party) if ticket.last_party else None,
        timer_started_at=ticket.timer_started_at,
        warnings_sent=ticket.warnings_sent,
        next_action=lifecycle.Action(ticket.next_action) if ticket.next_action else None,
        next_action_at=ticket.next_action_at,
        held_for_return=ticket.return_status in RETURN_HOLDS,
        order=order.facts,
    )


def _apply(ticket: Ticket, state: TicketState, now: datetime) -> None:
    ticket.ticket_type = state.ticket_type.value
    ticket.status = state.status.value
    ticket.refund_state = state.refund_state.value if state.refund_state else None
    ticket.vendor_initiated = state.vendor_initiated
    ticket.escalated = state.escalated
    ticket.last_party = state.last_party.value if state.last_party else None
    ticket.timer_started_at = state.timer_started_at
    ticket.warnings_sent = state.warnings_sent
    timers_run_here = ticket.linked_account.source == AccountSource.SANDBOX
    if timers_run_here or state.is_closed:
        ticket.next_action = state.next_action.value if state.next_action else None
        ticket.next_action_at = state.next_action_at
    if state.is_closed and ticket.closed_at is None:
        ticket.closed_at = now
    elif not state.is_closed:
        ticket.closed_at = None
    ticket.updated_at = now


def _check_version(ticket: Ticket, expected_version) -> None:
    """The actor saw ``expected_version``; if the ticket moved on since, say so (the form keeps
    their text). Concurrent writers are also caught at flush by the mapper's version column."""
    if expected_version in (None, ""):
        return
    try:
        expected = int(expected_version)
    except (TypeError, ValueError):
        expected = -1
    if expected != ticket.version:
        raise Conflict(ticket)


def _event(
    ticket: Ticket,
    actor: Actor,
    kind: EventKind,
    now: datetime,
    *,
    comment: str | None = None,
    from_value: str | None = None,
    to_value: str | None = None,
    customer_agreed: bool = False,
    data: dict | None = None,
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        linked_account_id=ticket.linked_account_id,
        at=now,
        kind=kind.value,
        actor_kind=actor.kind.value,
        actor_user_id=actor.user_id,
        actor_label=actor.label[:160],
        ticket_type=ticket.ticket_type,
        from_value=from_value,
        to_value=to_value,
        comment=comment,
        customer_agreed=customer_agreed,
        data=data,
    )
    db.session.add(event)
    return event


def _finish(ticket: Ticket, event: TicketEvent, notify: str | None, now: datetime) -> Ticket:
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(db.session.get(Ticket, ticket.id)) from None
    if notify:
        from portal.tickets import notify as notify_module

        notify_module.ticket_mail(ticket, notify, event, now=now)
    _queue_clickbank(ticket, event)
    db.session.commit()
    return ticket


def _queue_clickbank(ticket: Ticket, event: TicketEvent) -> None:
    """On a ClickBank account, the change is pushed to ClickBank through the outbox."""
    if ticket.linked_account.source != AccountSource.CLICKBANK:
        return
    if event.actor_kind in (ActorKind.SYSTEM, "clickbank"):
        return
    from portal.notifications.calls import queue_ticket_call

    queue_ticket_call(ticket, event)


def _refuse_if_not_sandbox_timers(ticket: Ticket) -> None:
    if ticket.linked_account.source != AccountSource.SANDBOX:
        raise Refused(
            "clickbank_account",
            "This account's tickets are processed by ClickBank; the portal cannot do this here.",
        )


# ---------------------------------------------------------------------------------------------
# Opening


SOURCE_FOR_ACTOR = {
    ActorKind.OWNER: Source.VENDOR,
    ActorKind.CLERK: Source.CLERK,
    ActorKind.VENDOR_LINK: Source.VENDOR,
    ActorKind.API: Source.API,
    ActorKind.CUSTOMER: Source.CUSTOMER,
    ActorKind.PHONE: Source.PHONE,
}


def open_ticket(
    actor: Actor,
    txn: Transaction,
    ticket_type: TicketType | str,
    *,
    comment: str,
    now: datetime,
    locale: str | None = None,
    escalated: bool = False,
) -> Ticket:
    """Open a ticket about a sale. Customer and phone requests get the customer's timers;
    refund/cancel requests from the vendor side need Refund authority and run on 5 minutes."""
    ticket_type = TicketType(ticket_type)
    text = lifecycle.check_comment(comment)
    account = txn.linked_account
    action = Perm_Action.TICKET_REFUND if ticket_type.is_money else Perm_Action.TICKET_WORK
    view = _TxnView(txn)
    _authorize(actor, "open", view, action)
    state = check_request(txn, ticket_type, by=actor.party, now=now, escalated=escalated)
    ticket = Ticket(
        linked_account_id=txn.linked_account_id,
        transaction_id=txn.id,
        receipt=txn.sale_receipt,
        source=SOURCE_FOR_ACTOR[actor.kind].value,
        locale=locale or txn.locale or "en",
        opened_at=now,
        opened_by_id=actor.user_id,
        customer_first_name=txn.customer_first_name,
        customer_last_name=txn.customer_last_name,
        customer_email=txn.customer_email,
        description=text,
        product_type=txn.product_type,
        amount_cents=txn.amount_cents,
        currency=txn.currency,
    )
    ticket.linked_account = account
    ticket.transaction = txn
    db.session.add(ticket)
    _apply(ticket, state, now)
    db.session.flush()
    event = _event(ticket, actor, EventKind.OPENED, now, comment=text, to_value=ticket_type.value)
    return _finish(ticket, event, "ticket_opened", now)


def check_request(
    txn: Transaction, ticket_type: TicketType | str, *, by: Party, now: datetime, escalated: bool = False,
    order: OrderNow | None = None,
) -> TicketState:
    """The rule for opening a ticket of ``ticket_type`` on the order of ``txn`` now (refund and
    cancel windows, what already happened to the order); raises :class:`Refused`. Pages that
    offer a request dry-run this, so they never offer what :func:`open_ticket` refuses.
    ``order``: :func:`order_now` of ``txn`` when the caller already read it."""
    order = order if order is not None else order_now(txn)
    return lifecycle.open_ticket(
        TicketType(ticket_type),
        by=by,
        sale_at=order.sale_at,
        recurring=txn.recurring,
        now=now,
        rules=rules_for(txn.linked_account),
        escalated=escalated,
        order=order.facts,
    )


def request_refusal(
    txn: Transaction, ticket_type: TicketType | str, *, by: Party, now: datetime
) -> str | None:
    """Why a request of ``ticket_type`` cannot be opened on this order now (None: it can)."""
    return _dry_run(lambda: check_request(txn, ticket_type, by=by, now=now))


def request_refusals(
    txn: Transaction, ticket_types, *, by: Party, now: datetime
) -> dict[TicketType, str | None]:
    """:func:`request_refusal` for each of ``ticket_types``, judged against one reading of the
    order (the order page asks about refund and cancellation together)."""
    order = order_now(txn)
    return {
        TicketType(kind): _dry_run(lambda kind=kind: check_request(txn, kind, by=by, now=now, order=order))
        for kind in ticket_types
    }


class _TxnView:
    """What the policy needs to know about a transaction a ticket is opened on."""

    def __init__(self, txn: Transaction):
        self.linked_account_id = txn.linked_account_id
        self.has_ticket = True  # opening a ticket ties it; the caller already saw the sale


# ---------------------------------------------------------------------------------------------
# Actions on a ticket


def add_comment(actor: Actor, ticket: Ticket, comment: str, *, now: datetime, expected_version=None) -> Ticket:
    text = lifecycle.check_comment(comment)
    _authorize(actor, "comment", ticket, Perm_Action.TICKET_WORK)
    _check_version(ticket, expected_version)
    state = lifecycle.comment(state_of(ticket), by=actor.party, now=now, rules=rules_for(ticket.linked_account))
    _apply(ticket, state, now)
    event = _event(ticket, actor, EventKind.COMMENTED, now, comment=text)
    return _finish(ticket, event, "ticket_reply", now)


def change_type(
    actor: Actor,
    ticket: Ticket,
    to_type: TicketType | str,
    comment: str,
    *,
    now: datetime,
    customer_agreed: bool = False,
    expected_version=None,
) -> Ticket:
    to_type = TicketType(to_type)
    text = lifecycle.check_comment(comment)
    needs = Perm_Action.TICKET_REFUND if to_type.is_money else Perm_Action.TICKET_WORK
    _authorize(actor, "change_type", ticket, needs)
    _check_version(ticket, expected_version)
    before = ticket.ticket_type
    state = lifecycle.change_type(
        state_of(ticket),
        to_type,
        by=actor.party,
        now=now,
        rules=rules_for(ticket.linked_account),
        customer_agreed=customer_agreed,
    )
    _apply(ticket, state, now)
    if not to_type.is_money:
        ticket.return_status = None
        ticket.handoff_at = None
    event = _event(
        ticket, actor, EventKind.TYPE_CHANGED, now, comment=text,
        from_value=before, to_value=to_type.value, customer_agreed=customer_agreed,
    )
    return _finish(ticket, event, "ticket_changed", now)


def close(
    actor: Actor,
    ticket: Ticket,
    comment: str,
    *,
    now: datetime,
    customer_agreed: bool = False,
    expected_version=None,
) -> Ticket:
    text = lifecycle.check_comment(comment)
    _authorize(actor, "close", ticket, Perm_Action.TICKET_WORK)
    _check_version(ticket, expected_version)
    before = ticket.status
    state = lifecycle.close(state_of(ticket), by=actor.party, now=now, customer_agreed=customer_agreed)
    _apply(ticket, state, now)
    event = _event(
        ticket, actor, EventKind.CLOSED, now, comment=text,
        from_value=before, to_value=Status.CLOSED.value, customer_agreed=customer_agreed,
    )
    return _finish(ticket, event, "ticket_closed", now)


def reopen(actor: Actor, ticket: Ticket, comment: str, *, now: datetime, expected_version=None) -> Ticket:
    text = lifecycle.check_comment(comment)
    needs = Perm_Action.TICKET_REFUND if TicketType(ticket.ticket_type).is_money else Perm_Action.TICKET_WORK
    _authorize(actor, "reopen", ticket, needs)
    _check_version(ticket, expected_version)
    state = lifecycle.reopen(state_of(ticket), by=actor.party, now=now, rules=rules_for(ticket.linked_account))
    _apply(ticket, state, now)
    event = _event(ticket, actor, EventKind.REOPENED, now, comment=text,
                   from_value=Status.CLOSED.value, to_value=Status.REOPENED.value)
    return _finish(ticket, event, "ticket_changed", now)


def escalate(actor: Actor, ticket: Ticket, comment: str, *, now: datetime, expected_version=None) -> Ticket:
    text = lifecycle.check_comment(comment)
    _authorize(actor, "escalate", ticket, Perm_Action.TICKET_WORK)
    _check_version(ticket, expected_version)
    state = lifecycle.escalate(state_of(ticket), now=now, rules=rules_for(ticket.linked_account))
    _apply(ticket, state, now)
    event = _event(ticket, actor, EventKind.ESCALATED, now, comment=text, to_value="escalated")
    return _finish(ticket, event, "ticket_changed", now)


def change_email(
    actor: Actor, ticket: Ticket, new_email: str, comment: str, *, now: datetime, expected_version=None
) -> Ticket:
    """Change the customer's email on the ticket and on every transaction of the order."""
    text = lifecycle.check_comment(comment)
    new_email = (new_email or "").strip().lower()
    if "@" not in new_email or len(new_email) > 254 or any(c.isspace() for c in new_email):
        raise Refused("invalid_email", "Please enter a valid email address.")
    _authorize(actor, "change_email", ticket, Perm_Action.TICKET_WORK)
    _check_version(ticket, expected_version)
    lifecycle.check_can_change_details(state_of(ticket))
    before = ticket.customer_email
    if new_email == before:
        raise Refused("same_email", "That is already the customer's email address.")
    ticket.customer_email = new_email
    ticket.updated_at = now
    db.session.execute(
        update(Transaction)
        .where(
            Transaction.linked_account_id == ticket.linked_account_id,
            Transaction.sale_receipt == ticket.receipt,
        )
        .values(customer_email=new_email)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Ticket)
        .where(
            Ticket.linked_account_id == ticket.linked_account_id,
            Ticket.receipt == ticket.receipt,
            Ticket.id != ticket.id,
        )
        .values(customer_email=new_email)
        .execution_options(synchronize_session=False)
    )
    event = _event(ticket, actor, EventKind.EMAIL_CHANGED, now, comment=text,
                   from_value=before, to_value=new_email)
    if actor.kind is not ActorKind.CUSTOMER:
        # The ticket's mails now go to the new address; the old one is told of the change, so
        # a customer whose address someone changed by posing as them finds out (the order
        # page's own change tells both addresses itself).
        from portal.support.services import tell_email_changed

        tell_email_changed(ticket.transaction, before, new_email, to=(before,), locale=ticket.locale,
                           now=now, ticket_id=ticket.id)
    return _finish(ticket, event, "ticket_changed", now)


def move_deadlines_off_weekends(account) -> int:
    """After a sandbox account's time zone changed: a timer set under the old zone may now fall
    on a Saturday or Sunday, where the portal never acts (DOMAIN.md §6); move it to Monday, same
    local time, as if it had been set in the new zone. The caller commits. Returns how many
    moved. A plain UPDATE: the ticket's own fields and version stay as they are."""
    if not account.is_sandbox:
        return 0  # ClickBank keeps its own clock; the portal only shows it
    zone = ZoneInfo(account.timezone)
    moved = 0
    due = db.session.execute(
        select(Ticket.id, Ticket.next_action_at).where(
            Ticket.linked_account_id == account.id,
            Ticket.status != lifecycle.Status.CLOSED.value,
            Ticket.next_action_at.is_not(None),
        )
    ).all()
    for ticket_id, at in due:
        later = lifecycle.weekend_adjusted(at, zone)
        if later != at:
            db.session.execute(
                update(Ticket)
                .where(Ticket.id == ticket_id, Ticket.next_action_at == at)
                .values(next_action_at=later)
                .execution_options(synchronize_session=False)
            )
            moved += 1
    return moved


def record_return(actor: Actor, ticket: Ticket, step: str, comment: str, *, now: datetime, expected_version=None) -> Ticket:
    """Seed 001's hand-off: a clerk records the return's progress (label sent → in transit →
    received). Sending the label holds the refund until the goods are back."""
    if step not in RETURN_STEPS:
        raise Refused("invalid_return_step", "Unknown return status.")
    text = lifecycle.check_comment(comment)
    _authorize(actor, "return", ticket, Perm_Action.TICKET_WORK)
    _check_version(ticket, expected_version)
    current = RETURN_STEPS.index(ticket.return_status) if ticket.return_status else -1
    if RETURN_STEPS.index(step) != current + 1:
        raise Refused(
            "return_out_of_order",
            "Returns move from label sent to in transit to received, one step at a time.",
        )
    state = state_of(ticket)
    if step == "label_sent":
        state = lifecycle.hold_for_return(state)
    else:
        lifecycle.check_can_change_details(state)
    _apply(ticket, state, now)
    before = ticket.return_status
    ticket.return_status = step
    event = _event(ticket, actor, RETURN_EVENTS[step], now, comment=text, from_value=before, to_value=step)
    return _finish(ticket, event, "ticket_changed", now)


def hand_off(actor: Actor, ticket: Ticket, comment: str, *, now: datetime, expected_version=None) -> Ticket:
    """Escalate a held refund to the person with Refund authority (the Escalations view)."""
    text = lifecycle.check_comment(comment)
    _authorize(actor, "handoff", ticket, Perm_Action.TICKET_WORK)
    _check_version(ticket, expected_version)
    lifecycle.check_can_change_details(state_of(ticket))
    if ticket.return_status is None:
        raise Refused("no_return", "Record the return label first, then escalate the refund.")
    if ticket.handoff_at is not None:
        raise Refused("already_handed_off", "This refund is already with the refund authority.")
    ticket.handoff_at = now
    ticket.updated_at = now
    event = _event(ticket, actor, EventKind.HANDOFF, now, comment=text, to_value="refund_authority")
    _tell_refund_authority(ticket, actor, text, now)
    return _finish(ticket, event, None, now)


def email_receipt(actor: Actor, ticket: Ticket, comment: str, *, now: datetime, expected_version=None) -> str:
    """Email the purchase receipt of the ticket's order to the customer (DOMAIN.md §5: an action
    from the ticket, so it needs a comment). The mail goes through the receipt path
    (``transactions.receipts``, the outbox); the history records it with the comment, as work by
    the actor. Allowed in any status (a customer may want the invoice of a closed ticket); the
    version check makes sure it goes to the address the actor saw. Returns that address."""
    from portal.auth.models import User
    from portal.transactions import receipts

    text = lifecycle.check_comment(comment)
    _authorize(actor, "email_receipt", ticket, Perm_Action.TICKET_WORK)
    _authorize(actor, "email_receipt", ticket, Perm_Action.TRANSACTION_VIEW)
    _check_version(ticket, expected_version)
    user = db.session.get(User, actor.user_id) if actor.user_id else None
    receipt = receipts.queue_receipt(ticket.transaction, now=now, user=user, ticket_id=ticket.id)
    to = ticket.transaction.customer_email
    event = _event(ticket, actor, EventKind.RECEIPT_EMAILED, now, comment=text, to_value=to,
                   data={"receipt": receipt.number})
    _finish(ticket, event, None, now)
    return to


def _tell_refund_authority(ticket: Ticket, actor: Actor, comment: str, now: datetime) -> None:
    """Mail everyone who may process this refund (the one policy decides: the owner and the
    clerks with Refund authority on the account) that a refund waits for them in Escalations."""
    from sqlalchemy import or_

    from portal.auth.models import Role, User
    from portal.authz.permissions import Perm
    from portal.authz.scope import PERM_COLUMNS, principal_for
    from portal.notifications import mail

    # Only the owner and Refund-authority holders can pass the policy: read just those (a
    # Master Account may have hundreds of clerks), then let the policy decide for each.
    users = db.session.scalars(select(User).where(
        User.master_account_id == ticket.linked_account.master_account_id,
        User.deleted_at.is_(None), User.is_enabled.is_(True), User.is_api_only.is_(False),
        or_(User.role == Role.OWNER, getattr(User, PERM_COLUMNS[Perm.REFUND_AUTHORITY]).is_(True)),
    ))
    for user in users:
        if user.id == actor.user_id or not can(principal_for(user), Perm_Action.TICKET_REFUND, ticket):
            continue
        mail.queue_email(
            "refund_handoff",
            to=user.email,
            subject=f"Refund escalation: ticket #{ticket.id} ({ticket.linked_account.nickname})",
            context={"ticket": ticket, "by": actor.label, "comment": comment, "recipient": user},
            master_account_id=ticket.linked_account.master_account_id,
            linked_account_id=ticket.linked_account_id,
            ticket_id=ticket.id,
            now=now,
        )


def process_refund(actor: Actor, ticket: Ticket, comment: str, *, now: datetime, expected_version=None) -> Ticket:
    """The refund authority lets a held refund go through (only once the return is received)."""
    text = lifecycle.check_comment(comment)
    _authorize(actor, "process", ticket, Perm_Action.TICKET_REFUND)
    _check_version(ticket, expected_version)
    if ticket.return_status not in (None, "received"):
        raise Refused(
            "return_not_received",
            "The return has not arrived at the warehouse yet; process the refund once it is received.",
        )
    state = lifecycle.process_now(state_of(ticket), now=now)
    _apply(ticket, state, now)
    ticket.handoff_at = None
    event = _event(ticket, actor, EventKind.REFUND_APPROVED, now, comment=text)
    db.session.flush()
    done = run_due(ticket, now=now, commit=False)
    # The refund going out is the news, and run_due has mailed "refund processed" to both
    # parties; a second "ticket changed" mail in the same moment would only repeat it.
    return _finish(ticket, event, None if EventKind.PROCESSING in done else "ticket_changed", now)


# ---------------------------------------------------------------------------------------------
# What a user may do with a ticket now (the ticket page shows exactly these)


@dataclass
class Options:
    """The actions the ticket page offers. Each one is a dry run of the same lifecycle rule and
    policy check the action itself performs, so the page never offers what the server refuses;
    ``*_blocked`` holds the lifecycle's reason when an action exists but is not possible now."""

    work: bool = False
    comment: bool = False
    close: bool = False
    close_blocked: str | None = None
    reopen: bool = False
    reopen_blocked: str | None = None
    escalate: bool = False
    change_types: list[str] = field(default_factory=list)
    needs_consent: bool = False
    change_email: bool = False

    @property
    def any(self) -> bool:
        return any(
            (self.comment, self.close, self.reopen, self.escalate, self.change_types, self.change_email)
        )


def _dry_run(rule) -> str | None:
    try:
        rule()
    except Refused as refused:
        return refused.message
    return None


def available_actions(principal: Principal, ticket: Ticket, *, now: datetime) -> Options:
    options = Options(work=can(principal, Perm_Action.TICKET_WORK, ticket))
    if not options.work:
        return options
    may_refund = can(principal, Perm_Action.TICKET_REFUND, ticket)
    state = state_of(ticket)
    rules = rules_for(ticket.linked_account)
    vendor = Party.VENDOR
    options.comment = (
        _dry_run(lambda: lifecycle.comment(state, by=vendor, now=now, rules=rules)) is None
    )
    if state.is_closed:
        if TicketType(ticket.ticket_type).is_money and not may_refund:
            options.reopen_blocked = "Reopening a refund or cancellation needs Refund authority."
        else:
            options.reopen_blocked = _dry_run(
                lambda: lifecycle.reopen(state, by=vendor, now=now, rules=rules)
            )
        options.reopen = options.reopen_blocked is None
        return options
    options.close_blocked = _dry_run(
        lambda: lifecycle.close(state, by=vendor, now=now, customer_agreed=True)
    )
    options.close = options.close_blocked is None
    options.change_types = [
        t.value
        for t in lifecycle.allowed_type_changes(
            state, by=vendor, now=now, rules=rules, customer_agreed=True
        )
        if may_refund or not t.is_money
    ]
    options.needs_consent = (
        state.ticket_type.is_money
        and state.refund_state is RefundState.REQUESTED
        and not state.vendor_initiated
    )
    options.escalate = _dry_run(lambda: lifecycle.escalate(state, now=now, rules=rules)) is None
    options.change_email = _dry_run(lambda: lifecycle.check_can_change_details(state)) is None
    return options


# ---------------------------------------------------------------------------------------------
# Timers (sandbox accounts)

# What each automatic step tells both parties (DOMAIN.md §6a: every step notifies). The news that
# the money went back (or the subscription stopped) goes out when it happens, at processing: the
# RFND is made and billing stops there. Finalization (the settle delay passed) then only says the
# ticket is closed and nothing more will happen; it does not repeat the refund news.
TIMER_MAIL = {
    EventKind.WARNING: "ticket_warning",
    EventKind.PROCESSING: "refund_processed",
    EventKind.FINALIZED: "ticket_closed",
    EventKind.AUTO_CLOSED: "ticket_closed",
    EventKind.CLOSED: "ticket_closed",  # a due request that had become moot
}

# What the system writes on a request it closes because the order changed while it waited, in
# the ticket's language (the customer reads it in their history; the vendor's mail says more).
MOOT_NOTES = {
    "already_refunded": "order.is_refunded",
    "charged_back": "order.is_refunded",
    "no_active_subscription": "req.cancel_not_possible",
}


def _step_time(ticket: Ticket, due_at: datetime, now: datetime) -> datetime:
    """When a step counts as done: when it was due (a late sweep catching up dates each step by
    its due time, so reports count it on the day it was due), but never before the ticket's
    latest event, so a ticket's history stays in time order (e.g. a comment made while the
    worker was down and before the sweep caught up comes before the step) and never after now."""
    latest = db.session.scalar(select(func.max(TicketEvent.at)).where(TicketEvent.ticket_id == ticket.id))
    at = min(due_at, now)
    if latest is not None and latest > at:
        at = min(latest, now)
    return at


def run_due(ticket: Ticket, *, now: datetime, commit: bool = True) -> list[EventKind]:
    """Perform every automatic action of ``ticket`` that is due at ``now`` (catching up after
    downtime). Each step is recorded as a system event with its mail, dated by when it was due
    (see :func:`_step_time`): the event, ``closed_at`` and the refund transaction carry that time;
    ``updated_at`` and the mail's queue time are the real ``now``."""
    account = ticket.linked_account
    if account.source != AccountSource.SANDBOX:
        return []
    rules = rules_for(account)
    done: list[EventKind] = []
    system = Actor.system()
    while True:
        step = lifecycle.advance(state_of(ticket), now, rules)
        if step is None:
            break
        at = _step_time(ticket, step.due_at, now)
        effect = _carry_out(ticket, step, at)
        note = None
        if step.reason:  # moot: the order changed while the request waited
            effect, note = _moot_record(ticket, step.reason)
        _apply(ticket, step.state, at)
        ticket.updated_at = now
        event = _event(
            ticket, system, step.event, at, comment=note,
            data={"due_at": step.due_at.isoformat(), **effect},
            to_value=step.state.refund_state.value if step.state.refund_state else step.state.status.value,
        )
        db.session.flush()
        mail_kind = TIMER_MAIL.get(step.event)
        if mail_kind:
            from portal.tickets import notify as notify_module

            notify_module.ticket_mail(ticket, mail_kind, event, now=now)
        done.append(step.event)
    if commit and done:
        db.session.commit()
    return done


def _moot_record(ticket: Ticket, code: str) -> tuple[dict, str]:
    """The record of a due request closed without being carried out: why, and which charge."""
    from portal.support import i18n

    order = order_now(ticket.transaction, ticket_id=ticket.id)
    note = i18n.translator(ticket.locale)(MOOT_NOTES.get(code, "err.not_possible"))
    return {"moot": code, "charge_receipt": order.last_charge_receipt}, note


def _carry_out(ticket: Ticket, step: lifecycle.Step, now: datetime) -> dict:
    """The money side of a timer step on a sandbox account: processing a refund returns the
    last charge and, for a subscription, stops billing at once (a rebill must not fall between
    the refund and its settlement); processing a cancellation stops billing, no money back."""
    if step.event is not EventKind.PROCESSING:
        return {}
    sale = ticket.transaction
    effect = {}
    if ticket.ticket_type == TicketType.REFUND:
        charge = txn_services.last_charge(sale)
        refund = txn_services.refund_charge(charge, ticket.linked_account, now=max(now, charge.occurred_at))
        effect = {"refund_receipt": charge.receipt, "refund_id": refund.id if refund else None}
    subscription = txn_services.subscription_of(sale)
    if subscription is not None:
        effect["subscription_cancelled"] = txn_services.cancel_subscription(subscription, now=now)
    return effect
