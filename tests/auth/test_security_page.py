"""The Security settings page: every card, its step-up or current-password check, what it ends
(sessions), what it mails, and htmx vs plain responses (SECURITY.md S6)."""
from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from portal.auth import hashing, sessions, totp
from portal.auth.models import UserSession
from portal.crypto import pepper
from portal.extensions import db
from portal.types import utcnow
from tests.auth.conftest import GOOD_PASSWORD, events, mails
from tests.conftest import HX
from tests.factories import PASSWORD, PIN


def live_sessions(user):
    return db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.id)
    ).all()


def other_sessions(user, n=3):
    """Sessions on other devices, and the cookies they would send."""
    tokens = [sessions.start(user, now=utcnow()) for _ in range(n)]
    db.session.commit()
    return tokens


def replay(app, token):
    """A request from another browser that holds ``token``: is it still logged in?"""
    other = app.test_client()
    with other.session_transaction() as s:
        s["_user_id"] = token
        s["_fresh"] = True
    return other.get("/auth/security").status_code == 200


@pytest.fixture
def owner(make, client, login):
    owner = make.owner(email="olivia@shop.test")
    login(owner)
    return owner


def test_the_owner_sees_every_card(client, owner):
    page = client.get("/auth/security").get_data(as_text=True)
    for title in ("Password", "PIN", "Security questions and hints", "Two-factor authentication",
                  "Active sessions", "Recent security events", "Require two-factor authentication for all clerks"):
        assert title in page
    assert "This browser" in page and "Logged in" in page


def test_a_clerk_sees_no_pin_questions_or_clerk_cards(client, make, login):
    clerk = make.clerk(make.owner())
    login(clerk)
    page = client.get("/auth/security").get_data(as_text=True)
    assert 'id="password-card"' in page and 'id="twofa-card"' in page
    assert 'id="pin-card"' not in page and 'id="questions-card"' not in page and 'id="clerk2fa-card"' not in page
    for path in ("/auth/security/pin", "/auth/security/questions", "/auth/security/clerks-two-factor"):
        assert client.post(path, data={}).status_code == 404


def test_anonymous_visitors_are_sent_to_login(client):
    assert client.get("/auth/security").headers["Location"].startswith("/auth/login")
    assert client.post("/auth/security/password", data={}, headers=HX).status_code == 401


# --- password -------------------------------------------------------------------------------------


def change(client, current=PASSWORD, new=GOOD_PASSWORD, confirm=None, headers=None):
    return client.post("/auth/security/password", headers=headers or {}, data={
        "pw-current_password": current, "pw-new_password": new,
        "pw-confirm_password": new if confirm is None else confirm})


def test_changing_the_password_needs_the_current_one(client, owner):
    page = change(client, current="wrong-password").get_data(as_text=True)
    assert "That is not your current password." in page
    assert hashing.verify_secret(owner.password_hash, PASSWORD)
    assert events("password.change_failed")


def test_a_weak_new_password_shows_the_checklist_messages(client, owner):
    page = change(client, new="Olivia!!Pass42").get_data(as_text=True)
    assert "does not contain your name" in page and 'data-rule="personal" data-ok="false"' in page


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, client, owner):
    others = other_sessions(owner, 3)
    assert all(replay(app, t) for t in others)
    response = change(client)
    assert response.status_code == 303  # no JavaScript: back to the page with a message
    db.session.refresh(owner)
    assert hashing.verify_secret(owner.password_hash, GOOD_PASSWORD)
    assert not any(replay(app, t) for t in others)
    page = client.get("/auth/security")
    assert page.status_code == 200 and "3 other sessions signed out" in page.get_data(as_text=True)
    assert mails("password_changed")[-1].recipient == owner.email
    assert events("password.changed")


def test_htmx_gets_the_password_card_and_a_trigger_for_the_events(client, owner):
    response = change(client, headers=HX)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page and 'id="password-card"' in page
    assert "Your password is changed." in page and response.headers["HX-Trigger"] == "security-changed"


def test_the_new_password_must_differ(client, owner):
    page = change(client, new=PASSWORD).get_data(as_text=True)
    assert "must differ" in page


