"""Seed 001's refund hand-off, end to end over HTTP: a clerk without Refund authority sends the
return label and escalates; the refund authority sees it in Escalations and processes the
refund only once the return is at the warehouse. Every step is a ticket event."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions.models import Transaction
from tests.conftest import HX
from tests.transactions.conftest import days_ago


@pytest.fixture
def refund_ticket(make, world):
    """A customer's refund request on a ketovital sale, still pending."""
    sale = make.sale(
        world.keto, at=days_ago(world, 10), receipt="RTRN0001", email="buyer@example.com"
    )
    return make.ticket(sale, ticket_type="refund", now=days_ago(world, 0, hours=2))


def step(client, ticket, kind, comment="Updated the return status.", headers=HX, **extra):
    data = {
        "comment": comment,
        "expected_version": str(db.session.get(Ticket, ticket.id).version),
        **extra,
    }
    return client.post(f"/transactions/escalations/{ticket.id}/{kind}", data=data, headers=headers)


def events(ticket):
    return [
        e.kind
        for e in db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    ]


def test_the_hand_off_end_to_end(client, login, make, world, refund_ticket):
    ticket = refund_ticket
    assert ticket.next_action == "process"  # the customer's request would be refunded by the timer

    # 1. The clerk (Orders/Tickets only) may not refund...
    login(world.tickets_clerk)
    assert step(client, ticket, "process", "Refund it now please.").status_code == 403
    # ...but records the return label: the refund timer is held.
    r = step(
        client, ticket, "return", "Prepaid return label emailed, UPS 1Z999.", step="label_sent"
    )
    body = r.get_data(as_text=True)
    assert (
        r.status_code == 200
        and 'data-testid="handoff-panel"' in body
        and "Return status recorded." in body
    )
    assert r.headers["HX-Trigger"] == "ticket-changed"
    ticket = db.session.get(Ticket, ticket.id)
    assert (
        ticket.return_status == "label_sent"
        and ticket.next_action is None
        and ticket.next_action_at is None
    )

    # 2. The clerk escalates to the refund authority.
    r = step(client, ticket, "handoff", "Label sent, over to Rain for the refund.")
    assert r.status_code == 200 and "With the refund authority" in r.get_data(as_text=True)
    assert db.session.get(Ticket, ticket.id).handoff_at is not None

    # 3. The refund authority sees it in Escalations with its return status.
    login(world.refunds_clerk)
    page = client.get("/transactions/escalations").get_data(as_text=True)
    row = page.split(f'id="escalation-{ticket.id}"')[1].split("</tr>")[0]
    assert "RTRN0001" in row and "Return label sent" in row and world.tickets_clerk.full_name in row
    # Processing before the goods are back is refused, with the comment kept.
    r = step(client, ticket, "process", "Processing the refund now.")
    body = r.get_data(as_text=True)
    assert (
        r.status_code == 200
        and "has not arrived at the warehouse" in body
        and "Processing the refund now." in body
    )
    assert db.session.scalar(select(Transaction).where(Transaction.txn_type == "RFND")) is None

    # 4. The return travels and arrives (recorded by the refund authority or a clerk).
    assert (
        step(client, ticket, "return", "Parcel is on its way back.", step="in_transit").status_code
        == 200
    )
    login(world.tickets_clerk)
    assert (
        step(client, ticket, "return", "Warehouse confirmed receipt.", step="received").status_code
        == 200
    )
    login(world.refunds_clerk)
    page = client.get("/transactions/escalations").get_data(as_text=True)
    assert "Ready to process" in page

    # 5. The refund authority processes: the money goes back now.
    r = step(client, ticket, "process", "Return received, refunding through ClickBank.")
    assert r.status_code == 200 and "Refund approved" in r.get_data(as_text=True)
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.refund_state == "processing" and ticket.handoff_at is None
    refund = db.session.scalar(select(Transaction).where(Transaction.txn_type == "RFND"))
    assert refund.receipt == "RTRN0001"

    # Every step is in the ticket's history (so the reports see it), with who did it.
    assert events(ticket) == [
        "opened",
        "return_label_sent",
        "handoff",
        "return_in_transit",
        "return_received",
        "refund_approved",
        "processing",
    ]
    actors = {e.kind: e.actor_user_id for e in db.session.scalars(select(TicketEvent))}
    assert actors["return_label_sent"] == world.tickets_clerk.id
    assert actors["refund_approved"] == world.refunds_clerk.id
    processed = client.get("/transactions/escalations?tab=processed").get_data(as_text=True)
    assert f'id="escalation-{ticket.id}"' in processed
    assert f'id="escalation-{ticket.id}"' not in client.get("/transactions/escalations").get_data(
        as_text=True
    )


