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

    # Removing a digit unticks the digits rule again and disables Save.
    field.press("End")
    after_digits = NEW_PASSWORD[NEW_PASSWORD.index("2") + 1 :]  # " Harbor!!"
    for _ in after_digits:
        field.press("ArrowLeft")
    field.press("Backspace")  # the "2" of "42": one digit left
    expect(field).to_have_value(NEW_PASSWORD.replace("2", "", 1))
    expect(page.locator(f"#pw-checklist[data-length='{len(NEW_PASSWORD) - 1}']")).to_be_attached()
    expect(rule("digits")).to_have_attribute("data-ok", "false")
    for key in ("length", "upper", "lower", "special"):
        expect(rule(key)).to_have_attribute("data-ok", "true")  # only the digits rule broke
    expect(rule("match")).to_have_attribute("data-ok", "false")
    expect(save).to_be_disabled()
    shot("digit-removed")


def test_a_wrong_password_then_the_forgot_password_page(page, portal_url, shot):
    page.goto(portal_url + "/auth/login")
    page.get_by_role("link", name="Forgot password?").first.click()
    # The login page has an Email field too: wait for the boosted swap before typing.
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.wait_for_load_state("networkidle")  # the swap has settled: nothing replaces the form now
    field = page.get_by_label("Email")
    field.fill("nobody-here@shop.test")
    expect(field).to_have_value("nobody-here@shop.test")
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


def confirmed_owner(page, portal_url, prefix: str) -> str:
    """A fresh Master Account, confirmed through its mail, logged in; returns its email."""
    n = _unique()
    email = f"{prefix}{n}@shop.test"
    sign_up(page, portal_url, email, f"{prefix}{n}"[:10])
    open_mail_link(page, portal_url, email, "Master Account Confirmation")
    page.locator("#new_password").fill(NEW_PASSWORD)
    page.locator("#confirm_password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save password").click()
    page.locator("#password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")
    return email


def test_turning_on_two_factor_and_logging_in_with_a_code(page, portal_url, shot):
    import pyotp

    email = confirmed_owner(page, portal_url, "tfa")
    page.goto(portal_url + "/auth/security")
    card = page.locator("#twofa-card")
    card.get_by_label("Confirm with your PIN").fill("580317")
    card.get_by_role("button", name="Set up two-factor authentication").click()
    expect(card).to_have_attribute("data-twofa", "pending")
    expect(page.get_by_test_id("totp-qr")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    shot("qr-code")
    card.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    card.get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("recovery-codes")).to_be_visible()
    expect(card).to_have_attribute("data-twofa", "on")
    expect(page.get_by_test_id("twofa-badge")).to_contain_text("Two-factor on")  # swapped out of band
    codes = page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    shot("recovery-codes")
    expect(page.get_by_test_id("events")).to_contain_text("Two-factor authentication turned on")

    page.get_by_role("button", name="Nadia Novak").click()
    page.get_by_role("button", name="Log out").click()
    page.locator("#email").fill(email)
    page.locator("#password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/auth/login/verify")
    page.get_by_label("Code").fill(codes[0])  # a recovery code, once
    shot("code-step")
    page.get_by_role("button", name="Verify and continue").click()
    page.wait_for_url("**/dashboard/")


def test_forgot_password_with_the_security_question_and_its_hint(page, portal_url, shot):
    email = confirmed_owner(page, portal_url, "fgt")
    page.get_by_role("button", name="Nadia Novak").click()
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Forgot password?").first.click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_test_id("forgot-sent")).to_be_visible()
    open_mail_link(page, portal_url, email, "Reset your Master Account password")
    expect(page.get_by_test_id("link-page")).to_have_attribute("data-step", "question")
    question = page.get_by_test_id("question").inner_text()
    hint = page.get_by_test_id("hint").inner_text()
    assert ("pet" in question and "golden retriever" in hint) or ("born" in question and "river" in hint)
    page.get_by_label("Your answer").fill("wrong answer")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("link-error")).to_contain_text("4 tries left")
    page.get_by_label("Your answer").fill("biscuit" if "pet" in question else "  LJUBLJANA ")
    shot("question")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("link-page")).to_have_attribute("data-step", "password")
    fresh = "Maple 77 River??"
    page.locator("#new_password").fill(fresh)
    page.locator("#confirm_password").fill(fresh)
    page.get_by_role("button", name="Save password").click()
    expect(page.locator("#page-alerts")).to_contain_text("every session was signed out")
    page.locator("#password").fill(fresh)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")


def test_sign_up_errors_show_beside_their_fields_and_keep_the_input(page, portal_url, shot):
    page.goto(portal_url + "/auth/signup")
    page.get_by_label("Email").fill("zoe@shop.test")
    page.get_by_label("First name").fill("Zoë")
    page.locator("#question_1").select_option("first_pet")
    page.locator("#answer_1").fill("Biscuit")
    page.locator("#hint_1").fill("biscuit the dog")
    page.locator("#question_2").select_option("first_pet")
    page.locator("#pin").fill("1234")
    page.locator("#pin_confirm").fill("1234")
    page.get_by_label("Account nickname").fill("ketovital")  # a demo account: already linked
    page.get_by_role("button", name="Create my Master Account").click()
    form = page.locator("#signup-form")
    expect(form).to_contain_text("The hint must not contain the answer.")
    expect(form).to_contain_text("Please choose two different questions.")
    expect(form).to_contain_text("A straight run of digits (like 1234 or 987654) is too easy to guess.")
    expect(form).to_contain_text("This field is required.")  # last name
    expect(page.get_by_label("First name")).to_have_value("Zoë")
    expect(page.locator("#answer_1")).to_have_value("Biscuit")
    expect(page.locator("#pin")).to_have_value("")
    shot()
    page.get_by_label("Last name").fill("Zimmer")
    page.locator("#hint_1").fill("The golden retriever")
    page.locator("#question_2").select_option("first_car")
    page.locator("#answer_2").fill("Saab")
    page.locator("#hint_2").fill("Swedish")
    page.locator("#pin").fill("580317")
    page.locator("#pin_confirm").fill("580317")
    page.get_by_label("Account password").fill("x")
    page.get_by_role("button", name="Create my Master Account").click()
    expect(form).to_contain_text("This ClickBank account is already linked to a Master Account.")
