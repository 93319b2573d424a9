"""Sign-up (DOMAIN.md §1): the form, its field errors, the neutral answer, the rows it creates."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts.models import LinkedAccount
from portal.auth import hashing, signup
from portal.auth.models import SecurityAnswer, User
from portal.crypto import decrypt, pepper
from portal.extensions import db
from tests.auth.conftest import GOOD_PASSWORD, SIGNUP, events, last_link, mails
from tests.conftest import HX


def post(client, **changes):
    data = dict(SIGNUP, **changes)
    return client.post("/auth/signup", data=data)


def test_the_sign_up_page_lists_the_questions_and_links_back_to_login(client):
    page = client.get("/auth/signup").get_data(as_text=True)
    assert "What was the name of your first pet?" in page and "Create my Master Account" in page
    assert page.count("<option") >= 10
    assert 'href="/auth/login"' in page


def test_login_page_links_to_sign_up_and_forgot_password(client):
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'href="/auth/signup"' in page and 'href="/auth/forgot-password"' in page


def test_sign_up_creates_the_owner_answers_pin_and_pending_account_and_mails_the_link(client, now):
    response = post(client)
    assert response.status_code == 303 and response.headers["Location"].endswith("/auth/signup/check-your-mailbox")
    owner = db.session.scalar(select(User).where(User.email == "nora@shop.test"))
    assert owner.is_owner and owner.confirmed_at is None and owner.password_hash is None
    assert hashing.verify_secret(owner.pin_hash, pepper("482913"))
    answers = db.session.scalars(select(SecurityAnswer).where(SecurityAnswer.user_id == owner.id)
                                 .order_by(SecurityAnswer.position)).all()
    assert [(a.question_key, a.hint) for a in answers] == [
        ("first_pet", "A dog, three letters"), ("birth_city", "Silk and bouchons")]
    assert hashing.verify_secret(answers[0].answer_hash, hashing.normalise_answer("  REX "))
    assert "Rex" not in answers[0].answer_hash
    account = db.session.scalar(select(LinkedAccount).where(LinkedAccount.nickname == "norashop"))
    assert (account.status, account.source, account.timezone) == ("pending", "sandbox", "Europe/Berlin")
    from portal.accounts.services import PALETTE

    assert account.colour == PALETTE[0]  # the Dashboard's first colour, like an added account's
    assert account.master_account_id == owner.master_account_id
    assert "sandbox-pass" in decrypt(account.credentials_enc) and "sandbox-pass" not in account.credentials_enc
    [mail] = mails("signup_confirm")
    assert mail.subject == "Master Account Confirmation" and mail.recipient == "nora@shop.test"
    assert "/auth/set-password?token=" in mail.payload["text"] and mail.payload["html"]
    assert events("signup.created")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Check your mailbox" in page and "nora@shop.test" in page


def test_errors_are_shown_per_field_and_non_secret_input_is_kept(client):
    response = post(client, email="not-an-email", hint_1="It is rex", pin="1234", pin_confirm="1234",
                    question_2="first_pet", nickname="x!")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Please enter a valid email address." in page
    assert "The hint must not contain the answer." in page
    assert "A straight run of digits (like 1234 or 987654) is too easy to guess." in page
    assert "Please choose two different questions." in page
    assert "A ClickBank nickname has 5 to 10 letters and digits (no spaces or symbols)." in page
    assert 'value="Nora"' in page and 'value="Newman"' in page and 'value="Rex"' in page
    assert 'value="1234"' not in page and "sandbox-pass" not in page  # secrets are not sent back
    assert db.session.scalar(select(User)) is None


def test_pins_must_match(client):
    page = post(client, pin_confirm="482914").get_data(as_text=True)
    assert "The two PINs are not the same." in page


def test_htmx_gets_only_the_form_back_with_its_errors(client):
    response = client.post("/auth/signup", data=dict(SIGNUP, pin="1111", pin_confirm="1111"), headers=HX)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page and 'id="signup-form"' in page
    assert "one repeated digit" in page


def test_htmx_success_redirects_the_whole_page(client):
    response = client.post("/auth/signup", data=SIGNUP, headers=HX)
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith("/check-your-mailbox")


def test_a_nickname_already_linked_anywhere_is_refused_clearly(client, make):
    make.account(make.owner(), "norashop")
    page = post(client).get_data(as_text=True)
    assert "This ClickBank account is already linked to a Master Account." in page
    assert db.session.scalar(select(User).where(User.email == "nora@shop.test")) is None


def test_a_removed_nickname_can_be_linked_again(client, make):
    make.account(make.owner(), "norashop", status="removed")
    assert post(client).status_code == 303


def test_a_nickname_held_by_an_abandoned_sign_up_is_released(client, now):
    from unittest import mock

    with mock.patch("portal.auth.views.utcnow", return_value=now):
        post(client)  # never confirmed
    with mock.patch("portal.auth.views.utcnow", return_value=now + timedelta(hours=24, seconds=1)):
        assert post(client, email="rival@shop.test").status_code == 303
    statuses = sorted(a.status for a in db.session.scalars(select(LinkedAccount)))
    assert statuses == ["pending", "removed"]
    assert events("account.released")


def test_a_pending_sign_up_with_a_live_link_keeps_its_nickname(client):
    post(client)
    page = post(client, email="rival@shop.test").get_data(as_text=True)
    assert "already linked" in page


def test_an_already_registered_email_gets_the_same_answer_and_the_owner_a_mail(client, make):
    owner = make.owner(email="nora@shop.test")
    known = post(client, nickname="othershop")
    fresh = post(client, email="fresh@shop.test", nickname="freshshop")
    assert known.status_code == fresh.status_code == 303
    assert known.headers["Location"] == fresh.headers["Location"]
    assert len(db.session.scalars(select(User).where(User.email == "nora@shop.test")).all()) == 1
    [notice] = mails("signup_existing")
    assert notice.recipient == owner.email and "already has a login" in notice.payload["text"]
    assert db.session.scalar(select(LinkedAccount).where(LinkedAccount.nickname == "othershop")) is None


def test_an_unconfirmed_owner_signing_up_again_gets_a_fresh_confirmation_link(client):
    post(client)
    first = last_link("signup_confirm")
    post(client, nickname="othershop")
    assert len(mails("signup_confirm")) == 2 and last_link("signup_confirm") != first
    assert db.session.scalar(select(LinkedAccount).where(LinkedAccount.nickname == "othershop")) is None


def test_signing_up_again_with_identical_details_mails_a_fresh_link_not_a_field_error(client):
    """Someone who lost the confirmation mail posts the very same form again (same email, same
    nickname): their own pending account is not "already linked" — the neutral answer and a
    fresh confirmation link, and nothing new is created."""
    first = post(client)
    old_link = last_link("signup_confirm")
    again = post(client)
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert "already linked" not in again.get_data(as_text=True)
    assert len(mails("signup_confirm")) == 2 and last_link("signup_confirm") != old_link
    [account] = db.session.scalars(select(LinkedAccount)).all()
    assert (account.nickname, account.status) == ("norashop", "pending")
    assert len(db.session.scalars(select(User)).all()) == 1


def test_the_fresh_link_of_a_repeated_sign_up_confirms_the_pending_account(client, open_link):
    post(client)
    post(client)
    open_link(last_link("signup_confirm"))
    done = client.post("/auth/set-password", data={
        "step": "password", "new_password": GOOD_PASSWORD, "confirm_password": GOOD_PASSWORD})
    assert done.status_code == 303
    account = db.session.scalar(select(LinkedAccount).where(LinkedAccount.nickname == "norashop"))
    assert account.status == "linked"


def test_repeating_an_expired_sign_up_keeps_the_own_pending_account(client, now):
    """Past the link's expiry the nickname is free for others — but not taken from the same
    owner signing up again: the account stays theirs and a fresh link goes out."""
    from unittest import mock

    with mock.patch("portal.auth.views.utcnow", return_value=now):
        post(client)
    with mock.patch("portal.auth.views.utcnow", return_value=now + timedelta(hours=30)):
        assert post(client).status_code == 303
    [account] = db.session.scalars(select(LinkedAccount)).all()
    assert account.status == "pending" and not events("account.released")
    assert len(mails("signup_confirm")) == 2


def test_a_confirmed_owner_signing_up_again_with_their_own_nickname_gets_the_neutral_answer(
        client, make):
    owner = make.owner(email="nora@shop.test")
    make.account(owner, "norashop")
    response = post(client)
    assert response.status_code == 303 and response.headers["Location"].endswith("/check-your-mailbox")
    [notice] = mails("signup_existing")
    assert notice.recipient == "nora@shop.test"


def test_someone_elses_nickname_is_refused_even_for_a_registered_email(client, make):
    """The exception is only for the owner's own account: a registered email with another
    Master Account's nickname still gets the field error, as an unknown email does (S12)."""
    make.owner(email="nora@shop.test")
    make.account(make.owner(), "norashop")
    page = post(client).get_data(as_text=True)
    assert "This ClickBank account is already linked to a Master Account." in page
    assert not mails("signup_existing")


