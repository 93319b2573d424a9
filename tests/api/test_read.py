"""Reading through the API: the same scoping as the web tabs (visible accounts; ticket-tied
transactions only without Search Orders), 404 alike for foreign and missing objects, strict
parameters, keyset pages."""
from __future__ import annotations

from datetime import timedelta

import pytest

from portal.types import utcnow
from portal.users import apikeys
from portal.extensions import db


def test_me_says_who_and_what(api, shop):
    body = api(shop.reader_key).get("/api/v1/me").get_json()
    assert body["user"]["id"] == shop.reader.id and body["user"]["api_only"] is True
    assert body["permissions"] == ["api_read"] and body["access"] == "read"
    assert [a["nickname"] for a in body["accounts"]] == ["apishopa1"]
    assert body["key"]["prefix"] == shop.reader_key[:10]
    owner = api(shop.owner_key).get("/api/v1/me").get_json()
    assert owner["access"] == "read_write" and owner["user"]["owner"] is True
    assert [a["nickname"] for a in owner["accounts"]] == ["apishopa1", "apishopa2"]


def test_accounts_never_show_emails_or_secrets(api, shop):
    shop.a1.credentials_enc = "secret-credentials-blob"
    shop.a1.cs_email = "support@vendor.test"
    db.session.commit()
    for key in (shop.owner_key, shop.reader_key):
        response = api(key).get("/api/v1/accounts")
        text = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "@" not in text and "secret" not in text
        assert set(response.get_json()["accounts"][0]) == {
            "id", "nickname", "source", "status", "timezone", "colour"}
    assert [a["nickname"] for a in api(shop.reader_key).get("/api/v1/accounts").get_json()["accounts"]] \
        == ["apishopa1"]


def test_the_queue_is_scoped_to_the_users_accounts(api, shop):
    mine = api(shop.reader_key).get("/api/v1/tickets").get_json()
    assert sorted(t["number"] for t in mine["tickets"]) == sorted([shop.ticket.id, shop.refund.id])
    everything = api(shop.owner_key).get("/api/v1/tickets").get_json()
    assert shop.other_ticket.id in {t["number"] for t in everything["tickets"]}
    # Asking for an account of the Master Account that the user was not granted matches nothing.
    response = api(shop.reader_key).get("/api/v1/tickets?vendor=apishopa2")
    assert response.status_code == 422 and "vendor" in response.get_json()["error"]["fields"]


def test_queue_filters_work_like_the_tickets_tab(api, shop):
    def numbers(query):
        response = api(shop.owner_key).get("/api/v1/tickets" + query)
        assert response.status_code == 200, response.get_json()
        return sorted(t["number"] for t in response.get_json()["tickets"])

    assert numbers("?type=refund") == [shop.refund.id]
    assert numbers("?type=tech_support&vendor=apishopa1") == [shop.ticket.id]
    assert numbers("?vendor=APISHOPA2") == [shop.other_ticket.id]
    assert numbers("?product=recurring") == []
    assert numbers("?q=buyer.one") == [shop.ticket.id]
    assert numbers(f"?q={shop.refund.receipt}") == [shop.refund.id]
    assert numbers(f"?q=%23{shop.other_ticket.id}") == [shop.other_ticket.id]
    assert numbers("?status=closed") == []
    assert numbers("?status=open,closed") == numbers("?status=any") == numbers("")


@pytest.mark.parametrize("query, field", [
    ("?type=bogus", "type"), ("?status=open,gone", "status"), ("?product=x", "product"),
    ("?limit=0", "limit"), ("?limit=101", "limit"), (f"?limit={2**70}", "limit"),
    ("?cursor=garbage", "cursor"), ("?sort=random", "sort"), ("?q=" + "x" * 300, "q"),
])
def test_bad_queue_parameters_are_422_naming_the_field(api, shop, query, field):
    response = api(shop.owner_key).get("/api/v1/tickets" + query)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_the_queue_pages_by_cursor(api, shop):
    seen, url = [], "/api/v1/tickets?limit=1&status=any"
    while url:
        body = api(shop.owner_key).get(url).get_json()
        assert len(body["tickets"]) <= 1 and body["total"] == 3
        seen += [t["number"] for t in body["tickets"]]
        url = body["next"]
        assert (url is None) == (body["next_cursor"] is None)
    assert sorted(seen) == sorted([shop.ticket.id, shop.refund.id, shop.other_ticket.id])


def test_one_ticket_has_every_field_history_and_actions(api, shop):
    body = api(shop.reader_key).get(f"/api/v1/tickets/{shop.ticket.id}").get_json()
    assert body["number"] == shop.ticket.id and body["status"] == "open"
    assert body["customer"]["email"] == "buyer.one@example.com"
    assert body["order"]["receipt"] == shop.sale.receipt and body["order"]["status"] == "active"
    assert [e["kind"] for e in body["events"]] == ["opened"]
    assert body["events"][0]["actor"]["kind"] == "customer"
    # A Read key may do nothing with it.
    assert body["actions"]["comment"] is False and body["actions"]["close"] is False
    writer = api(shop.writer_key).get(f"/api/v1/tickets/{shop.ticket.id}").get_json()
    assert writer["actions"]["comment"] is True and writer["actions"]["close"] is True


