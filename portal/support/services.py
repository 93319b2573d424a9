"""The customer's side of sandbox accounts: find an order, see it, and act on it (DOMAIN.md §8).

Every ticket change goes through ``portal.tickets.services`` with ``Actor.customer(...)`` (or
``Actor.vendor_link(...)`` for the vendor's no-login link), so the lifecycle rules, ticket events
and both parties' mail are exactly those of the portal itself. What only the order page does
(emailing the invoice, changing the email of an order without an open ticket) is recorded with
``portal.audit.record``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update

from portal import audit
from portal.accounts.models import AccountSource, AccountStatus, LinkedAccount
from portal.extensions import db
from portal.notifications.mail import queue_email
from portal.support import i18n
from portal.tickets import services as ticket_services
from portal.tickets.lifecycle import Party, Refused, TicketType
from portal.tickets.models import Ticket
from portal.transactions import services as txn_services
from portal.transactions.models import Subscription, Transaction, TxnType

RECEIPT_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,39}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
CHARGES = (TxnType.SALE, TxnType.BILL, TxnType.TEST_SALE, TxnType.TEST_BILL)
SALES = (TxnType.SALE, TxnType.TEST_SALE)
REFUNDS = (TxnType.RFND, TxnType.TEST_RFND)
EMAIL_CHANGE_COMMENT = "Changed by the customer on the order page."


def normalize_receipt(value: str | None) -> str | None:
    receipt = (value or "").strip().upper()
    return receipt if RECEIPT_RE.match(receipt) else None


def normalize_email(value: str | None) -> str | None:
    email = (value or "").strip().lower()
    return email if len(email) <= 254 and EMAIL_RE.match(email) else None


def _sandbox_accounts():
    return select(LinkedAccount.id).where(
        LinkedAccount.source == AccountSource.SANDBOX, LinkedAccount.status == AccountStatus.LINKED
    )


def find_order(receipt: str | None, email: str | None) -> Transaction | None:
    """The sale a receipt (of the sale or one of its rebills) and the buyer's email point to, on
    a sandbox account. None for any mismatch: the caller shows one neutral message."""
    receipt, email = normalize_receipt(receipt), normalize_email(email)
    if not receipt or not email:
        return None
    # Few rows match a receipt: sort them here, so no index on time tempts the planner.
    charges = db.session.scalars(
        select(Transaction).where(
            Transaction.receipt == receipt,
            Transaction.customer_email == email,
            Transaction.txn_type.in_(CHARGES),
            Transaction.linked_account_id.in_(_sandbox_accounts()),
        )
    ).all()
    if not charges:
        return None
    return _sale_of(max(charges, key=lambda c: (c.occurred_at, c.id)))


def _sale_of(charge: Transaction) -> Transaction | None:
    if charge.txn_type in SALES:
        return charge
    return db.session.scalar(
        select(Transaction).where(
            Transaction.linked_account_id == charge.linked_account_id,
            Transaction.sale_receipt == charge.sale_receipt,
            Transaction.txn_type.in_(SALES),
        )
    )


def load_order(order_id: int | None) -> Transaction | None:
    """The order of a customer's session, while its account is still a linked sandbox account."""
    if not isinstance(order_id, int) or not 0 < order_id < 2**63:
        return None
    order = db.session.get(Transaction, order_id)
    if order is None or order.txn_type not in SALES:
        return None
    account = order.linked_account
    if account.source != AccountSource.SANDBOX or account.status != AccountStatus.LINKED:
        return None
    return order


def _tickets_of(order: Transaction):
    """The tickets of an order, found through the receipt index (``+ 0`` keeps SQLite without
    planner statistics from scanning the account's tickets instead; bench/support_sweep.py)."""
    return (Ticket.receipt == order.sale_receipt, Ticket.linked_account_id + 0 == order.linked_account_id)


@dataclass
class OrderView:
    """Everything the order page shows, computed once."""

    order: Transaction
    account: LinkedAccount
    rows: list[Transaction]
    last_charge: Transaction
    subscription: Subscription | None
    tickets: list[Ticket]
    refund_deadline: datetime
    download_url: str | None
    open_request: Ticket | None = None
    refunded_receipts: set[str] = field(default_factory=set)
    can_refund: bool = False
    can_cancel: bool = False
    refund_refusal: str | None = None  # why no refund can be requested now (the server's words)
    cancel_refusal: str | None = None

    @property
    def fully_refunded(self) -> bool:
        return self.order.receipt in self.refunded_receipts


