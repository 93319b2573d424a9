"""Who may call the API (SECURITY.md S26, S19, S29): the key in the X-API-Key header only,
refused for revoked keys and for users disabled, deleted or without API permissions at their
next request; the browser session plays no part; failures are logged without the key."""
from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup

from portal import create_app
from portal.extensions import db, limiter
from portal.types import utcnow
from portal.users import apikeys
from tests.conftest import _settings
from tests.factories import PASSWORD, Factory


def error_of(response) -> str:
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    return response.get_json()["error"]["code"]


def test_no_key_and_a_wrong_key_are_refused_with_json(api, shop):
    assert api(None).get("/api/v1/me").status_code == 401
    assert error_of(api(None).get("/api/v1/me")) == "missing_key"
    for wrong in ("mak_" + "x" * 43, "nonsense", shop.writer_key[:-1], "mak_" + "y" * 500):
        response = api(wrong).get("/api/v1/me")
        assert response.status_code == 401 and error_of(response) == "invalid_key"
    assert api(shop.writer_key).get("/api/v1/me").status_code == 200


@pytest.mark.parametrize("where", ["query", "form", "json"])
def test_a_key_outside_the_header_is_refused_and_never_looked_up(api, shop, monkeypatch, where):
    looked_up = []
    monkeypatch.setattr(apikeys, "authenticate", lambda *a, **k: looked_up.append(a) or None)
    caller = api(None)
    if where == "query":
        response = caller.get(f"/api/v1/me?api_key={shop.writer_key}")
    elif where == "form":
        response = caller.post(f"/api/v1/tickets/{shop.ticket.id}/comments",
                               data={"comment": "A form comment", "api_key": shop.writer_key})
    else:
        response = caller.post(f"/api/v1/tickets/{shop.ticket.id}/comments",
                               json={"comment": "A JSON comment", "api_key": shop.writer_key})
    assert response.status_code == 401 and error_of(response) == "key_in_url"
    assert looked_up == []


def test_a_key_in_the_query_string_is_refused_even_beside_a_good_header(api, shop):
    response = api(shop.writer_key).get(f"/api/v1/tickets?key={shop.writer_key}")
    assert response.status_code == 401 and error_of(response) == "key_in_url"


def test_regenerating_revokes_the_old_key_at_once(api, shop):
    assert api(shop.writer_key).get("/api/v1/me").status_code == 200
    new = apikeys.issue(shop.writer, now=utcnow())
    db.session.commit()
    assert api(shop.writer_key).get("/api/v1/me").status_code == 401
    assert api(new).get("/api/v1/me").status_code == 200


@pytest.mark.parametrize("change", ["disable", "delete", "drop_api_perms", "unconfirm"])
def test_a_changed_user_is_refused_at_the_next_request(api, shop, change):
    assert api(shop.writer_key).get("/api/v1/tickets").status_code == 200
    user = db.session.get(type(shop.writer), shop.writer.id)
    if change == "disable":
        user.is_enabled = False
    elif change == "delete":
        user.deleted_at = utcnow()
    elif change == "drop_api_perms":
        user.perm_api_read = user.perm_api_write = False
    else:
        user.confirmed_at = None
    db.session.commit()
    response = api(shop.writer_key).get("/api/v1/tickets")
    assert response.status_code == 401 and error_of(response) == "invalid_key"
    response = api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/comments",
                                         json={"comment": "Still here?"})
    assert response.status_code == 401


def test_losing_read_write_but_keeping_read_turns_writes_into_403(api, shop):
    user = db.session.get(type(shop.writer), shop.writer.id)
    user.perm_api_write = False
    db.session.commit()
    assert api(shop.writer_key).get("/api/v1/tickets").status_code == 200
    response = api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/comments",
                                         json={"comment": "Can I still write?"})
    assert response.status_code == 403 and error_of(response) == "read_only_key"


def test_an_account_taken_from_the_user_is_out_of_reach_at_the_next_request(api, shop):
    from portal.accounts.models import ClerkAccountAccess

    assert api(shop.writer_key).get(f"/api/v1/tickets/{shop.ticket.id}").status_code == 200
    db.session.query(ClerkAccountAccess).filter_by(user_id=shop.writer.id).delete()
    db.session.commit()
    assert api(shop.writer_key).get(f"/api/v1/tickets/{shop.ticket.id}").status_code == 404
    assert api(shop.writer_key).get("/api/v1/tickets").get_json()["tickets"] == []


def test_the_api_only_user_still_cannot_log_in_on_the_web(client, shop):
    response = client.post("/auth/login", data={"email": shop.writer.email, "password": PASSWORD})
    assert client.get("/tickets/").status_code == 302  # bounced to the login page
    assert response.status_code in (200, 302, 303)


