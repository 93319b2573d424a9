"""The search page over HTTP: full page and htmx fragment, filters in the URL, pages, the count,
the account-scoped URL, the streamed CSV and who may use them."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import HX, HX_BOOSTED
from tests.transactions.conftest import days_ago


def test_owner_searches_by_email_and_gets_the_whole_page_or_just_the_results(
    client, login, make, world
):
    make.sale(world.keto, at=days_ago(world, 2), receipt="AB12CD34", email="jane@example.com")
    make.sale(world.keto, at=days_ago(world, 1), receipt="ZZ99ZZ99", email="joe@example.com")
    login(world.owner)
    full = client.get("/transactions/?q=jane@example.com")
    html = full.get_data(as_text=True)
    assert full.status_code == 200 and "<html" in html and 'id="tx-search"' in html
    assert "AB12CD34" in html and "ZZ99ZZ99" not in html
    assert 'value="jane@example.com"' in html  # the filter stays in the box
    fragment = client.get("/transactions/?q=jane@example.com", headers=HX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and 'id="tx-search"' not in body and "AB12CD34" in body
    assert "HX-Request" in fragment.headers["Vary"]
    boosted = client.get("/transactions/?q=jane@example.com", headers=HX_BOOSTED).get_data(
        as_text=True
    )
    assert "<html" in boosted


def test_the_results_say_how_the_box_was_read_and_load_the_count(client, login, make, world):
    make.sale(world.keto, at=days_ago(world, 2), receipt="AB12CD34")
    login(world.owner)
    body = client.get("/transactions/?q=ab12", headers=HX).get_data(as_text=True)
    assert "receipts starting with AB12" in body
    assert 'hx-get="/transactions/count?q=ab12"' in body and 'hx-trigger="load"' in body
    count = client.get("/transactions/count?q=ab12", headers=HX).get_data(as_text=True)
    assert count.strip() == "1 transaction"


def test_no_match_says_so(client, login, make, world):
    make.sale(world.keto, at=days_ago(world, 2))
    login(world.owner)
    body = client.get("/transactions/?q=nobody@nowhere.test", headers=HX).get_data(as_text=True)
    assert "No transactions match" in body and "Export CSV" not in body


def test_bad_filters_are_reported_and_left_out(client, login, make, world):
    make.sale(world.keto, at=days_ago(world, 2), receipt="AB12CD34")
    login(world.owner)
    r = client.get("/transactions/?date_from=2026-13-45&amount_min=abc&account=999999&types=NOPE")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Some filters were not understood" in html and "AB12CD34" in html
    assert "Please enter an amount like 19.95." in html
    assert client.get("/transactions/?date_from=2026-11-10&date_to=2026-11-01").status_code == 200
    assert "The end date is before the start date." in client.get(
        "/transactions/?date_from=2026-11-10&date_to=2026-11-01"
    ).get_data(as_text=True)
    assert client.get("/transactions/?date_from=1900-01-01").status_code == 200
    assert client.get("/transactions/?amount_max=1e400").status_code == 200


def test_pages_follow_the_cursor_in_the_url(client, login, make, world, monkeypatch):
    from portal.transactions import search

    monkeypatch.setattr(search, "PAGE_SIZE", 2)
    made = [make.sale(world.keto, at=days_ago(world, i + 1)) for i in range(5)]
    login(world.owner)
    seen, url = [], "/transactions/?types=SALE"
    import re

    pages = 0
    for _ in range(4):
        pages += 1
        body = client.get(url, headers=HX).get_data(as_text=True)
        seen += re.findall(r'font-monospace" href="/transactions/\d+">([A-Z0-9-]+)<', body)
        nxt = re.search(r'rel="next" href="([^"]+)"', body)
        if not nxt:
            break
        url = nxt.group(1).replace("&amp;", "&")
        assert "types=SALE" in url and "after=" in url  # the filters travel with the cursor
    assert seen == [t.receipt for t in made] and pages == 3


def test_the_account_url_shows_only_that_account(client, login, make, world):
    make.sale(world.keto, at=days_ago(world, 2), receipt="KETO0001")
    make.sale(world.mind, at=days_ago(world, 2), receipt="MIND0001")
    login(world.owner)
    html = client.get("/accounts/mindshift/transactions").get_data(as_text=True)
    assert "MIND0001" in html and "KETO0001" not in html and "of mindshift only" in html
    assert f"/transactions/count?account={world.mind.id}" in html
    assert client.get("/accounts/elsewhere/transactions").status_code == 404  # another tenant's
    assert client.get("/accounts/nosuch/transactions").status_code == 404


def test_the_account_url_is_the_endpoint_the_accounts_tab_links_to(app):
    from flask import url_for

    with app.test_request_context():
        assert (
            url_for("transactions.account_search", nickname="ketovital")
            == "/accounts/ketovital/transactions"
        )


@pytest.mark.parametrize(
    "who, status",
    [
        ("owner", 200),
        ("search_clerk", 200),
        ("refunds_clerk", 200),
        ("tickets_clerk", 200),  # finds only transactions tied to tickets (below)
        ("users_clerk", 403),
    ],
)
def test_who_may_use_the_tab(client, login, world, who, status):
    login(getattr(world, who))
    assert client.get("/transactions/").status_code == status
    assert client.get("/transactions/export.csv").status_code == status
    assert client.get("/transactions/count").status_code == status


def test_orders_tickets_alone_finds_only_orders_with_a_ticket(client, login, make, world):
    """Issue 8 item 1: the tickets clerk searches too, and finds the sale behind a ticket (and
    its rebills) but never a sale nobody opened a ticket for."""
    tied = make.sale(world.keto, receipt="TIED0001", email="same@buyer.test")
    make.ticket(tied)
    make.sale(world.keto, receipt="FREE0001", email="same@buyer.test")
    login(world.tickets_clerk)
    page = client.get("/transactions/?q=same@buyer.test&field=email").get_data(as_text=True)
    assert "TIED0001" in page and "FREE0001" not in page
    assert 'data-testid="ticket-tied-only"' in client.get("/transactions/").get_data(as_text=True)
    assert "1 transaction" in client.get("/transactions/count?q=same@buyer.test&field=email").get_data(as_text=True)
    login(world.search_clerk)
    page = client.get("/transactions/?q=same@buyer.test&field=email").get_data(as_text=True)
    assert "TIED0001" in page and "FREE0001" in page
    assert 'data-testid="ticket-tied-only"' not in client.get("/transactions/").get_data(as_text=True)


def test_anonymous_users_are_sent_to_log_in(client):
    assert client.get("/transactions/").status_code == 302
    assert client.get("/transactions/", headers=HX).status_code == 401


def test_csv_export_is_streamed_escaped_and_named_by_the_server(client, login, make, world):
    evil = make.sale(
        world.keto, at=days_ago(world, 3), receipt="EVIL0001", email="=cmd@example.com"
    )
    evil.customer_first_name, evil.customer_last_name = "@SUM(A1:A9)", "+Smith"
    evil.product_title = "-2+3"
    from portal.extensions import db

    db.session.commit()
    make.sale(world.mind, at=days_ago(world, 2), receipt="NICE0001", amount_cents=1995)
    make.sale(world.other_account, at=days_ago(world, 2), receipt="FOREIGN1")
    world.owner.timezone = "America/Los_Angeles"
    db.session.commit()
    login(world.owner)
    r = client.get("/transactions/export.csv?q=EVIL0001&filename=../../etc/passwd")
    assert r.status_code == 200 and r.is_streamed
    assert r.mimetype == "text/csv"
    disposition = r.headers["Content-Disposition"]
    assert (
        disposition.startswith('attachment; filename="transactions-all-accounts-')
        and "passwd" not in disposition
    )
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["Date (UTC)", f"Date ({world.owner.timezone})", "Account", "Receipt",
                           "Order receipt"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1]))
    assert row["Receipt"] == "EVIL0001" and row["Account"] == "ketovital"
    utc_time = datetime.strptime(row["Date (UTC)"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    local_time = utc_time.astimezone(ZoneInfo(world.owner.timezone)).strftime("%Y-%m-%d %H:%M:%S")
    assert row[f"Date ({world.owner.timezone})"] == local_time  # as the page shows it
    assert row["First name"] == "'@SUM(A1:A9)" and row["Last name"] == "'+Smith"
    assert row["Email"] == "'=cmd@example.com" and row["Product"] == "'-2+3"
    everything = client.get("/transactions/export.csv").get_data(as_text=True)
    assert "NICE0001" in everything and "19.95" in everything and "FOREIGN1" not in everything
    one = client.get("/accounts/mindshift/transactions/export.csv")
    assert 'filename="transactions-mindshift-' in one.headers["Content-Disposition"]
    assert "NICE0001" in one.get_data(as_text=True) and "EVIL0001" not in one.get_data(as_text=True)


def test_csv_refunds_are_negative_so_a_spreadsheet_sum_is_the_net(client, login, make, world):
    from portal.extensions import db
    from portal.transactions import services as txn_services

    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="NETS0001", amount_cents=2950)
    txn_services.refund_charge(sale, world.keto, now=days_ago(world, 1))
    db.session.commit()
    login(world.owner)
    body = client.get("/transactions/export.csv?q=NETS0001").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    amounts = {row["Type"]: row["Amount"] for row in rows}
    assert amounts == {"SALE": "29.50", "RFND": "-29.50"}
    assert sum(float(a) for a in amounts.values()) == 0


def test_safe_cell_escapes_every_formula_start():
    from portal.transactions.views.search import safe_cell

    for value in ["=1+1", "+1", "-1", "@x", "\tx", "\rx"]:
        assert safe_cell(value).startswith("'")
    assert safe_cell("plain") == "plain" and safe_cell(None) == "" and safe_cell(12) == "12"


def test_test_transactions_are_hidden_unless_asked_for(client, login, make, world):
    make.sale(world.keto, at=days_ago(world, 3), receipt="TEST0001", txn_type="TEST_SALE")
    make.sale(world.keto, at=days_ago(world, 2), receipt="REAL0001")
    login(world.owner)
    assert "TEST0001" not in client.get("/transactions/", headers=HX).get_data(as_text=True)
    assert "TEST0001" in client.get("/transactions/?include_test=y", headers=HX).get_data(
        as_text=True
    )


def test_user_text_is_escaped(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="XSS00001")
    sale.customer_first_name = "<script>alert(1)</script>"
    sale.product_title = "<img src=x onerror=alert(1)>"
    from portal.extensions import db

    db.session.commit()
    login(world.owner)
    html = client.get("/transactions/?q=XSS00001").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
    assert client.get("/transactions/?q=<script>", headers=HX).status_code == 200
