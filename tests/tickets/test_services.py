"""Ticket services: one transaction per action, events, mail, conflicts, and the sweep."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.tickets import services, sweep
from portal.tickets.lifecycle import Refused
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions.models import DailySales, Subscription, Transaction

MONDAY = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York


def clerk_actor(user):
    return services.Actor.for_user(user, principal_for(user))


@pytest.fixture
def shop(make):
    owner = make.owner()
    account = make.account(owner, "ketovital", cs_email="help@ketovital.test")
    clerk = make.clerk(owner, accounts=[account])
    return owner, account, clerk


def test_opening_a_ticket_records_the_event_and_mails_both_parties(make, shop):
    owner, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), email="buyer@example.com")
    ticket = make.ticket(sale, ticket_type="refund", now=MONDAY)
    assert ticket.status == "open" and ticket.refund_state == "requested" and ticket.source == "customer"
    assert ticket.next_action == "process" and ticket.next_action_at == MONDAY + timedelta(hours=24)
    kinds = db.session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)).all()
    assert kinds == ["opened"]
    recipients = sorted(db.session.scalars(select(OutboxMessage.recipient)))
    assert recipients == ["buyer@example.com", "help@ketovital.test"]


def test_clerk_comment_on_tech_ticket_starts_the_customer_silent_timer(make, shop):
    _, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3))
    ticket = make.ticket(sale, now=MONDAY)
    services.add_comment(clerk_actor(clerk), ticket, "Here is a new link for you.", now=MONDAY + timedelta(hours=1))
    assert ticket.last_party == "vendor" and ticket.warnings_sent == 0
    event = db.session.scalars(select(TicketEvent).order_by(TicketEvent.id.desc())).first()
    assert event.actor_user_id == clerk.id and event.comment == "Here is a new link for you."


def test_a_stale_version_is_a_conflict_and_nothing_is_written(make, shop):
    _, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3))
    ticket = make.ticket(sale, now=MONDAY)
    seen = ticket.version
    services.add_comment(clerk_actor(clerk), ticket, "First clerk's answer.", now=MONDAY, expected_version=seen)
    before = db.session.scalar(select(func.count(TicketEvent.id)))
    with pytest.raises(services.Conflict) as err:
        services.close(clerk_actor(clerk), ticket, "Second clerk closes.", now=MONDAY, expected_version=seen)
    assert err.value.ticket.status == "open"
    assert db.session.scalar(select(func.count(TicketEvent.id))) == before


def test_clerk_without_refund_authority_cannot_open_a_refund(make, shop):
    _, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3))
    with pytest.raises(services.NotAllowed):
        services.open_ticket(clerk_actor(clerk), sale, "refund", comment="Refund please", now=MONDAY)


def test_short_comment_is_refused_with_a_clear_message(make, shop):
    _, account, clerk = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - timedelta(days=3)), now=MONDAY)
    with pytest.raises(Refused) as err:
        services.add_comment(clerk_actor(clerk), ticket, "ok", now=MONDAY)
    assert "at least 6 characters" in err.value.message


def test_sweep_processes_a_due_refund_once_and_settles_it(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), amount_cents=3700)
    ticket = make.ticket(sale, ticket_type="refund", now=MONDAY)
    assert sweep.run(MONDAY + timedelta(hours=23)) == {}
    assert sweep.run(MONDAY + timedelta(hours=24)) == {"processing": 1}
    assert sweep.run(MONDAY + timedelta(hours=24)) == {}  # idempotent
    refunds = db.session.scalars(select(Transaction).where(Transaction.txn_type == "RFND")).all()
    assert [(r.receipt, r.amount_cents) for r in refunds] == [(sale.receipt, 3700)]
    assert sweep.run(MONDAY + timedelta(days=3)) == {"finalized": 1}
    db.session.refresh(ticket)
    assert ticket.status == "closed" and ticket.refund_state == "finalized" and ticket.next_action is None
    daily = db.session.scalars(select(DailySales)).all()
    assert sum(d.refund_cents for d in daily) == 3700 and sum(d.sales_cents for d in daily) == 3700
    subjects = db.session.scalars(select(OutboxMessage.subject).order_by(OutboxMessage.id)).all()
    assert any("processed" in s for s in subjects)


def test_sweep_catches_up_after_downtime(make, shop):
    _, account, _ = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - timedelta(days=3)), now=MONDAY)
    counts = sweep.run(MONDAY + timedelta(days=30))
    assert counts == {"warning": 2, "auto_closed": 1}
    db.session.refresh(ticket)
    assert ticket.status == "closed"


def test_refund_on_a_subscription_refunds_the_last_charge_and_cancels(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=40), recurring=True, amount_cents=1995)
    rebill = make.rebill(sale, at=MONDAY - timedelta(days=10))
    make.ticket(sale, ticket_type="refund", now=MONDAY)
    sweep.run(MONDAY + timedelta(days=4))
    refunds = db.session.scalars(select(Transaction.receipt).where(Transaction.txn_type == "RFND")).all()
    assert refunds == [rebill.receipt]
    assert db.session.scalar(select(Subscription.status)) == "cancelled"


def test_cancellation_stops_billing_without_money_back(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=5), recurring=True)
    make.ticket(sale, ticket_type="cancel", now=MONDAY)
    sweep.run(MONDAY + timedelta(days=4))
    assert db.session.scalar(select(func.count()).where(Transaction.txn_type == "RFND")) == 0
    sub = db.session.scalar(select(Subscription))
    assert sub.status == "cancelled" and sub.next_bill_at is None


def test_clickbank_accounts_show_expiration_but_the_sweep_never_acts(make):
    owner = make.owner()
    account = make.account(owner, source="clickbank")
    ticket = make.ticket(make.sale(account, at=MONDAY - timedelta(days=3)), ticket_type="refund", now=MONDAY)
    ticket.next_action_at = MONDAY + timedelta(hours=24)  # as ClickBank reported it
    db.session.commit()
    assert sweep.run(MONDAY + timedelta(days=10)) == {}
    assert db.session.get(Ticket, ticket.id).refund_state == "requested"


def test_one_open_refund_per_order(make, shop):
    owner, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3))
    make.ticket(sale, ticket_type="refund", now=MONDAY)
    with pytest.raises(Refused) as err:
        make.ticket(sale, ticket_type="refund", now=MONDAY + timedelta(minutes=1))
    assert err.value.code == "request_already_open"


def test_changing_the_email_updates_the_order_too(make, shop):
    _, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), email="old@example.com")
    ticket = make.ticket(sale, now=MONDAY)
    services.change_email(clerk_actor(clerk), ticket, "New@Example.com", "Customer asked by phone.", now=MONDAY)
    db.session.refresh(sale)
    assert ticket.customer_email == sale.customer_email == "new@example.com"


def test_a_clerk_changing_the_email_tells_the_old_address(make, shop):
    """The ticket's mails follow the new address; the old one hears of the change (someone
    posing as the customer to support must not move an order away unnoticed)."""
    _, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), email="old@example.com")
    ticket = make.ticket(sale, now=MONDAY)
    before = db.session.scalar(select(func.max(OutboxMessage.id)))
    services.change_email(clerk_actor(clerk), ticket, "new@example.com", "Customer asked by phone.",
                          now=MONDAY)
    sent = db.session.execute(
        select(OutboxMessage.kind, OutboxMessage.recipient, OutboxMessage.payload)
        .where(OutboxMessage.id > before)
    ).all()
    to_old = [m for m in sent if m.recipient == "old@example.com"]
    assert [m.kind for m in to_old] == ["support_email_changed"]
    assert "new@example.com" in to_old[0].payload["text"] and sale.receipt in to_old[0].payload["text"]
    assert {m.recipient for m in sent} == {"old@example.com", "new@example.com", "help@ketovital.test"}


def test_a_subscription_refund_stops_billing_when_the_money_goes_back(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=20), recurring=True)
    make.ticket(sale, ticket_type="refund", now=MONDAY)
    sweep.run(MONDAY + timedelta(hours=24))  # processed, not yet settled
    assert db.session.scalar(select(Subscription.status)) == "cancelled"


def test_a_new_time_zone_moves_timers_that_now_fall_on_a_weekend(make, shop):
    """A refund asked for on Thursday 18:00 in Los Angeles is due Friday 18:00 there. If the
    owner then moves the account to Tokyo, that moment is Saturday 11:00 in Tokyo: it waits
    for Monday 11:00 Tokyo time instead of being processed on the weekend."""
    from zoneinfo import ZoneInfo

    from portal.accounts import services as accounts

    owner, account, _ = shop
    account.timezone = "America/Los_Angeles"
    db.session.commit()
    thursday = datetime(2026, 11, 19, 18, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    sale = make.sale(account, at=thursday - timedelta(days=3))
    ticket = make.ticket(sale, ticket_type="refund", now=thursday.astimezone(timezone.utc))
    friday_evening = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)  # Sat 11:00 in Tokyo
    assert ticket.next_action_at == friday_evening
    accounts.update_settings(owner, account, {"timezone": "Asia/Tokyo"}, now=thursday)
    db.session.refresh(ticket)
    monday_tokyo = datetime(2026, 11, 23, 11, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert ticket.next_action_at == monday_tokyo
    assert sweep.run(friday_evening) == {}
    assert sweep.run(monday_tokyo.astimezone(timezone.utc)) == {"processing": 1}