@pytest.mark.parametrize("number", ["987654321", str(2**31), str(2**70), "0"])
def test_a_ticket_outside_the_accounts_is_the_same_404_as_a_missing_one(api, shop, number):
    foreign = api(shop.writer_key).get(f"/api/v1/tickets/{shop.other_ticket.id}")
    missing = api(shop.writer_key).get(f"/api/v1/tickets/{number}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json() == missing.get_json()
    assert foreign.get_json()["error"]["code"] == "not_found"


def test_another_master_accounts_ticket_is_404(api, shop, make):
    stranger = make.owner()
    account = make.account(stranger, "strangershop")
    ticket = make.ticket(make.sale(account, at=utcnow() - timedelta(days=3)), now=utcnow() - timedelta(days=1))
    key = apikeys.issue(stranger, now=utcnow())
    db.session.commit()
    assert api(key).get(f"/api/v1/tickets/{ticket.id}").status_code == 200
    assert api(shop.owner_key).get(f"/api/v1/tickets/{ticket.id}").status_code == 404
    assert api(key).get(f"/api/v1/tickets/{shop.ticket.id}").status_code == 404


# --- transactions -------------------------------------------------------------------------------


@pytest.fixture
def untracked(make, shop):
    """A sale on A1 without a ticket: only Search Orders (and the owner) may see it."""
    return make.sale(shop.a1, at=utcnow() - timedelta(days=2), email="quiet@example.com")


def test_without_search_orders_only_ticket_tied_transactions_are_found(api, shop, untracked):
    body = api(shop.reader_key).get("/api/v1/transactions").get_json()
    assert body["scope"] == "ticket_tied"
    ids = {t["id"] for t in body["transactions"]}
    assert shop.sale.id in ids and untracked.id not in ids
    for ref in (untracked.id, untracked.receipt):
        response = api(shop.reader_key).get(f"/api/v1/transactions/{ref}")
        assert response.status_code == 404
        assert response.get_json() == api(shop.reader_key).get("/api/v1/transactions/987654321").get_json()
    owner = api(shop.owner_key).get("/api/v1/transactions").get_json()
    assert owner["scope"] == "all" and untracked.id in {t["id"] for t in owner["transactions"]}
    assert api(shop.owner_key).get(f"/api/v1/transactions/{untracked.id}").status_code == 200


def test_search_orders_finds_every_transaction_of_its_accounts(api, shop, untracked, make):
    searcher = make.clerk(shop.owner, perms=("api_read", "search_orders"), accounts=[shop.a1],
                          api_only=True)
    key = apikeys.issue(searcher, now=utcnow())
    db.session.commit()
    body = api(key).get("/api/v1/transactions").get_json()
    assert body["scope"] == "all" and untracked.id in {t["id"] for t in body["transactions"]}
    assert api(key).get(f"/api/v1/transactions/{untracked.receipt}").status_code == 200
    other = api(shop.owner_key).get("/api/v1/transactions?vendor=apishopa2").get_json()["transactions"]
    assert other and api(key).get(f"/api/v1/transactions/{other[0]['id']}").status_code == 404


def test_one_transaction_by_id_or_receipt(api, shop):
    by_id = api(shop.reader_key).get(f"/api/v1/transactions/{shop.sale.id}")
    by_receipt = api(shop.reader_key).get(f"/api/v1/transactions/{shop.sale.receipt.lower()}")
    assert by_id.status_code == by_receipt.status_code == 200
    assert by_id.get_json() == by_receipt.get_json()
    body = by_id.get_json()
    assert body["receipt"] == shop.sale.receipt and body["account"]["nickname"] == "apishopa1"
    assert [t["number"] for t in body["tickets"]] == [shop.ticket.id]
    assert body["order"][0]["type"] == "SALE"


def test_transaction_search_filters(api, shop, untracked):
    def ids(query):
        response = api(shop.owner_key).get("/api/v1/transactions" + query)
        assert response.status_code == 200, response.get_json()
        return {t["id"] for t in response.get_json()["transactions"]}

    assert ids("?q=quiet@example.com") == {untracked.id}
    assert ids(f"?q={untracked.receipt}") == {untracked.id}
    assert shop.sale.id in ids("?type=SALE&vendor=apishopa1")
    assert ids("?type=RFND") == set()
    today = utcnow().date()
    assert untracked.id in ids(f"?from={today - timedelta(days=3)}&to={today}")
    assert ids(f"?from={today + timedelta(days=1)}") == set()
    assert ids("?amount_min=999999") == set()


@pytest.mark.parametrize("query, field", [
    ("?from=2026-13-01", "from"), ("?from=2026-11-10&to=2026-11-01", "to"), ("?type=SALES", "type"),
    (f"?amount_min={2**70}", "amount_min"), ("?amount_max=-1", "amount_max"), ("?tz=Mars/Base", "tz"),
    ("?cursor=nope", "cursor"), ("?limit=1000", "limit"), ("?field=everything", "field"),
    ("?include_test=maybe", "include_test"), ("?currency=DOLLARS", "currency"),
])
def test_bad_search_parameters_are_422(api, shop, query, field):
    response = api(shop.owner_key).get("/api/v1/transactions" + query)
    assert response.status_code == 422 and field in response.get_json()["error"]["fields"]


def test_transactions_page_by_cursor(api, shop, untracked):
    seen, url = [], "/api/v1/transactions?limit=2"
    while url:
        body = api(shop.owner_key).get(url).get_json()
        seen += [t["id"] for t in body["transactions"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 4  # three ticket sales and the untracked one


@pytest.mark.parametrize("ref", [str(2**70), str(2**31), "0", "-1", "x" * 41])
def test_out_of_range_transaction_refs_are_404_not_500(api, shop, ref):
    response = api(shop.owner_key).get(f"/api/v1/transactions/{ref}")
    assert response.status_code == 404 and response.mimetype == "application/json"


@pytest.mark.parametrize("url", ["/api/v1/transactions/%00", "/api/v1/tickets?q=a%00b",
                                 "/api/v1/transactions?q=%00"])
def test_a_nul_byte_is_a_clear_400_not_a_database_error(api, shop, url):
    """PostgreSQL refuses NUL in text; the request is refused before any query sees it."""
    response = api(shop.owner_key).get(url)
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "bad_request"
