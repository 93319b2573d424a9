"""The Users tab over HTTP: every action, its refusals, full pages and htmx fragments."""
from __future__ import annotations

import html
import re
from datetime import timedelta
from unittest import mock

import pytest
from sqlalchemy import func, select

from portal.accounts.models import ClerkAccountAccess
from portal.audit import AuditEvent
from portal.auth.models import OneTimeToken, TokenPurpose, User, UserSession
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.users import apikeys
from portal.users.models import ApiKey
from tests.conftest import HX, HX_BOOSTED
from tests.factories import PASSWORD, PIN

KEY_RE = re.compile(r"mak_[A-Za-z0-9_-]{43}")


def client_for(app, user, password=PASSWORD):
    """A second browser: its own cookies, logged in through the real form."""
    client = app.test_client()
    response = client.post("/auth/login", data={"email": user.email, "password": password})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    return client


def audit_events(user, event):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.user_id == user.id,
                                                       AuditEvent.event == event)).all()


def mail_to(email):
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email)).all()


def new_user(team, **overrides):
    data = {"email": "nina@team.test", "first_name": "Nina", "last_name": "New",
            "description": "Support clerk", "perms": ["orders_tickets"],
            "accounts": [str(team.keto.id)], "stepup": PIN}
    data.update(overrides)
    return data


def by_email(email):
    return db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


# --- the list ------------------------------------------------------------------------------------


def test_owner_sees_every_user_with_what_they_may_do(team, as_owner, client, now):
    team.clerk.last_login_at = now
    team.clerk.totp_enabled_at = now
    db.session.commit()
    body = client.get("/users/").get_data(as_text=True)
    for user in (team.owner, team.supervisor, team.clerk):
        assert user.email in body
    assert team.other_owner.email not in body  # another Master Account's people never show
    row = re.search(r'<tr id="user-%d".*?</tr>' % team.clerk.id, body, re.S).group(0)
    assert "Orders/Tickets" in row and "ketovital" in row and "Support" not in row
    assert 'data-status="active"' in row and ">On<" in row and "2026-11-18" in row
    assert "All permissions" in body  # the owner's row


def test_deleted_users_are_hidden(team, as_owner, client, now):
    team.clerk.deleted_at = now
    db.session.commit()
    assert team.clerk.email not in client.get("/users/").get_data(as_text=True)


@pytest.mark.parametrize("query, expected", [
    ("tina", {"tina@team.test"}),
    ("TEAM.TEST", {"owner@team.test", "sue@team.test", "tina@team.test"}),
    ("visor", {"sue@team.test"}),
    ("Sue Vis", {"sue@team.test"}),
    ("nobody-like-this", set()),
    ("%", set()),  # LIKE wildcards are literal
])
def test_filter_by_text(team, as_owner, client, query, expected):
    body = client.get("/users/", query_string={"q": query}).get_data(as_text=True)
    assert set(re.findall(r'data-email="([^"]+)"', body)) == expected


def test_filter_by_permission_counts_the_owner_who_holds_them_all(team, as_owner, client):
    body = client.get("/users/?perm=manage_users").get_data(as_text=True)
    assert set(re.findall(r'data-email="([^"]+)"', body)) == {"owner@team.test", "sue@team.test"}
    body = client.get("/users/?perm=no_such_perm").get_data(as_text=True)  # ignored, not a 500
    assert "tina@team.test" in body


def test_filter_by_status(team, as_owner, client):
    team.clerk.is_enabled = False
    db.session.commit()
    body = client.get("/users/?status=disabled").get_data(as_text=True)
    assert set(re.findall(r'data-email="([^"]+)"', body)) == {"tina@team.test"}