def order_view(order: Transaction, *, now: datetime) -> OrderView:
    account = order.linked_account
    # The rows of one order are few; sorting them here keeps the query on the receipt index
    # (an ORDER BY on time would invite a scan of the account's time index).
    rows = sorted(db.session.scalars(
        select(Transaction).where(Transaction.linked_account_id == order.linked_account_id,
                                  Transaction.sale_receipt == order.sale_receipt)
    ), key=lambda r: (r.occurred_at, r.id))
    charges = [r for r in rows if r.txn_type in CHARGES]
    last_charge = charges[-1] if charges else order
    refunded = {r.receipt for r in rows if r.txn_type in REFUNDS or r.base_type is TxnType.CGBK}
    tickets = sorted(db.session.scalars(select(Ticket).where(*_tickets_of(order))),
                     key=lambda t: (t.opened_at, t.id), reverse=True)
    open_request = next(
        (t for t in tickets if t.ticket_type in (TicketType.REFUND, TicketType.CANCEL) and not t.is_closed),
        None,
    )
    subscription = txn_services.subscription_of(order) if order.recurring else None
    deadline = last_charge.occurred_at + timedelta(days=account.customer_refund_days)
    product = order.product
    view = OrderView(
        order=order, account=account, rows=rows, last_charge=last_charge, subscription=subscription,
        tickets=tickets, refund_deadline=deadline, open_request=open_request, refunded_receipts=refunded,
        download_url=product.download_url if product is not None and order.receipt not in refunded else None,
    )
    # The same rule request_ticket applies (window, already refunded or charged back, the
    # subscription still billing, one request at a time): the page offers only what it accepts.
    # One reading of the order serves both questions.
    kinds = (TicketType.REFUND, TicketType.CANCEL) if order.recurring else (TicketType.REFUND,)
    refusals = ticket_services.request_refusals(order, kinds, by=Party.CUSTOMER, now=now)
    view.refund_refusal = refusals[TicketType.REFUND]
    view.can_refund = view.refund_refusal is None
    if order.recurring:
        view.cancel_refusal = refusals[TicketType.CANCEL]
        view.can_cancel = view.cancel_refusal is None
    return view


# --- requests from the order page --------------------------------------------------------------

def request_ticket(order: Transaction, ticket_type: str, comment: str, *, locale: str, now: datetime) -> Ticket:
    """Open a ticket as the customer (source "customer"); its timers start at once."""
    try:
        kind = TicketType(ticket_type)
    except ValueError:
        raise Refused("unknown_type", "Unknown request.") from None
    return ticket_services.open_ticket(
        ticket_services.Actor.customer(order), order, kind, comment=comment, now=now,
        locale=i18n.normalize(locale),
    )


def email_invoice(order: Transaction, *, locale: str, now: datetime) -> None:
    """Queue the invoice to the order's email address (the receipt mail)."""
    view = order_view(order, now=now)
    t = i18n.translator(locale)
    queue_email(
        "support_receipt",
        to=order.customer_email,
        subject=t("invoice.mail_subject", receipt=order.receipt),
        context={"t": t, "lang": t.locale, **invoice_context(view)},
        now=now,
        linked_account_id=order.linked_account_id,
        master_account_id=order.linked_account.master_account_id,
    )
    audit.record("support.invoice_emailed", master_account_id=order.linked_account.master_account_id,
                 now=now, linked_account_id=order.linked_account_id, receipt=order.receipt)
    db.session.commit()


def invoice_context(view: OrderView) -> dict:
    """The invoice of the sale: its lines, and a total that is always what the customer paid
    (``amount_cents``; tax and shipping are shown as parts of it)."""
    order = view.order
    tax, shipping = order.tax_cents or 0, order.shipping_cents or 0
    total = order.amount_cents
    subtotal = total - tax - shipping
    lines = [{"title": item.title, "sku": item.sku, "quantity": item.quantity, "amount_cents": item.amount_cents}
             for item in order.items]
    if not lines:
        lines = [{"title": order.product_title or order.sku or "", "sku": order.sku or "",
                  "quantity": order.quantity or 1, "amount_cents": subtotal}]
    return {"order": order, "account": view.account, "lines": lines, "subtotal_cents": subtotal,
            "tax_cents": tax, "shipping_cents": shipping, "total_cents": total, "tz": view.account.timezone}