def test_a_hint_padded_with_spaces_is_stored_collapsed(client):
    """The rules measure a hint with its spaces collapsed (≤ 120); storing the raw 170
    characters overflowed VARCHAR(120) — a 500 on PostgreSQL. Runs on both databases."""
    padded = "A dog," + " " * 150 + "three   letters "
    assert post(client, hint_1=padded).status_code == 303
    owner = db.session.scalar(select(User).where(User.email == "nora@shop.test"))
    hints = [a.hint for a in db.session.scalars(select(SecurityAnswer).where(
        SecurityAnswer.user_id == owner.id).order_by(SecurityAnswer.position))]
    assert hints == ["A dog, three letters", "Silk and bouchons"]


@pytest.mark.parametrize("state", ["unknown", "existing", "locked", "unconfirmed", "disabled"])
def test_sign_up_does_the_same_hash_work_for_every_email(client, make, now, counting_hasher, state):
    """S12: the response and the argon2 work are the same whatever the email's state."""
    if state != "unknown":
        user = make.owner(email="nora@shop.test")
        if state == "locked":
            user.locked_until = now + timedelta(days=1000)
        if state == "unconfirmed":
            user.confirmed_at = None
        if state == "disabled":
            user.is_enabled = False
        db.session.commit()
    counting_hasher.update(hash=0, verify=0)
    response = post(client, nickname=f"shop{state[:5]}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/auth/signup/check-your-mailbox")
    assert counting_hasher == {"hash": 3, "verify": 0}  # PIN + two answers, on every path


