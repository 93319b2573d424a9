"""Adding an account: PIN re-check, the confirmation mail to the account's own address, the
single-use 24-hour link (expired, used, replaced, declined), foreign and duplicate nicknames."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts import services
from portal.accounts.models import LinkedAccount
from portal.audit import AuditEvent
from portal.auth.models import OneTimeToken
from portal.crypto import decrypt
from portal.extensions import db
from portal.types import utcnow
from tests.accounts.conftest import add_form, link_token, mails
from tests.conftest import HX


def _account(nickname: str) -> LinkedAccount | None:
    return db.session.scalar(select(LinkedAccount).where(LinkedAccount.nickname == nickname))


def _events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_adding_an_account_makes_it_pending_and_mails_the_accounts_own_address(owner_client, owner):
    response = owner_client.post("/accounts/new", data=add_form())
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/accounts/")

    account = _account("newacct")
    assert account.status == "pending" and account.master_account_id == owner.master_account_id
    assert account.timezone == "Europe/Berlin" and account.colour == "#10b981"
    # The password is stored encrypted and never shown back.
    assert "sandbox-pass" not in account.credentials_enc
    assert decrypt(account.credentials_enc) == "sandbox-pass"
    page = owner_client.get("/accounts/").get_data(as_text=True)
    assert "Pending confirmation" in page and "sandbox-pass" not in page
    assert "We sent a confirmation link to newacct@vendor.test" in page

    [mail] = mails("account_link")
    assert mail.recipient == "newacct@vendor.test"  # the account's email, not the owner's
    assert owner.email not in [m.recipient for m in mails("account_link")]
    assert (
        "Olivia Owner" in mail.payload["text"]
        and "http://portal.test/accounts/link/" in mail.payload["text"]
    )
    token = db.session.scalar(
        select(OneTimeToken).where(OneTimeToken.linked_account_id == account.id)
    )
    assert token.purpose == "account_link"
    assert token.expires_at - token.created_at == timedelta(hours=24)
    assert _events("account.link_requested")[0].details["nickname"] == "newacct"


def test_a_wrong_pin_links_nothing_and_says_so(owner_client, owner):
    response = owner_client.post("/accounts/new", data=add_form(pin="0000"))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "That PIN is not right." in body
    assert 'value="newacct"' in body  # the input is kept
    assert _account("newacct") is None and mails("account_link") == []
    db.session.refresh(owner)
    assert owner.pin_failures == 1


def test_the_pin_is_not_asked_again_within_ten_minutes(owner_client):
    assert owner_client.post("/accounts/new", data=add_form()).status_code == 303
    form = owner_client.get("/accounts/new").get_data(as_text=True)
    assert 'name="stepup"' not in form
    response = owner_client.post(
        "/accounts/new", data=add_form("second", "second@vendor.test", pin="")
    )
    assert response.status_code == 303 and _account("second").status == "pending"


def test_a_missing_pin_is_refused(owner_client):
    response = owner_client.post("/accounts/new", data=add_form(pin=""))
    assert response.status_code == 200 and "Please enter your PIN to confirm." in response.get_data(
        as_text=True
    )
    assert _account("newacct") is None


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("nickname", "no spaces!", "5 to 10 letters and digits (no spaces or symbols)"),
        ("nickname", "abcd", "5 to 10 letters and digits"),
        ("nickname", "elevenchars", "5 to 10 letters and digits"),
        ("nickname", "accounts", "cannot be used as a nickname"),
        ("nickname", "static", "cannot be used as a nickname"),
        ("account_email", "not-an-email", "valid email address"),
        ("password", "123", "At least 6"),
        ("source", "clickbank", "not available yet"),
        ("timezone", "Mars/Olympus", "Not a valid choice"),
    ],
)
def test_bad_input_gets_a_clear_message_and_nothing_is_created(owner_client, field, value, message):
    response = owner_client.post("/accounts/new", data=add_form(**{field: value}))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(LinkedAccount)) is None


def test_clickbank_is_offered_but_disabled_until_the_integration_lands(owner_client):
    body = owner_client.get("/accounts/new").get_data(as_text=True)
    assert 'id="source-clickbank" value="clickbank"' in body
    assert "Not available yet" in body
    radio = body[
        body.index('id="source-clickbank"') - 120 : body.index('id="source-clickbank"') + 200
    ]
    assert "disabled" in radio


def test_a_nickname_of_another_master_account_is_refused(owner_client, make):
    other_owner = make.owner()
    make.account(other_owner, "takenacct")
    response = owner_client.post("/accounts/new", data=add_form("TakenAcct", "x@vendor.test"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "already linked to another Master Account" in body
    assert (
        len(
            db.session.scalars(
                select(LinkedAccount).where(LinkedAccount.nickname == "takenacct")
            ).all()
        )
        == 1
    )
    assert mails("account_link") == []


def test_a_nickname_pending_in_another_master_account_is_refused_until_its_link_expires(
    owner_client, owner, make
):
    other_owner = make.owner()
    now = utcnow()
    services.start_link(
        other_owner,
        nickname="contested",
        account_email="c@vendor.test",
        password="secret1",
        now=now,
    )
    response = owner_client.post("/accounts/new", data=add_form("contested", "mine@vendor.test"))
    assert "already linked to another Master Account" in response.get_data(as_text=True)

    # Their request expired 25 hours ago: it no longer holds the nickname.
    db.session.execute(OneTimeToken.__table__.update().values(expires_at=now - timedelta(hours=1)))
    db.session.commit()
    response = owner_client.post("/accounts/new", data=add_form("contested", "mine@vendor.test"))
    assert response.status_code == 303
    [account] = db.session.scalars(
        select(LinkedAccount).where(LinkedAccount.nickname == "contested")
    ).all()
    assert account.master_account_id == owner.master_account_id
    assert _events("account.link_expired")


def test_own_linked_or_pending_nickname_gets_a_helpful_message(owner_client, owner, make):
    make.account(owner, "mineacct")
    body = owner_client.post("/accounts/new", data=add_form("mineacct", "m@vendor.test")).get_data(
        as_text=True
    )
    assert "already linked to your Master Account" in body
    owner_client.post("/accounts/new", data=add_form("waiting", "w@vendor.test"))
    body = owner_client.post("/accounts/new", data=add_form("waiting", "w@vendor.test")).get_data(
        as_text=True
    )
    assert "already waiting for confirmation" in body


def test_the_database_refuses_a_second_active_row_for_a_nickname(make):
    """The partial unique index decides races the friendly check cannot see."""
    make.account(make.owner(), "raced")
    db.session.add(
        LinkedAccount(
            master_account_id=make.master().id,
            nickname="raced",
            status="pending",
            account_email="r@vendor.test",
            created_at=utcnow(),
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_link_shows_what_is_linked_to_whom_and_confirms_without_login(app, owner_client, owner):
    owner_client.post("/accounts/new", data=add_form())
    token = link_token("newacct@vendor.test")
    anonymous = app.test_client()

    page = anonymous.get(f"/accounts/link/{token}", follow_redirects=True)
    assert page.status_code == 200 and page.request.path == "/accounts/link/"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    body = page.get_data(as_text=True)
    assert "newacct" in body and "Olivia Owner" in body and owner.email in body
    assert _account("newacct").status == "pending"  # looking is not confirming

    done = anonymous.post("/accounts/link/", data={"token": token, "decision": "confirm"})
    assert done.status_code == 200 and "is linked" in done.get_data(as_text=True)
    account = _account("newacct")
    assert account.status == "linked" and account.linked_at is not None
    assert _events("account.linked")[0].details["nickname"] == "newacct"
    [notice] = mails("account_linked")
    assert notice.recipient == owner.email

    # Single use.
    again = anonymous.post("/accounts/link/", data={"token": token, "decision": "confirm"})
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    reopened = anonymous.get(f"/accounts/link/{token}", follow_redirects=True)
    assert reopened.status_code == 410 and "already used" in reopened.get_data(as_text=True)


def test_the_first_open_moves_the_token_out_of_the_address_bar(app, owner_client):
    """SECURITY S31: after the first GET the token is gone from the URL (address bar, history,
    Referer); the bare page works from the session, and only for that browser."""
    owner_client.post("/accounts/new", data=add_form())
    token = link_token("newacct@vendor.test")
    anonymous = app.test_client()

    first = anonymous.get(f"/accounts/link/{token}")
    assert first.status_code == 303 and first.headers["Location"] == "/accounts/link/"
    assert first.headers["Referrer-Policy"] == "no-referrer"
    assert first.headers["Cache-Control"] == "no-store"
    assert token not in first.get_data(as_text=True)
    with anonymous.session_transaction() as sess:
        assert sess["account_link_token"] == token
    assert _account("newacct").status == "pending"  # opening is not confirming

    page = anonymous.get("/accounts/link/")
    assert page.status_code == 200 and "newacct" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    # Another browser (no session) opening the bare URL gets nothing.
    stranger = app.test_client().get("/accounts/link/")
    assert stranger.status_code == 404 and "newacct" not in stranger.get_data(as_text=True)

    done = anonymous.post("/accounts/link/", data={"token": token, "decision": "confirm"})
    assert done.status_code == 200 and _account("newacct").status == "linked"
    with anonymous.session_transaction() as sess:
        assert "account_link_token" not in sess  # used up: not kept around


def test_a_second_link_opened_meanwhile_does_not_change_what_the_first_page_confirms(
    app, owner_client
):
    """The page's form carries the token it shows: opening another request's link in a second
    tab (same session) does not turn the first page's click into a confirmation of the other."""
    owner_client.post("/accounts/new", data=add_form())
    owner_client.post(
        "/accounts/new", data=add_form(nickname="other", email="other@vendor.test")
    )
    first, second = link_token("newacct@vendor.test"), link_token("other@vendor.test")
    browser = app.test_client()
    browser.get(f"/accounts/link/{first}", follow_redirects=True)
    browser.get(f"/accounts/link/{second}", follow_redirects=True)
    browser.post("/accounts/link/", data={"token": first, "decision": "confirm"})
    assert _account("newacct").status == "linked" and _account("other").status == "pending"