class EmailRefused(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def tell_email_changed(order: Transaction, old: str, new: str, *, to, locale: str, now: datetime,
                       ticket_id: int | None = None) -> None:
    """The notice that an order's email address changed, in the customer's language, to each
    address in ``to`` (the order page tells both; a clerk's change tells the old one, as the
    ticket's own mail goes to the new)."""
    account = order.linked_account
    t = i18n.translator(locale)
    context = {"t": t, "lang": t.locale, "order": order, "account": account, "old": old, "new": new,
               "when": t.datetime(now, account.timezone), "contact": account.notification_email}
    for address in to:
        queue_email("support_email_changed", to=address,
                    subject=t("email_notice.subject", receipt=order.receipt), context=context,
                    now=now, linked_account_id=account.id,
                    master_account_id=account.master_account_id, ticket_id=ticket_id)


def change_order_email(order: Transaction, new_email: str, confirm: str, *, locale: str, now: datetime) -> str:
    """Change the customer's email on the order and its tickets. With an open ticket the ticket
    service records it as a ticket event (and mails both sides); otherwise an audit row records
    it. A notice goes to the old and the new address."""
    email = normalize_email(new_email)
    if email is None:
        raise EmailRefused("email.invalid")
    if email != (confirm or "").strip().lower():
        raise EmailRefused("email.mismatch")
    old = order.customer_email
    if email == old:
        raise EmailRefused("email.same")
    account = order.linked_account
    open_ticket = min(
        (t for t in db.session.scalars(select(Ticket).where(*_tickets_of(order))) if not t.is_closed),
        key=lambda t: t.id, default=None,
    )
    audit.record("support.email_changed", master_account_id=account.master_account_id, now=now,
                 linked_account_id=account.id, receipt=order.receipt, old_email=old, new_email=email,
                 ticket_id=open_ticket.id if open_ticket is not None else None)
    tell_email_changed(order, old, email, to=(old, email), locale=locale, now=now)
    if open_ticket is not None:
        # The ticket service changes the order and all its tickets, records the ticket event,
        # mails both parties and commits this whole unit of work (audit row and notices included).
        try:
            ticket_services.change_email(ticket_services.Actor.customer(open_ticket), open_ticket, email,
                                         EMAIL_CHANGE_COMMENT, now=now)
        except Exception:
            db.session.rollback()
            raise
    else:
        db.session.execute(
            update(Transaction)
            .where(Transaction.linked_account_id == order.linked_account_id,
                   Transaction.sale_receipt == order.sale_receipt)
            .values(customer_email=email)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(Ticket)
            .where(Ticket.linked_account_id == order.linked_account_id, Ticket.receipt == order.sale_receipt)
            .values(customer_email=email)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    db.session.refresh(order)
    return email


# --- the customer's and the vendor's ticket pages ----------------------------------------------

def load_ticket(ticket_id) -> Ticket | None:
    try:
        ticket_id = int(ticket_id)
    except (TypeError, ValueError):
        return None
    if not 0 < ticket_id < 2**63:
        return None
    return db.session.get(Ticket, ticket_id)


def customer_options(ticket: Ticket, *, now: datetime) -> dict:
    """What the customer may do on this ticket right now (the page shows only these)."""
    from portal.tickets.lifecycle import Party, allowed_type_changes, may_close

    if ticket.is_closed:
        return {"reply": False, "close": False, "types": []}
    state = ticket_services.state_of(ticket)
    rules = ticket_services.rules_for(ticket.linked_account)
    return {
        "reply": True,
        "close": may_close(state, by=Party.CUSTOMER, now=now),
        "types": [t.value for t in allowed_type_changes(state, by=Party.CUSTOMER, now=now, rules=rules)],
    }


# Refusals about what already happened to the order, in the words the order page uses for it.
CUSTOMER_ERRORS = {
    "already_refunded": "order.is_refunded",
    "charged_back": "order.is_refunded",
    "no_active_subscription": "req.cancel_not_possible",
}


def customer_error(t: i18n.Translator, error: Exception, ticket_or_order=None) -> str:
    """A refusal in the customer's language."""
    if isinstance(error, ticket_services.Conflict):
        return t("err.conflict")
    code = getattr(error, "code", "")
    if code == "outside_customer_window" and ticket_or_order is not None:
        account = ticket_or_order.linked_account
        return t("err.outside_customer_window", days=account.customer_refund_days)
    key = CUSTOMER_ERRORS.get(code, f"err.{code}")
    if key in i18n.CATALOGUE["en"]:
        return t(key)
    return t("err.not_possible")