def test_hand_off_needs_the_return_label_first(client, login, world, refund_ticket):
    login(world.tickets_clerk)
    r = step(client, refund_ticket, "handoff", "Over to the refund authority.")
    assert r.status_code == 200 and "Record the return label first" in r.get_data(as_text=True)
    assert events(refund_ticket) == ["opened"]


def test_return_steps_go_in_order(client, login, world, refund_ticket):
    login(world.tickets_clerk)
    r = step(client, refund_ticket, "return", "It is at the warehouse.", step="received")
    assert "one step at a time" in r.get_data(as_text=True)
    r = step(client, refund_ticket, "return", "Made-up step here.", step="teleported")
    assert "Unknown return status" in r.get_data(as_text=True)


def test_every_step_needs_a_comment(client, login, world, refund_ticket):
    login(world.tickets_clerk)
    r = step(client, refund_ticket, "return", "ok", step="label_sent")
    assert r.status_code == 200 and "at least 6 characters" in r.get_data(as_text=True)
    assert db.session.get(Ticket, refund_ticket.id).return_status is None


def test_a_stale_form_is_told_the_ticket_changed_and_keeps_the_comment(
    client, login, world, refund_ticket
):
    login(world.tickets_clerk)
    r = client.post(
        f"/transactions/escalations/{refund_ticket.id}/return",
        data={"comment": "Label sent by post.", "step": "label_sent", "expected_version": "0"},
        headers=HX,
    )
    body = r.get_data(as_text=True)
    assert "changed this ticket meanwhile" in body and "Label sent by post." in body
    assert db.session.get(Ticket, refund_ticket.id).return_status is None


def test_without_javascript_success_redirects_and_errors_get_a_page(
    client, login, world, refund_ticket
):
    login(world.tickets_clerk)
    ok = step(
        client,
        refund_ticket,
        "return",
        "Label sent by email.",
        headers={},
        step="label_sent",
        next=f"/tickets/{refund_ticket.id}",
    )
    assert ok.status_code == 303 and ok.headers["Location"] == f"/tickets/{refund_ticket.id}"
    bad = step(client, refund_ticket, "handoff", "no", headers={})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "<html" in html and "at least 6 characters" in html
    assert "Back to ticket" in html
    evil = step(
        client,
        refund_ticket,
        "handoff",
        "Over to the refund authority.",
        headers={},
        next="//evil.test/steal",
    )
    assert evil.headers["Location"] == f"/tickets/{refund_ticket.id}"


def test_the_refund_authority_may_let_a_refund_without_return_go_through(
    client, login, world, refund_ticket
):
    login(world.refunds_clerk)
    r = step(client, refund_ticket, "process", "Digital product, no return needed.")
    assert r.status_code == 200
    assert db.session.get(Ticket, refund_ticket.id).refund_state == "processing"


def test_accounts_not_granted_are_404(client, login, make, world):
    sale = make.sale(world.mind, at=days_ago(world, 5))
    ticket = make.ticket(sale, ticket_type="refund", now=days_ago(world, 0, hours=1))
    login(world.tickets_clerk)  # ketovital only
    assert (
        step(client, ticket, "return", "Label sent by email.", step="label_sent").status_code == 404
    )
    assert f"escalation-{ticket.id}" not in client.get("/transactions/escalations").get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "who, status",
    [("tickets_clerk", 200), ("refunds_clerk", 200), ("owner", 200), ("users_clerk", 403)],
)
def test_who_sees_escalations(client, login, world, who, status):
    login(getattr(world, who))
    assert client.get("/transactions/escalations").status_code == status


