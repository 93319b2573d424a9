"""Login with two-factor authentication (SECURITY.md S15), forced enrolment for clerks, and the
gate that keeps a half-logged-in session out of the portal."""
from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from portal.auth import totp
from portal.auth.models import UserSession
from portal.extensions import db
from portal.types import utcnow
from tests.auth.conftest import events, mails
from tests.conftest import HX
from tests.factories import PASSWORD


@pytest.fixture
def owner_2fa(make):
    owner = make.owner(email="olivia@shop.test")
    secret = totp.begin_enrolment(owner)
    codes = totp.enable(owner, now=utcnow())
    db.session.commit()
    return owner, secret, codes


def password_step(client, user, **extra):
    return client.post("/auth/login", data={"email": user.email, "password": PASSWORD, **extra})


def code(secret, seconds=0):
    return pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=seconds))


def test_login_asks_for_the_code_after_the_password(client, owner_2fa):
    owner, secret, _ = owner_2fa
    response = password_step(client, owner)
    assert response.status_code == 303 and response.headers["Location"].endswith("/auth/login/verify")
    page = client.get("/auth/login/verify").get_data(as_text=True)
    assert "Two-factor authentication" in page and owner.email in page
    row = db.session.scalar(select(UserSession))
    assert row.second_factor_done is False
    done = client.post("/auth/login/verify", data={"code": code(secret)})
    assert done.status_code == 303
    db.session.refresh(row)
    assert row.second_factor_done is True
    assert client.get("/dashboard/").status_code == 200
    assert events("login.second_factor")


def test_before_the_code_the_portal_treats_the_session_as_logged_out(client, owner_2fa):
    owner, _, _ = owner_2fa
    password_step(client, owner)
    for path in ("/dashboard/", "/tickets/", "/auth/security", "/"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/auth/login/verify")
    htmx = client.get("/dashboard/", headers=HX)
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].endswith("/auth/login/verify")
    # Public pages show no tabs or name of the half-logged-in user.
    login_page = client.get("/auth/login").get_data(as_text=True)
    assert 'data-testid="tabs"' not in login_page and "Olivia" not in login_page


def test_a_code_is_accepted_with_one_step_of_drift_but_never_twice(client, owner_2fa):
    owner, secret, _ = owner_2fa
    password_step(client, owner)
    early = client.post("/auth/login/verify", data={"code": code(secret, -30)})
    assert early.status_code == 303
    client.post("/auth/logout")
    password_step(client, owner)
    replay = client.post("/auth/login/verify", data={"code": code(secret, -30)})
    assert replay.status_code == 200 and "That code is not right" in replay.get_data(as_text=True)
    far = client.post("/auth/login/verify", data={"code": code(secret, 90)})
    assert far.status_code == 200  # outside the ±1 step window
    assert client.post("/auth/login/verify", data={"code": code(secret)}).status_code == 303


def test_a_recovery_code_works_once_and_the_user_is_told(client, owner_2fa):
    owner, _, codes = owner_2fa
    password_step(client, owner)
    assert client.post("/auth/login/verify", data={"code": codes[0]}).status_code == 303
    assert mails("twofa_recovery_code_used")[-1].recipient == owner.email
    client.post("/auth/logout")
    password_step(client, owner)
    assert client.post("/auth/login/verify", data={"code": codes[0]}).status_code == 200


def test_five_wrong_codes_lock_the_login_and_end_the_half_session(client, owner_2fa):
    owner, secret, _ = owner_2fa
    password_step(client, owner)
    for _ in range(4):
        assert client.post("/auth/login/verify", data={"code": "000000"}).status_code == 200
    fifth = client.post("/auth/login/verify", data={"code": "000000"})
    assert fifth.status_code == 303 and fifth.headers["Location"].endswith("/auth/login")
    db.session.refresh(owner)
    assert owner.locked_until is not None
    assert db.session.scalar(select(UserSession).where(UserSession.revoked_at.is_(None))) is None
    # Locked: the password (and then a right code) is refused with the generic message.
    assert password_step(client, owner).status_code == 200