# --- the live checklist endpoint ------------------------------------------------------------------


def test_the_checklist_endpoint_returns_checklist_and_button_out_of_band(client, owner):
    response = client.post("/auth/password-check", data={"pw-new_password": "Olivia", "pw-confirm_password": ""},
                           headers=HX)
    page = response.get_data(as_text=True)
    assert page.count('hx-swap-oob="true"') == 2
    assert 'data-length="6"' in page and 'data-rule="personal" data-ok="false"' in page
    assert 'id="pw-save"' in page and "disabled" in page
    good = client.post("/auth/password-check", data={"new_password": GOOD_PASSWORD,
                                                     "confirm_password": GOOD_PASSWORD}).get_data(as_text=True)
    assert 'data-all-ok="true"' in good and " disabled" not in good


def test_the_checklist_endpoint_is_post_only(client):
    assert client.get("/auth/password-check?new_password=x").status_code == 405


# --- PIN ------------------------------------------------------------------------------------------


def test_changing_the_pin_needs_the_current_pin(client, owner):
    page = client.post("/auth/security/pin", data={"pin-stepup": "0000", "pin-pin": "730415",
                                                   "pin-pin_confirm": "730415"}).get_data(as_text=True)
    assert "That PIN is not right." in page
    assert hashing.verify_secret(owner.pin_hash, pepper(PIN))
    ok = client.post("/auth/security/pin", data={"pin-stepup": PIN, "pin-pin": "730415",
                                                 "pin-pin_confirm": "730415"}, headers=HX)
    assert "Your PIN is changed." in ok.get_data(as_text=True)
    db.session.refresh(owner)
    assert hashing.verify_secret(owner.pin_hash, pepper("730415"))
    assert mails("pin_changed")[-1].recipient == owner.email


def test_a_straight_run_pin_is_refused_with_the_reason(client, owner):
    page = client.post("/auth/security/pin", data={"pin-stepup": PIN, "pin-pin": "987654",
                                                   "pin-pin_confirm": "987654"}).get_data(as_text=True)
    assert "A straight run of digits" in page


def test_a_correct_pin_is_remembered_when_the_new_pin_is_refused(client, owner):
    """The PIN was right, the new PIN too easy: the card asks again only for a new PIN (as the
    Users and Accounts tabs do), and the next try needs no PIN."""
    card = client.post("/auth/security/pin", headers=HX, data={
        "pin-stepup": PIN, "pin-pin": "987654", "pin-pin_confirm": "987654"}).get_data(as_text=True)
    assert "A straight run of digits" in card and 'name="pin-stepup"' not in card
    db.session.rollback()  # a real request's end drops what it did not commit (tests share a session)
    ok = client.post("/auth/security/pin", headers=HX, data={"pin-pin": "730415", "pin-pin_confirm": "730415"})
    assert "Your PIN is changed." in ok.get_data(as_text=True)
    db.session.refresh(owner)
    assert hashing.verify_secret(owner.pin_hash, pepper("730415"))


def test_a_wrong_pin_is_not_remembered(client, owner):
    client.post("/auth/security/pin", data={"pin-stepup": "0000", "pin-pin": "987654", "pin-pin_confirm": "987654"})
    db.session.rollback()
    page = client.post("/auth/security/pin", data={"pin-pin": "730415", "pin-pin_confirm": "730415"})
    assert "Please enter your PIN to confirm." in page.get_data(as_text=True)
    db.session.refresh(owner)
    assert hashing.verify_secret(owner.pin_hash, pepper(PIN))


def test_five_wrong_pins_block_the_sensitive_changes(client, owner):
    for _ in range(5):
        client.post("/auth/security/pin", data={"pin-stepup": "0000", "pin-pin": "730415", "pin-pin_confirm": "730415"})
    page = client.post("/auth/security/pin", data={"pin-stepup": PIN, "pin-pin": "730415",
                                                   "pin-pin_confirm": "730415"}).get_data(as_text=True)
    assert "Sensitive actions are blocked until" in page
    assert mails("stepup_blocked")[-1].recipient == owner.email


