"""Presets end at each account's own local today (issue 4 item 5).

The reviewer's case: the owner is in New York, mindshift in Berlin. A sale at 23:30 UTC with the
clock at 23:40 UTC is on Berlin's next day while New York is still at 18:40 of the day before. The
sale was missing from "Today" and "Last 7 days" until midnight in New York; now each account's
days end at its own today, and the page says so."""

from __future__ import annotations

from datetime import UTC, date, datetime
from unittest import mock

import pytest
from bs4 import BeautifulSoup

from portal.dashboard import periods, services

SALE = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)  # Berlin: Thu Nov 19 00:30
CLOCK = datetime(2026, 11, 18, 23, 40, tzinfo=UTC)  # New York: Wed Nov 18 18:40


@pytest.fixture
def zones(make):
    owner = make.owner(timezone="America/New_York")
    ketovital = make.account(owner, "ketovital", timezone_name="America/New_York")
    mindshift = make.account(owner, "mindshift", timezone_name="Europe/Berlin")
    make.sale(ketovital, at=datetime(2026, 11, 18, 15, 0, tzinfo=UTC), amount_cents=2500)
    make.sale(ketovital, at=datetime(2026, 11, 12, 3, 0, tzinfo=UTC), amount_cents=700)  # NY 11-11
    make.sale(mindshift, at=SALE, amount_cents=4900, currency="EUR")
    make.sale(mindshift, at=datetime(2026, 11, 12, 22, 0, tzinfo=UTC), amount_cents=300,
              currency="EUR")  # Berlin 11-12 23:00: the 8th local day back, outside 7 days
    return {"owner": owner, "ketovital": ketovital, "mindshift": mindshift}


def _page(client, url):
    with mock.patch("portal.dashboard.views.utcnow", return_value=CLOCK):
        response = client.get(url)
    assert response.status_code == 200
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _text(soup, testid):
    return " ".join(soup.select_one(f'[data-testid="{testid}"]').get_text().split())


def _range(soup):
    """The period line: its dates and how many days each account gets."""
    return " ".join(soup.select_one('[data-testid="period-range"]').parent.get_text().split())


@pytest.mark.parametrize("key", ["today", "7d"])
def test_a_sale_on_a_berlin_day_ahead_of_new_york_is_in_today_and_7_days(
    client, login, zones, key
):
    login(zones["owner"])
    soup = _page(client, f"/dashboard/?period={key}")
    # The Berlin sale counts at once, the New York account's today still counts too.
    assert _text(soup, "total-gross-EUR") == "€49.00"
    assert _text(soup, "total-gross-USD") == "$25.00"
    row = soup.select_one('tr[data-account="mindshift"][data-currency="EUR"]')
    assert row.select_one('[data-col="sales"]').get_text(strip=True) == "1"
    # The page says whose days these are and which todays they end at.
    note = " ".join(soup.select_one(".period-note").get_text().split())
    assert "Days are each account's local days" in note
    assert "Nov 18 or Nov 19" in note
    if key == "today":
        assert _range(soup).startswith("Nov 18, 2026 – Nov 19, 2026 · 1 day")
    else:
        assert _range(soup).startswith("Nov 12, 2026 – Nov 19, 2026 · 7 days")
    # Each account's own window is next to its name when they differ.
    assert "Nov 19" in row.get_text() and "Europe/Berlin" in row.get_text()


def test_each_account_gets_its_own_window_and_previous_window(zones):
    period = periods.parse({"period": "7d"}, date(2026, 11, 18))
    summary = services.summarise(
        [zones["ketovital"], zones["mindshift"]], period, now=CLOCK
    )
    ny, berlin = zones["ketovital"].id, zones["mindshift"].id
    assert (summary.windows[ny].start, summary.windows[ny].end) == (
        date(2026, 11, 12),
        date(2026, 11, 18),
    )
    assert (summary.windows[berlin].start, summary.windows[berlin].end) == (
        date(2026, 11, 13),
        date(2026, 11, 19),
    )
    assert summary.totals["EUR"].sales_cents == 4900 and summary.totals["USD"].sales_cents == 2500
    # The 3.00 EUR on Berlin's Nov 12 and the 7.00 USD on New York's Nov 11 are the previous week.
    assert summary.previous["EUR"].sales_cents == 300
    assert summary.previous["USD"].sales_cents == 700
    # The chart spans every account's days: Nov 12 – Nov 19, each account on its own dates.
    chart = summary.chart()
    assert chart["days"][0] == "2026-11-12" and chart["days"][-1] == "2026-11-19"
    eur = {c["currency"]: c for c in chart["currencies"]}["EUR"]
    assert eur["datasets"][0]["gross"][-1] == 49.0


def test_a_custom_range_is_the_same_dates_for_every_account(client, login, zones):
    login(zones["owner"])
    soup = _page(client, "/dashboard/?period=custom&from=2026-11-18&to=2026-11-18")
    # Berlin's Nov 19 sale is outside the typed range; New York's Nov 18 sale is inside.
    assert soup.select_one('[data-testid="totals-EUR"]') is None
    assert _text(soup, "total-gross-USD") == "$25.00"
    assert _range(soup).startswith("Nov 18, 2026 · 1 day")
    assert "Days are each account's local days" in soup.select_one(".period-note").get_text()