def test_typing_in_the_filter_swaps_only_the_table(team, as_owner, client):
    response = client.get("/users/?q=tina", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and 'id="user-table"' in body
    assert "tina@team.test" in body and "sue@team.test" not in body
    assert "HX-Request" in response.headers["Vary"]
    boosted = client.get("/users/?q=tina", headers=HX_BOOSTED).get_data(as_text=True)
    assert "<html" in boosted


def test_supervisor_sees_how_many_accounts_they_cannot_see(team, as_supervisor, client, make):
    refunder = make.clerk(team.owner, email="rafa@team.test", accounts=[team.keto, team.mind])
    body = client.get("/users/").get_data(as_text=True)
    row = re.search(r'<tr id="user-%d".*?</tr>' % refunder.id, body, re.S).group(0)
    assert "ketovital" in row and "mindshift" not in row and "+1 other" in row


def test_clerks_without_manage_users_cannot_open_the_tab(team, login, client):
    login(team.clerk)
    assert client.get("/users/").status_code == 403
    assert client.get(f"/users/{team.clerk.id}").status_code == 403
    assert client.post("/users/new", data={}).status_code == 403


# --- creating ------------------------------------------------------------------------------------


def test_owner_creates_a_web_user_who_gets_an_invitation_and_a_key_shown_once(team, as_owner, client, now):
    response = client.post("/users/new", data=new_user(team), headers=HX_BOOSTED)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="user-created"' in body
    user = by_email("nina@team.test")
    assert response.headers["HX-Push-Url"] == f"/users/{user.id}"
    key = KEY_RE.search(body).group(0)
    assert apikeys.hash_key(key) == apikeys.current(user).key_hash
    assert (user.first_name, user.last_name, user.description) == ("Nina", "New", "Support clerk")
    assert user.perm_orders_tickets and not user.perm_search_orders and not user.perm_manage_users
    assert user.role == "clerk" and user.created_by_id == team.owner.id
    assert user.password_hash is None and user.confirmed_at is None and not user.is_api_only
    granted = db.session.scalars(select(ClerkAccountAccess.linked_account_id)
                                 .where(ClerkAccountAccess.user_id == user.id)).all()
    assert granted == [team.keto.id]
    assert len(mail_to("nina@team.test")) == 1
    token = db.session.scalar(select(OneTimeToken).where(OneTimeToken.user_id == user.id))
    assert token.purpose == TokenPurpose.SET_PASSWORD and token.used_at is None
    created = audit_events(user, "user.created")
    assert created[0].actor_id == team.owner.id and created[0].details["perms"] == ["orders_tickets"]
    # The key is shown once: the user's page shows only its first characters.
    page = client.get(f"/users/{user.id}").get_data(as_text=True)
    assert key not in page and key[:10] in page


def test_a_new_web_user_cannot_log_in_before_choosing_a_password(team, as_owner, client, app):
    client.post("/users/new", data=new_user(team))
    response = app.test_client().post("/auth/login", data={"email": "nina@team.test", "password": ""})
    assert response.status_code == 200


def test_duplicate_email_gets_a_clear_field_error_and_keeps_the_input(team, as_owner, client):
    response = client.post("/users/new", data=new_user(team, email="TINA@Team.Test", first_name="Tina2"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "A user with this email address already exists." in body
    assert 'value="Tina2"' in body and 'value="TINA@Team.Test"' in body
    assert db.session.scalar(select(func.count(User.id)).where(User.first_name == "Tina2")) == 0


def test_an_email_in_another_master_account_is_refused_without_saying_it_exists(team, as_owner, client):
    """Emails are unique portal-wide, but a clerk must not learn which addresses have logins at
    other vendors: the answer is the same neutral words, and the attempt is audited."""
    response = client.post("/users/new", data=new_user(team, email="Boss@Elsewhere.test", first_name="Probe"))
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "already exists" not in body and "another Master Account" not in body
    assert "This email address can't be used for a new user; use another address." in body
    assert 'value="Probe"' in body
    assert db.session.scalar(select(func.count(User.id)).where(User.first_name == "Probe")) == 0
    [row] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "user.create_refused")).all()
    assert row.actor_id == team.owner.id and row.master_account_id == team.owner.master_account_id
    assert row.details == {"reason": "email_unavailable", "email": "boss@elsewhere.test"}


def test_an_email_of_the_own_master_account_still_gets_the_clear_message(team, as_owner, client):
    body = client.post("/users/new", data=new_user(team, email="tina@team.test")).get_data(as_text=True)
    assert "A user with this email address already exists." in body
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event == "user.create_refused")) is None


def test_required_fields_and_a_valid_email(team, as_owner, client):
    body = client.post("/users/new", data=new_user(team, email="not-an-email", first_name="")).get_data(as_text=True)
    assert "Please enter a valid email address." in body and "This field is required." in body
    assert by_email("not-an-email") is None


def test_api_only_user_gets_no_password_no_invitation_and_cannot_log_in(team, as_owner, client, app):
    data = new_user(team, email="robot@team.test", api_only="y", perms=["api_read"])
    body = client.post("/users/new", data=data).get_data(as_text=True)
    user = by_email("robot@team.test")
    assert user.is_api_only and user.password_hash is None and user.confirmed_at is not None
    assert mail_to("robot@team.test") == []
    assert db.session.scalar(select(OneTimeToken).where(OneTimeToken.user_id == user.id)) is None
    key = KEY_RE.search(body).group(0)
    assert apikeys.authenticate(key, now=user.created_at) == user
    assert "they never log in" in body
    login = app.test_client().post("/auth/login", data={"email": "robot@team.test", "password": PASSWORD})
    assert login.status_code == 200 and "Wrong email or password" in login.get_data(as_text=True)
    page = client.get(f"/users/{user.id}").get_data(as_text=True)
    assert "Reset password" not in page and "Resend invitation" not in page


