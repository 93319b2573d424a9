"""People who log in (owners and clerks), their secrets, sessions and one-time tokens."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime


class Role(StrEnum):
    OWNER = "owner"
    CLERK = "clerk"


class User(db.Model):
    """An owner or a clerk of one Master Account. Deleted users stay (soft delete) so their
    past actions keep their name in tickets and reports."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    master_account_id: Mapped[int] = mapped_column(ForeignKey("master_accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=Role.CLERK)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str | None] = mapped_column(String(64))  # viewer's zone; None = browser/UTC

    # Permissions (DOMAIN.md §11). The owner implicitly holds all of them.
    perm_orders_tickets: Mapped[bool] = mapped_column(Boolean, default=False)
    perm_search_orders: Mapped[bool] = mapped_column(Boolean, default=False)
    perm_api_read: Mapped[bool] = mapped_column(Boolean, default=False)
    perm_api_write: Mapped[bool] = mapped_column(Boolean, default=False)
    perm_manage_users: Mapped[bool] = mapped_column(Boolean, default=False)
    perm_refund_authority: Mapped[bool] = mapped_column(Boolean, default=False)

    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_api_only: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    # Secrets: argon2id hashes (portal.auth.hashing); TOTP seed encrypted at rest.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # replay protection

    # Throttling state.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pin_failures: Mapped[int] = mapped_column(Integer, default=0)
    pin_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recovery_failures: Mapped[int] = mapped_column(Integer, default=0)
    recovery_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_api_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    master_account = relationship("MasterAccount")
    security_answers: Mapped[list[SecurityAnswer]] = relationship(
        back_populates="user", order_by="SecurityAnswer.position", cascade="all, delete-orphan"
    )

    # Flask-Login: the id kept in the cookie is the per-session token (see auth.sessions).
    is_anonymous = False
    session_token = None
    current_session = None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.is_enabled and self.deleted_at is None and not self.is_api_only

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def display_name(self) -> str:
        return self.full_name + (" (deleted)" if self.deleted_at else "")

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class SecurityAnswer(db.Model):
    """One of the owner's two security questions, with its hashed answer and a hint."""

    __tablename__ = "security_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1 or 2
    question_key: Mapped[str] = mapped_column(String(40))
    answer_hash: Mapped[str] = mapped_column(String(255))
    hint: Mapped[str] = mapped_column(String(120))

    user: Mapped[User] = relationship(back_populates="security_answers")


class RecoveryCode(db.Model):
    """Single-use 2FA recovery codes, stored hashed."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserSession(db.Model):
    """A server-side record of each login, so logout, timeouts and "sign out everywhere"
    really end sessions (a signed cookie alone cannot be revoked)."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    second_factor_done: Mapped[bool] = mapped_column(Boolean, default=True)
    pin_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship()


class TokenPurpose(StrEnum):
    SIGNUP_CONFIRM = "signup_confirm"
    SET_PASSWORD = "set_password"  # a new clerk's invitation
    PASSWORD_RESET = "password_reset"
    PIN_RESET = "pin_reset"
    ACCOUNT_LINK = "account_link"


class OneTimeToken(db.Model):
    """An emailed link: random, stored as a SHA-256 hash, single use, expiring, one purpose."""

    __tablename__ = "one_time_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(24))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    linked_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("linked_accounts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    data: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
