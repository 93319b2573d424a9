"""Pages opened from emailed links: clerk invitation, password reset (question, 2FA, new
password), PIN reset, and every failure path (expired, used, superseded, other purpose,
email changed, wrong answers, locks) — SECURITY.md S16, S17."""
from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pyotp
import pytest
from sqlalchemy import select

from portal.auth import hashing, services, sessions, tokens, totp
from portal.auth.models import OneTimeToken, SecurityAnswer, TokenPurpose, UserSession
from portal.crypto import pepper
from portal.extensions import db
from tests.auth.conftest import GOOD_PASSWORD, events, last_link, link_in, mails
from tests.factories import PASSWORD, PIN


@pytest.fixture
def now():
    """The real clock: these tests issue links and then open them through the views."""
    from portal.types import utcnow

    return utcnow()


def set_password(client, password=GOOD_PASSWORD, confirm=None):
    return client.post("/auth/set-password", data={
        "step": "password", "new_password": password,
        "confirm_password": password if confirm is None else confirm})


@pytest.fixture
def owner(make):
    owner = make.owner(email="olivia@shop.test")
    for position, (key, answer, hint) in enumerate(
        [("first_pet", "Rex", "A dog, three letters"), ("birth_city", "Lyon", "Silk town")], start=1
    ):
        db.session.add(SecurityAnswer(user_id=owner.id, position=position, question_key=key,
                                      answer_hash=hashing.hash_secret(hashing.normalise_answer(answer)),
                                      hint=hint))
    db.session.commit()
    return owner


def invited_clerk(make, owner, email="casey@shop.test"):
    clerk = make.clerk(owner, email=email)
    clerk.password_hash = clerk.confirmed_at = None  # created on the Users tab, not set up yet
    db.session.commit()
    return clerk


def answer_for(page: str) -> str:
    return "Rex" if "first pet" in page else "Lyon"


# --- clerk invitation -----------------------------------------------------------------------------


def test_a_clerk_sets_their_password_from_the_invitation_and_logs_in(client, make, open_link, now):
    owner = make.owner()
    clerk = invited_clerk(make, owner)
    services.send_invitation(clerk, now=now)
    db.session.commit()
    [mail] = mails("password_invitation")
    assert mail.recipient == "casey@shop.test" and "Olivia Owner" in mail.payload["text"]
    page = open_link(link_in(mail))
    text = page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer" and "Welcome — choose your password" in text
    assert "security question" not in text.lower()  # clerks have none: straight to the password
    assert set_password(client).status_code == 303
    db.session.refresh(clerk)
    assert clerk.confirmed_at is not None and hashing.verify_secret(clerk.password_hash, GOOD_PASSWORD)
    assert client.post("/auth/login", data={"email": clerk.email, "password": GOOD_PASSWORD}).status_code == 303


def test_api_only_users_never_get_an_invitation(make, now):
    with pytest.raises(ValueError):
        services.send_invitation(make.clerk(make.owner(), api_only=True), now=now)


def test_the_server_refuses_a_weak_password_with_the_checklist_messages(client, make, open_link, now):
    clerk = invited_clerk(make, make.owner())
    services.send_invitation(clerk, now=now)
    db.session.commit()
    open_link(last_link("password_invitation"))
    response = set_password(client, "PAssword12!!")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The password does not meet every rule" in page and "not a commonly used password" in page
    assert 'data-rule="common" data-ok="false"' in page  # the same checklist, without JavaScript
    assert "PAssword12!!" not in page  # never echoed back
    mismatch = set_password(client, GOOD_PASSWORD, GOOD_PASSWORD + "x").get_data(as_text=True)
    assert "The two entries are not the same." in mismatch
    db.session.refresh(clerk)
    assert clerk.password_hash is None


def test_the_token_leaves_the_url_and_the_page_sends_no_referrer(client, owner, now):
    services.send_password_reset(owner, now=now)
    db.session.commit()
    first = client.get(last_link("password_reset"))
    assert first.status_code == 303 and first.headers["Location"] == "/auth/set-password"
    assert first.headers["Referrer-Policy"] == "no-referrer"
    page = client.get("/auth/set-password")
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    assert "token" not in page.get_data(as_text=True).lower().replace("csrftoken", "").replace("csrf_token", "")