# --- questions ------------------------------------------------------------------------------------


QUESTIONS = {"q-question_1": "first_car", "q-answer_1": "Saab", "q-hint_1": "Swedish",
             "q-question_2": "first_school", "q-answer_2": "Ecole Pasteur", "q-hint_2": "A chemist"}


def test_changing_the_questions_needs_the_pin_and_sane_hints(client, owner):
    page = client.post("/auth/security/questions", data=dict(QUESTIONS, **{"q-hint_1": "saab 900"})).get_data(as_text=True)
    assert "The hint must not contain the answer." in page
    ok = client.post("/auth/security/questions", data=dict(QUESTIONS, **{"q-stepup": PIN}))
    assert ok.status_code == 303
    db.session.refresh(owner)
    keys = [(a.question_key, a.hint) for a in owner.security_answers]
    assert keys == [("first_car", "Swedish"), ("first_school", "A chemist")]
    assert hashing.verify_secret(owner.security_answers[1].answer_hash, hashing.normalise_answer("ecole  pasteur"))
    assert mails("recovery_questions_changed")
    page = client.get("/auth/security").get_data(as_text=True)
    assert "What was the make of your first car?" in page and "Saab" not in page  # the answer never shows


def test_a_correct_pin_is_remembered_when_a_hint_is_refused(client, owner):
    card = client.post("/auth/security/questions", headers=HX, data=dict(
        QUESTIONS, **{"q-stepup": PIN, "q-hint_1": "saab 900"})).get_data(as_text=True)
    assert "The hint must not contain the answer." in card and 'name="q-stepup"' not in card
    db.session.rollback()  # a real request's end drops what it did not commit (tests share a session)
    ok = client.post("/auth/security/questions", data=QUESTIONS)
    assert ok.status_code == 303
    db.session.refresh(owner)
    assert [a.hint for a in owner.security_answers] == ["Swedish", "A chemist"]


def test_a_hint_padded_with_spaces_is_saved_collapsed(client, owner):
    """Same as at sign-up: checked ≤ 120 after collapsing spaces, so stored collapsed (the raw
    text overflowed VARCHAR(120) on PostgreSQL). Runs on both databases."""
    padded = "Swedish," + " " * 160 + "  from Trollhättan"
    ok = client.post("/auth/security/questions",
                     data=dict(QUESTIONS, **{"q-stepup": PIN, "q-hint_1": padded}))
    assert ok.status_code == 303
    db.session.refresh(owner)
    assert [a.hint for a in owner.security_answers] == ["Swedish, from Trollhättan", "A chemist"]


# --- two-factor -----------------------------------------------------------------------------------


def test_enrolling_shows_a_qr_code_then_recovery_codes_once_and_ends_other_sessions(app, client, owner):
    others = other_sessions(owner, 2)
    card = client.post("/auth/security/two-factor/start", data={"tfs-stepup": PIN}, headers=HX).get_data(as_text=True)
    assert 'data-twofa="pending"' in card and "data:image/svg+xml" in card
    db.session.refresh(owner)
    secret = totp.secret_of(owner)
    bad = client.post("/auth/security/two-factor/confirm", data={"tfc-code": "000000"}, headers=HX)
    assert "That code is not right" in bad.get_data(as_text=True)
    done = client.post("/auth/security/two-factor/confirm", data={"tfc-code": pyotp.TOTP(secret).now()}, headers=HX)
    text = done.get_data(as_text=True)
    assert 'data-testid="recovery-codes"' in text and text.count("<li><code>") == 10
    db.session.refresh(owner)
    assert totp.is_enabled(owner)
    assert not any(replay(app, t) for t in others)
    again = client.get("/auth/security").get_data(as_text=True)
    assert 'data-testid="recovery-codes"' not in again and "10</strong> unused recovery codes" in again
    assert mails("twofa_enabled")


def test_starting_2fa_needs_the_pin(client, owner):
    card = client.post("/auth/security/two-factor/start", data={"tfs-stepup": "1111"}, headers=HX).get_data(as_text=True)
    assert "That PIN is not right." in card
    db.session.refresh(owner)
    assert owner.totp_secret_enc is None