@pytest.mark.parametrize("perms, message", [
    (["orders_tickets"], "needs API Read or API Read/Write"),
    (["api_read", "manage_users"], "cannot manage users"),
])
def test_api_only_users_need_an_api_permission_and_cannot_manage_users(team, as_owner, client, perms, message):
    data = new_user(team, email="robot@team.test", api_only="y", perms=perms)
    assert message in client.post("/users/new", data=data).get_data(as_text=True)
    assert by_email("robot@team.test") is None


def test_supervisor_grants_only_permissions_they_hold(team, as_supervisor, client):
    data = new_user(team, perms=["orders_tickets", "refund_authority"], stepup=PASSWORD)
    body = client.post("/users/new", data=data).get_data(as_text=True)
    assert "You can only grant permissions you hold yourself (not: Refund authority)." in body
    assert by_email("nina@team.test") is None
    # The form shows it, but it cannot be ticked.
    form = client.get("/users/new").get_data(as_text=True)
    assert re.search(r'value="refund_authority"[^>]*disabled', form)


@pytest.mark.parametrize("which", ["mind", "other_account", "bogus"])
def test_supervisor_grants_only_accounts_they_hold(team, as_supervisor, client, which):
    account_id = "nope" if which == "bogus" else str(getattr(team, which).id)
    data = new_user(team, accounts=[str(team.keto.id), account_id], stepup=PASSWORD)
    response = client.post("/users/new", data=data)
    assert response.status_code == 200 and 'data-testid="accounts-error"' in response.get_data(as_text=True)
    assert by_email("nina@team.test") is None


def test_supervisor_creates_a_clerk_within_their_own_rights(team, as_supervisor, client):
    data = new_user(team, perms=["orders_tickets", "manage_users"], stepup=PASSWORD)
    assert 'data-testid="user-created"' in client.post("/users/new", data=data).get_data(as_text=True)
    assert by_email("nina@team.test").perm_manage_users


def test_creating_needs_the_step_up_re_check(team, as_owner, client):
    body = client.post("/users/new", data=new_user(team, stepup="")).get_data(as_text=True)
    assert "Please enter your PIN to confirm this change." in body
    assert by_email("nina@team.test") is None
    assert team.owner.pin_failures == 0  # an empty box is not a wrong PIN
    body = client.post("/users/new", data=new_user(team, stepup="0000")).get_data(as_text=True)
    assert "That PIN is not right." in body and by_email("nina@team.test") is None
    db.session.refresh(team.owner)
    assert team.owner.pin_failures == 1


def test_a_correct_pin_counts_even_when_another_field_was_wrong(team, as_owner, client):
    client.post("/users/new", data=new_user(team, email="bad"))
    body = client.post("/users/new", data=new_user(team, stepup="")).get_data(as_text=True)
    assert 'data-testid="user-created"' in body


def test_extra_fields_cannot_sneak_in(team, as_owner, client):
    """S3 mass assignment: only the form's fields are read."""
    data = new_user(team, role="owner", master_account_id=str(team.other_owner.master_account_id),
                    is_enabled="", password_hash="x", perm_refund_authority="y", confirmed_at="2020")
    client.post("/users/new", data=data)
    user = by_email("nina@team.test")
    assert user.role == "clerk" and user.master_account_id == team.owner.master_account_id
    assert user.is_enabled and user.password_hash is None and not user.perm_refund_authority


# --- permissions ---------------------------------------------------------------------------------


def perm_data(*perms, accounts=(), stepup=PIN):
    return {"perm-perms": list(perms), "perm-accounts": [str(a.id) for a in accounts],
            "perm-stepup": stepup}


def test_owner_changes_permissions_and_accounts(team, as_owner, client):
    data = perm_data("orders_tickets", "search_orders", accounts=[team.mind])
    response = client.post(f"/users/{team.clerk.id}/permissions", data=data)
    assert response.status_code == 303 and response.headers["Location"] == f"/users/{team.clerk.id}"
    db.session.refresh(team.clerk)
    assert team.clerk.perm_search_orders
    granted = db.session.scalars(select(ClerkAccountAccess.linked_account_id)
                                 .where(ClerkAccountAccess.user_id == team.clerk.id)).all()
    assert granted == [team.mind.id]
    event = audit_events(team.clerk, "user.permissions_changed")[0]
    assert event.details == {
        "perms_before": ["orders_tickets"], "perms_after": ["orders_tickets", "search_orders"],
        "accounts_added": ["mindshift"], "accounts_removed": ["ketovital"],
    }
    page = client.get(f"/users/{team.clerk.id}").get_data(as_text=True)
    assert "Permissions changed: +Search Orders, +mindshift, −ketovital" in page