# --- password reset with the security question ---------------------------------------------------


def test_forgot_password_answers_the_same_for_every_email_with_one_hash_check(client, owner, make, now, counting_hasher):
    """S12: unknown, existing, locked, unconfirmed and disabled emails look the same."""
    locked = make.clerk(owner, email="locked@shop.test", locked_until=now + timedelta(days=999))
    unconfirmed = make.owner(email="new@shop.test")
    unconfirmed.confirmed_at = None
    disabled = make.clerk(owner, email="off@shop.test", enabled=False)
    pages = []
    for email in ("ghost@shop.test", owner.email, locked.email, unconfirmed.email, disabled.email):
        counting_hasher.update(hash=0, verify=0)
        response = client.post("/auth/forgot-password", data={"email": email})
        assert counting_hasher["verify"] == 1
        pages.append(response.get_data(as_text=True).replace(email, "EMAIL"))
    assert len(set(pages)) == 1 and "If that address belongs to a login" in pages[0]
    by_recipient = {m.recipient: m.kind for m in mails()}
    assert by_recipient == {
        owner.email: "password_reset", locked.email: "password_reset",
        unconfirmed.email: "signup_confirm", disabled.email: "password_reset_unavailable",
    }


@pytest.mark.parametrize("path, kind", [("/auth/forgot-password", "password_reset"), ("/auth/forgot-pin", "pin_reset")])
def test_forgot_for_an_unknown_email_does_the_same_work_as_for_a_login(client, owner, db_work, monkeypatch,
                                                                      path, kind):
    """Issue 3 item 4: counted, not timed. Both paths count the recent links, revoke older ones,
    render the mail, write an audit row and commit; only the token and the outbox row (two small
    INSERTs) are the known address's own."""
    from portal import tasks

    kicks = []
    monkeypatch.setattr(tasks, "kick_outbox", lambda *a, **k: kicks.append(1))  # the worker's part
    known = owner.email
    work = {}
    for label, email in (("known", known), ("unknown", "ghost@shop.test")):
        db_work["reset"]()
        kicks.clear()
        client.post(path, data={"email": email})
        work[label] = (dict(db_work["statements"]), db_work["commits"], db_work["renders"], len(kicks))
    assert work["known"][3] == work["unknown"][3] == 1, "both hand the outbox to the worker"
    known_statements, known_commits, known_renders, _ = work["known"]
    unknown_statements, unknown_commits, unknown_renders, _ = work["unknown"]
    assert known_commits == unknown_commits == 1
    assert known_renders == unknown_renders == 1
    own = {"INSERT one_time_tokens": 1, "INSERT outbox": 1}
    assert {k: v for k, v in known_statements.items() if k not in own} == unknown_statements
    assert {k: known_statements.get(k) for k in own} == own
    assert [m.recipient for m in mails(kind)] == [known]  # the decoy queues nothing
    [row] = events("recovery.unknown_email")
    assert row.user_id is None and row.details["what"] == ("pin" if kind == "pin_reset" else "password")
    assert "ghost" not in str(row.details)


def test_no_question_or_hint_is_shown_before_the_link_is_opened(client, owner):
    for path in ("/auth/forgot-password", "/auth/forgot-pin", "/auth/set-password", "/auth/reset-pin"):
        page = client.get(path).get_data(as_text=True)
        assert "first pet" not in page and "A dog, three letters" not in page
    after = client.post("/auth/forgot-password", data={"email": owner.email}).get_data(as_text=True)
    assert "first pet" not in after and "three letters" not in after


