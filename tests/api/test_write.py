"""Working tickets through the API: the same services as the web (policy, lifecycle, 6-character
comments, optimistic version), recorded as the API user, counted in the reports; Read keys,
foreign tickets and unknown body members change nothing; Idempotency-Key replays."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.auth.models import User
from portal.extensions import db
from portal.tickets.models import Ticket, TicketEvent
from portal.types import utcnow

COMMENT = "Handled through the API."
ACTIONS = [
    ("comments", {"comment": COMMENT}),
    ("close", {"comment": COMMENT}),
    ("type", {"comment": COMMENT, "to": "refund"}),
    ("reopen", {"comment": COMMENT}),
]


def events_of(ticket_id: int) -> list[TicketEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                   .order_by(TicketEvent.id)))


def fresh(ticket_id: int) -> Ticket:
    db.session.rollback()
    return db.session.get(Ticket, ticket_id)


def test_a_comment_is_recorded_as_the_api_user(api, shop):
    response = api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/comments",
                                         json={"comment": "  We are looking into it.  "})
    assert response.status_code == 201
    body = response.get_json()
    assert body["event"]["kind"] == "commented" and body["event"]["comment"] == "We are looking into it."
    assert body["event"]["actor"] == {"kind": "api", "name": "Wendy Writer"}
    assert body["ticket"]["version"] == 2 and body["ticket"]["events"][-1]["id"] == body["event"]["id"]
    last = events_of(shop.ticket.id)[-1]
    assert (last.actor_kind, last.actor_user_id) == ("api", shop.writer.id)


@pytest.mark.parametrize("path, body", ACTIONS)
def test_a_read_key_may_not_write(api, shop, path, body):
    before = len(events_of(shop.ticket.id))
    response = api(shop.reader_key).post(f"/api/v1/tickets/{shop.ticket.id}/{path}", json=body)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "read_only_key"
    assert len(events_of(shop.ticket.id)) == before
    opened = api(shop.reader_key).post("/api/v1/tickets", json={"transaction": shop.sale.id,
                                                                 "comment": COMMENT})
    assert opened.status_code == 403


@pytest.mark.parametrize("path, body", ACTIONS)
def test_a_ticket_of_another_account_is_404_and_untouched(api, shop, path, body):
    response = api(shop.writer_key).post(f"/api/v1/tickets/{shop.other_ticket.id}/{path}", json=body)
    missing = api(shop.writer_key).post(f"/api/v1/tickets/987654321/{path}", json=body)
    assert response.status_code == missing.status_code == 404
    assert response.get_json() == missing.get_json()
    assert len(events_of(shop.other_ticket.id)) == 1
    huge = api(shop.writer_key).post(f"/api/v1/tickets/{2**70}/{path}", json=body)
    assert huge.status_code == 404


def test_every_action_needs_a_comment_of_six_characters(api, shop):
    for path, body in ACTIONS[:3]:
        response = api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/{path}",
                                             json={**body, "comment": " abc "})
        error = response.get_json()["error"]
        assert response.status_code == 422 and error["code"] == "comment_too_short"
        assert "comment" in error["fields"]
        missing = api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/{path}",
                                            json={k: v for k, v in body.items() if k != "comment"})
        assert missing.status_code == 422 and missing.get_json()["error"]["fields"]["comment"] == "Required."
    assert len(events_of(shop.ticket.id)) == 1


@pytest.mark.parametrize("payload, field", [
    ({"comment": 12345678}, "comment"), ({"comment": COMMENT, "version": "2"}, "version"),
    ({"comment": COMMENT, "version": 2**70}, "version"), ({"comment": COMMENT, "version": True}, "version"),
    ({"comment": COMMENT, "customer_agreed": "yes"}, "customer_agreed"),
    ({"comment": "x" * 5001}, "comment"),
])
def test_bad_bodies_are_422(api, shop, payload, field):
    response = api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/close", json=payload)
    assert response.status_code == 422 and field in response.get_json()["error"]["fields"]
    assert fresh(shop.ticket.id).status == "open"


def test_a_body_that_is_not_a_json_object(api, shop):
    url = f"/api/v1/tickets/{shop.ticket.id}/comments"
    as_form = api(shop.writer_key).post(url, data={"comment": COMMENT})
    assert as_form.status_code == 415 and as_form.mimetype == "application/json"
    broken = api(shop.writer_key).post(url, data="{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.get_json()["error"]["code"] == "bad_json"
    a_list = api(shop.writer_key).post(url, json=[COMMENT])
    assert a_list.status_code == 400
    assert len(events_of(shop.ticket.id)) == 1


def test_unknown_body_members_change_nothing(api, shop):
    """S3: account_id, actor, status, ... in the body are ignored."""
    response = api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/comments", json={
        "comment": COMMENT, "account_id": shop.a2.id, "linked_account_id": shop.a2.id,
        "actor": "owner", "actor_kind": "owner", "actor_user_id": shop.owner.id,
        "status": "closed", "ticket_type": "refund", "escalated": True, "customer_email": "x@evil.test",
    })
    assert response.status_code == 201
    ticket = fresh(shop.ticket.id)
    assert (ticket.linked_account_id, ticket.status, ticket.ticket_type, ticket.escalated) == (
        shop.a1.id, "open", "tech_support", False)
    assert ticket.customer_email == "buyer.one@example.com"
    last = events_of(shop.ticket.id)[-1]
    assert (last.actor_kind, last.actor_user_id, last.kind) == ("api", shop.writer.id, "commented")


def test_a_stale_version_is_409_with_the_current_ticket(api, shop):
    url = f"/api/v1/tickets/{shop.ticket.id}"
    seen = api(shop.writer_key).get(url).get_json()["version"]
    first = api(shop.writer_key).post(url + "/comments", json={"comment": COMMENT, "version": seen})
    assert first.status_code == 201
    second = api(shop.writer_key).post(url + "/close", json={"comment": "Closing what I saw.", "version": seen})
    assert second.status_code == 409
    error = second.get_json()["error"]
    assert error["code"] == "conflict" and error["ticket"]["version"] == seen + 1
    assert fresh(shop.ticket.id).status == "open"
    again = api(shop.writer_key).post(url + "/close", json={"comment": "Closing what I saw.",
                                                            "version": error["ticket"]["version"]})
    assert again.status_code == 200 and again.get_json()["ticket"]["status"] == "closed"


def test_close_and_reopen(api, shop):
    url = f"/api/v1/tickets/{shop.ticket.id}"
    closed = api(shop.writer_key).post(url + "/close", json={"comment": "Solved by email."})
    assert closed.status_code == 200 and closed.get_json()["ticket"]["status"] == "closed"
    assert closed.get_json()["event"]["kind"] == "closed"
    again = api(shop.writer_key).post(url + "/close", json={"comment": "Close it twice?"})
    assert again.status_code == 422
    reopened = api(shop.writer_key).post(url + "/reopen", json={"comment": "It broke again."})
    assert reopened.status_code == 200 and reopened.get_json()["ticket"]["status"] == "reopened"
    assert [e.kind for e in events_of(shop.ticket.id)] == ["opened", "closed", "reopened"]


def test_a_customers_refund_request_needs_the_customers_agreement(api, shop):
    url = f"/api/v1/tickets/{shop.refund.id}"
    refused = api(shop.writer_key).post(url + "/close", json={"comment": "Customer is happy now."})
    error = refused.get_json()["error"]
    assert refused.status_code == 422 and error["code"] == "customer_consent_required"
    assert "customer_agreed" in error["fields"]
    to_tech = api(shop.writer_key).post(url + "/type", json={
        "comment": "Customer agreed to let us help.", "to": "tech_support", "customer_agreed": True})
    assert to_tech.status_code == 200
    assert to_tech.get_json()["ticket"]["type"] == "tech_support"
    assert to_tech.get_json()["event"]["customer_agreed"] is True


def test_turning_a_ticket_into_a_refund_needs_refund_authority(api, shop, make):
    url = f"/api/v1/tickets/{shop.ticket.id}/type"
    body = {"comment": "The customer wants the money back.", "to": "refund"}
    response = api(shop.writer_key).post(url, json=body)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert fresh(shop.ticket.id).ticket_type == "tech_support"
    bad = api(shop.writer_key).post(url, json={**body, "to": "chargeback"})
    assert bad.status_code == 422 and "to" in bad.get_json()["error"]["fields"]
    owner = api(shop.owner_key).post(url, json=body)
    assert owner.status_code == 200 and owner.get_json()["ticket"]["type"] == "refund"


def test_opening_a_ticket_on_a_sale(api, shop, make):
    untracked = make.sale(shop.a1, at=utcnow() - timedelta(days=2))
    response = api(shop.writer_key).post("/api/v1/tickets", json={
        "transaction": shop.sale.receipt, "comment": "Customer called about the download."})
    assert response.status_code == 201
    body = response.get_json()["ticket"]
    assert response.headers["Location"] == f"/api/v1/tickets/{body['number']}"
    assert body["source"] == "api" and body["type"] == "tech_support"
    assert body["events"][0]["actor"]["kind"] == "api"
    ticket = fresh(body["number"])
    assert ticket.opened_by_id == shop.writer.id
    # Without Search Orders the untracked sale is not there; refunds need Refund authority.
    hidden = api(shop.writer_key).post("/api/v1/tickets", json={
        "transaction": untracked.id, "comment": "Customer called about the download."})
    assert hidden.status_code == 404
    refund = api(shop.writer_key).post("/api/v1/tickets", json={
        "transaction": shop.sale.id, "type": "refund", "comment": "Refund, please."})
    assert refund.status_code == 403
    owner = api(shop.owner_key).post("/api/v1/tickets", json={
        "transaction": untracked.id, "type": "refund", "comment": "Refunding as agreed."})
    assert owner.status_code == 201 and owner.get_json()["ticket"]["type"] == "refund"
    assert owner.get_json()["ticket"]["expires_at"] is not None
    bad = api(shop.owner_key).post("/api/v1/tickets", json={"transaction": True, "comment": "Hmm, what?"})
    assert bad.status_code == 422 and "transaction" in bad.get_json()["error"]["fields"]


# --- idempotency --------------------------------------------------------------------------------


def test_the_same_idempotency_key_replays_instead_of_acting_twice(api, shop):
    url = f"/api/v1/tickets/{shop.ticket.id}/comments"
    headers = {"Idempotency-Key": "retry-me-123"}
    first = api(shop.writer_key).post(url, json={"comment": COMMENT}, headers=headers)
    second = api(shop.writer_key).post(url, json={"comment": COMMENT}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert "Idempotent-Replayed" not in first.headers and second.headers["Idempotent-Replayed"] == "true"
    assert [e.kind for e in events_of(shop.ticket.id)] == ["opened", "commented"]
    other_body = api(shop.writer_key).post(url, json={"comment": "Something else"}, headers=headers)
    assert other_body.status_code == 422
    assert other_body.get_json()["error"]["code"] == "idempotency_key_reused"
    new_key = api(shop.writer_key).post(url, json={"comment": COMMENT},
                                        headers={"Idempotency-Key": "another-one"})
    assert new_key.status_code == 201
    # Keys belong to their user: the owner's same key is a request of its own.
    owner = api(shop.owner_key).post(url, json={"comment": COMMENT}, headers=headers)
    assert owner.status_code == 201 and "Idempotent-Replayed" not in owner.headers
    assert len(events_of(shop.ticket.id)) == 4


def test_a_refused_request_stores_nothing_so_a_corrected_retry_runs(api, shop):
    url = f"/api/v1/tickets/{shop.ticket.id}/comments"
    headers = {"Idempotency-Key": "fix-and-retry"}
    short = api(shop.writer_key).post(url, json={"comment": "abc"}, headers=headers)
    assert short.status_code == 422
    stale = api(shop.writer_key).post(url, json={"comment": COMMENT, "version": 99}, headers=headers)
    assert stale.status_code == 409
    ok = api(shop.writer_key).post(url, json={"comment": COMMENT}, headers=headers)
    assert ok.status_code == 201 and "Idempotent-Replayed" not in ok.headers


def test_opening_a_ticket_is_idempotent_too(api, shop):
    payload = {"transaction": shop.sale.id, "comment": "Opened once, sent twice."}
    headers = {"Idempotency-Key": "open-once"}
    first = api(shop.writer_key).post("/api/v1/tickets", json=payload, headers=headers)
    second = api(shop.writer_key).post("/api/v1/tickets", json=payload, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["ticket"]["number"] == second.get_json()["ticket"]["number"]
    assert second.headers["Location"] == first.headers["Location"]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Ticket)
                             .where(Ticket.transaction_id == shop.sale.id)) == 2


def test_answers_are_kept_a_day_then_purged_for_every_user(api, shop):
    from portal.api import idempotency
    from portal.api.models import IdempotencyKey

    url = f"/api/v1/tickets/{shop.ticket.id}/comments"
    headers = {"Idempotency-Key": "kept-a-day"}
    assert api(shop.writer_key).post(url, json={"comment": COMMENT}, headers=headers).status_code == 201
    assert api(shop.owner_key).post(url, json={"comment": COMMENT}, headers=headers).status_code == 201
    stored = db.session.scalars(select(IdempotencyKey.created_at)).all()
    assert len(stored) == 2
    newest = max(stored)
    assert idempotency.purge(newest + idempotency.KEEP_FOR - timedelta(seconds=1)) == 0
    replay = api(shop.writer_key).post(url, json={"comment": COMMENT}, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert idempotency.purge(newest + idempotency.KEEP_FOR + timedelta(seconds=1)) == 2
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    # The key is free again: the same request now acts (a new comment).
    again = api(shop.writer_key).post(url, json={"comment": COMMENT}, headers=headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert len(events_of(shop.ticket.id)) == 4


@pytest.mark.parametrize("key", ["", "has space", "x" * 101, "tab\there"])
def test_a_malformed_idempotency_key_is_400(api, shop, key):
    response = api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/comments",
                                         json={"comment": COMMENT}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_idempotency_key"


# --- the reports count API actions for the API user ---------------------------------------------


def test_api_actions_show_in_the_clerk_reports(api, shop, client, login):
    assert api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/comments",
                                     json={"comment": "Reply written by the robot."}).status_code == 201
    assert api(shop.writer_key).post(f"/api/v1/tickets/{shop.ticket.id}/close",
                                     json={"comment": "Closed by the robot."}).status_code == 200
    db.session.rollback()
    login(db.session.get(User, shop.owner.id))
    today = utcnow().date().isoformat()
    query = f"period=custom&from={today}&to={today}&tz=UTC"
    closed = client.get(f"/reports/closed?{query}").get_data(as_text=True)
    assert "Wendy Writer" in closed
    comments = client.get(f"/reports/comments?{query}").get_data(as_text=True)
    assert "Reply written by the robot." in comments and "Wendy Writer" in comments
    one = client.get(f"/reports/closed?{query}&clerk=u{shop.writer.id}")
    assert one.status_code == 200 and "Wendy Writer" in one.get_data(as_text=True)


def test_two_concurrent_retries_with_one_key_act_once(app, api, shop, monkeypatch):
    """Both requests look the key up before either has stored it (a barrier holds them there);
    the unique constraint then lets one insert and act, and the other replays its answer. On
    SQLite the second request waits for the first one's write lock instead (the barrier times
    out), and replays too."""
    import threading

    from portal.api import idempotency

    barrier = threading.Barrier(2, timeout=2)
    real_find = idempotency._find
    calls = []

    def find_then_wait(user_id, key):
        found = real_find(user_id, key)
        calls.append(found)
        if len(calls) <= 2:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return found

    monkeypatch.setattr(idempotency, "_find", find_then_wait)
    url = f"/api/v1/tickets/{shop.ticket.id}/comments"
    results = []

    def post():
        response = app.test_client().post(url, json={"comment": COMMENT}, headers={
            "X-API-Key": shop.writer_key, "Idempotency-Key": "raced"})
        results.append((response.status_code, response.headers.get("Idempotent-Replayed"),
                        response.get_json()))

    db.session.rollback()
    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r[0] for r in results) == [201, 201]
    assert sorted(str(r[1]) for r in results) == ["None", "true"]
    assert results[0][2] == results[1][2]
    assert [e.kind for e in events_of(shop.ticket.id)] == ["opened", "commented"]
