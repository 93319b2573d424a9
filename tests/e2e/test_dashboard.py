"""The Dashboard in a real browser: the chart is drawn, its legend lists the accounts, and changing
the period swaps numbers and chart in place (no page load) and updates the URL."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def _chart_state(page, currency: str) -> dict:
    return page.evaluate(
        """(currency) => {
            const canvas = document.querySelector(`canvas[data-dashboard-chart="${currency}"]`);
            const chart = canvas && window.Chart && window.Chart.getChart(canvas);
            if (!chart) return {drawn: false};
            // Count painted pixels: a drawn bar chart is far from blank.
            const ctx = canvas.getContext('2d');
            const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i] > 0) painted++;
            return {
                drawn: true,
                labels: chart.data.labels.length,
                datasets: chart.data.datasets.map(d => d.label),
                colours: chart.data.datasets.map(d => d.backgroundColor),
                painted: painted,
            };
        }""",
        currency,
    )


def _chart_days(page) -> int:
    """How many days the page's chart data has: a preset's days end at each account's own
    today, so late in the day (Berlin already on tomorrow) the chart has one day more."""
    return page.evaluate(
        "() => JSON.parse(document.getElementById('dashboard-data').dataset.chart).days.length"
    )


def _labels_match_data(days: int) -> str:
    return (
        "() => { const c = document.querySelector(\"canvas[data-dashboard-chart='USD']\");"
        " const ch = c && Chart.getChart(c);"
        " const d = document.getElementById('dashboard-data');"
        " const n = JSON.parse(d.dataset.chart).days.length;"
        f" return ch && n >= {days} && n <= {days + 2} && ch.data.labels.length === n; }}"
    )


def test_dashboard_draws_the_chart_and_changes_period_in_place(page, log_in, portal_url, shot):
    log_in("owner@demo.test")
    page.goto(portal_url + "/dashboard/")
    page.wait_for_selector("canvas[data-dashboard-chart='USD'][data-drawn='true']")

    usd = _chart_state(page, "USD")
    days30 = _chart_days(page)
    assert usd["drawn"] and usd["labels"] == days30 and 30 <= days30 <= 32
    assert set(usd["datasets"]) >= {"ketovital", "fitforge"}
    assert len(set(usd["colours"])) == len(usd["colours"])  # one distinct colour per account
    assert usd["painted"] > 5000
    eur = _chart_state(page, "EUR")
    assert eur["drawn"] and "mindshift" in eur["datasets"]

    legend = page.locator("[data-legend-for='USD']")
    expect(legend).to_contain_text("ketovital")
    expect(legend).to_contain_text("fitforge")
    expect(page.locator("[data-legend-for='EUR']")).to_contain_text("mindshift")
    # Numbers also as a table, one row per account and currency, totals per currency.
    expect(page.get_by_test_id("period-days")).to_contain_text("Days are each account's local days")
    table = page.get_by_test_id("per-account")
    for nickname in ("ketovital", "mindshift", "fitforge"):
        expect(table.locator(f"tr[data-account='{nickname}']").first).to_be_visible()
    expect(table.locator("tr[data-total='USD']")).to_be_visible()
    expect(table.locator("tr[data-total='EUR']")).to_be_visible()
    # The chart's numbers day by day, fetched when the table is opened.
    page.get_by_test_id("daily-table").locator("summary").click()
    expect(page.locator("table[data-currency='USD'] thead")).to_contain_text("ketovital")
    expect(page.locator("table[data-currency='USD'] tbody tr")).to_have_count(days30)
    shot("30-days")

    # Change the period: htmx swaps the body, the page itself stays (marker survives).
    page.evaluate("window.__stillHere = true")
    before = page.get_by_test_id("total-gross-USD").inner_text()
    page.get_by_test_id("period-presets").get_by_role("link", name="7 days").click()
    expect(page).to_have_url(re.compile(r"/dashboard/\?period=7d$"))
    expect(
        page.get_by_test_id("period-presets").get_by_role("link", name="7 days")
    ).to_have_attribute("aria-current", "true")
    page.wait_for_function(_labels_match_data(7))
    assert page.evaluate("window.__stillHere") is True
    assert page.get_by_test_id("total-gross-USD").inner_text() != before
    assert _chart_state(page, "USD")["painted"] > 1000

    # Back restores the 30 days, chart included.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    page.wait_for_function(_labels_match_data(30))
    assert page.get_by_test_id("total-gross-USD").inner_text() == before
    page.get_by_test_id("period-presets").get_by_role("link", name="7 days").click()
    expect(page).to_have_url(re.compile(r"period=7d$"))

    # Hiding an account from the legend.
    page.locator("[data-legend-for='USD'] button", has_text="ketovital").click()
    expect(page.locator("[data-legend-for='USD'] button", has_text="ketovital")).to_have_attribute(
        "aria-pressed", "false"
    )

    # A custom range.
    page.locator("#period-from").fill("2026-01-01")
    page.locator("#period-to").fill("2026-01-01")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"period=custom"))
    assert page.evaluate("window.__stillHere") is True
    shot("7-days")


def test_arriving_from_another_tab_draws_the_chart(page, log_in, portal_url):
    """Tabs are boosted links; the Dashboard still gets its scripts and draws."""
    log_in("owner@demo.test")
    page.goto(portal_url + "/accounts/")
    page.get_by_test_id("tabs").get_by_role("link", name="Dashboard").click()
    page.wait_for_selector("canvas[data-dashboard-chart='USD'][data-drawn='true']")
    assert _chart_state(page, "USD")["painted"] > 1000


def _chart_totals(page, currency: str, metric: str) -> list[str]:
    """The chart's per-day totals of one metric, formatted like the table's Total column."""
    return page.evaluate(
        """([currency, metric]) => {
            const data = JSON.parse(document.getElementById('dashboard-data').dataset.chart);
            const block = data.currencies.find(b => b.currency === currency);
            return data.days.map((_, i) => {
                const t = block.datasets.reduce((s, d) => s + d[metric][i], 0);
                return metric === 'gross' || metric === 'net' ? t.toFixed(2) : String(t);
            });
        }""",
        [currency, metric],
    )


def test_switching_the_chart_metric_switches_the_daily_table(page, log_in, portal_url, shot):
    log_in("owner@demo.test")
    page.goto(portal_url + "/dashboard/?period=7d")
    page.wait_for_selector("canvas[data-dashboard-chart='USD'][data-drawn='true']")
    page.get_by_test_id("daily-table").locator("summary").click()
    usd = page.locator("table[data-currency='USD']")
    expect(usd).to_have_attribute("data-metric", "gross")
    heading = page.locator("#daily-title-USD")
    expect(heading).to_have_text(re.compile(r"USD\s*Gross sales in USD, per day"))
    expect(page.locator("#daily-title-EUR")).to_contain_text("EUR")
    # The heading sits above its table (not at the bottom of the scrolling box).
    assert heading.bounding_box()["y"] < usd.bounding_box()["y"]
    totals = usd.locator("tbody tr td:last-child")
    assert totals.all_inner_texts() == _chart_totals(page, "USD", "gross")

    page.select_option("#metric-USD", "charges")
    expect(usd).to_have_attribute("data-metric", "charges")
    expect(heading).to_contain_text("Sales + rebills (count) in USD")
    chart_metric = page.evaluate(
        "() => Chart.getChart(document.querySelector(\"canvas[data-dashboard-chart='USD']\"))"
        ".data.datasets[0].data"
    )
    assert all(float(v).is_integer() for v in chart_metric)  # the chart counts too
    assert totals.all_inner_texts() == _chart_totals(page, "USD", "charges")
    # The EUR table keeps its own switch's metric.
    expect(page.locator("table[data-currency='EUR']")).to_have_attribute("data-metric", "gross")
    page.get_by_test_id("daily-table").scroll_into_view_if_needed()
    shot("daily-charges")

    page.select_option("#metric-EUR", "net")
    expect(page.locator("table[data-currency='EUR']")).to_have_attribute("data-metric", "net")
    expect(usd).to_have_attribute("data-metric", "charges")
    assert page.locator("table[data-currency='EUR'] tbody tr td:last-child").all_inner_texts() == (
        _chart_totals(page, "EUR", "net")
    )

    # A new period keeps the switches; the table, opened again, follows them.
    page.get_by_test_id("period-presets").get_by_role("link", name="30 days").click()
    expect(page).to_have_url(re.compile(r"period=30d$"))
    page.wait_for_function(_labels_match_data(30))
    expect(page.locator("#metric-USD")).to_have_value("charges")
    page.get_by_test_id("daily-table").locator("summary").click()
    expect(usd).to_have_attribute("data-metric", "charges")
    assert totals.all_inner_texts() == _chart_totals(page, "USD", "charges")