def test_a_logged_in_user_visiting_sign_up_goes_home(client, make, login):
    login(make.owner())
    assert client.get("/auth/signup").status_code in (302, 303)


def test_the_sign_up_service_refuses_a_taken_nickname(make, now):
    make.account(make.owner(), "takenacct")
    data = signup.SignUp(email="a@b.test", first_name="A", last_name="B", questions=[], pin="2468",
                         nickname="TakenAcct", account_password="x")
    with pytest.raises(signup.NicknameTaken):
        signup.sign_up(data, now=now)


def test_confirming_links_the_first_account_and_the_owner_reaches_the_dashboard(client, open_link):
    post(client)
    page = open_link(last_link("signup_confirm"))
    assert page.status_code == 200 and "Confirm your Master Account" in page.get_data(as_text=True)
    done = client.post("/auth/set-password", data={
        "step": "password", "new_password": GOOD_PASSWORD, "confirm_password": GOOD_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"].endswith("/auth/login")
    owner = db.session.scalar(select(User).where(User.email == "nora@shop.test"))
    assert owner.confirmed_at is not None
    account = db.session.scalar(select(LinkedAccount).where(LinkedAccount.nickname == "norashop"))
    assert account.status == "linked" and account.linked_at is not None
    login_page = client.get("/auth/login").get_data(as_text=True)
    assert 'value="nora@shop.test"' in login_page and "confirmed" in login_page
    client.post("/auth/login", data={"email": "nora@shop.test", "password": GOOD_PASSWORD})
    assert client.get("/", follow_redirects=True).request.path == "/dashboard/"


def test_an_unconfirmed_owner_cannot_log_in(client):
    post(client)
    owner = db.session.scalar(select(User).where(User.email == "nora@shop.test"))
    owner.password_hash = hashing.hash_secret(GOOD_PASSWORD)  # even with a password somehow set
    db.session.commit()
    response = client.post("/auth/login", data={"email": "nora@shop.test", "password": GOOD_PASSWORD})
    assert response.status_code == 200 and "Wrong email or password" in response.get_data(as_text=True)


@pytest.mark.parametrize("nickname, accepted", [
    ("abcd", False), ("abcde", True), ("ABCDEFGHIJ", True), ("elevenchars", False),
    ("no space", False), ("x!", False), ("accounts", False), ("ketovital", True),
])
def test_sign_up_and_the_accounts_tab_apply_the_same_nickname_rule(client, make, nickname, accepted):
    """One rule (ClickBank's 5 to 10 letters and digits) and one message on both forms."""
    from portal.accounts import services as accounts

    assert signup.nickname_problem is accounts.nickname_problem
    assert signup.normalise_nickname is accounts.normalise_nickname
    problem = accounts.nickname_problem(nickname)
    assert (problem is None) is accepted
    page = post(client, nickname=nickname).get_data(as_text=True)
    if accepted:
        assert problem is None
    else:
        assert problem in page.replace("&#8220;", "“").replace("&#8221;", "”")