def test_saving_permissions_from_htmx_swaps_the_card(team, as_owner, client):
    data = perm_data("orders_tickets", "search_orders", accounts=[team.keto])
    response = client.post(f"/users/{team.clerk.id}/permissions", data=data, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert 'id="permissions-card"' in body and "Permissions saved" in body
    # The re-check was just done, so the card does not ask again.
    assert 'name="perm-stepup"' not in body


def test_changing_permissions_needs_the_step_up_re_check(team, as_owner, client):
    data = perm_data("orders_tickets", "refund_authority", accounts=[team.keto], stepup="")
    response = client.post(f"/users/{team.clerk.id}/permissions", data=data, headers=HX)
    assert response.status_code == 200 and "Please enter your PIN" in response.get_data(as_text=True)
    db.session.refresh(team.clerk)
    assert not team.clerk.perm_refund_authority


def test_supervisor_cannot_raise_a_clerk_above_themselves(team, as_supervisor, client):
    data = perm_data("orders_tickets", "refund_authority", accounts=[team.keto], stepup=PASSWORD)
    body = client.post(f"/users/{team.clerk.id}/permissions", data=data).get_data(as_text=True)
    assert "You can only grant permissions you hold yourself" in body
    data = perm_data("orders_tickets", accounts=[team.keto, team.mind], stepup=PASSWORD)
    assert client.post(f"/users/{team.clerk.id}/permissions", data=data).status_code == 200
    db.session.refresh(team.clerk)
    assert not team.clerk.perm_refund_authority
    assert audit_events(team.clerk, "user.permissions_changed") == []


def test_supervisor_changes_a_clerk_within_their_rights(team, as_supervisor, client):
    data = perm_data("orders_tickets", "search_orders", accounts=[team.keto], stepup=PASSWORD)
    assert client.post(f"/users/{team.clerk.id}/permissions", data=data).status_code == 303
    db.session.refresh(team.clerk)
    assert team.clerk.perm_search_orders


@pytest.mark.parametrize("target", ["owner", "supervisor", "stronger"])
def test_supervisor_never_edits_the_owner_themselves_or_someone_holding_more(team, as_supervisor, client, make, target):
    if target == "stronger":
        user = make.clerk(team.owner, perms=("orders_tickets", "refund_authority"), accounts=[team.keto])
    else:
        user = getattr(team, target)
    page = client.get(f"/users/{user.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="read-only-note"' in body
    assert 'action="/users/%d/permissions"' % user.id not in body
    # Someone they may only look at keeps their security history and key to themselves.
    assert "Recent activity" not in body and 'id="api-key-card"' not in body
    for action, data in [("permissions", perm_data("orders_tickets", stepup=PASSWORD)),
                         ("details", {"first_name": "X", "last_name": "Y"}),
                         ("reset-password", {}), ("disable", {}), ("enable", {}),
                         ("delete", {"delete-stepup": PASSWORD}), ("api-key", {"key-stepup": PASSWORD}),
                         ("two-factor/reset", {"tfr-stepup": PASSWORD})]:
        assert client.post(f"/users/{user.id}/{action}", data=data).status_code == 403, action
    db.session.refresh(user)
    assert user.is_enabled and user.deleted_at is None


def test_users_of_another_master_account_are_not_found(team, as_owner, client, make):
    stranger = make.clerk(team.other_owner, accounts=[team.other_account])
    assert client.get(f"/users/{stranger.id}").status_code == 404
    assert client.post(f"/users/{stranger.id}/disable").status_code == 404
    assert client.get(f"/users/{stranger.id}").get_data() == client.get("/users/999999").get_data()
    assert client.get(f"/users/{2**70}").status_code == 404


def test_permission_changes_take_effect_at_the_targets_next_request(team, app, as_owner, client, make, now):
    """No permissions in the session: the principal is recomputed on every request."""
    sale = make.sale(team.keto)
    ticket = make.ticket(sale, now=now)
    tina = client_for(app, team.clerk)
    assert tina.get(f"/tickets/{ticket.id}").status_code == 200
    # The owner takes ketovital away (and gives mindshift): Tina's very next click is refused.
    client.post(f"/users/{team.clerk.id}/permissions",
                data=perm_data("orders_tickets", accounts=[team.mind]))
    assert tina.get(f"/tickets/{ticket.id}").status_code == 404
    # ...and without Orders/Tickets she loses the tab itself.
    client.post(f"/users/{team.clerk.id}/permissions", data=perm_data(accounts=[team.mind]))
    assert tina.get("/tickets/").status_code == 403
    assert "Tickets</a>" not in tina.get("/auth/security").get_data(as_text=True)


def test_grants_of_removed_accounts_survive_a_save(team, as_owner, client, make):
    old = make.account(team.owner, "oldshop", status="removed")
    db.session.add(ClerkAccountAccess(user_id=team.clerk.id, linked_account_id=old.id))
    db.session.commit()
    client.post(f"/users/{team.clerk.id}/permissions", data=perm_data("orders_tickets", accounts=[team.keto]))
    granted = set(db.session.scalars(select(ClerkAccountAccess.linked_account_id)
                                     .where(ClerkAccountAccess.user_id == team.clerk.id)))
    assert granted == {team.keto.id, old.id}


def test_owner_edits_details(team, as_owner, client):
    response = client.post(f"/users/{team.clerk.id}/details",
                           data={"first_name": "Tina", "last_name": "Tickets-Smith", "description": "Lead"},
                           headers=HX)
    assert response.status_code == 200 and "Details saved." in response.get_data(as_text=True)
    db.session.refresh(team.clerk)
    assert team.clerk.last_name == "Tickets-Smith" and team.clerk.description == "Lead"
    assert audit_events(team.clerk, "user.details_changed")[0].details == {"fields": ["description", "last_name"]}
    bad = client.post(f"/users/{team.clerk.id}/details", data={"first_name": "", "last_name": "x" * 81})
    assert bad.status_code == 200 and "This field is required." in bad.get_data(as_text=True)


# --- reset password, enable, disable -------------------------------------------------------------


def reset_at(client, user, moment, **kw):
    """POST "Reset password" with the view's clock at ``moment`` (explicit clock: no sleeping)."""
    with mock.patch("portal.users.views.utcnow", return_value=moment):
        return client.post(f"/users/{user.id}/reset-password", **kw)


def test_reset_password_emails_a_single_use_link(team, as_owner, client, now):
    response = reset_at(client, team.clerk, now)
    assert response.status_code == 303
    [mail] = mail_to(team.clerk.email)
    token = db.session.scalar(select(OneTimeToken).where(OneTimeToken.user_id == team.clerk.id))
    assert token.purpose == TokenPurpose.PASSWORD_RESET
    assert token.expires_at == now + timedelta(hours=24)  # an admin-started reset: 24 h, not 2 h
    [requested] = audit_events(team.clerk, "password.reset_requested")
    assert requested.actor_id == team.owner.id and requested.details["by_admin"] is True
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "A password reset link was sent" in page and "expires in 24 hours" in page
    client_for(client.application, team.clerk)  # the current password keeps working meanwhile


def _rows_about(user):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.user_id == user.id)
                              .order_by(AuditEvent.id)).all()