def test_reset_asks_one_question_with_its_hint_then_sets_the_password_and_ends_sessions(
    client, owner, make, open_link, now
):
    client.post("/auth/forgot-password", data={"email": owner.email})
    sessions.start(owner, now=now)  # a session elsewhere
    db.session.commit()
    page = open_link(last_link("password_reset")).get_data(as_text=True)
    assert 'data-step="question"' in page
    assert ("A dog, three letters" in page) or ("Silk town" in page)  # the hint of that question
    # The password step cannot be skipped.
    assert set_password(client).status_code == 303
    assert hashing.verify_secret(owner.password_hash, PASSWORD)
    wrong = client.post("/auth/set-password", data={"step": "question", "answer": "Garfield"})
    assert "That answer is not right. 4 tries left." in wrong.get_data(as_text=True)
    right = client.post("/auth/set-password", data={"step": "question", "answer": "  " + answer_for(page).upper()})
    assert right.status_code == 303
    assert 'data-step="password"' in client.get("/auth/set-password").get_data(as_text=True)
    assert set_password(client).status_code == 303
    db.session.refresh(owner)
    assert hashing.verify_secret(owner.password_hash, GOOD_PASSWORD)
    assert db.session.scalar(select(UserSession).where(UserSession.revoked_at.is_(None))) is None
    assert [m.kind for m in mails(to=owner.email)][-1] == "password_changed"
    assert events("password.reset") and events("recovery.failure")


def test_the_question_is_fixed_per_link(client, owner, now):
    services.send_password_reset(owner, now=now)
    db.session.commit()
    client.get(last_link("password_reset"))
    first = client.get("/auth/set-password").get_data(as_text=True)
    again = client.get("/auth/set-password").get_data(as_text=True)
    assert ("first pet" in first) == ("first pet" in again)


def test_five_wrong_answers_lock_recovery_kill_the_link_and_tell_the_owner(client, owner, make, open_link):
    clerk_owner = owner
    client.post("/auth/forgot-password", data={"email": clerk_owner.email})
    open_link(last_link("password_reset"))
    for n in range(4):
        page = client.post("/auth/set-password", data={"step": "question", "answer": f"nope{n}"})
        assert f"{4 - n} tr" in page.get_data(as_text=True)
    fifth = client.post("/auth/set-password", data={"step": "question", "answer": "nope"})
    assert "Recovery is paused for an hour" in fifth.get_data(as_text=True)
    db.session.refresh(owner)
    assert owner.recovery_locked_until is not None
    assert [m.kind for m in mails(to=owner.email)][-1] == "recovery_locked"
    # The link is dead, even with the right answer now.
    again = client.get("/auth/set-password").get_data(as_text=True)
    assert 'data-reason="used"' in again
    # A new link during the lock: the mail explains instead.
    client.post("/auth/forgot-password", data={"email": owner.email})
    assert mails(to=owner.email)[-1].kind == "password_reset_unavailable"
    assert events("recovery.locked")


def test_with_two_factor_on_a_reset_still_needs_a_code(client, owner, open_link, now):
    secret = totp.begin_enrolment(owner)
    totp.enable(owner, now=now)
    db.session.commit()
    client.post("/auth/forgot-password", data={"email": owner.email})
    page = open_link(last_link("password_reset")).get_data(as_text=True)
    client.post("/auth/set-password", data={"step": "question", "answer": answer_for(page)})
    step = client.get("/auth/set-password").get_data(as_text=True)
    assert 'data-step="second_factor"' in step
    assert set_password(client).status_code == 303  # skipping is not possible
    assert hashing.verify_secret(owner.password_hash, PASSWORD)
    wrong = client.post("/auth/set-password", data={"step": "second_factor", "code": "000000"})
    assert "That code is not right." in wrong.get_data(as_text=True)
    client.post("/auth/set-password", data={"step": "second_factor", "code": pyotp.TOTP(secret).now()})
    assert set_password(client).status_code == 303
    db.session.refresh(owner)
    assert hashing.verify_secret(owner.password_hash, GOOD_PASSWORD)
    assert totp.is_enabled(owner)  # still on after the reset


# --- failure paths of the link itself -------------------------------------------------------------


