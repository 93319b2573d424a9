"""Reading single transactions and their orders: the loader that decides who may open a
transaction (a principal without Search Orders sees only transactions tied to a ticket: a ticket
exists for the order, same account and ``sale_receipt``), the order's rows and tickets, and the
choices of the search form. The search itself is in :mod:`portal.transactions.search`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort
from sqlalchemy import exists, func, literal, select

from portal.accounts.models import LinkedAccount
from portal.authz.permissions import Action
from portal.authz.policy import Principal, can
from portal.authz.scope import current_principal
from portal.extensions import db
from portal.tickets.models import Ticket
from portal.transactions.models import DailySales, Product, Subscription, Transaction, TxnType
from portal.transactions.plan import no_index

TYPE_LABELS = {
    "SALE": "Sale",
    "BILL": "Rebill",
    "RFND": "Refund",
    "CGBK": "Chargeback",
    "FEE": "Fee",
    "TEST_SALE": "Test sale",
    "TEST_BILL": "Test rebill",
    "TEST_RFND": "Test refund",
    "TEST_FEE": "Test fee",
}
REVERSALS = {"RFND", "CGBK", "TEST_RFND"}
SALE_TYPES = (TxnType.SALE.value, TxnType.TEST_SALE.value)


# ---------------------------------------------------------------------------------------------
# Loading one transaction


@dataclass(frozen=True)
class TxnAccess:
    """What the policy needs to know about a transaction: its account, and whether a ticket
    exists for its order (Orders/Tickets-only clerks may open only those)."""

    linked_account_id: int
    has_ticket: bool


def order_has_ticket(account_id: int, sale_receipt: str) -> bool:
    return bool(
        db.session.scalar(
            select(literal(1)).where(
                exists().where(
                    no_index(Ticket.linked_account_id) == account_id,
                    Ticket.receipt == sale_receipt,
                )
            )
        )
    )


def access_of(txn: Transaction) -> TxnAccess:
    return TxnAccess(
        txn.linked_account_id, order_has_ticket(txn.linked_account_id, txn.sale_receipt)
    )


def load_transaction(
    txn_id, action: Action = Action.TRANSACTION_VIEW, principal: Principal | None = None
) -> tuple[Transaction, TxnAccess]:
    """The transaction if the principal may see it, else 404 (also when it exists but is not
    tied to a ticket and the principal may only see ticket-tied ones); then 403 when ``action``
    is not allowed on a transaction they can see."""
    principal = principal or current_principal()
    try:
        txn_id = int(txn_id)
    except (TypeError, ValueError):
        abort(404)
    if principal is None or not (0 < txn_id < 2**31):  # INTEGER ids are 32-bit on PostgreSQL
        abort(404)
    txn = db.session.get(Transaction, txn_id)
    if txn is None or txn.linked_account_id not in principal.account_ids:
        abort(404)
    access = access_of(txn)
    if not can(principal, Action.TRANSACTION_VIEW, access):
        abort(404)
    if action is not Action.TRANSACTION_VIEW and not can(principal, action, access):
        abort(403)
    return txn, access


def sale_of(txn: Transaction) -> Transaction:
    """The order's original sale (tickets, subscriptions and refunds hang off it)."""
    if txn.txn_type in SALE_TYPES:
        return txn
    sale = db.session.scalar(
        select(Transaction).where(
            Transaction.linked_account_id == txn.linked_account_id,
            Transaction.receipt == txn.sale_receipt,
            Transaction.txn_type.in_(SALE_TYPES),
        )
    )
    return sale or txn


def related(txn: Transaction) -> list[Transaction]:
    """Every row of the order (sale, rebills, refunds, chargebacks, fees), oldest first.
    (Sorted here: an ORDER BY would lure SQLite onto the account's time index.)"""
    rows = db.session.scalars(
        select(Transaction).where(
            Transaction.linked_account_id == txn.linked_account_id,
            Transaction.sale_receipt == txn.sale_receipt,
        )
    )
    return sorted(rows, key=lambda r: (r.occurred_at, r.id))


def tickets_of(txn: Transaction) -> list[Ticket]:
    """The order's tickets, newest first."""
    rows = db.session.scalars(
        select(Ticket).where(
            no_index(Ticket.linked_account_id) == txn.linked_account_id,
            Ticket.receipt == txn.sale_receipt,
        )
    )
    return sorted(rows, key=lambda t: (t.opened_at, t.id), reverse=True)


def subscription_for(txn: Transaction) -> Subscription | None:
    sale = sale_of(txn)
    return db.session.scalar(
        select(Subscription).where(Subscription.sale_transaction_id == sale.id)
    )


# ---------------------------------------------------------------------------------------------
# Choices for the filter form


def accounts_for(principal: Principal) -> list:
    """The user's accounts (id, nickname, colour, timezone, status), by nickname: light rows,
    since every search request needs them for the account column."""
    if not principal.account_ids:
        return []
    return list(
        db.session.execute(
            select(
                LinkedAccount.id,
                LinkedAccount.nickname,
                LinkedAccount.colour,
                LinkedAccount.timezone,
                LinkedAccount.status,
            )
            .where(LinkedAccount.id.in_(principal.account_ids))
            .order_by(LinkedAccount.nickname)
        )
    )


def products_for(account_ids) -> list[Product]:
    if not account_ids:
        return []
    return list(
        db.session.scalars(
            select(Product).where(Product.linked_account_id.in_(account_ids)).order_by(Product.sku)
        )
    )


def sku_exists(account_ids, sku: str) -> bool:
    return (
        bool(account_ids)
        and db.session.scalar(
            select(func.count(Product.id)).where(
                Product.linked_account_id.in_(account_ids), Product.sku == sku
            )
        )
        > 0
    )


def currencies_for(account_ids) -> list[str]:
    if not account_ids:
        return []
    found = set(
        db.session.scalars(
            select(DailySales.currency)
            .where(DailySales.linked_account_id.in_(account_ids))
            .distinct()
        )
    )
    found |= set(
        db.session.scalars(
            select(Product.currency).where(Product.linked_account_id.in_(account_ids)).distinct()
        )
    )
    return sorted(found)


AFFILIATE_CHOICES = 200


def affiliates_for(account_ids, limit: int = AFFILIATE_CHOICES) -> list[str]:
    """The affiliates who sold for these accounts, alphabetically (at most ``limit``): the
    suggestions of the affiliate filter. A skip scan down the affiliate index (one short lookup
    per name), never a pass over every transaction; the account test is a plain filter so the
    planner stays on that index."""
    ids = sorted(account_ids)
    if not ids:
        return []
    account = no_index(Transaction.linked_account_id)
    in_scope = account == ids[0] if len(ids) == 1 else account.in_(ids)
    names: list[str] = []
    last = ""
    while len(names) < limit:
        name = db.session.scalar(
            select(Transaction.affiliate)
            .where(Transaction.affiliate > last, in_scope)
            .order_by(Transaction.affiliate)
            .limit(1)
        )
        if name is None:
            break
        names.append(name)
        last = name
    return names