def test_one_reset_press_is_one_audit_row(team, as_owner, client, now):
    """One action, one row (the auth service's, naming who started it): the user's activity list
    and the security page each show one line for it."""
    before = len(_rows_about(team.clerk))
    reset_at(client, team.clerk, now)
    [row] = _rows_about(team.clerk)[before:]
    assert (row.event, row.actor_id, row.details["by_admin"]) == (
        "password.reset_requested", team.owner.id, True)
    page = client.get(f"/users/{team.clerk.id}").get_data(as_text=True)
    activity = re.search(r'<ul class="list-group list-group-flush small activity-list">.*?</ul>', page, re.S).group(0)
    assert activity.count("Password reset link sent") == 1 and "reset requested" not in activity.lower()


def test_one_resent_invitation_is_one_audit_row(team, as_owner, client):
    client.post("/users/new", data=new_user(team))
    user = by_email("nina@team.test")
    before = len(_rows_about(user))
    client.post(f"/users/{user.id}/reset-password")
    [row] = _rows_about(user)[before:]
    assert (row.event, row.actor_id) == ("password.invitation_sent", team.owner.id)
    page = client.get(f"/users/{user.id}").get_data(as_text=True)
    activity = re.search(r'<ul class="list-group list-group-flush small activity-list">.*?</ul>', page, re.S).group(0)
    assert activity.count("Invitation sent") == 2  # created, then sent again: one line each


def test_the_reset_mail_says_who_started_it_and_why(team, as_owner, client, now):
    reset_at(client, team.clerk, now)
    [mail] = mail_to(team.clerk.email)
    as_text = html.unescape(re.sub(r"<[^>]+>", "", mail.payload["html"]))
    for body in (mail.payload["text"], as_text):
        assert ("Olivia Owner (the owner of your Master Account) started a password reset for your "
                "Master Account Portal login") in body
        assert "ask Olivia Owner (owner@team.test)" in body
        assert "2026-11-19 12:00 UTC" in body  # now + 24 h
        assert "Someone (hopefully you)" not in body and "If you did not ask for this" not in body