def test_an_expired_link_gets_a_clear_page_and_a_resend_button(client, owner, now):
    with mock.patch("portal.auth.views.utcnow", return_value=now):
        client.post("/auth/forgot-password", data={"email": owner.email})
    link = last_link("password_reset")
    expiry = now + services.RESET_TTL
    with mock.patch("portal.auth.views.utcnow", return_value=expiry + timedelta(seconds=1)):
        page = client.get(client.get(link).headers["Location"]).get_data(as_text=True)
        assert 'data-reason="expired"' in page and "This link has expired" in page
        assert "Send me a new link" in page
        resent = client.post("/auth/resend-link", data={"kind": "password"})
    assert 'data-outcome="sent"' in resent.get_data(as_text=True)
    assert len(mails("password_reset")) == 2 and last_link("password_reset") != link



def test_a_link_still_works_one_second_before_it_expires(client, owner, now):
    with mock.patch("portal.auth.views.utcnow", return_value=now):
        client.post("/auth/forgot-password", data={"email": owner.email})
    with mock.patch("portal.auth.views.utcnow", return_value=now + services.RESET_TTL - timedelta(seconds=1)):
        page = client.get(client.get(last_link("password_reset")).headers["Location"])
    assert 'data-step="question"' in page.get_data(as_text=True)


def test_a_link_works_once(client, make, open_link, now):
    clerk = invited_clerk(make, make.owner())
    services.send_invitation(clerk, now=now)
    db.session.commit()
    link = last_link("password_invitation")
    open_link(link)
    set_password(client)
    page = open_link(link).get_data(as_text=True)
    assert 'data-reason="used"' in page and "already used" in page
    resent = client.post("/auth/resend-link", data={"kind": "password"}).get_data(as_text=True)
    assert 'data-outcome="already_done"' in resent  # the password is set: just log in


def test_only_the_newest_link_works(client, owner, now):
    services.send_password_reset(owner, now=now)
    first = last_link("password_reset")
    services.send_password_reset(owner, now=now)
    db.session.commit()
    page = client.get(client.get(first).headers["Location"]).get_data(as_text=True)
    assert 'data-reason="superseded"' in page and "A newer link was sent" in page


def test_a_link_of_another_purpose_is_never_accepted(client, owner, now):
    confirm = tokens.issue(TokenPurpose.SIGNUP_CONFIRM, user=owner, email=owner.email, now=now)
    pin = tokens.issue(TokenPurpose.PIN_RESET, user=owner, email=owner.email, now=now)
    db.session.commit()
    for path in (f"/auth/reset-pin?token={confirm}", f"/auth/set-password?token={pin}"):
        page = client.get(client.get(path).headers["Location"]).get_data(as_text=True)
        assert 'data-reason="unknown"' in page


def test_a_confirmed_owner_cannot_reuse_a_confirmation_token_as_a_reset(client, owner, now):
    plain = tokens.issue(TokenPurpose.SIGNUP_CONFIRM, user=owner, email=owner.email, now=now)
    db.session.commit()
    page = client.get(client.get(f"/auth/set-password?token={plain}").headers["Location"])
    assert 'data-reason="unknown"' in page.get_data(as_text=True)  # owner already confirmed


def test_changing_the_email_kills_the_link(client, owner, now):
    services.send_password_reset(owner, now=now)
    db.session.commit()
    owner.email = "olivia.new@shop.test"
    db.session.commit()
    page = client.get(client.get(last_link("password_reset")).headers["Location"]).get_data(as_text=True)
    assert 'data-reason="unknown"' in page


def test_a_garbage_or_missing_token_is_a_clear_page(client):
    for path in ("/auth/set-password?token=nope", "/auth/set-password", "/auth/reset-pin?token=" + "x" * 500):
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200 and "This link is not valid" in response.get_data(as_text=True)


def test_reset_links_are_built_from_base_url_never_the_host_header(client, owner):
    client.post("/auth/forgot-password", data={"email": owner.email},
                headers={"Host": "evil.test", "X-Forwarded-Host": "evil.test"})
    [mail] = mails("password_reset")
    assert "evil.test" not in mail.payload["text"] and "evil.test" not in mail.payload["html"]
    assert "http://portal.test/auth/set-password?token=" in mail.payload["text"]


