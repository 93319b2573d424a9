"""Master Accounts (the tenant), linked vendor accounts and clerk access to them."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime


class AccountSource(StrEnum):
    SANDBOX = "sandbox"  # the portal plays ClickBank's part (timers, order page, refunds)
    CLICKBANK = "clickbank"  # data and timers come from ClickBank's REST API and INS


class AccountStatus(StrEnum):
    PENDING = "pending"  # waiting for the confirmation link sent to the account's email
    LINKED = "linked"
    REMOVED = "removed"  # unlinked: history kept, read only, can be linked again


class MasterAccount(db.Model):
    __tablename__ = "master_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    require_clerk_2fa: Mapped[bool] = mapped_column(Boolean, default=False)

    linked_accounts: Mapped[list[LinkedAccount]] = relationship(
        back_populates="master_account", order_by="LinkedAccount.nickname"
    )


class LinkedAccount(db.Model):
    """One ClickBank (or sandbox) vendor account linked to a Master Account."""

    __tablename__ = "linked_accounts"
    __table_args__ = (
        # A nickname can be active (pending or linked) in only one Master Account at a time.
        Index(
            "uq_linked_accounts_active_nickname",
            "nickname",
            unique=True,
            sqlite_where=text("status != 'removed'"),
            postgresql_where=text("status != 'removed'"),
        ),
        Index("ix_linked_accounts_master", "master_account_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    master_account_id: Mapped[int] = mapped_column(ForeignKey("master_accounts.id"))
    nickname: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default=AccountSource.SANDBOX)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.PENDING)
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    account_email: Mapped[str] = mapped_column(String(254))
    cs_email: Mapped[str | None] = mapped_column(String(254))
    colour: Mapped[str] = mapped_column(String(7), default="#0d6efd")
    # Encrypted at rest (portal.crypto): API key / password of the linked account, INS secret key.
    credentials_enc: Mapped[str | None] = mapped_column(Text)
    ins_secret_enc: Mapped[str | None] = mapped_column(Text)
    customer_refund_days: Mapped[int] = mapped_column(Integer, default=60)
    vendor_refund_days: Mapped[int] = mapped_column(Integer, default=90)
    settle_hours: Mapped[int] = mapped_column(Integer, default=24)  # sandbox: processing → finalized
    include_test_transactions: Mapped[bool] = mapped_column(Boolean, default=False)
    capture_abandoned_orders: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    master_account: Mapped[MasterAccount] = relationship(back_populates="linked_accounts")

    @property
    def notification_email(self) -> str:
        """Vendor-side ticket mail goes to the customer-service address, else the account email."""
        return self.cs_email or self.account_email

    @property
    def is_sandbox(self) -> bool:
        return self.source == AccountSource.SANDBOX

    @property
    def is_active(self) -> bool:
        return self.status == AccountStatus.LINKED

    def __repr__(self) -> str:
        return f"<LinkedAccount {self.nickname} {self.status}>"


class ClerkAccountAccess(db.Model):
    """Which linked accounts a clerk may see (the owner sees all of the Master Account's)."""

    __tablename__ = "clerk_account_access"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    linked_account_id: Mapped[int] = mapped_column(
        ForeignKey("linked_accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