def test_an_expired_link_confirms_nothing(app, owner, make):
    long_ago = utcnow() - timedelta(hours=25)
    services.start_link(
        owner, nickname="slowpoke", account_email="s@vendor.test", password="secret1", now=long_ago
    )
    token = link_token("s@vendor.test")
    anonymous = app.test_client()
    page = anonymous.get(f"/accounts/link/{token}", follow_redirects=True)
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    done = anonymous.post("/accounts/link/", data={"token": token, "decision": "confirm"})
    assert done.status_code == 410 and "expired" in done.get_data(as_text=True)
    assert _account("slowpoke").status == "pending"


def test_an_unknown_or_tampered_link_is_refused(app):
    anonymous = app.test_client()
    assert anonymous.get("/accounts/link/not-a-real-token").status_code == 303
    assert anonymous.get("/accounts/link/").status_code == 404
    response = anonymous.post("/accounts/link/", data={"token": "x" * 43, "decision": "confirm"})
    assert response.status_code == 410


def test_resend_replaces_the_link_and_cancel_withdraws_the_request(app, owner_client, owner, now):
    owner_client.post("/accounts/new", data=add_form())
    first = link_token("newacct@vendor.test")
    # Resending within a minute is refused (mail bombing an address).
    assert "less than a minute ago" in owner_client.post(
        "/accounts/newacct/resend", follow_redirects=True
    ).get_data(as_text=True)
    db.session.execute(
        OneTimeToken.__table__.update().values(created_at=utcnow() - timedelta(minutes=5))
    )
    db.session.commit()
    response = owner_client.post("/accounts/newacct/resend")
    assert response.status_code == 303
    second = link_token("newacct@vendor.test")
    assert second != first and len(mails("account_link")) == 2
    anonymous = app.test_client()
    assert anonymous.get(f"/accounts/link/{first}", follow_redirects=True).status_code == 410
    assert anonymous.get(f"/accounts/link/{second}", follow_redirects=True).status_code == 200

    response = owner_client.post("/accounts/newacct/cancel")
    assert response.status_code == 303
    assert _account("newacct") is None  # never linked: nothing to keep
    assert anonymous.get(f"/accounts/link/{second}", follow_redirects=True).status_code == 404
    assert _events("account.link_cancelled")[0].details["nickname"] == "newacct"


