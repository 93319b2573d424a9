"""Removing an account: PIN + typed confirmation; history kept read only; clerks lose access at
their very next request; the account's mailbox is told; it can be linked again."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.accounts.models import ClerkAccountAccess
from portal.audit import AuditEvent
from portal.authz.scope import principal_for
from portal.crypto import encrypt
from portal.extensions import db
from portal.tickets.models import Ticket
from portal.transactions.models import Transaction
from tests.accounts.conftest import mails
from tests.factories import PIN


def _remove(client, nick, pin=PIN, typed=None):
    return client.post(
        f"/accounts/{nick}/remove", data={"stepup": pin, "confirm_nickname": typed or nick}
    )


def test_the_confirmation_page_says_what_will_happen(owner_client, owner, make, now):
    account = make.account(owner, "goner")
    make.clerk(owner, accounts=[account], first_name="Carla", last_name="Clerk")
    make.ticket(make.sale(account), now=now)
    body = owner_client.get("/accounts/goner/remove").get_data(as_text=True)
    assert "Carla Clerk" in body and "lose" in body
    assert "1 open ticket" in body and "stay" in body
    assert 'name="stepup"' in body and 'name="confirm_nickname"' in body


def test_a_wrong_pin_or_a_wrong_nickname_removes_nothing(owner_client, owner, make):
    account = make.account(owner, "keeper")
    response = _remove(owner_client, "keeper", pin="1111")
    assert response.status_code == 200 and "That PIN is not right." in response.get_data(
        as_text=True
    )
    response = _remove(owner_client, "keeper", typed="keepr")
    assert response.status_code == 200 and "Type “keeper” exactly" in response.get_data(
        as_text=True
    )
    db.session.refresh(account)
    assert account.status == "linked"


def test_removing_keeps_history_read_only_and_wipes_secrets(owner_client, owner, make, now):
    account = make.account(
        owner, "goner", credentials_enc=encrypt("pw-123456"), ins_secret_enc=encrypt("ABC123")
    )
    sale = make.sale(account)
    ticket = make.ticket(sale, now=now)
    response = _remove(owner_client, "goner")
    assert response.status_code == 303 and response.headers["Location"].endswith("/accounts/")

    db.session.refresh(account)
    assert account.status == "removed" and account.removed_at is not None
    assert account.credentials_enc is None and account.ins_secret_enc is None
    # History stays: nothing was deleted.
    assert (
        db.session.scalar(
            select(func.count(Transaction.id)).where(Transaction.linked_account_id == account.id)
        )
        == 1
    )
    assert db.session.get(Ticket, ticket.id) is not None
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "account.removed"))
    assert audit.details["nickname"] == "goner" and audit.actor_id == owner.id
    assert mails("account_removed")[0].recipient == "goner@vendor.test"

    # The owner still reads it, read only; it is listed under "Removed accounts".
    page = owner_client.get("/accounts/goner/").get_data(as_text=True)
    assert "Removed · read only" in page and "Link again" in page
    listing = owner_client.get("/accounts/").get_data(as_text=True)
    assert "Removed accounts (1)" in listing
    principal = principal_for(owner)
    assert account.id in principal.account_ids and account.id not in principal.active_account_ids
    # Settings cannot be changed any more.
    owner_client.post(
        "/accounts/goner/settings",
        data={
            "timezone": "UTC",
            "colour": "#000000",
            "customer_refund_days": 5,
            "vendor_refund_days": 5,
            "settle_hours": 1,
        },
    )
    db.session.refresh(account)
    assert account.timezone == "America/New_York" and account.customer_refund_days == 60
    assert "disabled" in owner_client.get("/accounts/goner/settings").get_data(as_text=True)


def test_clerks_lose_access_at_their_next_request(app, owner_client, owner, make, login, now):
    account = make.account(owner, "shared")
    other = make.account(owner, "other")
    ticket = make.ticket(make.sale(account), now=now)
    clerk = make.clerk(owner, perms=("orders_tickets",), accounts=[account, other])
    clerk_client = app.test_client()
    clerk_client.post("/auth/login", data={"email": clerk.email, "password": "Tr1cky!!Pass#99"})
    assert clerk_client.get(f"/tickets/{ticket.id}").status_code == 200

    assert _remove(owner_client, "shared").status_code == 303

    # Same session, next click: the ticket is gone for the clerk (404, as if it never existed).
    assert clerk_client.get(f"/tickets/{ticket.id}").status_code == 404
    principal = principal_for(clerk)
    assert account.id not in principal.account_ids and other.id in principal.account_ids
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(ClerkAccountAccess)
            .where(ClerkAccountAccess.linked_account_id == account.id)
        )
        == 0
    )
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "account.removed"))
    assert audit.details["clerks_lost_access"] == [clerk.id]


def test_the_scope_alone_hides_removed_accounts_from_clerks(make):
    """Even a grant left behind (e.g. by an older version) gives no access to a removed account."""
    owner = make.owner()
    account = make.account(owner, "leftover")
    clerk = make.clerk(owner, accounts=[account])
    account.status = "removed"
    db.session.commit()
    assert account.id not in principal_for(clerk).account_ids


def test_removed_accounts_leave_the_dashboard(owner_client, owner, make):
    account = make.account(owner, "goner")
    make.account(owner, "stayer")
    make.sale(account, amount_cents=4321)
    _remove(owner_client, "goner")
    body = owner_client.get("/dashboard/?period=custom&from=2026-10-01&to=2026-11-30").get_data(
        as_text=True
    )
    assert 'data-account="goner"' not in body and 'data-account="stayer"' in body


def test_removed_accounts_open_tickets_leave_the_queue_and_stay_readable(
    owner_client, owner, make, now
):
    """What the remove page promises is what happens: its open tickets leave the queue; they
    stay readable, read only, under Vendor and at their own address."""
    goner = make.account(owner, "goner")
    stayer = make.account(owner, "stayer")
    gone = make.ticket(make.sale(goner), now=now)
    kept = make.ticket(make.sale(stayer), now=now)
    page = owner_client.get("/accounts/goner/remove").get_data(as_text=True)
    assert "1 open ticket</strong> leaves your ticket queue" in page
    assert "“goner (removed)” as the Vendor" in page
    before = owner_client.get("/tickets/").get_data(as_text=True)
    assert f'id="ticket-{gone.id}"' in before and f'id="ticket-{kept.id}"' in before

    assert _remove(owner_client, "goner").status_code == 303

    queue = owner_client.get("/tickets/").get_data(as_text=True)
    assert f'id="ticket-{gone.id}"' not in queue and f'id="ticket-{kept.id}"' in queue
    assert re.search(r"<strong>1</strong>\s*ticket\s", queue)  # the count agrees with the rows
    assert '<option value="goner">goner (removed)</option>' in queue
    chosen = owner_client.get("/tickets/?vendor=goner").get_data(as_text=True)
    assert f'id="ticket-{gone.id}"' in chosen and f'id="ticket-{kept.id}"' not in chosen
    assert "“goner” was removed from your Master Account" in chosen
    ticket_page = owner_client.get(f"/tickets/{gone.id}").get_data(as_text=True)
    assert "“goner” was removed on" in ticket_page and "this ticket is read only" in ticket_page
    response = owner_client.post(
        f"/tickets/{gone.id}/comment", data={"comment": "Still here?", "version": gone.version}
    )
    assert response.status_code == 403


def test_a_pending_request_cannot_be_removed_only_cancelled(owner_client, owner, make):
    make.account(owner, "waiting", status="pending")
    response = owner_client.get("/accounts/waiting/remove")
    assert response.status_code == 404
