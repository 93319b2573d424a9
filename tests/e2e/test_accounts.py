"""Accounts tab in a real browser: link an account through the mail in /dev/mail, and keep two
accounts open in two tabs without one disturbing the other."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import expect

from tests.support import browser as browsers

PIN = "2468"


def _add_account(page, portal_url, nickname: str, email: str) -> None:
    page.goto(portal_url + "/accounts/")
    page.get_by_test_id("add-account").click()
    page.wait_for_url(re.compile(r"/accounts/new"))
    page.get_by_label("Account nickname").fill(nickname)
    page.get_by_label("Email address of the account").fill(email)
    page.get_by_label("Account password").fill("sandbox-pass-1")
    stepup = page.locator("#stepup")
    if stepup.count():
        stepup.fill(PIN)
    page.get_by_role("button", name="Link account").click()
    page.wait_for_url(re.compile(r"/accounts/$"))


def test_owner_links_an_account_through_the_link_in_the_mail(page, log_in, portal_url, shot):
    nickname = "e2e" + secrets.token_hex(3)
    email = f"{nickname}@vendor.test"
    log_in("owner@demo.test")
    _add_account(page, portal_url, nickname, email)

    row = page.locator(f"tr[data-account='{nickname}']")
    expect(row).to_contain_text("Pending confirmation")
    expect(page.locator("#page-alerts")).to_contain_text(f"We sent a confirmation link to {email}")
    shot("pending")

    # The mail went to the account's own address; follow its link.
    page.goto(portal_url + f"/dev/mail/?to={email}")
    page.get_by_role("link", name=re.compile(f"Confirm linking .{nickname}.")).click()
    expect(page.get_by_test_id("mail-to")).to_have_text(email)
    page.get_by_test_id("mail-body").locator("a[href*='/accounts/link/']").click()

    expect(page.get_by_test_id("link-nickname")).to_contain_text(nickname)
    expect(page.get_by_test_id("link-owner")).to_have_text("Olivia Owner")
    shot("confirm-page")
    page.get_by_test_id("confirm-link").click()
    expect(page.get_by_test_id("link-result")).to_contain_text(f"“{nickname}” is linked")
    shot("linked")

    page.goto(portal_url + "/accounts/")
    expect(page.locator(f"tr[data-account='{nickname}']")).to_contain_text("Linked")
    # The link works once.
    page.goto(portal_url + f"/dev/mail/?to={email}")
    page.get_by_role("link", name=re.compile(f"Confirm linking .{nickname}.")).click()
    page.get_by_test_id("mail-body").locator("a[href*='/accounts/link/']").click()
    expect(page.get_by_test_id("link-problem")).to_contain_text("already used")

    # Remove it again (the demo data is shared by every browser test): typed nickname + PIN.
    page.goto(portal_url + f"/accounts/{nickname}/remove")
    page.get_by_label(f"Type “{nickname}” to confirm").fill(nickname)
    stepup = page.locator("#stepup")
    if stepup.count():
        stepup.fill(PIN)
    page.get_by_role("button", name="Remove account").click()
    page.wait_for_url(re.compile(r"/accounts/$"))
    expect(page.locator("#page-alerts")).to_contain_text(f"“{nickname}” was removed")
    expect(
        page.get_by_test_id("removed-table").locator(f"tr[data-account='{nickname}']")
    ).to_be_attached()


def test_two_accounts_in_two_tabs_each_show_their_own(page, log_in, portal_url, shot):
    log_in("owner@demo.test")
    first = page
    second = page.context.new_page()  # same browser session, another tab
    first.goto(portal_url + "/accounts/ketovital/")
    second.goto(portal_url + "/accounts/mindshift/")
    expect(first.get_by_test_id("account-nickname")).to_have_text("ketovital")
    expect(second.get_by_test_id("account-nickname")).to_have_text("mindshift")

    # Work in the first tab: open its settings and save a change. (A switch nothing else in the
    # shared demo data depends on; it is switched back at the end.)
    first.get_by_role("link", name="Settings").first.click()
    first.wait_for_url(re.compile(r"/accounts/ketovital/settings$"))
    switch = first.get_by_label("Capture abandoned orders")
    was_on = switch.is_checked()
    switch.set_checked(not was_on)
    first.get_by_role("button", name="Save settings").click()
    expect(first.locator("#page-alerts")).to_contain_text("Saved: capture abandoned orders")

    # The second tab still shows (and acts on) its own account after a reload and a click.
    second.reload()
    expect(second.get_by_test_id("account-nickname")).to_have_text("mindshift")
    second.get_by_role("link", name="Settings").first.click()
    second.wait_for_url(re.compile(r"/accounts/mindshift/settings$"))
    expect(second.get_by_label("Capture abandoned orders")).to_be_checked(checked=was_on)
    expect(second.get_by_label("Customer-service email")).to_have_value(
        "support@mindshift.demo.test"
    )
    first.reload()
    expect(first.get_by_test_id("account-nickname")).to_have_text("ketovital")
    expect(first.get_by_label("Capture abandoned orders")).to_be_checked(checked=not was_on)
    shot("tab-one")
    browsers.screenshot(second, "test_two_accounts_in_two_tabs_each_show_their_own-tab-two")

    first.get_by_label("Capture abandoned orders").set_checked(was_on)
    first.get_by_role("button", name="Save settings").click()
    expect(first.locator("#page-alerts")).to_contain_text("Saved")
