"""Server-side login sessions. The cookie holds a random token; the database holds its hash.

So logout, "sign out everywhere", a password change and disabling a user end sessions for real,
and idle and absolute timeouts are enforced on the server (SECURITY.md §0.3, ASVS 7.4.1).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, has_request_context, request
from sqlalchemy import select, update

from portal.auth.models import User, UserSession
from portal.crypto import keyed_hash, new_token
from portal.db_setup import begins_write, writing
from portal.extensions import db

TOUCH_EVERY = timedelta(seconds=60)
REMEMBER_LIFETIME = timedelta(days=30)  # the longest "remember me" lasts, whatever the settings


def _hash(token: str) -> str:
    return keyed_hash(token, "session")


def start(user: User, *, now: datetime, remember: bool = False, second_factor_done: bool = True) -> str:
    """Create a session row for ``user`` and return the token for the cookie."""
    token = new_token()
    row = UserSession(
        user_id=user.id,
        token_hash=_hash(token),
        created_at=now,
        last_seen_at=now,
        remember=remember,
        second_factor_done=second_factor_done,
    )
    if has_request_context():
        row.ip = request.remote_addr
        row.user_agent = (request.user_agent.string or "")[:255]
    db.session.add(row)
    user.session_token = token
    user.current_session = row
    return token


def is_expired(row: UserSession, now: datetime) -> bool:
    cfg = current_app.config
    if row.remember:  # the cookie's lifetime is the session's: a copied cookie dies with it
        absolute = min(cfg["REMEMBER_COOKIE_DURATION"], REMEMBER_LIFETIME)
    else:
        absolute = cfg["SESSION_ABSOLUTE_LIFETIME"]
    if now >= row.created_at + absolute:
        return True
    return not row.remember and now >= row.last_seen_at + cfg["SESSION_IDLE_TIMEOUT"]


def load(token: str | None, *, now: datetime) -> User | None:
    """The user of a live session, or None (revoked, timed out, user disabled or deleted)."""
    if not token or len(token) > 100:
        return None
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _hash(token)))
    if row is None or row.revoked_at is not None or is_expired(row, now):
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        if begins_write():
            row.last_seen_at = now  # this request's own write transaction carries it
        else:
            _touch(row.id, now)
    user.session_token = token
    user.current_session = row
    return user


def _touch(session_id: int, now: datetime) -> None:
    """Record activity in its own short write transaction: a GET request only reads (its own
    transaction began deferred), so a second connection can write without waiting for it. A write
    request must not do this — it already holds SQLite's write lock and would wait on itself."""
    with writing(), db.engine.begin() as conn:
        conn.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now))


def end(token: str | None, *, now: datetime) -> None:
    if token:
        db.session.execute(
            update(UserSession)
            .where(UserSession.token_hash == _hash(token), UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )


def end_all(user: User, *, now: datetime, keep_token: str | None = None) -> int:
    """End every session of ``user`` (except ``keep_token``'s). Returns how many ended."""
    query = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep_token:
        query = query.where(UserSession.token_hash != _hash(keep_token))
    return db.session.execute(query.values(revoked_at=now)).rowcount


def active(user: User, *, now: datetime) -> list[UserSession]:
    rows = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_seen_at.desc())
    )
    return [r for r in rows if not is_expired(r, now)]


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe(user_agent: str | None) -> str:
    """"Chrome on Windows" from a User-Agent header (for the sessions list; never trusted)."""
    ua = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in ua), None)
    system = next((name for marker, name in _SYSTEMS if marker in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (ua[:60] if ua else "Unknown browser")
