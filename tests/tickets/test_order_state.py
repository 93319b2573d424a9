"""Refund and cancel requests check what already happened to the order, not only the clock: a
last charge that was already refunded or charged back cannot be refunded again, a subscription
that no longer bills cannot be cancelled, and one request at a time. The same check serves
opening, changing the type, reopening, the pages' options and the sweep (a request that became
moot while it waited closes without a second "refund completed" mail)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.tickets import lifecycle, services, sweep
from portal.tickets.lifecycle import OrderFacts, Party, Refused, Reversal, TicketType
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions import services as txn_services
from portal.transactions.models import Subscription, Transaction
from tests.tickets.conftest import as_user, fresh

MONDAY = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York
H = timedelta(hours=1)
D = timedelta(days=1)
RULES = lifecycle.Rules(tz=ZoneInfo("America/New_York"))




def refunds_of(sale) -> list[str]:
    return list(db.session.scalars(select(Transaction.receipt).where(
        Transaction.sale_receipt == sale.sale_receipt, Transaction.txn_type == "RFND")))


def mail_kinds(ticket) -> list[str]:
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)
                              .order_by(OutboxMessage.id))
    return [m.payload["dedupe"].split(":")[0] + ":" + m.payload["dedupe"].rsplit(":", 1)[1] for m in rows]


def chargeback(sale, at):
    txn_services.record(Transaction(
        receipt=sale.receipt, sale_receipt=sale.sale_receipt, txn_type="CGBK", occurred_at=at,
        amount_cents=sale.amount_cents, currency=sale.currency, customer_email=sale.customer_email,
    ), sale.linked_account)
    db.session.commit()


def refund_through_vendor_ticket(owner, sale, at):
    """What the reviewer did: the refund runs through its own vendor ticket (5 minutes)."""
    services.open_ticket(as_user(owner), sale, "refund", comment="Refunded on request by phone.", now=at)
    sweep.run(at + timedelta(minutes=5))


# --- the pure rule ---------------------------------------------------------------------------------

def test_the_rule_refuses_a_reversed_charge_and_a_stopped_subscription():
    def opening(kind, order, recurring=True):
        return lifecycle.open_ticket(TicketType(kind), by=Party.CUSTOMER, sale_at=MONDAY - 3 * D,
                                     recurring=recurring, now=MONDAY, rules=RULES, order=order)

    with pytest.raises(Refused) as refunded:
        opening("refund", OrderFacts(last_charge=Reversal.REFUNDED))
    with pytest.raises(Refused) as charged_back:
        opening("refund", OrderFacts(last_charge=Reversal.CHARGED_BACK))
    with pytest.raises(Refused) as stopped:
        opening("cancel", OrderFacts(subscription_live=False))
    with pytest.raises(Refused) as busy:
        opening("refund", OrderFacts(open_request=7))
    assert (refunded.value.code, charged_back.value.code, stopped.value.code, busy.value.code) == (
        "already_refunded", "charged_back", "no_active_subscription", "request_already_open")
    assert "already refunded" in refunded.value.message and "charged" in charged_back.value.message
    assert "no longer active" in stopped.value.message and "#7" in busy.value.message
    # Help is always possible; a cancellation still is after a refunded charge, and vice versa.
    assert opening("tech_support", OrderFacts(last_charge=Reversal.REFUNDED, subscription_live=False)).status == "open"
    assert opening("cancel", OrderFacts(last_charge=Reversal.REFUNDED)).refund_state == "requested"
    assert opening("refund", OrderFacts(subscription_live=False)).refund_state == "requested"


def test_change_type_reopen_and_the_offered_types_use_the_same_rule():
    tech = lifecycle.open_ticket(TicketType.TECH_SUPPORT, by=Party.CUSTOMER, sale_at=MONDAY - 3 * D,
                                 recurring=True, now=MONDAY, rules=RULES)
    refunded = replace(tech, order=OrderFacts(last_charge=Reversal.REFUNDED, subscription_live=False))
    with pytest.raises(Refused, match="already refunded"):
        lifecycle.change_type(refunded, TicketType.REFUND, by=Party.CUSTOMER, now=MONDAY + H, rules=RULES)
    assert lifecycle.allowed_type_changes(refunded, by=Party.VENDOR, now=MONDAY + H, rules=RULES) == []
    assert lifecycle.allowed_type_changes(tech, by=Party.VENDOR, now=MONDAY + H, rules=RULES) == [
        TicketType.REFUND, TicketType.CANCEL]
    request = lifecycle.open_ticket(TicketType.REFUND, by=Party.CUSTOMER, sale_at=MONDAY - 3 * D,
                                    recurring=True, now=MONDAY, rules=RULES)
    withdrawn = lifecycle.close(request, by=Party.CUSTOMER, now=MONDAY + H)
    later = replace(withdrawn, order=OrderFacts(last_charge=Reversal.CHARGED_BACK))
    with pytest.raises(Refused) as refused:
        lifecycle.reopen(later, by=Party.VENDOR, now=MONDAY + 2 * H, rules=RULES)
    assert refused.value.code == "charged_back"


def test_a_due_request_that_became_moot_closes_instead_of_processing():
    request = lifecycle.open_ticket(TicketType.REFUND, by=Party.CUSTOMER, sale_at=MONDAY - 3 * D,
                                    recurring=False, now=MONDAY, rules=RULES)
    moot = replace(request, order=OrderFacts(last_charge=Reversal.REFUNDED))
    step = lifecycle.advance(moot, MONDAY + 24 * H, RULES)
    assert (step.event, step.reason) == (lifecycle.EventKind.CLOSED, "already_refunded")
    assert (step.state.status, step.state.refund_state, step.state.next_action) == ("closed", "withdrawn", None)
    assert lifecycle.advance(request, MONDAY + 24 * H, RULES).event is lifecycle.EventKind.PROCESSING


# --- the reviewer's reproduction -------------------------------------------------------------------

def test_a_refunded_sale_behind_a_tech_ticket_is_no_longer_offered_or_accepted_as_a_refund(make, shop):
    owner, account, clerk = shop
    sale = make.sale(account, at=MONDAY - 3 * D, email="buyer@example.com")
    tech = make.ticket(sale, ticket_type="tech_support", now=MONDAY, comment="The download does not work.")
    assert "refund" in services.available_actions(principal_for(owner), tech, now=MONDAY + H).change_types
    refund_through_vendor_ticket(owner, sale, MONDAY + H)
    assert refunds_of(sale) == [sale.receipt]

    tech = fresh(tech)
    options = services.available_actions(principal_for(owner), tech, now=MONDAY + 2 * H)
    assert options.change_types == []  # was ["refund"]: the page offered what must not happen
    with pytest.raises(Refused) as by_owner:
        services.change_type(as_user(owner), tech, "refund", "The customer wants the money back.",
                             now=MONDAY + 2 * H, customer_agreed=True)
    db.session.rollback()
    with pytest.raises(Refused) as by_customer:
        services.change_type(services.Actor.customer(tech), tech, "refund", "I want my money back.",
                             now=MONDAY + 2 * H)
    db.session.rollback()
    assert by_owner.value.code == by_customer.value.code == "already_refunded"
    assert fresh(tech).ticket_type == "tech_support"
    sweep.run(MONDAY + 10 * D)
    assert refunds_of(sale) == [sale.receipt]
    completed = [k for k in mail_kinds(tech) if k.startswith("refund_processed")]
    assert completed == []


def test_opening_a_refund_of_a_charged_back_sale_or_cancelling_a_stopped_subscription_is_refused(make, shop):
    owner, account, _ = shop
    sale = make.sale(account, at=MONDAY - 20 * D)
    chargeback(sale, MONDAY - 2 * D)
    with pytest.raises(Refused) as charged_back:
        services.open_ticket(as_user(owner), sale, "refund", comment="Refund the customer.", now=MONDAY)
    db.session.rollback()
    assert charged_back.value.code == "charged_back"
    assert services.request_refusal(sale, "refund", by=Party.CUSTOMER, now=MONDAY) == charged_back.value.message

    sub_sale = make.sale(account, at=MONDAY - 5 * D, recurring=True)
    sub = db.session.get(Subscription, sub_sale.subscription_id)
    sub.status = "paused"
    db.session.commit()
    assert services.request_refusal(sub_sale, "cancel", by=Party.CUSTOMER, now=MONDAY) is None
    txn_services.cancel_subscription(sub, now=MONDAY - D)
    db.session.commit()
    with pytest.raises(Refused) as stopped:
        services.open_ticket(services.Actor.customer(sub_sale), sub_sale, "cancel", comment="Stop billing me.",
                             now=MONDAY)
    db.session.rollback()
    assert stopped.value.code == "no_active_subscription"
    assert db.session.scalars(select(Ticket)).all() == []


def test_turning_tech_support_into_a_second_request_is_refused(make, shop):
    owner, account, _ = shop
    sale = make.sale(account, at=MONDAY - 3 * D)
    tech = make.ticket(sale, ticket_type="tech_support", now=MONDAY)
    request = services.open_ticket(as_user(owner), sale, "refund", comment="Refund by phone request.", now=MONDAY + H)
    assert services.available_actions(principal_for(owner), tech, now=MONDAY + H).change_types == []
    with pytest.raises(Refused) as refused:
        services.change_type(services.Actor.customer(tech), tech, "refund", "Refund this please.", now=MONDAY + H)
    db.session.rollback()
    assert refused.value.code == "request_already_open" and f"#{request.id}" in refused.value.message
    # The request itself may still be turned into tech support and back.
    assert services.available_actions(principal_for(owner), request, now=MONDAY + H).change_types == ["tech_support"]


def test_reopening_a_withdrawn_refund_after_the_charge_was_refunded_is_refused_and_not_offered(make, shop):
    owner, account, _ = shop
    sale = make.sale(account, at=MONDAY - 3 * D)
    request = make.ticket(sale, ticket_type="refund", now=MONDAY)
    services.close(services.Actor.customer(request), request, "Sorted it out, thanks.", now=MONDAY + H)
    refund_through_vendor_ticket(owner, sale, MONDAY + 2 * H)
    request = fresh(request)
    options = services.available_actions(principal_for(owner), request, now=MONDAY + 3 * H)
    assert not options.reopen and "already refunded" in options.reopen_blocked
    with pytest.raises(Refused, match="already refunded"):
        services.reopen(as_user(owner), request, "Customer wants it after all.", now=MONDAY + 3 * H)
    db.session.rollback()
    assert fresh(request).status == "closed"


# --- the sweep ---------------------------------------------------------------------------------------

def test_a_refund_due_after_the_charge_was_refunded_closes_without_a_second_refund_mail(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - 3 * D, email="buyer@example.com")
    request = make.ticket(sale, ticket_type="refund", now=MONDAY)
    txn_services.refund_charge(sale, account, now=MONDAY + H)  # refunded some other way meanwhile
    db.session.commit()
    assert sweep.run(MONDAY + 24 * H) == {"closed": 1}
    assert sweep.run(MONDAY + 5 * D) == {}
    ticket = fresh(request)
    assert (ticket.status, ticket.refund_state, ticket.next_action) == ("closed", "withdrawn", None)
    assert refunds_of(sale) == [sale.receipt]
    event = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                               .order_by(TicketEvent.id.desc())).first()
    assert (event.kind, event.actor_kind, event.comment) == ("closed", "system", "This order has been refunded.")
    assert event.data["moot"] == "already_refunded" and event.data["charge_receipt"] == sale.receipt
    assert mail_kinds(ticket) == ["ticket_opened:customer", "ticket_opened:vendor",
                                  "ticket_closed:customer", "ticket_closed:vendor"]
    customer, vendor = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.ticket_id == ticket.id).order_by(OutboxMessage.id)).all()[-2:]
    assert "This order has been refunded." in customer.payload["text"]
    assert "Refund completed" not in customer.payload["text"]
    assert f"the last charge ({sale.receipt}) had already been refunded" in vendor.payload["text"]
    assert "Nothing was refunded or cancelled by this request." in vendor.payload["text"]


def test_a_refund_due_after_a_chargeback_and_a_cancel_due_after_cancelling_close_the_same_way(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - 3 * D)
    refund = make.ticket(sale, ticket_type="refund", now=MONDAY)
    chargeback(sale, MONDAY + H)
    sub_sale = make.sale(account, at=MONDAY - 3 * D, recurring=True)
    cancel = make.ticket(sub_sale, ticket_type="cancel", now=MONDAY, locale="de")
    txn_services.cancel_subscription(db.session.get(Subscription, sub_sale.subscription_id), now=MONDAY + H)
    db.session.commit()
    assert sweep.run(MONDAY + 24 * H) == {"closed": 2}
    assert refunds_of(sale) == []
    for ticket, code, note in ((refund, "charged_back", "This order has been refunded."),
                               (cancel, "no_active_subscription", "Dieses Abonnement ist nicht mehr aktiv.")):
        ticket = fresh(ticket)
        assert (ticket.status, ticket.refund_state) == ("closed", "withdrawn")
        last = ticket.events[-1]
        assert (last.kind, last.data["moot"], last.comment) == ("closed", code, note)
        assert not any(k.startswith("refund_processed") for k in mail_kinds(ticket))


def test_processing_a_held_refund_of_a_charge_refunded_meanwhile_is_refused(make, shop):
    owner, account, clerk = shop
    sale = make.sale(account, at=MONDAY - 3 * D)
    request = make.ticket(sale, ticket_type="refund", now=MONDAY)
    for step in ("label_sent", "in_transit", "received"):
        services.record_return(as_user(clerk), request, step, f"Return step {step}.", now=MONDAY + H)
    txn_services.refund_charge(sale, account, now=MONDAY + 2 * H)
    db.session.commit()
    with pytest.raises(Refused, match="already refunded"):
        services.process_refund(as_user(owner), request, "Goods are back, refund.", now=MONDAY + 3 * H)
    db.session.rollback()
    assert refunds_of(sale) == [sale.receipt] and fresh(request).refund_state == "requested"
