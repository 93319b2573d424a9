"""API keys: 256-bit, stored only as a keyed hash, usable only by enabled users holding an API
permission, from the X-API-Key header only; regenerating revokes the old key at once."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from werkzeug.datastructures import Headers

from portal.extensions import db
from portal.users import apikeys
from portal.users.models import ApiKey


@pytest.fixture
def api_user(make, now):
    owner = make.owner()
    account = make.account(owner)
    user = make.clerk(owner, perms=("api_read",), accounts=[account], api_only=True)
    key = apikeys.issue(user, now=now)
    db.session.commit()
    return user, key


def test_a_key_is_long_random_and_only_its_keyed_hash_is_stored(api_user):
    user, key = api_user
    assert key.startswith("mak_") and len(key) >= 4 + 43  # 32 random bytes, URL-safe base64
    rows = db.session.execute(text("SELECT * FROM api_keys")).mappings().all()
    assert len(rows) == 1
    assert all(key not in str(value) for value in rows[0].values())
    assert rows[0]["key_hash"] == apikeys.hash_key(key) != key


def test_the_right_key_finds_its_user_and_anything_else_finds_nobody(api_user, now):
    user, key = api_user
    assert apikeys.authenticate(key, now=now) == user
    for wrong in (None, "", key[:-1], key + "x", key.upper(), "mak_" + "A" * 43, "x" * 5000, 42):
        assert apikeys.authenticate(wrong, now=now) is None


def test_use_is_recorded_at_most_once_a_minute(api_user, now):
    user, key = api_user
    apikeys.authenticate(key, now=now)
    db.session.commit()
    row = apikeys.current(user)
    assert row.last_used_at == now and user.last_api_at == now
    apikeys.authenticate(key, now=now + timedelta(seconds=59))
    db.session.commit()
    db.session.expire_all()
    assert apikeys.current(user).last_used_at == now
    apikeys.authenticate(key, now=now + timedelta(seconds=61))
    db.session.commit()
    db.session.expire_all()
    assert apikeys.current(user).last_used_at == now + timedelta(seconds=61)


def test_a_key_stops_working_when_the_user_is_disabled_deleted_or_loses_api_rights(api_user, now):
    user, key = api_user
    user.is_enabled = False
    db.session.commit()
    assert apikeys.authenticate(key, now=now) is None
    user.is_enabled = True
    user.perm_api_read = False
    db.session.commit()
    assert apikeys.authenticate(key, now=now) is None
    user.perm_api_write = True  # Read/Write alone also reads
    db.session.commit()
    assert apikeys.authenticate(key, now=now) == user
    user.deleted_at = now
    db.session.commit()
    assert apikeys.authenticate(key, now=now) is None


def test_regenerating_revokes_the_old_key_at_once(api_user, now):
    user, old = api_user
    new = apikeys.issue(user, now=now + timedelta(minutes=1))
    db.session.commit()
    assert apikeys.authenticate(old, now=now + timedelta(minutes=1)) is None
    assert apikeys.authenticate(new, now=now + timedelta(minutes=1)) == user
    live = db.session.scalars(select(ApiKey).where(ApiKey.user_id == user.id,
                                                   ApiKey.revoked_at.is_(None))).all()
    assert len(live) == 1


def test_a_web_user_who_has_not_accepted_the_invitation_cannot_use_a_key_yet(make, now):
    owner = make.owner()
    clerk = make.clerk(owner, perms=("orders_tickets", "api_read"))
    clerk.confirmed_at = None
    key = apikeys.issue(clerk, now=now)
    db.session.commit()
    assert apikeys.authenticate(key, now=now) is None
    clerk.confirmed_at = now
    db.session.commit()
    assert apikeys.authenticate(key, now=now) == clerk


def test_the_owner_holds_every_permission_so_their_key_works(make, now):
    owner = make.owner()
    key = apikeys.issue(owner, now=now)
    db.session.commit()
    assert apikeys.authenticate(key, now=now) == owner


def test_the_key_is_read_from_the_header_only(app, api_user):
    _, key = api_user
    assert apikeys.key_from_headers(Headers({"X-API-Key": f"  {key} "})) == key
    assert apikeys.key_from_headers(Headers({})) is None
    with app.test_request_context(f"/api/v1/tickets?api_key={key}&X-API-Key={key}",
                                  data={"api_key": key}, method="POST"):
        from flask import request

        assert apikeys.key_from_headers(request.headers) is None


def test_use_during_a_read_request_is_recorded_without_touching_the_request_transaction(app, api_user, now):
    """A GET stays read-only: the touch commits on its own connection."""
    user, key = api_user
    user_id, key_id = user.id, apikeys.current(user).id
    db.session.remove()
    with app.test_request_context("/api/v1/tickets", method="GET"):
        assert apikeys.authenticate(key, now=now).id == user_id
        assert not db.session.dirty
        db.session.rollback()  # the request's own transaction is thrown away...
    db.session.remove()
    assert db.session.get(ApiKey, key_id).last_used_at == now  # ...the use is still recorded
