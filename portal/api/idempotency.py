"""``Idempotency-Key`` on API writes: the same key from the same user replays the first answer
instead of acting again (24 hours).

How it stays exact without a second commit: the key's row is inserted (flushed) in the request's
own transaction before the action runs; the action's service commits that transaction; just
before it does, a ``before_commit`` hook builds the answer and writes it into the row. So the
change and its stored answer commit together. A concurrent retry blocks on the unique
constraint until the first commits, then fails to insert, finds the row and replays it. A
refused action rolls back and leaves no row.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from flask import g, jsonify, request
from sqlalchemy import delete, event, select, update
from sqlalchemy.exc import IntegrityError

from portal.api.errors import ApiError
from portal.api.models import IdempotencyKey
from portal.extensions import db
from portal.types import utcnow

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(hours=24)
KEY_RE = re.compile(r"^[\x21-\x7e]{1,100}$")  # printable ASCII, no spaces


def fingerprint() -> str:
    body = request.get_json(silent=True)
    raw = (
        json.dumps(body, sort_keys=True, separators=(",", ":"))
        if body is not None
        else request.get_data(as_text=True)
    )
    return hashlib.sha256(f"{request.method} {request.path}\n{raw}".encode()).hexdigest()


def purge(now) -> int:
    """Forget the keys older than ``KEEP_FOR``, of every user (an hourly task; a user's own
    old keys also go at their next keyed write). Returns how many."""
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEEP_FOR))
    db.session.commit()
    return result.rowcount or 0


def run(user, action, respond):
    """Answer the request with ``action()`` (which commits through a ticket service), or replay
    the answer stored under the request's ``Idempotency-Key``.

    ``action()`` returns what ``respond(result)`` turns into ``(body, status)``; ``respond`` is
    also what the hook calls before the commit (``result`` then comes from ``g.api_result``,
    which the action must set as soon as it knows it -- see ``views._act``). Returns a
    response."""
    key = request.headers.get(HEADER)
    if key is None:
        return _answer(*respond(action()))
    if not KEY_RE.match(key):
        raise ApiError(
            400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 100 printable characters."
        )
    print_ = fingerprint()
    now = utcnow()
    found = _find(user.id, key)
    if found is not None:
        return _replay(found, print_)
    db.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user.id, IdempotencyKey.created_at < now - KEEP_FOR
        )
    )
    row = IdempotencyKey(user_id=user.id, key=key, fingerprint=print_, created_at=now)
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # the same key is being used right now: its answer is committed
        db.session.rollback()
        found = _find(user.id, key)
        if found is None:
            raise
        return _replay(found, print_)
    row_id = row.id
    session = db.session()
    stored: dict = {}

    def before_commit(sess):
        if stored or "api_result" not in g:
            return
        body, status = respond(g.api_result)
        stored.update(body=body, status=status)
        sess.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row_id)
            .values(status_code=status, response=body)
            .execution_options(synchronize_session=False)
        )

    event.listen(session, "before_commit", before_commit)
    try:
        result = action()
    finally:
        event.remove(session, "before_commit", before_commit)
    if not stored:  # the action committed nothing (should not happen): answer, store nothing
        return _answer(*respond(result))
    return _answer(stored["body"], stored["status"])


def _answer(body: dict, status: int):
    response = jsonify(body)
    response.status_code = status
    return response


def _find(user_id: int, key: str) -> IdempotencyKey | None:
    return db.session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )


def _replay(row: IdempotencyKey, print_: str):
    if row.fingerprint != print_:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request.",
        )
    if row.response is None:  # cannot happen: the answer commits with the row
        raise ApiError(409, "idempotency_in_progress", "Retry this request in a moment.")
    response = _answer(row.response, row.status_code or 200)
    response.headers["Idempotent-Replayed"] = "true"
    return response