def test_the_panel_shows_each_user_only_what_they_may_do(app, client, login, world, refund_ticket):
    from flask import render_template

    login(world.tickets_clerk)
    step(client, refund_ticket, "return", "Label sent by email.", step="label_sent")
    ticket = db.session.get(Ticket, refund_ticket.id)

    def panel_as(user):
        login(user)
        with app.test_request_context():
            from flask import g
            from flask_login import login_user

            from portal.authz.scope import principal_for

            login_user(user)
            g.principal = principal_for(user)
            return render_template("transactions/_handoff_panel.html", ticket=ticket)

    clerk_panel = panel_as(world.tickets_clerk)
    assert 'data-testid="record-step"' in clerk_panel and "Record: in transit" in clerk_panel
    assert (
        'data-testid="hand-off"' in clerk_panel
        and 'data-testid="process-refund"' not in clerk_panel
    )
    authority_panel = panel_as(world.refunds_clerk)
    assert re.search(r'data-testid="process-refund"[^>]*disabled', authority_panel)
    assert "has not reached the warehouse" in authority_panel
    assert (
        "Return label sent" in authority_panel and world.tickets_clerk.full_name in authority_panel
    )


def test_the_panel_is_empty_for_tech_support(app, make, world):
    from flask import render_template

    sale = make.sale(world.keto, at=days_ago(world, 5))
    ticket = make.ticket(sale, now=days_ago(world, 1))
    with app.test_request_context():
        assert render_template("transactions/_handoff_panel.html", ticket=ticket).strip() == ""


def test_inside_escalations_the_row_is_refreshed_with_the_panel(
    client, login, world, refund_ticket
):
    login(world.tickets_clerk)
    body = step(
        client,
        refund_ticket,
        "return",
        "Label sent by email.",
        step="label_sent",
        context="returns",
    ).get_data(as_text=True)
    assert f'id="handoff-panel-{refund_ticket.id}"' in body
    row = re.search(
        rf'<tr id="escalation-{refund_ticket.id}" hx-swap-oob="true">.*?</tr>', body, re.S
    )
    assert row and "Return label sent" in row.group(0)
    assert 'name="context" value="returns"' in body  # the next action keeps its context
    plain = step(client, refund_ticket, "return", "Parcel on its way.", step="in_transit").get_data(
        as_text=True
    )
    assert "hx-swap-oob" not in plain


def _actor(user):
    from portal.authz.scope import principal_for
    from portal.tickets import services

    return services.Actor.for_user(user, principal_for(user))


def test_a_reopened_refund_stays_on_hold_while_the_goods_are_on_their_way(make, world):
    """Closing and reopening a held refund must not restart the 24-hour timer: the money would
    go out before the return arrived (found in review)."""
    from portal.tickets import services, sweep

    sale = make.sale(world.keto, at=days_ago(world, 10), receipt="RTRN0002")
    ticket = make.ticket(sale, ticket_type="refund", now=days_ago(world, 3))
    clerk, owner = _actor(world.tickets_clerk), _actor(world.owner)
    t0 = days_ago(world, 2)
    services.record_return(clerk, ticket, "label_sent", "Return label emailed.", now=t0)
    services.hand_off(clerk, ticket, "Please refund once it is back.", now=t0)
    services.close(owner, ticket, "Customer agreed to wait.", now=t0, customer_agreed=True)
    services.reopen(owner, ticket, "Customer asks again about it.", now=t0 + timedelta(hours=1))
    db.session.commit()

    assert ticket.next_action_at is None and ticket.return_status == "label_sent"
    assert ticket.handoff_at is not None  # still in Escalations
    sweep.run(world.now + timedelta(days=5))
    assert db.session.get(Ticket, ticket.id).refund_state == "requested"
    assert not db.session.scalars(select(Transaction).where(
        Transaction.sale_receipt == "RTRN0002", Transaction.txn_type == "RFND")).all()


