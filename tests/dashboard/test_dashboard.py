"""Dashboard totals against a hand-computed fixture: two accounts in two time zones, sales,
rebills, refunds and chargebacks in two currencies, a test sale, and sales just outside the
period. Every number on the page is checked, per account, per currency and in total."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from portal.dashboard import periods, services
from portal.extensions import db
from portal.transactions import services as txn_services
from portal.transactions.models import DailySales, Transaction
from tests.conftest import HX, HX_BOOSTED

PERIOD = "/dashboard/?period=custom&from=2026-11-10&to=2026-11-20"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def chargeback(sale: Transaction, when: datetime) -> Transaction:
    txn = Transaction(
        receipt=sale.receipt,
        sale_receipt=sale.sale_receipt,
        txn_type="CGBK",
        occurred_at=when,
        amount_cents=sale.amount_cents,
        currency=sale.currency,
        customer_email=sale.customer_email,
    )
    txn_services.record(txn, sale.linked_account)
    db.session.commit()
    return txn


@pytest.fixture
def shop(make):
    """alpha: New York, USD and EUR; beta: Berlin, EUR. Both chose the same colour."""
    owner = make.owner()
    alpha = make.account(owner, "alpha", timezone_name="America/New_York", colour="#4f46e5")
    beta = make.account(owner, "beta", timezone_name="Europe/Berlin", colour="#4f46e5")

    s1 = make.sale(alpha, at=at("2026-11-10T15:00"), amount_cents=4700)  # NY 11-10
    s2 = make.sale(alpha, at=at("2026-11-11T03:00"), amount_cents=2000)  # NY 11-10 22:00
    s3 = make.sale(alpha, at=at("2026-11-12T14:00"), amount_cents=1995, recurring=True)
    make.rebill(s3, at=at("2026-11-14T14:00"))  # 19.95
    txn_services.refund_charge(s1, alpha, now=at("2026-11-13T16:00"))  # -47.00
    db.session.commit()
    chargeback(s2, at("2026-11-15T12:00"))  # -20.00
    make.sale(
        alpha, at=at("2026-11-12T12:00"), amount_cents=9900, txn_type="TEST_SALE"
    )  # not counted
    make.sale(alpha, at=at("2026-11-12T12:00"), amount_cents=3000, currency="EUR")
    make.sale(alpha, at=at("2026-11-21T02:00"), amount_cents=500)  # NY 11-20 21:00: inside
    make.sale(alpha, at=at("2026-11-09T23:00"), amount_cents=1000)  # NY 11-09: previous period

    make.sale(
        beta, at=at("2026-11-10T23:30"), amount_cents=4900, currency="EUR"
    )  # Berlin 11-11 00:30
    s10 = make.sale(beta, at=at("2026-11-16T10:00"), amount_cents=4900, currency="EUR")
    txn_services.refund_charge(s10, beta, now=at("2026-11-17T10:00"))
    db.session.commit()
    make.sale(
        beta, at=at("2026-11-20T23:30"), amount_cents=1500, currency="EUR"
    )  # Berlin 11-21: outside
    return {"owner": owner, "alpha": alpha, "beta": beta}


# (gross, sales, rebills, rebill amount, refunds, refunded, chargebacks, cb amount, net, rate)
EXPECTED = {
    ("alpha", "USD"): (11190, 4, 1, 1995, 1, 4700, 1, 2000, 4490, "20.0%"),
    ("alpha", "EUR"): (3000, 1, 0, 0, 0, 0, 0, 0, 3000, "0.0%"),
    ("beta", "EUR"): (9800, 2, 0, 0, 1, 4900, 0, 0, 4900, "50.0%"),
}
TOTALS = {
    "USD": (11190, 4, 1, 1995, 1, 4700, 1, 2000, 4490, "20.0%"),
    "EUR": (12800, 3, 0, 0, 1, 4900, 0, 0, 7900, "33.3%"),
}


def _as_tuple(t: services.Totals):
    return (
        t.gross_cents,
        t.sales_count,
        t.rebill_count,
        t.rebill_cents,
        t.refund_count,
        t.refund_cents,
        t.chargeback_count,
        t.chargeback_cents,
        t.net_cents,
        services_percent(t.refund_rate),
    )


def services_percent(value):
    from portal.dashboard import percent

    return percent(value)


def test_the_service_adds_up_per_account_currency_and_in_total(shop):
    period = periods.parse(
        {"period": "custom", "from": "2026-11-10", "to": "2026-11-20"}, date(2026, 11, 22)
    )
    summary = services.summarise([shop["alpha"], shop["beta"]], period)
    got = {
        (item.account.nickname, cur): _as_tuple(t)
        for item in summary.accounts
        for cur, t in item.by_currency.items()
    }
    assert got == EXPECTED
    assert {cur: _as_tuple(t) for cur, t in summary.totals.items()} == TOTALS
    # Against the period before (Oct 30 – Nov 9): $10.00 of USD sales, no EUR.
    assert summary.change("USD", "gross_cents") == pytest.approx((11190 - 1000) / 1000)
    assert summary.change("EUR", "gross_cents") is None
    assert summary.accounts_in("EUR") == 2 and summary.accounts_in("USD") == 1


def test_the_chart_has_a_series_per_account_per_currency_in_local_days(shop):
    period = periods.parse(
        {"period": "custom", "from": "2026-11-10", "to": "2026-11-20"}, date(2026, 11, 22)
    )
    chart = services.summarise([shop["alpha"], shop["beta"]], period).chart()
    assert (
        chart["days"][0] == "2026-11-10"
        and chart["days"][-1] == "2026-11-20"
        and len(chart["days"]) == 11
    )
    usd, eur = (
        {c["currency"]: c for c in chart["currencies"]}["USD"],
        {c["currency"]: c for c in chart["currencies"]}["EUR"],
    )
    [alpha_usd] = usd["datasets"]
    assert alpha_usd["label"] == "alpha"
    assert alpha_usd["gross"] == [67.0, 0, 19.95, 0, 19.95, 0, 0, 0, 0, 0, 5.0]
    assert alpha_usd["net"] == [67.0, 0, 19.95, -47.0, 19.95, -20.0, 0, 0, 0, 0, 5.0]
    assert alpha_usd["charges"] == [2, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
    assert [d["label"] for d in eur["datasets"]] == ["alpha", "beta"]
    beta_eur = eur["datasets"][1]
    assert beta_eur["gross"][1] == 49.0 and beta_eur["refunds"][7] == 1  # Berlin's 11-11 and 11-17
    # Both accounts picked the same colour; the chart still tells them apart.
    assert eur["datasets"][0]["colour"] == "#4f46e5" and eur["datasets"][1]["colour"] != "#4f46e5"


def test_the_page_shows_every_number_per_account_and_currency(client, login, shop):
    login(shop["owner"])
    soup = BeautifulSoup(client.get(PERIOD).get_data(as_text=True), "html.parser")
    money = {
        "USD": lambda c: f"${c // 100:,}.{c % 100:02d}",
        "EUR": lambda c: f"€{c // 100:,}.{c % 100:02d}",
    }

    def check(row, currency, expected):
        gross, sales, rebills, rebill_amt, refunds, refunded, cbs, cb_amt, net, rate = expected
        m = money[currency]
        cell = lambda col: " ".join(row.select_one(f'[data-col="{col}"]').get_text().split())
        assert cell("gross") == m(gross)
        assert cell("sales") == str(sales)
        assert cell("rebills") == f"{rebills} · {m(rebill_amt)}"
        assert cell("refunds") == str(refunds)
        assert cell("refunded") == m(refunded)
        assert cell("chargebacks") == f"{cbs} · {m(cb_amt)}"
        assert cell("net") == m(net)
        assert cell("rate") == rate

    for (nickname, currency), expected in EXPECTED.items():
        check(
            soup.select_one(f'tr[data-account="{nickname}"][data-currency="{currency}"]'),
            currency,
            expected,
        )
    for currency, expected in TOTALS.items():
        check(soup.select_one(f'tr[data-total="{currency}"]'), currency, expected)
    # Currencies are never added together: no row or card mixes them.
    assert soup.select_one('[data-testid="total-gross-USD"]').get_text(strip=True) == "$111.90"
    assert soup.select_one('[data-testid="total-gross-EUR"]').get_text(strip=True) == "€128.00"
    assert soup.select_one('[data-testid="total-net-EUR"]').get_text(strip=True) == "€79.00"
    assert len(soup.select("tfoot tr")) == 2
    assert "Days are each account's local days: the same dates for every account" in " ".join(
        soup.get_text().split()
    )
    # Chart data, legend and canvases for both currencies.
    assert soup.select_one("#dashboard-data")["data-chart"].startswith("{")
    assert [b.get_text(strip=True) for b in soup.select('[data-legend-for="EUR"] button')] == [
        "alpha",
        "beta",
    ]
    assert soup.select_one('canvas[data-dashboard-chart="USD"]') is not None


def test_a_period_change_from_htmx_gets_only_the_dashboard_body(client, login, shop):
    login(shop["owner"])
    fragment = client.get(PERIOD, headers=HX)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body
    assert (
        "data-chart=" in body
        and 'data-total="USD"' in body
        and 'data-testid="period-presets"' in body
    )
    assert "HX-Request" in fragment.headers["Vary"]
    full = client.get(PERIOD).get_data(as_text=True)
    assert "<html" in full and "js/dashboard.js" in full and "chart.umd.min.js" in full


def test_the_daily_table_has_the_charts_numbers_and_loads_on_demand(client, login, shop):
    login(shop["owner"])
    page = client.get(PERIOD).get_data(as_text=True)
    assert 'hx-trigger="toggle once, dashboard-metric"' in page
    assert "/dashboard/daily?period=custom" in page
    fragment = client.get(
        "/dashboard/daily?period=custom&from=2026-11-10&to=2026-11-20", headers=HX
    )
    soup = BeautifulSoup(fragment.get_data(as_text=True), "html.parser")
    assert soup.find("html") is None
    usd = soup.select_one('table[data-currency="USD"]')
    rows = {
        r.th.get_text(strip=True): [td.get_text(strip=True) for td in r.select("td")]
        for r in usd.select("tbody tr")
    }
    assert rows["2026-11-10"] == ["67.00", "67.00"] and rows["2026-11-20"] == ["5.00", "5.00"]
    eur = soup.select_one('table[data-currency="EUR"]')
    assert [th.get_text(strip=True) for th in eur.select("thead th")] == [
        "Day",
        "alpha",
        "beta",
        "Total",
    ]
    eur_rows = {
        r.th.get_text(strip=True): [td.get_text(strip=True) for td in r.select("td")]
        for r in eur.select("tbody tr")
    }
    assert eur_rows["2026-11-11"] == ["0.00", "49.00", "49.00"] and eur_rows["2026-11-12"] == [
        "30.00",
        "0.00",
        "30.00",
    ]
    full = client.get("/dashboard/daily?period=7d").get_data(as_text=True)
    assert "<html" in full and "Per day" in full  # works without JavaScript too


def _daily_rows(table) -> dict[str, list[str]]:
    return {
        r.th.get_text(strip=True): [td.get_text(strip=True) for td in r.select("td")]
        for r in table.select("tbody tr")
    }


def test_the_daily_table_shows_the_metric_the_chart_shows(client, login, shop):
    """The chart's "Show" switch sends its value along (``metric_<currency>``): each currency's
    table then has that metric's numbers, under a visible heading naming currency and metric."""
    login(shop["owner"])
    page = BeautifulSoup(client.get(PERIOD).get_data(as_text=True), "html.parser")
    details = page.select_one('[data-testid="daily-table"]')
    assert details["hx-include"] == "[data-chart-metric]"
    assert {s["name"] for s in page.select("select[data-chart-metric]")} == {
        "metric_USD",
        "metric_EUR",
    }
    base = "/dashboard/daily?period=custom&from=2026-11-10&to=2026-11-20"
    soup = BeautifulSoup(
        client.get(base + "&metric_USD=charges&metric_EUR=net", headers=HX).get_data(
            as_text=True
        ),
        "html.parser",
    )
    usd = soup.select_one('table[data-currency="USD"]')
    assert usd["data-metric"] == "charges"
    # Sale + rebill on the 10th: two charges, counted, not summed in dollars.
    assert _daily_rows(usd)["2026-11-10"] == ["2", "2"]
    assert _daily_rows(usd)["2026-11-13"] == ["0", "0"]
    heading = soup.select_one(f"#{usd['aria-labelledby']}").get_text(" ", strip=True)
    assert heading == "USD Sales + rebills (count) in USD, per day"
    eur = soup.select_one('table[data-currency="EUR"]')
    assert eur["data-metric"] == "net"
    assert _daily_rows(eur)["2026-11-17"] == ["0.00", "-49.00", "-49.00"]  # beta's refund
    # Each heading comes before its own table, not at the bottom of the scrolling box.
    for table in (usd, eur):
        section = table.find_parent("section")
        assert section.select_one("h2").get_text(strip=True).startswith(table["data-currency"])
        assert table.find("caption") is None
    refunds = BeautifulSoup(
        client.get(base + "&metric_USD=refunds", headers=HX).get_data(as_text=True),
        "html.parser",
    ).select_one('table[data-currency="USD"]')
    assert _daily_rows(refunds)["2026-11-13"] == ["1", "1"]
    # An unknown metric falls back to gross sales.
    bad = BeautifulSoup(
        client.get(base + "&metric_USD=<script>", headers=HX).get_data(as_text=True),
        "html.parser",
    ).select_one('table[data-currency="USD"]')
    assert bad["data-metric"] == "gross" and _daily_rows(bad)["2026-11-10"] == ["67.00", "67.00"]
    # Without JavaScript the page on its own offers the same four choices per currency.
    full = BeautifulSoup(
        client.get(base + "&metric_USD=net").get_data(as_text=True), "html.parser"
    )
    links = full.select('[data-testid="daily-USD"] nav a')
    assert [a.get_text(strip=True) for a in links] == [
        "Gross sales",
        "Net",
        "Sales + rebills (count)",
        "Refunds (count)",
    ]
    assert links[1]["aria-current"] == "true" and "metric_USD=refunds" in links[3]["href"]