def test_a_reset_started_by_a_manage_users_clerk_names_them(team, as_supervisor, client, now):
    reset_at(client, team.clerk, now)
    [mail] = mail_to(team.clerk.email)
    assert ("Sue Visor (who manages the users of your Master Account) started a password reset"
            in mail.payload["text"])
    [requested] = audit_events(team.clerk, "password.reset_requested")
    assert requested.actor_id == team.supervisor.id and requested.details["by_admin"] is True


def test_the_fourth_reset_in_an_hour_is_refused_saying_when_to_try_again(team, as_owner, client,
                                                                         now):
    team.owner.timezone = "Europe/Berlin"  # the viewer's zone: 13:00 UTC is 14:00 CET
    db.session.commit()
    for minutes in (0, 10, 20):
        page = reset_at(client, team.clerk, now + timedelta(minutes=minutes), follow_redirects=True)
        assert "A password reset link was sent" in page.get_data(as_text=True)
    for minutes, left in ((30, "in 30 minutes"), (59, "in 1 minute")):
        page = reset_at(client, team.clerk, now + timedelta(minutes=minutes), follow_redirects=True)
        body = html.unescape(page.get_data(as_text=True))
        assert "A password reset link was sent" not in body
        assert ("No new link was sent: tina@team.test already got 3 password reset links in "
                "the last hour") in body
        assert f"try again after 14:00 CET ({left})" in body
    assert len(mail_to(team.clerk.email)) == 3
    assert len(audit_events(team.clerk, "password.reset_requested")) == 3
    assert len(audit_events(team.clerk, "password.reset_throttled")) == 2
    # At the time the message named, the oldest link has left the hour: a new one goes out.
    page = reset_at(client, team.clerk, now + timedelta(hours=1), follow_redirects=True)
    assert "A password reset link was sent" in page.get_data(as_text=True)
    assert len(mail_to(team.clerk.email)) == 4


def test_reset_for_someone_who_never_chose_a_password_resends_the_invitation(team, as_owner, client):
    client.post("/users/new", data=new_user(team))
    user = by_email("nina@team.test")
    first = db.session.scalar(select(OneTimeToken).where(OneTimeToken.user_id == user.id))
    client.post(f"/users/{user.id}/reset-password")
    db.session.refresh(first)
    assert first.used_at is not None  # the first invitation's link no longer works
    tokens = db.session.scalars(select(OneTimeToken).where(OneTimeToken.user_id == user.id,
                                                           OneTimeToken.used_at.is_(None))).all()
    assert [t.purpose for t in tokens] == [TokenPurpose.SET_PASSWORD]
    assert len(mail_to("nina@team.test")) == 2
    assert audit_events(user, "password.invitation_sent")


def test_a_resent_invitation_names_who_resent_it(team, app, as_owner, client):
    client.post("/users/new", data=new_user(team))
    user = by_email("nina@team.test")
    sue = client_for(app, team.supervisor)  # Manage Users on ketovital, where Nina works
    assert sue.post(f"/users/{user.id}/reset-password").status_code == 303
    first, second = sorted(mail_to("nina@team.test"), key=lambda m: m.id)
    assert "Olivia Owner created a login for you" in first.payload["text"]
    assert "Sue Visor sent you a new invitation" in second.payload["text"]
    assert "Olivia Owner" not in second.payload["text"]
    assert audit_events(user, "password.invitation_sent")[-1].actor_id == team.supervisor.id


def test_api_only_users_have_no_password_to_reset(team, as_owner, client, make):
    robot = make.clerk(team.owner, perms=("api_read",), api_only=True)
    response = client.post(f"/users/{robot.id}/reset-password", follow_redirects=True)
    assert "An API-only user has no password" in response.get_data(as_text=True)
    assert mail_to(robot.email) == []


def test_disabling_ends_sessions_at_the_next_request_and_stops_the_key(team, app, as_owner, client, now):
    key = apikeys.issue(team.clerk, now=now)
    team.clerk.perm_api_read = True
    db.session.commit()
    tina = client_for(app, team.clerk)
    assert tina.get("/tickets/").status_code == 200
    response = client.post(f"/users/{team.clerk.id}/disable")
    assert response.status_code == 303
    assert tina.get("/tickets/").status_code == 302  # to the login page
    assert tina.get("/tickets/", headers=HX).status_code == 401
    assert apikeys.authenticate(key, now=now) is None
    live = db.session.scalar(select(func.count(UserSession.id)).where(
        UserSession.user_id == team.clerk.id, UserSession.revoked_at.is_(None)))
    assert live == 0
    assert audit_events(team.clerk, "user.disabled")[0].details == {"sessions_ended": 1}
    login = app.test_client().post("/auth/login", data={"email": team.clerk.email, "password": PASSWORD})
    assert login.status_code == 200  # refused
    # Enabled again: the key works again and she may log in.
    client.post(f"/users/{team.clerk.id}/enable")
    assert apikeys.authenticate(key, now=now) is not None
    client_for(app, team.clerk)
    assert audit_events(team.clerk, "user.enabled")