@pytest.fixture
def owner_with_2fa(owner):
    totp.begin_enrolment(owner)
    totp.enable(owner, now=utcnow())
    db.session.commit()
    return owner


def test_new_recovery_codes_replace_the_old_ones(client, owner_with_2fa):
    card = client.post("/auth/security/two-factor/recovery-codes", data={"tfr-stepup": PIN}, headers=HX)
    assert card.get_data(as_text=True).count("<li><code>") == 10 and events("twofa.recovery_codes_renewed")


def test_turning_2fa_off_needs_the_pin_and_ends_other_sessions(app, client, owner_with_2fa):
    others = other_sessions(owner_with_2fa, 1)
    client.post("/auth/security/two-factor/disable", data={"tfo-stepup": "1111"}, headers=HX)
    assert totp.is_enabled(owner_with_2fa)
    client.post("/auth/security/two-factor/disable", data={"tfo-stepup": PIN}, headers=HX)
    db.session.refresh(owner_with_2fa)
    assert not totp.is_enabled(owner_with_2fa)
    assert not replay(app, others[0])
    assert mails("twofa_disabled")


def test_a_clerk_cannot_turn_2fa_off_when_the_owner_requires_it(client, make, login):
    owner = make.owner()
    owner.master_account.require_clerk_2fa = True
    clerk = make.clerk(owner)
    totp.begin_enrolment(clerk)
    totp.enable(clerk, now=utcnow())
    db.session.commit()
    login(clerk)
    secret = totp.secret_of(clerk)
    client.post("/auth/login/verify", data={"code": pyotp.TOTP(secret).now()})
    card = client.post("/auth/security/two-factor/disable", data={"tfo-stepup": PASSWORD}, headers=HX)
    assert "cannot be turned off" in card.get_data(as_text=True)
    assert totp.is_enabled(clerk)


def test_the_owner_requires_2fa_for_clerks_with_the_pin(client, owner):
    client.post("/auth/security/clerks-two-factor", data={"c2-require": "y", "c2-stepup": "0000"})
    assert not owner.master_account.require_clerk_2fa
    client.post("/auth/security/clerks-two-factor", data={"c2-require": "y", "c2-stepup": PIN})
    db.session.refresh(owner.master_account)
    assert owner.master_account.require_clerk_2fa and events("twofa.required_for_clerks")


# --- sessions and events --------------------------------------------------------------------------


def test_sign_out_everywhere_else(app, client, owner):
    others = other_sessions(owner, 3)
    card = client.post("/auth/security/sessions/others/end", headers=HX).get_data(as_text=True)
    assert "Signed out 3 other sessions." in card
    assert not any(replay(app, t) for t in others)
    assert client.get("/auth/security").status_code == 200
    assert len(live_sessions(owner)) == 1


def test_ending_one_session_and_never_another_users(app, client, owner, make):
    [token] = other_sessions(owner, 1)
    row = live_sessions(owner)[-1]  # the newest: the other device
    stranger = make.owner()
    sessions.start(stranger, now=utcnow())
    db.session.commit()
    stranger_row = live_sessions(stranger)[0]
    assert client.post(f"/auth/security/sessions/{stranger_row.id}/end").status_code == 404
    assert client.post("/auth/security/sessions/99999999999999999999/end").status_code == 404
    client.post(f"/auth/security/sessions/{row.id}/end", headers=HX)
    assert not replay(app, token)


def test_events_are_the_users_own_unless_the_owner_asks_for_all(client, make, owner):
    clerk = make.clerk(owner)
    client.post("/auth/logout")
    client.post("/auth/login", data={"email": clerk.email, "password": "bad"})
    client.post("/auth/login", data={"email": owner.email, "password": PASSWORD})
    mine = client.get("/auth/security/events", headers=HX).get_data(as_text=True)
    assert "Failed login" not in mine and "Logged in" in mine
    everyone = client.get("/auth/security/events?scope=all", headers=HX).get_data(as_text=True)
    assert "Failed login" in everyone and clerk.email in everyone
