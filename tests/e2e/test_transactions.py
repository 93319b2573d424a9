"""The Transactions tab in a real browser: search as you type, open a transaction, download the
PDF receipt; and seed 001's refund hand-off between a clerk and the refund authority."""

from __future__ import annotations

import io
import re

from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD
from tests.support import browser as browsers
from tests.support.browser import wait_for_htmx


def results_receipts(page) -> list[str]:
    return [t.strip() for t in page.locator("#tx-rows a.font-monospace").all_inner_texts()]


def test_search_open_a_transaction_and_download_its_pdf_receipt(
    page, log_in, portal_url, shot, tmp_path
):
    log_in("search@demo.test")
    page.goto(portal_url + "/transactions/")
    assert page.locator("#tx-rows tr").count() >= 10
    page.locator("label[for=type-SALE]").click()  # the type pill; results refresh by themselves
    page.wait_for_url(re.compile(r"types=SALE"))
    wait_for_htmx(page)
    receipt = results_receipts(page)[3]
    shot("list")

    page.locator("#q").fill(receipt.lower())  # typed, not submitted
    page.wait_for_url(re.compile(rf"q={receipt.lower()}"))
    wait_for_htmx(page)
    assert results_receipts(page)[0] == receipt
    assert "date_from" not in page.url and "field=" not in page.url  # only the filters in use
    assert all(r.startswith(receipt) for r in results_receipts(page))
    assert "receipts starting with" in page.locator("[data-testid=result-summary]").inner_text()
    shot("searched")

    page.locator("#tx-rows a.font-monospace", has_text=re.compile(rf"^{receipt}$")).click()
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=receipt-number]").inner_text() == receipt
    assert page.locator("[data-testid=related]").is_visible()
    shot("transaction")

    with page.expect_download() as info:
        page.locator("[data-testid=pdf-link]").click()
    download = info.value
    assert download.suggested_filename == f"receipt-{receipt}.pdf"
    path = tmp_path / "receipt.pdf"
    download.save_as(path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    # The PDF is in the order's language (the demo's customers speak English, German, Spanish).
    assert re.search(rf"(Receipt number|Belegnummer|Número de recibo): {receipt}", text)


def test_csv_export_downloads_the_result(page, log_in, portal_url):
    log_in("owner@demo.test")
    page.goto(portal_url + "/transactions/?types=CGBK")
    with page.expect_download() as info:
        page.locator("[data-testid=export-csv]").click()
    download = info.value
    assert re.fullmatch(r"transactions-all-accounts-\d{8}-\d{4}\.csv", download.suggested_filename)
    lines = open(download.path(), encoding="utf-8-sig").read().splitlines()
    assert lines[0].startswith("Date (UTC),Date (") and ",Account,Receipt," in lines[0] and len(lines) > 1
    assert all(",CGBK," in line for line in lines[1:])


def second_page(browser, portal_url, email):
    page = browsers.new_page(browser)
    page.goto(portal_url + "/auth/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    return page


def test_refund_hand_off_between_a_clerk_and_the_refund_authority(
    page, log_in, portal_url, browser, shot
):
    # The refund authority opens a refund for a recent ketovital sale with the "T" action.
    log_in("refunds@demo.test")
    page.goto(portal_url + "/accounts/ketovital/transactions?types=SALE")
    hrefs = [a.get_attribute("href") for a in page.locator("#tx-rows a.font-monospace").all()[:15]]
    transaction_page = None
    for href in hrefs:
        page.goto(portal_url + href)
        if (
            page.locator("#tt-refund:not([disabled])").count()
            and "Refunded" not in page.locator("h1").inner_text()
        ):
            transaction_page = page.url
            break
    assert transaction_page, "no refundable sale found in the demo data"
    page.locator("#tt-refund").check()
    page.locator("#open-ticket textarea").fill("Customer wants to return the physical kit.")
    page.get_by_role("button", name="Open ticket").click()
    page.wait_for_url(re.compile(r"/tickets/\d+$"))
    ticket_id = int(page.url.rsplit("/", 1)[1])

    # A clerk without Refund authority records the label and escalates, from the transaction page.
    clerk = second_page(browser, portal_url, "tickets@demo.test")
    try:
        clerk.goto(transaction_page)
        panel = clerk.locator(f"#handoff-panel-{ticket_id}")
        assert panel.is_visible() and panel.locator("[data-testid=process-refund]").count() == 0
        panel.locator("textarea").fill("Prepaid return label emailed to the customer.")
        panel.locator("[data-testid=record-step]").click()
        clerk.locator(f"#handoff-panel-{ticket_id} >> text=Return status recorded.").wait_for()
        panel = clerk.locator(f"#handoff-panel-{ticket_id}")
        assert panel.locator("[data-testid=handoff-status]").inner_text() == "Return in progress"
        panel.locator("textarea").fill("Label sent; over to the refund authority.")
        panel.locator("[data-testid=hand-off]").click()
        clerk.locator(
            f"#handoff-panel-{ticket_id} >> text=Handed off to the refund authority."
        ).wait_for()
        browsers.screenshot(clerk, "test_refund_hand_off-clerk")
    finally:
        clerk.context.close()

    # The refund authority tracks the parcel in Escalations and processes once it is received.
    page.goto(portal_url + "/transactions/escalations")
    row = page.locator(f"#escalation-{ticket_id}")
    assert "Return label sent" in row.inner_text()
    row.get_by_role("button", name="Details").click()
    panel = page.locator(f"#handoff-panel-{ticket_id}")
    assert panel.locator("[data-testid=process-refund]").is_disabled()
    shot("escalations")
    for done, comment in (
        (2, "Parcel scanned by the carrier."),
        (3, "Warehouse confirmed the parcel arrived."),
    ):
        panel.locator("textarea").fill(comment)
        panel.locator("[data-testid=record-step]").click()
        # Wait for this step's answer (the previous one said "recorded" too).
        expect(page.locator(f"#handoff-panel-{ticket_id} .tx-step.done")).to_have_count(done)
        panel = page.locator(f"#handoff-panel-{ticket_id}")
    assert panel.locator("[data-testid=process-refund]").is_enabled()
    page.once("dialog", lambda dialog: dialog.accept())
    panel.locator("textarea").fill("Return received, refunding now.")
    panel.locator("[data-testid=process-refund]").click()
    page.locator(f"#handoff-panel-{ticket_id} >> text=Refund approved").first.wait_for()
    shot("processed")
    page.goto(portal_url + "/transactions/escalations?tab=processed")
    assert page.locator(f"#escalation-{ticket_id}").is_visible()


def test_two_clerks_change_one_subscription_and_the_second_is_told_it_changed(
    page, log_in, portal_url, browser, shot
):
    """The second clerk's stale form is refused with the new state; their comment stays."""
    from datetime import date, timedelta

    log_in("search@demo.test")
    page.goto(portal_url + "/transactions/?types=SALE")
    hrefs = [a.get_attribute("href") for a in page.locator("#tx-rows a.font-monospace").all()[:40]]
    target = None
    for href in hrefs:
        page.goto(portal_url + href)
        if page.locator("#subscription form[action$='/subscription/date']").count():
            target = page.url
            break
    assert target, "no active sandbox subscription among the demo's recent sales"
    first, second = (date.today() + timedelta(days=d) for d in (12, 19))

    other = second_page(browser, portal_url, "supervisor@demo.test")
    try:
        other.goto(target)
        other.locator("#subscription summary", has_text="Change the next bill date").click()
        other.locator("#subscription input[name=next_bill_on]").fill(second.isoformat())
        other.locator("#subscription textarea[name=comment]").first.fill("Customer phoned: move it a week later.")

        # Meanwhile the first clerk moves the date.
        page.locator("#subscription summary", has_text="Change the next bill date").click()
        page.locator("#subscription input[name=next_bill_on]").fill(first.isoformat())
        page.locator("#subscription textarea[name=comment]").first.fill("Customer asked by email.")
        page.get_by_role("button", name="Change date").click()
        page.locator("#subscription >> text=Next bill date changed").wait_for()

        other.get_by_role("button", name="Change date").click()
        warning = other.locator("[data-testid=subscription-conflict]")
        warning.wait_for()
        assert "This subscription changed while you were writing" in warning.inner_text()
        assert f"next bill on {first.isoformat()}" in warning.inner_text()
        kept = other.locator("#subscription textarea[name=comment]").first.input_value()
        assert kept == "Customer phoned: move it a week later."
        browsers.screenshot(other, "test_two_clerks_subscription-conflict")
        other.get_by_role("button", name="Change date").click()  # now on the new state
        other.locator("#subscription >> text=Next bill date changed").wait_for()
    finally:
        other.context.close()