def test_the_mailbox_holder_can_decline(app, owner_client, owner):
    owner_client.post("/accounts/new", data=add_form())
    token = link_token("newacct@vendor.test")
    response = app.test_client().post(
        "/accounts/link/", data={"token": token, "decision": "decline"}
    )
    assert response.status_code == 200 and "declined" in response.get_data(as_text=True)
    assert _account("newacct") is None
    assert mails("account_link_declined")[0].recipient == owner.email


def test_htmx_form_errors_come_back_as_the_form_fragment(owner_client):
    response = owner_client.post("/accounts/new", data=add_form(pin="0000"), headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "That PIN is not right." in body
    response = owner_client.post("/accounts/new", data=add_form(), headers=HX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/accounts/"


def test_linking_again_after_removal_brings_the_history_back(app, owner_client, owner, make):
    account = make.account(owner, "comeback")
    sale = make.sale(account)
    services.remove(owner, account, now=utcnow())
    owner_client.post("/accounts/new", data=add_form("comeback", "comeback@vendor.test"))
    assert (
        len(
            db.session.scalars(
                select(LinkedAccount).where(LinkedAccount.nickname == "comeback")
            ).all()
        )
        == 1
    )
    app.test_client().post(
        "/accounts/link/", data={"token": link_token("comeback@vendor.test"), "decision": "confirm"}
    )
    db.session.refresh(account)
    assert account.status == "linked" and sale.linked_account_id == account.id
    assert account.removed_at is None


def test_another_master_account_can_link_a_nickname_once_it_was_removed(app, client, login, make):
    first_owner = make.owner()
    account = make.account(first_owner, "movedacct")
    services.remove(first_owner, account, now=utcnow())
    second_owner = make.owner()
    login(second_owner)
    assert (
        client.post("/accounts/new", data=add_form("movedacct", "moved@vendor.test")).status_code
        == 303
    )
    app.test_client().post(
        "/accounts/link/", data={"token": link_token("moved@vendor.test"), "decision": "confirm"}
    )
    rows = db.session.scalars(
        select(LinkedAccount).where(LinkedAccount.nickname == "movedacct")
    ).all()
    assert sorted((r.master_account_id, r.status) for r in rows) == sorted(
        [(first_owner.master_account_id, "removed"), (second_owner.master_account_id, "linked")]
    )