def test_reset_links_are_throttled_per_user(client, owner):
    for _ in range(5):
        client.post("/auth/forgot-password", data={"email": owner.email})
    assert len(mails("password_reset")) == services.MAX_LINKS_PER_HOUR
    assert events("password.reset_throttled")


def test_an_owner_initiated_reset_for_a_clerk_names_them_and_tells_the_owner_when_used(
    client, make, open_link, now
):
    owner = make.owner()
    clerk = make.clerk(owner, email="casey@shop.test")
    assert services.send_password_reset(clerk, now=now, initiated_by=owner)
    db.session.commit()
    [mail] = mails("password_reset")
    for body in (mail.payload["text"], mail.payload["html"]):
        assert "Olivia Owner" in body and "started a password reset" in body
        assert "Someone (hopefully you)" not in body and "If you did not ask for this" not in body
    token = db.session.scalar(select(OneTimeToken).where(OneTimeToken.user_id == clerk.id))
    assert token.expires_at == now + services.RESET_BY_OWNER_TTL  # 24 h, not the self-service 2 h
    assert events("password.reset_requested")[-1].details["by_admin"] is True
    open_link(link_in(mail))
    assert set_password(client).status_code == 303
    assert mails(to=owner.email)[-1].kind == "recovery_used"
    assert mails(to=clerk.email)[-1].kind == "password_changed"


def test_a_reset_lifts_a_login_lock(client, make, open_link, now):
    clerk = make.clerk(make.owner(), email="casey@shop.test", locked_until=now + timedelta(days=999))
    services.send_password_reset(clerk, now=now)
    db.session.commit()
    open_link(last_link("password_reset"))
    set_password(client)
    db.session.refresh(clerk)
    assert clerk.locked_until is None and events("login.unlocked")


# --- forgot PIN -----------------------------------------------------------------------------------


def test_forgot_pin_question_then_new_pin(client, owner, open_link):
    response = client.post("/auth/forgot-pin", data={"email": owner.email})
    assert "If that address belongs to a login" in response.get_data(as_text=True)
    [mail] = mails("pin_reset")
    page = open_link(link_in(mail)).get_data(as_text=True)
    assert "Reset your PIN" in page and 'data-step="question"' in page
    client.post("/auth/reset-pin", data={"step": "question", "answer": answer_for(page)})
    weak = client.post("/auth/reset-pin", data={"step": "pin", "pin": "1111", "pin_confirm": "1111"})
    assert "one repeated digit" in weak.get_data(as_text=True)
    done = client.post("/auth/reset-pin", data={"step": "pin", "pin": "730415", "pin_confirm": "730415"})
    assert done.status_code == 303
    db.session.refresh(owner)
    assert hashing.verify_secret(owner.pin_hash, pepper("730415"))
    assert mails(to=owner.email)[-1].kind == "pin_changed" and events("pin.reset")


def test_forgot_pin_sends_nothing_to_clerks_or_strangers_and_answers_the_same(client, make, counting_hasher):
    owner = make.owner(email="olivia@shop.test")
    clerk = make.clerk(owner, email="casey@shop.test")
    pages = []
    for email in (clerk.email, "ghost@shop.test", owner.email):
        counting_hasher.update(verify=0)
        pages.append(client.post("/auth/forgot-pin", data={"email": email}).get_data(as_text=True))
        assert counting_hasher["verify"] == 1
    assert len(set(pages)) == 1
    assert [m.recipient for m in mails()] == [owner.email]


def test_a_logged_in_owner_finds_their_email_filled_in_on_forgot_pin(client, make, login):
    owner = make.owner(email="olivia@shop.test")
    login(owner)
    assert 'value="olivia@shop.test"' in client.get("/auth/forgot-pin").get_data(as_text=True)
    assert hashing.verify_secret(owner.pin_hash, pepper(PIN))