def test_a_browser_session_does_not_authenticate_the_api_and_gets_no_cookie(client, login, shop, api):
    login(shop.owner)
    assert client.get("/tickets/").status_code == 200  # the browser is logged in
    response = api(None).get("/api/v1/me")
    assert response.status_code == 401 and error_of(response) == "missing_key"
    response = api(None).post(f"/api/v1/tickets/{shop.ticket.id}/comments",
                              json={"comment": "Riding on the cookie"})
    assert response.status_code == 401
    with_key = api(shop.owner_key).get("/api/v1/me")
    assert with_key.status_code == 200
    for r in (response, with_key):
        assert "Set-Cookie" not in r.headers
        assert r.headers["Cache-Control"] == "no-store"
    assert client.get("/tickets/").status_code == 200  # and the browser session is intact


def test_writes_need_no_csrf_token_even_with_csrf_on(tmp_path):
    app = create_app({**_settings(f"sqlite:///{tmp_path / 'csrf.db'}"), "WTF_CSRF_ENABLED": True})
    with app.app_context():
        db.create_all()
        make = Factory()
        owner = make.owner()
        account = make.account(owner, "csrfshop")
        ticket = make.ticket(make.sale(account, at=utcnow() - timedelta(days=3)),
                             now=utcnow() - timedelta(days=1))
        key = apikeys.issue(owner, now=utcnow())
        db.session.commit()
        ticket_id = ticket.id
        db.session.remove()
        client = app.test_client()
        response = client.post(f"/api/v1/tickets/{ticket_id}/comments", json={"comment": "No token needed"},
                               headers={"X-API-Key": key})
        assert response.status_code == 201
        assert client.post("/tickets/%d/comment" % ticket_id, data={"comment": "Web needs a token"}).status_code == 400
        db.session.remove()
        db.engine.dispose()


def test_each_failure_is_one_structured_line_without_the_key(api, shop, caplog):
    caplog.set_level(logging.WARNING, logger="portal.api.auth")
    api("mak_" + "z" * 43).get("/api/v1/me")
    api(None).get("/api/v1/transactions/AB%0Aforged")
    api(None).get(f"/api/v1/me?api_key={shop.writer_key}")
    revoked = shop.writer_key
    apikeys.issue(shop.writer, now=utcnow())
    db.session.commit()
    api(revoked).get("/api/v1/me")
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.api.auth"]
    assert len(lines) == 4
    for line in lines:
        assert "\n" not in line and revoked not in line and "z" * 43 not in line
        entry = json.loads(line)
        assert entry["event"] == "api.auth_failed" and entry["at"].endswith("+00:00")
    assert [json.loads(line)["reason"] for line in lines] == [
        "invalid_key", "missing_key", "key_in_url", "invalid_key"]


def test_last_use_shows_on_the_users_tab(client, login, api, shop):
    login(shop.owner)

    def last_api_cell():
        db.session.rollback()  # a new request reads what is committed (see conftest.api)
        page = BeautifulSoup(client.get("/users/").get_data(as_text=True), "html.parser")
        row = page.select_one(f"#user-{shop.writer.id}")
        return row.select("td")[-1].get_text(" ", strip=True)

    assert last_api_cell() == "Never"
    assert api(shop.writer_key).get("/api/v1/tickets").status_code == 200
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", last_api_cell())
    db.session.rollback()
    assert apikeys.current(db.session.get(type(shop.writer), shop.writer.id)).last_used_at is not None


# --- rate limits --------------------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path):
    app = create_app({**_settings(f"sqlite:///{tmp_path / 'limits.db'}"), "RATELIMIT_ENABLED": True,
                      "RATELIMIT_STORAGE_URI": "memory://", "API_RATE_LIMIT": "5 per minute",
                      "API_AUTH_FAILURE_LIMIT": "3 per minute"})
    with app.app_context():
        db.create_all()
        limiter.reset()
        make = Factory()
        owner = make.owner()
        make.account(owner, "limitshop")
        key = apikeys.issue(owner, now=utcnow())
        db.session.commit()
        db.session.remove()
        yield app, key
        limiter.reset()
        db.session.remove()
        db.engine.dispose()


def test_requests_are_limited_per_key(limited):
    app, key = limited
    client = app.test_client()
    codes = [client.get("/api/v1/me", headers={"X-API-Key": key}).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    last = client.get("/api/v1/me", headers={"X-API-Key": key})
    assert last.status_code == 429 and error_of(last) == "rate_limited"
    assert "Retry-After" in last.headers


def test_failed_keys_are_limited_per_address(limited):
    app, key = limited
    client = app.test_client()
    codes = [client.get("/api/v1/me", headers={"X-API-Key": f"mak_{'q' * 42}{i}"}).status_code
             for i in range(4)]
    assert codes == [401, 401, 401, 429]
    # The address is blocked for a while, whatever key it now sends.
    assert client.get("/api/v1/me", headers={"X-API-Key": key}).status_code == 429
