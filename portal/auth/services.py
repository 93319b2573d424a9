"""Logging in: one generic failure, constant work per attempt, lockout after repeated failures."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from portal import audit
from portal.auth import hashing
from portal.auth.models import User
from portal.extensions import db

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)


class LoginFailed(Exception):
    """Wrong email or password, locked, disabled, API-only or unconfirmed: one message for all."""


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def authenticate(email: str, password: str, *, now: datetime) -> User:
    """Return the user or raise :class:`LoginFailed`. Always runs exactly one hash check, so the
    time taken does not reveal whether the email exists (SECURITY.md S12)."""
    user = find_user(email)
    password = hashing.normalise_password(password)
    ok = hashing.verify_secret(user.password_hash if user else None, password)
    if user is None:
        raise LoginFailed()
    if user.locked_until and user.locked_until > now:
        audit.record("login.locked_attempt", user=user, now=now)
        db.session.commit()
        raise LoginFailed()
    if not ok:
        _count_failure(user, now)
        raise LoginFailed()
    if not user.is_active or user.confirmed_at is None:
        audit.record("login.refused", user=user, now=now, reason=_refusal(user))
        db.session.commit()
        raise LoginFailed()
    if user.failed_logins or user.locked_until:
        if user.locked_until:
            audit.record("login.unlocked", user=user, now=now)
        user.failed_logins = 0
        user.locked_until = None
    if hashing.needs_rehash(user.password_hash):
        user.password_hash = hashing.hash_secret(password)
    user.last_login_at = now
    audit.record("login.success", user=user, now=now)
    return user


def _refusal(user: User) -> str:
    if user.deleted_at:
        return "deleted"
    if user.is_api_only:
        return "api_only"
    if not user.is_enabled:
        return "disabled"
    return "unconfirmed"


def _count_failure(user: User, now: datetime) -> None:
    user.failed_logins = (user.failed_logins or 0) + 1
    audit.record("login.failure", user=user, now=now, failures=user.failed_logins)
    if user.failed_logins >= MAX_FAILURES:
        user.locked_until = now + LOCK_FOR
        user.failed_logins = 0
        audit.record("login.lock", user=user, now=now, minutes=int(LOCK_FOR.total_seconds() // 60))
        from portal.notifications import mail

        owner = _owner_of(user)
        mail.queue_email(
            "account_locked",
            to=user.email,
            subject="Your Master Account login was locked",
            context={"user": user, "until": user.locked_until, "owner": owner},
            master_account_id=user.master_account_id,
            now=now,
        )
        if owner is not None and owner.id != user.id:
            mail.queue_email(
                "account_locked",
                to=owner.email,
                subject=f"Login locked for {user.email}",
                context={"user": user, "until": user.locked_until, "owner": owner},
                master_account_id=user.master_account_id,
                now=now,
            )
    db.session.commit()


def _owner_of(user: User) -> User | None:
    return db.session.scalar(
        select(User).where(User.master_account_id == user.master_account_id, User.role == "owner")
    )


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0
