"""Per-user API keys: 256-bit random, shown once, stored only as a keyed hash."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from portal.crypto import keyed_hash, new_token
from portal.extensions import db
from portal.users.models import ApiKey

PREFIX = "mak_"


def hash_key(plaintext: str) -> str:
    return keyed_hash(plaintext, "api-key")


def issue(user, *, now: datetime) -> str:
    """Create a new key for ``user``, revoking any previous one. Returns the plaintext (once)."""
    db.session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    plaintext = PREFIX + new_token(32)
    db.session.add(
        ApiKey(user_id=user.id, key_hash=hash_key(plaintext), prefix=plaintext[:10], created_at=now)
    )
    return plaintext


def current(user) -> ApiKey | None:
    return db.session.scalar(
        select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    )