# --- two-factor reset ------------------------------------------------------------------------------


def test_the_owner_resets_a_clerks_lost_two_factor(team, app, as_owner, client, now):
    """A clerk lost their phone and recovery codes: the owner turns their 2FA off (PIN
    re-check); the clerk's sessions end, they are told by mail, and log in with the password."""
    from portal.auth import totp
    from portal.auth.models import RecoveryCode

    tina = client_for(app, team.clerk)
    totp.begin_enrolment(team.clerk)
    totp.enable(team.clerk, now=now)
    db.session.commit()
    page = client.get(f"/users/{team.clerk.id}").get_data(as_text=True)
    assert 'id="twofa-card"' in page and "Reset two-factor" in page
    wrong = client.post(f"/users/{team.clerk.id}/two-factor/reset", data={"tfr-stepup": "1111"},
                        headers=HX)
    assert "That PIN is not right." in wrong.get_data(as_text=True)
    db.session.refresh(team.clerk)
    assert totp.is_enabled(team.clerk)
    done = client.post(f"/users/{team.clerk.id}/two-factor/reset", data={"tfr-stepup": PIN},
                       headers=HX)
    body = done.get_data(as_text=True)
    assert done.status_code == 200 and 'data-testid="twofa-reset"' in body
    db.session.expire_all()
    assert not totp.is_enabled(team.clerk) and team.clerk.totp_secret_enc is None
    assert db.session.scalar(select(func.count()).select_from(RecoveryCode)
                             .where(RecoveryCode.user_id == team.clerk.id)) == 0
    assert tina.get("/tickets/").status_code in (302, 303)  # her session ended
    [row] = audit_events(team.clerk, "twofa.reset")
    assert row.actor_id == team.owner.id and row.details["sessions_ended"] >= 1
    [mail] = [m for m in mail_to(team.clerk.email) if "two-factor" in m.subject.lower()]
    assert "turned off two-factor" in mail.payload["text"]
    again = client_for(app, team.clerk)  # the password alone lets her in
    assert again.get("/tickets/").status_code == 200
    assert 'id="twofa-card"' not in client.get(f"/users/{team.clerk.id}").get_data(as_text=True)


# --- delete --------------------------------------------------------------------------------------


def test_delete_needs_the_pin(team, as_owner, client):
    response = client.post(f"/users/{team.clerk.id}/delete", data={"delete-stepup": ""}, headers=HX)
    assert response.status_code == 200 and "Please enter your PIN" in response.get_data(as_text=True)
    response = client.post(f"/users/{team.clerk.id}/delete", data={"delete-stepup": "1111"})
    assert response.status_code == 200 and "That PIN is not right." in response.get_data(as_text=True)
    db.session.refresh(team.clerk)
    assert team.clerk.deleted_at is None


def test_delete_is_soft_ends_everything_and_keeps_the_name_on_past_work(team, app, as_owner, client, make, now):
    from portal.tickets.models import TicketEvent

    sale = make.sale(team.keto)
    ticket = make.ticket(sale, now=now)
    tina = client_for(app, team.clerk)
    key = apikeys.issue(team.clerk, now=now)
    team.clerk.perm_api_read = True
    db.session.commit()
    assert tina.get(f"/tickets/{ticket.id}").status_code == 200
    from portal.authz.scope import principal_for
    from portal.tickets import services as ticket_services

    ticket_services.add_comment(ticket_services.Actor.for_user(team.clerk, principal_for(team.clerk)),
                                ticket, "I sent you a new download link.", now=now)
    response = client.post(f"/users/{team.clerk.id}/delete", data={"delete-stepup": PIN})
    assert response.status_code == 303 and response.headers["Location"] == "/users/"
    db.session.expire_all()
    clerk = db.session.get(User, team.clerk.id)
    assert clerk.deleted_at is not None and not clerk.is_enabled
    assert clerk.first_name == "Tina" and clerk.display_name == "Tina Tickets (deleted)"
    assert tina.get("/tickets/").status_code == 302
    assert apikeys.authenticate(key, now=now) is None
    assert apikeys.current(clerk) is None  # revoked, not merely unusable while deleted
    assert db.session.scalar(select(func.count(UserSession.id)).where(
        UserSession.user_id == clerk.id, UserSession.revoked_at.is_(None))) == 0
    assert app.test_client().post("/auth/login", data={"email": "tina@team.test",
                                                       "password": PASSWORD}).status_code == 200
    assert "tina@team.test" not in client.get("/users/").get_data(as_text=True)
    assert client.get(f"/users/{clerk.id}").status_code == 404
    event = db.session.scalar(select(TicketEvent).where(TicketEvent.actor_user_id == clerk.id))
    assert event.actor_label == "Tina Tickets"
    deleted = audit_events(clerk, "user.deleted")[0]
    assert deleted.details["email"] == "tina@team.test" and deleted.actor_id == team.owner.id
    # The address is free again: the same person can be invited anew.
    body = client.post("/users/new", data=new_user(team, email="tina@team.test")).get_data(as_text=True)
    assert 'data-testid="user-created"' in body