def test_arriving_by_a_boosted_link_gets_the_whole_page(client, login, shop):
    """Tab links are boosted: the answer is the full page (base.html carries every script)."""
    login(shop["owner"])
    body = client.get("/dashboard/?period=7d", headers=HX_BOOSTED).get_data(as_text=True)
    assert "<html" in body and 'id="dashboard-data"' in body and "js/dashboard.js" in body


def test_an_empty_master_account_is_invited_to_link_an_account(client, login, make):
    login(make.owner())
    body = client.get("/dashboard/").get_data(as_text=True)
    assert "No linked accounts yet." in body and "/accounts/new" in body


def test_a_period_without_sales_says_so(client, login, shop):
    login(shop["owner"])
    body = client.get("/dashboard/?period=custom&from=2025-01-01&to=2025-01-07").get_data(
        as_text=True
    )
    assert "No sales, refunds or chargebacks in this period." in body


def test_a_bad_custom_period_is_explained(client, login, shop):
    login(shop["owner"])
    body = client.get("/dashboard/?period=custom&from=2026-12-01&to=2026-11-01").get_data(
        as_text=True
    )
    assert (
        "The start date is after the end date." in body and "Showing last 30 days instead." in body
    )


def test_the_demo_data_fills_the_daily_totals_the_dashboard_reads(app):
    """DailySales must equal what the transactions add up to (the Dashboard reads only it)."""
    from portal.demo import generator

    generator.generate("demo", now=at("2026-11-20T17:00"))
    counted = db.session.execute(
        select(
            Transaction.linked_account_id,
            Transaction.txn_type,
            func.count(),
            func.sum(Transaction.amount_cents),
        )
        .where(Transaction.is_test.is_(False))
        .group_by(Transaction.linked_account_id, Transaction.txn_type)
    ).all()
    daily = db.session.execute(
        select(
            DailySales.linked_account_id,
            func.sum(DailySales.sales_count),
            func.sum(DailySales.sales_cents),
            func.sum(DailySales.rebill_count),
            func.sum(DailySales.refund_count),
            func.sum(DailySales.refund_cents),
            func.sum(DailySales.chargeback_count),
        ).group_by(DailySales.linked_account_id)
    ).all()
    by_type = {(a, t): (n, s) for a, t, n, s in counted}
    assert len(daily) == 3
    for account_id, sales_n, sales_c, rebill_n, refund_n, refund_c, cb_n in daily:
        assert (sales_n, sales_c) == by_type[(account_id, "SALE")]
        assert rebill_n == by_type.get((account_id, "BILL"), (0, 0))[0]
        assert (refund_n, refund_c) == by_type.get((account_id, "RFND"), (0, 0))
        assert cb_n == by_type.get((account_id, "CGBK"), (0, 0))[0]
        assert sales_n > 100 and refund_n > 0