def test_a_half_session_expires_after_ten_minutes(client, owner_2fa):
    owner, secret, _ = owner_2fa
    password_step(client, owner)
    row = db.session.scalar(select(UserSession))
    row.created_at = row.created_at - timedelta(minutes=11)
    db.session.commit()
    response = client.get("/auth/login/verify")
    assert response.headers["Location"].endswith("/auth/login")


def test_logout_from_the_code_page_ends_the_half_session(client, owner_2fa):
    owner, _, _ = owner_2fa
    password_step(client, owner)
    client.post("/auth/logout")
    assert db.session.scalar(select(UserSession).where(UserSession.revoked_at.is_(None))) is None
    assert client.get("/auth/login/verify").headers["Location"].endswith("/auth/login")


def test_remember_me_is_granted_only_after_the_code(client, owner_2fa):
    owner, secret, _ = owner_2fa
    first = password_step(client, owner, remember="y")
    assert "remember_token" not in first.headers.get("Set-Cookie", "")
    done = client.post("/auth/login/verify", data={"code": code(secret)})
    assert "remember_token=" in " ".join(done.headers.getlist("Set-Cookie"))


def test_the_next_page_is_kept_through_the_code_step(client, owner_2fa):
    owner, secret, _ = owner_2fa
    client.post("/auth/login?next=/auth/security", data={
        "email": owner.email, "password": PASSWORD, "next": "/auth/security"})
    done = client.post("/auth/login/verify", data={"code": code(secret)})
    assert done.headers["Location"].endswith("/auth/security")


# --- the owner requires 2FA for clerks ------------------------------------------------------------


@pytest.fixture
def strict(make):
    owner = make.owner()
    owner.master_account.require_clerk_2fa = True
    account = make.account(owner)
    clerk = make.clerk(owner, accounts=[account], email="casey@shop.test")
    db.session.commit()
    return owner, clerk


def test_a_clerk_without_2fa_must_set_it_up_at_login(client, strict):
    _, clerk = strict
    response = password_step(client, clerk)
    assert response.headers["Location"].endswith("/auth/login/two-factor-setup")
    assert client.get("/tickets/").headers["Location"].endswith("/auth/login/two-factor-setup")
    page = client.get("/auth/login/two-factor-setup").get_data(as_text=True)
    assert "requires two-factor authentication for every clerk" in page
    client.post("/auth/login/two-factor-setup", data={"action": "start"})
    page = client.get("/auth/login/two-factor-setup").get_data(as_text=True)
    assert 'data-testid="totp-qr"' in page and "data:image/svg+xml" in page
    db.session.refresh(clerk)
    secret = totp.secret_of(clerk)
    assert secret.upper()[:4] in page.replace(" ", "")
    wrong = client.post("/auth/login/two-factor-setup", data={"action": "confirm", "code": "123456"})
    assert "That code is not right" in wrong.get_data(as_text=True)
    done = client.post("/auth/login/two-factor-setup", data={"action": "confirm", "code": code(secret)})
    text = done.get_data(as_text=True)
    assert 'data-testid="recovery-codes"' in text and text.count("<code>") >= 10
    assert client.get("/tickets/").status_code == 200
    assert mails("twofa_enabled")[-1].recipient == clerk.email


def test_a_logged_in_clerk_is_sent_to_set_up_when_the_owner_starts_requiring_it(client, make, login):
    owner = make.owner()
    account = make.account(owner)
    clerk = make.clerk(owner, accounts=[account])
    login(clerk)
    assert client.get("/tickets/").status_code == 200
    owner.master_account.require_clerk_2fa = True
    db.session.commit()
    assert client.get("/tickets/").headers["Location"].endswith("/auth/login/two-factor-setup")


def test_the_owner_is_not_forced(client, strict, login):
    owner, _ = strict
    login(owner)
    assert client.get("/dashboard/").status_code == 200
