"""Sign-up in a real browser: the form, the mail in /dev/mail, the set-password page with its live
checklist, login, and the first Dashboard (DOMAIN.md §1)."""
from __future__ import annotations

import itertools
import time

from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD

_seq = itertools.count(1)
NEW_PASSWORD = "Tulip 42 Harbor!!"  # 2 upper, lower, 2 digits, 3 specials (spaces count)


def _unique() -> str:
    return f"{int(time.time()) % 100000:05d}{next(_seq)}"


def sign_up(page, portal_url, email: str, nickname: str) -> None:
    """Fill in the sign-up form like a person would and submit it."""
    page.goto(portal_url + "/auth/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("First name").fill("Nadia")
    page.get_by_label("Last name").fill("Novak")
    page.locator("#question_1").select_option("first_pet")
    page.locator("#answer_1").fill("Biscuit")
    page.locator("#hint_1").fill("The golden retriever")
    page.locator("#question_2").select_option("birth_city")
    page.locator("#answer_2").fill("Ljubljana")
    page.locator("#hint_2").fill("Capital by the river")
    page.locator("#pin").fill("580317")
    page.locator("#pin_confirm").fill("580317")
    page.get_by_label("Account nickname").fill(nickname)
    page.get_by_label("Account password").fill("sandbox-pass")
    page.get_by_label("Account time zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Create my Master Account").click()
    expect(page.get_by_test_id("signup-sent")).to_be_visible()


def open_mail_link(page, portal_url, email: str, subject: str) -> None:
    """Find the newest mail to ``email`` in /dev/mail and follow the link inside it."""
    page.goto(portal_url + "/dev/mail/?to=" + email)
    page.get_by_role("link", name=subject).first.click()
    expect(page.get_by_test_id("mail-to")).to_have_text(email)
    page.get_by_test_id("mail-body").get_by_role("link").first.click()


def test_whole_sign_up_from_the_mailed_link_to_the_first_dashboard(page, portal_url, shot):
    n = _unique()
    email, nickname = f"nadia{n}@shop.test", f"nadia{n}"[:10]
    sign_up(page, portal_url, email, nickname)
    shot("check-mailbox")

    open_mail_link(page, portal_url, email, "Master Account Confirmation")
    # The token left the address bar at once (S16).
    expect(page.get_by_test_id("link-page")).to_have_attribute("data-step", "password")
    assert "token=" not in page.url and page.url.endswith("/auth/set-password")

    page.locator("#new_password").fill(NEW_PASSWORD)
    page.locator("#confirm_password").fill(NEW_PASSWORD)
    save = page.get_by_role("button", name="Save password")
    expect(save).to_be_enabled()
    shot("set-password")
    save.click()

    # Back on the login page, email filled in, with a confirmation message.
    expect(page.locator("#email")).to_have_value(email)
    expect(page.locator("#page-alerts")).to_contain_text("confirmed")
    page.locator("#password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")
    assert page.url.endswith("/dashboard/")
    tabs = [t.strip() for t in page.locator("[data-testid=tabs] .nav-link").all_inner_texts()]
    assert tabs[:2] == ["Dashboard", "Accounts"]
    shot("dashboard")

    # The confirmation link worked once: opened again, it says so and offers a new one.
    open_mail_link(page, portal_url, email, "Master Account Confirmation")
    expect(page.get_by_test_id("link-invalid")).to_have_attribute("data-reason", "used")


def test_the_checklist_ticks_rules_as_a_password_is_typed(page, portal_url, shot):
    n = _unique()
    email, nickname = f"tess{n}@shop.test", f"tess{n}"[:10]
    sign_up(page, portal_url, email, nickname)
    open_mail_link(page, portal_url, email, "Master Account Confirmation")

    checklist = page.locator("#pw-checklist")
    save = page.locator("#pw-save")
    expect(save).to_be_disabled()  # until every rule is met

    def rule(key):
        return checklist.locator(f"[data-rule={key}]")

    field = page.locator("#new_password")
    field.click()
    typed = ""
    seen = {}
    for ch in NEW_PASSWORD:
        field.press_sequentially(ch, delay=20)
        typed += ch
        # Wait for the server's answer for exactly this many characters.
        expect(page.locator(f"#pw-checklist[data-length='{len(typed)}']")).to_be_attached()
        for key in ("length", "upper", "digits", "special", "strength"):
            if rule(key).get_attribute("data-ok") == "true" and key not in seen:
                seen[key] = len(typed)
        expect(save).to_be_disabled()  # never enabled before the repeat matches
        if typed == "Tulip 4":
            expect(rule("upper")).to_have_attribute("data-ok", "false")  # only one capital so far
            expect(rule("special")).to_have_attribute("data-ok", "false")  # one space so far
            shot("half-typed")
    # Each rule ticked at the character that met it, not before.
    assert seen["upper"] == NEW_PASSWORD.index("H") + 1
    assert seen["digits"] == NEW_PASSWORD.index("2") + 1
    assert seen["length"] == 12
    for key in ("length", "upper", "lower", "digits", "special", "personal", "common", "strength"):
        expect(rule(key)).to_have_attribute("data-ok", "true")
    expect(rule("match")).to_have_attribute("data-ok", "false")

    page.locator("#confirm_password").press_sequentially(NEW_PASSWORD, delay=5)
    expect(rule("match")).to_have_attribute("data-ok", "true")
    expect(save).to_be_enabled()
    shot("all-met")

    # Removing a digit unticks it again and disables Save.
    field.press("End")
    field.press("Backspace")  # "!" removed: still fine
    field.press("ArrowLeft")
    expect(rule("match")).to_have_attribute("data-ok", "false")
    expect(save).to_be_disabled()


def test_a_wrong_password_then_the_forgot_password_page(page, portal_url, shot):
    page.goto(portal_url + "/auth/login")
    page.get_by_role("link", name="Forgot password?").first.click()
    page.get_by_label("Email").fill("nobody-here@shop.test")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_test_id("forgot-sent")).to_contain_text("If that address belongs to a login")
    shot()


def test_security_settings_page_shows_every_section_to_the_owner(page, log_in, portal_url, shot):
    log_in("owner@demo.test", DEMO_PASSWORD)
    page.goto(portal_url + "/auth/security")
    for title in ("Password", "PIN", "Security questions and hints", "Two-factor authentication",
                  "Active sessions", "Recent security events", "Clerks"):
        expect(page.locator(".card-header", has_text=title).first).to_be_visible()
    expect(page.get_by_test_id("events")).to_contain_text("Logged in")
    shot()
