"""Writing transactions: every row goes through :func:`record`, which keeps the daily totals
the Dashboard reads in step with the table (same transaction)."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.accounts.models import LinkedAccount
from portal.extensions import db
from portal.transactions.models import (
    DailySales,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TxnType,
)

# Which DailySales columns a transaction type adds to: (count column, amount column).
DAILY_COLUMNS = {
    TxnType.SALE: ("sales_count", "sales_cents"),
    TxnType.BILL: ("rebill_count", "rebill_cents"),
    TxnType.RFND: ("refund_count", "refund_cents"),
    TxnType.CGBK: ("chargeback_count", "chargeback_cents"),
    TxnType.FEE: (None, "fee_cents"),
}


def daily_increments(txn_type: str, amount_cents: int) -> dict[str, int]:
    kind = TxnType(txn_type)
    if kind.is_test:
        return {}
    count_col, amount_col = DAILY_COLUMNS[kind]
    increments = {amount_col: amount_cents}
    if count_col:
        increments[count_col] = 1
    return increments


def add_to_daily(account_id: int, day, currency: str, increments: dict[str, int]) -> None:
    """Add to one (account, day, currency) row with an atomic upsert (no lost updates)."""
    if not increments:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(DailySales).values(
        linked_account_id=account_id, day=day, currency=currency, **increments
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["linked_account_id", "day", "currency"],
        set_={col: getattr(DailySales, col) + value for col, value in increments.items()},
    )
    db.session.execute(stmt)


def record(txn: Transaction, account: LinkedAccount) -> Transaction:
    """Insert a transaction and count it in the daily totals (in the account's time zone)."""
    txn.linked_account_id = account.id
    txn.is_test = TxnType(txn.txn_type).is_test
    txn.customer_email = (txn.customer_email or "").strip().lower()
    txn.customer_last_name_lc = (txn.customer_last_name or "").lower()
    txn.customer_first_name_lc = (txn.customer_first_name or "").lower()
    db.session.add(txn)
    day = txn.occurred_at.astimezone(ZoneInfo(account.timezone)).date()
    add_to_daily(account.id, day, txn.currency, daily_increments(txn.txn_type, txn.amount_cents))
    db.session.flush()
    return txn


def charges_of(sale: Transaction) -> list[Transaction]:
    """The sale and its rebills, oldest first.

    Sorted in Python (an order has a handful of rows): with an ORDER BY, SQLite without
    statistics walks the account's whole time index instead of the (account, sale_receipt) one.
    """
    kinds = [TxnType.SALE, TxnType.BILL, TxnType.TEST_SALE, TxnType.TEST_BILL]
    rows = db.session.scalars(
        select(Transaction).where(
            Transaction.linked_account_id == sale.linked_account_id,
            Transaction.sale_receipt == sale.sale_receipt,
            Transaction.txn_type.in_(kinds),
        )
    )
    return sorted(rows, key=lambda r: (r.occurred_at, r.id))


def last_charge(sale: Transaction) -> Transaction:
    charges = charges_of(sale)
    return charges[-1] if charges else sale


def is_refunded(charge: Transaction) -> bool:
    refund_type = TxnType.TEST_RFND if charge.is_test else TxnType.RFND
    return (
        db.session.scalar(
            select(func.count(Transaction.id)).where(
                Transaction.linked_account_id == charge.linked_account_id,
                Transaction.receipt == charge.receipt,
                Transaction.txn_type == refund_type,
            )
        )
        > 0
    )


def refund_charge(charge: Transaction, account: LinkedAccount, *, now: datetime) -> Transaction | None:
    """Sandbox: return the money of one charge (a RFND with the charge's receipt). Idempotent."""
    if is_refunded(charge):
        return None
    refund = Transaction(
        receipt=charge.receipt,
        sale_receipt=charge.sale_receipt,
        txn_type=TxnType.TEST_RFND if charge.is_test else TxnType.RFND,
        occurred_at=now,
        amount_cents=charge.amount_cents,
        shipping_cents=charge.shipping_cents,
        tax_cents=charge.tax_cents,
        currency=charge.currency,
        customer_first_name=charge.customer_first_name,
        customer_last_name=charge.customer_last_name,
        customer_email=charge.customer_email,
        customer_country=charge.customer_country,
        affiliate=charge.affiliate,
        payment_method=charge.payment_method,
        product_id=charge.product_id,
        sku=charge.sku,
        product_title=charge.product_title,
        recurring=charge.recurring,
        quantity=charge.quantity,
        subscription_id=charge.subscription_id,
        locale=charge.locale,
    )
    return record(refund, account)


def subscription_of(sale: Transaction) -> Subscription | None:
    return db.session.scalar(select(Subscription).where(Subscription.sale_transaction_id == sale.id))


def cancel_subscription(sub: Subscription | None, *, now: datetime) -> bool:
    """Stop future billing. Returns False when there was nothing to cancel."""
    if sub is None or sub.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.COMPLETED):
        return False
    sub.status = SubscriptionStatus.CANCELLED
    sub.cancelled_at = now
    sub.next_bill_at = None
    return True


def next_bill(sub: Subscription, after: datetime) -> datetime:
    return after + timedelta(days=sub.interval_days)
