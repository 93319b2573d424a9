"""The Reports tab in a real browser: every report opens with its chart and table, filters update
the report and the URL (htmx), a CSV downloads, numbers drill down to tickets."""
from __future__ import annotations

import csv
import io

import pytest

from portal.reports.catalog import REPORTS
from tests.support.browser import wait_for_htmx


def chart_drawn(page) -> bool:
    return page.evaluate("() => !!(window.PortalReports && window.PortalReports.chart())")


def test_the_owner_opens_every_report_and_downloads_a_csv(page, log_in, portal_url, shot):
    log_in("owner@demo.test")
    page.get_by_role("link", name="Reports", exact=True).click()
    page.wait_for_url("**/reports/")
    cards = page.locator("[data-testid^=report-card-]")
    assert cards.count() == len(REPORTS)
    shot("index")
    for report in REPORTS:
        page.goto(f"{portal_url}/reports/")
        page.locator(f"[data-testid=report-card-{report.slug}]").click()
        page.wait_for_url(f"**/reports/{report.slug}")
        page.wait_for_load_state("networkidle")  # the chart library, on the first report
        wait_for_htmx(page)
        assert page.locator("h1").inner_text().strip() == report.title
        assert chart_drawn(page), report.slug
        assert page.locator("table.report-table").first.is_visible()
        assert page.locator("[data-testid=filter-errors]").count() == 0
        shot(report.slug)

    page.goto(f"{portal_url}/reports/creation?period=90d")
    with page.expect_download() as info:
        page.locator("[data-testid=csv-download]").click()
    download = info.value
    assert download.suggested_filename.startswith("creation_") and download.suggested_filename.endswith(".csv")
    text = open(download.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Date", "Tech support", "Refund", "Cancellation", "Total"]
    assert len(rows) == 1 + 90 + 1  # 90 days and the total
    shown_total = page.locator("[data-testid=table-days] tfoot td").last.inner_text().replace(",", "")
    assert rows[-1][-1] == shown_total and int(shown_total) > 0


def test_filters_update_the_report_and_the_url(page, log_in, portal_url, shot):
    log_in("owner@demo.test")
    page.goto(f"{portal_url}/reports/closed?period=30d")
    page.wait_for_load_state("networkidle")
    before = page.locator("[data-testid=report-period]").inner_text()
    page.locator("#period").select_option("7d")
    page.wait_for_url("**period=7d**")
    wait_for_htmx(page)
    assert page.locator("[data-testid=report-period]").inner_text() != before
    assert "7 days" in page.locator("[data-testid=report-period]").inner_text()
    assert chart_drawn(page)  # redrawn after the htmx swap
    page.locator("#tz").select_option("Asia/Kolkata")
    page.wait_for_url("**tz=Asia/Kolkata**")
    wait_for_htmx(page)
    clerk = page.locator("#clerk option", has_text="Sam Search").get_attribute("value")
    page.locator("#clerk").select_option(clerk)
    page.wait_for_url(f"**clerk={clerk}**")
    wait_for_htmx(page)
    assert "per day" in page.locator("[data-testid=table-days] .card-header").inner_text()
    shot("one-clerk")
    # The URL reproduces the view: open it afresh.
    url = page.url
    page.goto(url)
    assert page.locator("#clerk").input_value() == clerk
    assert page.locator("#tz").input_value() == "Asia/Kolkata"
    # A typed date makes the period custom.
    page.locator("#from").fill("2026-10-01")
    page.locator("#from").dispatch_event("change")
    page.wait_for_url("**period=custom**")
    assert page.locator("#period").input_value() == "custom"


def test_numbers_drill_down_to_tickets(page, log_in, portal_url, shot):
    log_in("owner@demo.test")
    page.goto(f"{portal_url}/reports/creation?period=90d")
    link = page.locator("[data-testid=table-days] a.drill").first
    number = int(link.inner_text().replace(",", ""))
    link.click()
    page.wait_for_url("**/reports/creation/tickets**")
    assert int(page.locator("[data-testid=drill-total]").inner_text().replace(",", "")) == number
    rows = page.locator("[data-testid=drill-table] tbody tr")
    assert rows.count() == min(number, 50)
    shot()
    page.locator("[data-testid=drill-table] tbody a").first.click()
    page.wait_for_url("**/tickets/*")


@pytest.mark.parametrize("email, sees", [("supervisor@demo.test", True), ("tickets@demo.test", False)])
def test_the_reports_tab_by_role(page, log_in, portal_url, email, sees):
    log_in(email)
    tabs = [t.strip() for t in page.locator("[data-testid=tabs] .nav-link").all_inner_texts()]
    assert ("Reports" in tabs) is sees
    response = page.goto(f"{portal_url}/reports/comments?period=30d")
    assert response.status == (200 if sees else 403)
    if sees:
        assert page.locator("[data-testid=comments]").is_visible()


def test_clerk_totals_drill_to_as_many_tickets_and_comment_counts_filter(page, log_in, portal_url, shot):
    """Clerk tickets by type: the total (distinct tickets) is what its drill-down lists. Clerk
    comments: a clerk's count opens their comments."""
    log_in("owner@demo.test")
    page.goto(f"{portal_url}/reports/clerk-types?period=90d")
    total = page.locator("[data-testid=table-clerks] tfoot a.drill").last
    number = int(total.inner_text().replace(",", ""))
    rows = page.locator("[data-testid=table-clerks] tbody tr td:last-child")
    pairs = sum(int(t.replace(",", "") or 0) for t in rows.all_inner_texts())
    assert 0 < number <= pairs
    assert page.locator("[data-testid=table-caption]").is_visible()
    shot("clerk-types")
    total.click()
    page.wait_for_url("**/reports/clerk-types/tickets**")
    assert int(page.locator("[data-testid=drill-total]").inner_text().replace(",", "")) == number

    page.goto(f"{portal_url}/reports/comments?period=30d")
    first = page.locator("[data-testid=table-clerks] tbody tr").first
    name = first.locator("th").inner_text().strip()
    count = int(first.locator("a.drill").inner_text().replace(",", ""))
    first.locator("a.drill").click()
    page.wait_for_url("**clerk=**")
    wait_for_htmx(page)
    assert page.locator("#clerk").input_value() != ""
    badge = page.locator("[data-testid=comments] .card-header .badge").inner_text().replace(",", "")
    assert int(badge) == count
    assert name.split(" ")[0] in page.locator("[data-testid=comments] li").first.inner_text()
    shot("one-clerks-comments")