def test_turning_a_held_refund_into_a_cancellation_keeps_the_hold(make, world):
    from portal.tickets import services, sweep

    sale = make.sale(world.keto, at=days_ago(world, 10), receipt="RTRN0003", recurring=True)
    ticket = make.ticket(sale, ticket_type="refund", now=days_ago(world, 3))
    t0 = days_ago(world, 2)
    services.record_return(_actor(world.tickets_clerk), ticket, "label_sent", "Label sent.", now=t0)
    services.change_type(_actor(world.refunds_clerk), ticket, "cancel", "Customer only wants to stop.",
                         now=t0, customer_agreed=True)
    db.session.commit()
    assert ticket.ticket_type == "cancel" and ticket.next_action_at is None
    sweep.run(world.now + timedelta(days=5))
    assert db.session.get(Ticket, ticket.id).refund_state == "requested"

    # Once the goods are received, the refund authority lets it go through.
    services.record_return(_actor(world.tickets_clerk), ticket, "in_transit", "UPS shows it moving.", now=t0)
    services.record_return(_actor(world.tickets_clerk), ticket, "received", "At the warehouse.", now=t0)
    services.process_refund(_actor(world.refunds_clerk), ticket, "Goods back, cancel it.", now=t0)
    db.session.commit()
    assert db.session.get(Ticket, ticket.id).refund_state in ("processing", "finalized")


def test_the_hand_off_mails_everyone_who_may_process_the_refund(make, world):
    """Seed 001: the refund authority hears of the escalation without watching the list."""
    from portal.notifications.models import OutboxMessage
    from portal.tickets import services

    sale = make.sale(world.keto, at=days_ago(world, 10), receipt="RTRN0004")
    ticket = make.ticket(sale, ticket_type="refund", now=days_ago(world, 1))
    clerk = _actor(world.tickets_clerk)
    services.record_return(clerk, ticket, "label_sent", "Return label emailed.", now=world.now)
    services.hand_off(clerk, ticket, "Parcel on its way, please refund.", now=world.now)
    mails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "refund_handoff")).all()
    assert sorted(m.recipient for m in mails) == ["owner@shop.test", "refunds@shop.test"]
    text = mails[0].payload["text"]
    assert f"ticket #{ticket.id}" in text and "Parcel on its way, please refund." in text
    assert "/transactions/escalations" in text


def test_processing_a_held_refund_mails_each_party_once_that_it_went_out(make, world):
    from portal.notifications.models import OutboxMessage
    from portal.tickets import services

    sale = make.sale(world.keto, at=days_ago(world, 10), receipt="RTRN0004", email="once@example.com")
    ticket = make.ticket(sale, ticket_type="refund", now=days_ago(world, 3))
    t0 = days_ago(world, 2)
    clerk = _actor(world.tickets_clerk)
    for step in ("label_sent", "in_transit", "received"):
        services.record_return(clerk, ticket, step, "Return step recorded.", now=t0)
    db.session.commit()
    before = {m.id for m in db.session.scalars(select(OutboxMessage))}
    services.process_refund(_actor(world.refunds_clerk), ticket, "Goods back, refund it.", now=t0)
    db.session.commit()
    new = [m for m in db.session.scalars(select(OutboxMessage)) if m.id not in before]
    to_customer = [m.subject for m in new if m.recipient == "once@example.com"]
    to_vendor = [m.subject for m in new if m.recipient != "once@example.com"
                 and m.kind != "refund_handoff"]
    assert len(to_customer) == 1 and len(to_vendor) == 1, (to_customer, to_vendor)
    assert "refund" in to_customer[0].lower() and "refund" in to_vendor[0].lower()


def test_a_long_escalations_list_says_it_shows_only_part(client, login, make, world, monkeypatch):
    from portal.transactions import handoff

    login(world.tickets_clerk)
    for n in range(3):
        sale = make.sale(world.keto, at=days_ago(world, 10), receipt=f"RTRNLIM{n}")
        ticket = make.ticket(sale, ticket_type="refund", now=days_ago(world, 0, hours=2))
        assert step(client, ticket, "return", "Prepaid return label emailed.",
                    step="label_sent").status_code == 200
    page = client.get("/transactions/escalations?tab=returns").get_data(as_text=True)
    assert 'data-testid="escalations-limited"' not in page
    monkeypatch.setattr(handoff, "LIST_LIMIT", 2)
    page = client.get("/transactions/escalations?tab=returns").get_data(as_text=True)
    assert len(re.findall(r'<tr id="escalation-\d+"', page)) == 2
    assert "Showing the oldest 2 of 3" in page
