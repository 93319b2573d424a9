"""The customer's side checks what already happened to the order, as the pages promise: the order
page hides a refund of a refunded (or charged back) charge and a cancellation of a subscription
that no longer bills, and the server refuses them too (a crafted or stale POST opened a ticket)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.support import services as support
from portal.tickets.models import Ticket
from portal.transactions import services as txn_services
from portal.transactions.models import Subscription, Transaction
from tests.customer_support.helpers import MONDAY, last_mail, link_in


def signed_in(client, sale):
    response = client.post("/support", data={"receipt": sale.receipt, "email": sale.customer_email})
    assert response.status_code == 303
    return client


def tickets() -> int:
    return db.session.scalar(select(func.count(Ticket.id)))


def test_a_refund_of_a_refunded_sale_is_neither_offered_nor_accepted(client, shop, sale, clock):
    _, account = shop
    txn_services.refund_charge(sale, account, now=MONDAY - timedelta(days=1))
    db.session.commit()
    view = support.order_view(sale, now=MONDAY)
    assert not view.can_refund and "already refunded" in view.refund_refusal
    signed_in(client, sale)
    response = client.post("/support/order/request", data={"ticket_type": "refund", "comment": "Refund me again."})
    assert response.status_code == 200
    assert "This order has been refunded." in response.get_data(as_text=True)
    assert tickets() == 0


def test_a_refund_of_a_charged_back_sale_is_refused(client, shop, sale, clock):
    _, account = shop
    txn_services.record(Transaction(
        receipt=sale.receipt, sale_receipt=sale.sale_receipt, txn_type="CGBK", occurred_at=MONDAY - timedelta(days=1),
        amount_cents=sale.amount_cents, currency=sale.currency, customer_email=sale.customer_email,
    ), account)
    db.session.commit()
    assert not support.order_view(sale, now=MONDAY).can_refund
    signed_in(client, sale)
    response = client.post("/support/order/request", data={"ticket_type": "refund", "comment": "Refund please!"})
    assert response.status_code == 200 and tickets() == 0


def test_a_cancellation_of_a_cancelled_subscription_is_neither_offered_nor_accepted(client, make, shop, clock):
    _, account = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=5), recurring=True, email="sub@example.com")
    sub = db.session.get(Subscription, sale.subscription_id)
    assert support.order_view(sale, now=MONDAY).can_cancel
    txn_services.cancel_subscription(sub, now=MONDAY - timedelta(days=1))
    db.session.commit()
    view = support.order_view(sale, now=MONDAY)
    assert not view.can_cancel and "no longer active" in view.cancel_refusal
    assert view.can_refund  # the last charge still holds money
    signed_in(client, sale)
    response = client.post("/support/order/request", data={"ticket_type": "cancel", "comment": "Cancel it please"})
    assert response.status_code == 200
    assert "This subscription is no longer active." in response.get_data(as_text=True)
    assert tickets() == 0


def test_the_customers_ticket_page_stops_offering_a_refund_once_the_sale_was_refunded(client, make, shop, sale,
                                                                                      clock):
    _, account = shop
    tech = make.ticket(sale, ticket_type="tech_support", now=MONDAY, comment="The download does not work.")
    location = client.get(link_in(last_mail(sale.customer_email, tech), "/s/c/")).headers["Location"]
    assert support.customer_options(tech, now=MONDAY)["types"] == ["refund"]
    assert 'value="refund"' in client.get(location).get_data(as_text=True)
    txn_services.refund_charge(sale, account, now=MONDAY + timedelta(minutes=5))
    db.session.commit()
    assert support.customer_options(tech, now=MONDAY + timedelta(hours=1))["types"] == []
    assert 'value="refund"' not in client.get(location).get_data(as_text=True)
    response = client.post(location + "/change-type", data={"to_type": "refund", "comment": "Money back please."})
    assert response.status_code == 200 and 'value="refund"' not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Ticket, tech.id).ticket_type == "tech_support"


def test_a_refund_asked_from_a_stale_ticket_page_says_why_it_was_refused(client, make, shop, sale, clock):
    """The ticket page offered "turn into a refund"; the vendor refunded the sale meanwhile. The
    refused change has no card left to show its reason in, so the reason shows on its own."""
    from tests.customer_support.test_customer_ticket import open_customer

    _, account = shop
    ticket = make.ticket(sale, ticket_type="tech_support", now=MONDAY, comment="The app does not start.")
    location = open_customer(client, ticket)
    txn_services.refund_charge(sale, account, now=MONDAY)
    db.session.commit()
    response = client.post(location + "/change-type", data={"to_type": "refund", "comment": "Then refund me."})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "This order has been refunded." in page
    assert 'data-testid="form-error"' in page
    assert db.session.get(Ticket, ticket.id).ticket_type == "tech_support"