def test_pending_links_die_with_the_user(team, as_owner, client):
    client.post("/users/new", data=new_user(team))
    user = by_email("nina@team.test")
    client.post(f"/users/{user.id}/delete", data={"delete-stepup": PIN})
    assert db.session.scalar(select(func.count(OneTimeToken.id)).where(
        OneTimeToken.user_id == user.id, OneTimeToken.used_at.is_(None))) == 0


# --- API keys ------------------------------------------------------------------------------------


def test_regenerating_a_key_shows_the_new_one_once_and_kills_the_old(team, as_owner, client, now):
    old = apikeys.issue(team.clerk, now=now)
    team.clerk.perm_api_read = True
    db.session.commit()
    response = client.post(f"/users/{team.clerk.id}/api-key", data={"key-stepup": PIN})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="key-regenerated"' in body
    new = KEY_RE.search(body).group(0)
    assert new != old
    assert apikeys.authenticate(old, now=now) is None
    assert apikeys.authenticate(new, now=now).id == team.clerk.id
    assert audit_events(team.clerk, "api_key.regenerated")


def test_regenerating_from_htmx_shows_the_key_in_the_card(team, as_owner, client):
    response = client.post(f"/users/{team.clerk.id}/api-key", data={"key-stepup": PIN}, headers=HX)
    body = response.get_data(as_text=True)
    assert "<html" not in body and 'id="api-key-card"' in body and KEY_RE.search(body)


def test_regenerating_needs_the_re_check(team, as_owner, client):
    response = client.post(f"/users/{team.clerk.id}/api-key", data={"key-stepup": ""}, headers=HX)
    assert "Please enter your PIN" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ApiKey.id))) == 0


def test_the_owner_regenerates_their_own_key_but_a_supervisor_cannot(team, app, as_owner, client):
    response = client.post(f"/users/{team.owner.id}/api-key", data={"key-stepup": PIN})
    assert response.status_code == 200 and KEY_RE.search(response.get_data(as_text=True))
    sue = client_for(app, team.supervisor)
    assert sue.post(f"/users/{team.supervisor.id}/api-key", data={"key-stepup": PASSWORD}).status_code == 403


def test_the_users_page_shows_whether_the_key_can_be_used(team, as_owner, client, now):
    apikeys.issue(team.clerk, now=now)
    db.session.commit()
    body = client.get(f"/users/{team.clerk.id}").get_data(as_text=True)
    assert "Not usable now" in body and "holds API Read or API Read/Write" in body


def test_mail_sending_actions_are_rate_limited(tmp_path):
    """Creating users and resetting passwords send mail to typed-in addresses: 30 an hour."""
    from portal import create_app
    from tests.conftest import _settings
    from tests.factories import Factory

    app = create_app({**_settings(f"sqlite:///{tmp_path / 'limits.db'}"), "RATELIMIT_ENABLED": True})
    with app.app_context():
        db.create_all()
        make = Factory()
        owner = make.owner()
        clerk = make.clerk(owner)
        client = client_for(app, owner)
        codes = [client.post(f"/users/{clerk.id}/reset-password").status_code for _ in range(31)]
        assert codes[:30] == [303] * 30 and codes[30] == 429
        db.session.remove()
        db.engine.dispose()


def test_names_and_descriptions_are_shown_as_text(team, as_owner, client):
    """S22: what one user types about another never becomes markup on any page or mail."""
    payload = '<script>alert(1)</script>"><img src=x onerror=alert(2)>{{7*7}}'
    data = new_user(team, first_name=payload[:80], last_name="X", description=payload)
    client.post("/users/new", data=data)
    user = by_email("nina@team.test")
    pages = [client.get("/users/").get_data(as_text=True),
             client.get(f"/users/{user.id}").get_data(as_text=True),
             client.get("/users/?q=script", headers=HX).get_data(as_text=True)]
    html_mail = mail_to("nina@team.test")[0].payload["html"]
    for body in pages + [html_mail]:
        assert "<script>alert(1)" not in body and "<img src=x" not in body
        assert "&lt;script&gt;" in body
    assert all("{{7*7}}" in html.unescape(body) for body in pages)  # not evaluated to 49
