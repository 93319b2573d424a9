"""Products, sales transactions (ClickBank's orders), subscriptions and daily sales totals."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime


class TxnType(StrEnum):
    SALE = "SALE"
    BILL = "BILL"  # a subscription rebill
    RFND = "RFND"
    CGBK = "CGBK"  # chargeback
    FEE = "FEE"
    TEST_SALE = "TEST_SALE"
    TEST_BILL = "TEST_BILL"
    TEST_RFND = "TEST_RFND"
    TEST_FEE = "TEST_FEE"

    @property
    def is_test(self) -> bool:
        return self.value.startswith("TEST_")

    @property
    def base(self) -> "TxnType":
        return TxnType(self.value.removeprefix("TEST_"))


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class Product(db.Model):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("linked_account_id", "sku"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    linked_account_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id"))
    sku: Mapped[str] = mapped_column(String(40))  # ClickBank's item number
    title: Mapped[str] = mapped_column(String(200))
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    shippable: Mapped[bool] = mapped_column(Boolean, default=False)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    rebill_cents: Mapped[int | None] = mapped_column(BigInteger)
    rebill_days: Mapped[int | None] = mapped_column(Integer)
    download_url: Mapped[str | None] = mapped_column(String(500))

    @property
    def product_type(self) -> str:
        return "recurring" if self.recurring else "standard"


class Transaction(db.Model):
    """One row of ClickBank's order list: a sale, rebill, refund, chargeback or fee.

    Rebills carry their own receipt (``SALE-n``); refunds and chargebacks reuse the receipt of
    the charge they reverse. ``sale_receipt`` always names the original sale, so every row of
    one order can be found together. Amounts are in minor units of ``currency``, positive.
    """

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("linked_account_id", "receipt", "txn_type"),
        Index("ix_transactions_account_time", "linked_account_id", "occurred_at", "id"),
        Index("ix_transactions_time", "occurred_at", "id"),
        Index("ix_transactions_account_type_time", "linked_account_id", "txn_type", "occurred_at"),
        Index("ix_transactions_receipt", "receipt"),
        Index("ix_transactions_sale_receipt", "linked_account_id", "sale_receipt"),
        Index("ix_transactions_email", "customer_email"),
        # Last name, then first name: "Garcia", and "Maria Garcia" / "Garcia, Maria" read only
        # the index to find the few rows with both.
        Index(
            "ix_transactions_name",
            "customer_last_name_lc",
            "customer_first_name_lc",
            postgresql_ops={
                "customer_last_name_lc": "text_pattern_ops",
                "customer_first_name_lc": "text_pattern_ops",
            },
        ),
        # text_pattern_ops: PostgreSQL serves "starts with" (LIKE 'mar%') from it under any collation.
        Index(
            "ix_transactions_first_name",
            "customer_first_name_lc",
            postgresql_ops={"customer_first_name_lc": "text_pattern_ops"},
        ),
        Index("ix_transactions_affiliate", "affiliate", "occurred_at"),
        # The Transactions tab: rare types (chargebacks, fees, tests) across many accounts.
        Index("ix_transactions_type_time", "txn_type", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    linked_account_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id"))
    receipt: Mapped[str] = mapped_column(String(40))
    sale_receipt: Mapped[str] = mapped_column(String(40))
    txn_type: Mapped[str] = mapped_column(String(10))
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    shipping_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    customer_first_name: Mapped[str] = mapped_column(String(80), default="")
    customer_last_name: Mapped[str] = mapped_column(String(80), default="")
    customer_last_name_lc: Mapped[str] = mapped_column(String(80), default="")
    # Lower-cased first name, so "Maria" alone finds the customer through an index (record()
    # fills it, like customer_last_name_lc).
    customer_first_name_lc: Mapped[str] = mapped_column(String(80), default="", server_default="")
    customer_email: Mapped[str] = mapped_column(String(254))  # lower-cased
    customer_country: Mapped[str | None] = mapped_column(String(2))
    customer_postal_code: Mapped[str | None] = mapped_column(String(16))
    affiliate: Mapped[str | None] = mapped_column(String(32))
    payment_method: Mapped[str | None] = mapped_column(String(16))
    tracking_id: Mapped[str | None] = mapped_column(String(64))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str | None] = mapped_column(String(40))
    product_title: Mapped[str | None] = mapped_column(String(200))
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    # No foreign key: subscriptions already reference their sale, and a cycle between the two
    # tables would stop both databases from creating them in one order.
    subscription_id: Mapped[int | None] = mapped_column(Integer, index=True)
    locale: Mapped[str] = mapped_column(String(5), default="en")
    raw: Mapped[dict | None] = mapped_column(JSON)  # what ClickBank sent, for ClickBank accounts

    linked_account = relationship("LinkedAccount")
    product = relationship("Product")
    subscription = relationship(
        "Subscription", primaryjoin="foreign(Transaction.subscription_id) == Subscription.id", viewonly=True
    )
    items: Mapped[list[LineItem]] = relationship(
        back_populates="transaction", order_by="LineItem.id", cascade="all, delete-orphan"
    )

    @property
    def base_type(self) -> TxnType:
        return TxnType(self.txn_type).base

    @property
    def customer_name(self) -> str:
        return f"{self.customer_first_name} {self.customer_last_name}".strip()

    @property
    def product_type(self) -> str:
        return "recurring" if self.recurring else "standard"


class LineItem(db.Model):
    __tablename__ = "line_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transactions.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    line_type: Mapped[str] = mapped_column(String(12), default="ORIGINAL")

    transaction: Mapped[Transaction] = relationship(back_populates="items")


class Subscription(db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_due", "status", "next_bill_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    linked_account_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sale_transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=SubscriptionStatus.ACTIVE)
    rebill_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    interval_days: Mapped[int] = mapped_column(Integer, default=30)
    processed_payments: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_bill_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resume_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The plan's number of payments, the first sale included (ClickBank's processedPayments +
    # futurePayments); None: it bills until cancelled. Reaching it ends the plan as "completed".
    total_payments: Mapped[int | None] = mapped_column(Integer)
    # Optimistic concurrency: every UPDATE (a clerk's form, a rebill, a refund's cancellation)
    # checks and bumps it, so two writers never silently overwrite each other.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    product = relationship("Product")
    sale = relationship("Transaction", foreign_keys=[sale_transaction_id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def payments_left(self) -> int | None:
        """Payments still to come on a fixed-length plan (None: open-ended)."""
        if self.total_payments is None:
            return None
        return max(self.total_payments - self.processed_payments, 0)


class DailySales(db.Model):
    """Per-account, per-day (in the account's time zone), per-currency totals, maintained as
    transactions are recorded so the Dashboard never scans the transactions table."""

    __tablename__ = "daily_sales"

    linked_account_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    sales_count: Mapped[int] = mapped_column(Integer, default=0)
    sales_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    rebill_count: Mapped[int] = mapped_column(Integer, default=0)
    rebill_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_count: Mapped[int] = mapped_column(Integer, default=0)
    refund_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    chargeback_count: Mapped[int] = mapped_column(Integer, default=0)
    chargeback_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class SubscriptionEventKind(StrEnum):
    CANCELLED = "cancelled"
    PAUSED = "paused"
    RESUMED = "resumed"
    DATE_CHANGED = "date_changed"
    COMPLETED = "completed"  # the plan's last payment was billed (by the system)


class SubscriptionEvent(db.Model):
    """One change to a subscription made from the portal (who, when, before, after, why).
    Rows are only ever inserted, like ticket events."""

    __tablename__ = "subscription_events"
    __table_args__ = (
        Index("ix_subscription_events_subscription", "subscription_id", "id"),
        Index("ix_subscription_events_account_at", "linked_account_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"))
    linked_account_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))  # SubscriptionEventKind
    actor_kind: Mapped[str] = mapped_column(String(12))  # tickets.lifecycle.ActorKind
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(160), default="")
    from_value: Mapped[str | None] = mapped_column(String(64))
    to_value: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSON)

    subscription = relationship("Subscription")
    actor = relationship("User")


# The Escalations list reads the few tickets with a return in progress (seed 001's hand-off); a
# partial index keeps that a lookup however many tickets there are. Declared here, beside the
# feature that reads it; it belongs to the tickets table.
def _returns_index() -> Index:
    from portal.tickets.models import Ticket

    where = text("return_status IS NOT NULL")
    return Index(
        "ix_tickets_returns",
        Ticket.handoff_at,
        Ticket.updated_at,
        sqlite_where=where,
        postgresql_where=where,
    )


ix_tickets_returns = _returns_index()
