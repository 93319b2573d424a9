"""Per-user API keys: 256-bit random, shown once, stored only as a keyed hash.

A key is accepted only from the ``X-API-Key`` header (never from the URL, ASVS 14.2.1), only while
its user is enabled, not deleted, has accepted their invitation (API-only users are active from
the start) and holds API Read or API Read/Write. Regenerating revokes the previous key at once.
"""
from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from flask import has_request_context, request
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from portal.auth.models import User
from portal.crypto import keyed_hash, new_token
from portal.db_setup import writing
from portal.extensions import db
from portal.users.models import ApiKey

PREFIX = "mak_"
HEADER = "X-API-Key"
MAX_LENGTH = 100  # a real key is 47 characters; anything much longer is not worth hashing
TOUCH_EVERY = timedelta(minutes=1)


def hash_key(plaintext: str) -> str:
    return keyed_hash(plaintext, "api-key")


def issue(user, *, now: datetime) -> str:
    """Create a new key for ``user``, revoking any previous one. Returns the plaintext (once)."""
    revoke(user, now=now)
    plaintext = PREFIX + new_token(32)
    db.session.add(
        ApiKey(user_id=user.id, key_hash=hash_key(plaintext), prefix=plaintext[:10], created_at=now)
    )
    return plaintext


def revoke(user, *, now: datetime) -> int:
    """Revoke every live key of ``user`` (the caller commits). Returns how many were revoked."""
    return db.session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount


def current(user) -> ApiKey | None:
    return db.session.scalar(
        select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    )


def current_for(user_ids) -> dict[int, ApiKey]:
    """The live key of each of ``user_ids`` (one query, for lists)."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = db.session.scalars(
        select(ApiKey).where(ApiKey.user_id.in_(ids), ApiKey.revoked_at.is_(None))
    )
    return {row.user_id: row for row in rows}


def may_use_api(user) -> bool:
    """Whether ``user``'s key may be used right now (checked on every API request)."""
    if user is None or user.deleted_at is not None or not user.is_enabled:
        return False
    if user.confirmed_at is None:
        return False  # a web user who has not accepted the invitation yet (or unconfirmed owner)
    return user.is_owner or bool(user.perm_api_read or user.perm_api_write)


def key_from_headers(headers) -> str | None:
    """The key sent in the ``X-API-Key`` header, if any. Query strings and form fields are never
    read, so a key cannot end up in logs, browser history or Referer headers."""
    value = (headers.get(HEADER) or "").strip()
    return value or None


def authenticate(plaintext: str | None, *, now: datetime) -> User | None:
    """The user whose live key ``plaintext`` is, or None.

    The key is looked up by its keyed hash (an index lookup on an HMAC: no timing signal about
    how much of a key matched) and the stored hash is compared in constant time. Use records
    ``last_used_at`` and the user's ``last_api_at`` at most once a minute.
    """
    if not plaintext or not isinstance(plaintext, str) or len(plaintext) > MAX_LENGTH:
        return None
    if not plaintext.startswith(PREFIX):
        return None
    digest = hash_key(plaintext)
    found = db.session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.key_hash == digest)
    ).first()
    if found is None:
        return None
    key, user = found
    if not hmac.compare_digest(key.key_hash, digest):
        return None
    if key.revoked_at is not None or not may_use_api(user):
        return None
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY:
        _touch(key, user, now)
    return user


def _touch(key: ApiKey, user: User, now: datetime) -> None:
    """Record use. A read request (GET) writes in its own short transaction, so it stays
    read-only otherwise; a write request adds the update to its own transaction (on SQLite a
    second connection could not get the write lock the request already holds)."""
    key_update = update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
    user_update = update(User).where(User.id == user.id).values(last_api_at=now)
    if has_request_context() and request.method in ("GET", "HEAD", "OPTIONS"):
        with writing(), db.engine.begin() as conn:
            conn.execute(key_update)
            conn.execute(user_update)
        set_committed_value(key, "last_used_at", now)
        set_committed_value(user, "last_api_at", now)
    else:
        db.session.execute(key_update.execution_options(synchronize_session=False))
        db.session.execute(user_update.execution_options(synchronize_session=False))
        set_committed_value(key, "last_used_at", now)
        set_committed_value(user, "last_api_at", now)
