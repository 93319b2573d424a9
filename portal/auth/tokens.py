"""Single-use, expiring, purpose-bound tokens for emailed links (sign-up confirmation, clerk
invitation, password and PIN reset, account-link confirmation).

The plaintext (256 bits) goes into the link only; the database keeps its keyed hash. A token is
valid for exactly one purpose, once, until it expires (SECURITY.md S16, ASVS 6.4.1).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from portal.auth.models import OneTimeToken, TokenPurpose
from portal.crypto import keyed_hash, new_token
from portal.extensions import db

DEFAULT_TTL = timedelta(hours=24)


class TokenInvalid(Exception):
    """``reason`` is one of ``unknown``, ``expired``, ``used``; pages explain each plainly."""

    def __init__(self, reason: str, token: OneTimeToken | None = None):
        super().__init__(reason)
        self.reason = reason
        self.token = token


def _hash(plaintext: str) -> str:
    return keyed_hash(plaintext, "one-time-token")


def issue(
    purpose: TokenPurpose,
    *,
    now: datetime,
    user=None,
    linked_account=None,
    email: str | None = None,
    data: dict | None = None,
    ttl: timedelta = DEFAULT_TTL,
    revoke_previous: bool = True,
) -> str:
    """Create a token and return its plaintext (for the link). Earlier unused tokens of the same
    purpose for the same user/account stop working, so only the newest mail's link is valid."""
    if revoke_previous and (user is not None or linked_account is not None):
        query = update(OneTimeToken).where(
            OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None)
        )
        if user is not None:
            query = query.where(OneTimeToken.user_id == user.id)
        if linked_account is not None:
            query = query.where(OneTimeToken.linked_account_id == linked_account.id)
        db.session.execute(query.values(used_at=now, data={"superseded": True}))
    plaintext = new_token()
    db.session.add(
        OneTimeToken(
            purpose=purpose,
            token_hash=_hash(plaintext),
            user_id=getattr(user, "id", None),
            linked_account_id=getattr(linked_account, "id", None),
            email=email,
            data=data,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return plaintext


def lookup(plaintext: str | None) -> OneTimeToken | None:
    """The token row for ``plaintext`` whatever its state (for "send me a new link")."""
    if not plaintext or len(plaintext) > 200:
        return None
    return db.session.scalar(select(OneTimeToken).where(OneTimeToken.token_hash == _hash(plaintext)))


def peek(purpose: TokenPurpose, plaintext: str | None, *, now: datetime) -> OneTimeToken:
    """The valid token for ``plaintext`` without using it up, or :class:`TokenInvalid`."""
    if not plaintext or len(plaintext) > 200:
        raise TokenInvalid("unknown")
    row = db.session.scalar(select(OneTimeToken).where(OneTimeToken.token_hash == _hash(plaintext)))
    if row is None or row.purpose != purpose:
        raise TokenInvalid("unknown")  # a token of another purpose is never accepted
    if row.used_at is not None:
        raise TokenInvalid("used", row)
    if now >= row.expires_at:
        raise TokenInvalid("expired", row)
    return row


def consume(purpose: TokenPurpose, plaintext: str | None, *, now: datetime) -> OneTimeToken:
    """Use the token up (atomically: two concurrent uses cannot both succeed)."""
    row = peek(purpose, plaintext, now=now)
    result = db.session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise TokenInvalid("used", row)
    row.used_at = now
    return row
