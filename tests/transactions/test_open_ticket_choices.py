"""The "T" form offers only what the server would accept: a choice the ticket rules refuse now is
disabled, with the rule's own reason beside it — and the server still refuses it if posted."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.transactions import queries
from portal.transactions import services as txn_services
from tests.conftest import HX
from tests.transactions.conftest import days_ago


def choice(html: str, value: str) -> tuple[bool, str | None]:
    """(disabled?, reason shown) of one radio of the T form."""
    radio = re.search(rf'<input[^>]*id="tt-{value}"[^>]*>', html).group(0)
    why = re.search(rf'data-testid="why-{value}">([^<]*)<', html)
    return "disabled" in radio, (why.group(1) if why else None)


def page(client, txn) -> str:
    return client.get(f"/transactions/{txn.id}").get_data(as_text=True)


@pytest.fixture
def refunded_and_cancelled(make, world):
    sale = make.sale(world.keto, at=days_ago(world, 10), recurring=True)
    txn_services.refund_charge(sale, world.keto, now=days_ago(world, 2))
    txn_services.cancel_subscription(queries.subscription_for(sale), now=days_ago(world, 2))
    db.session.commit()
    return sale


def test_a_refunded_and_cancelled_order_offers_only_tech_support(
    client, login, world, refunded_and_cancelled
):
    login(world.owner)
    html = page(client, refunded_and_cancelled)
    assert choice(html, "tech_support") == (False, None)
    disabled, why = choice(html, "refund")
    assert disabled and "already refunded" in why
    disabled, why = choice(html, "cancel")
    assert disabled and "no longer active" in why
    assert re.search(r'id="tt-tech_support"[^>]*checked', html)


def test_the_server_still_refuses_what_the_form_disables(
    client, login, world, refunded_and_cancelled
):
    login(world.owner)
    r = client.post(
        f"/transactions/{refunded_and_cancelled.id}/tickets",
        data={"ticket_type": "refund", "comment": "Refund it again please."},
        headers=HX,
    )
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "already refunded" in body
    assert 'data-testid="ticket-error"' in body


def test_cancellation_is_only_for_subscriptions(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.owner)
    html = page(client, sale)
    assert choice(html, "refund") == (False, None)
    disabled, why = choice(html, "cancel")
    assert disabled and "only possible for a recurring product" in why


def test_an_open_request_blocks_another_with_its_number(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3), recurring=True)
    ticket = make.ticket(sale, ticket_type="refund", now=days_ago(world, 1))
    login(world.owner)
    html = page(client, sale)
    for value in ("refund", "cancel"):
        disabled, why = choice(html, value)
        assert disabled and f"already open for this order (ticket #{ticket.id})" in why
    assert choice(html, "tech_support") == (False, None)


def test_past_the_vendor_window_a_refund_stays_offered_with_the_escalate_box(
    client, login, make, world
):
    sale = make.sale(world.keto, at=days_ago(world, 120))
    login(world.owner)
    html = page(client, sale)
    assert choice(html, "refund") == (False, None)
    assert 'name="escalate"' in html


def test_permissions_are_the_reason_for_a_clerk_without_refund_authority(
    client, login, make, world
):
    sale = make.sale(world.keto, at=days_ago(world, 3), recurring=True)
    login(world.tickets_clerk)
    queries_ticket = make.ticket(sale, now=days_ago(world, 1))  # the clerk sees ticketed orders
    assert queries_ticket.id
    html = page(client, sale)
    for value in ("refund", "cancel"):
        assert choice(html, value) == (True, "needs Refund authority")
    assert choice(html, "tech_support") == (False, None)


def test_the_choices_come_back_disabled_after_a_refused_post(
    client, login, world, refunded_and_cancelled
):
    """The fragment returned after an error is the same form with the same reasons."""
    login(world.owner)
    r = client.post(
        f"/transactions/{refunded_and_cancelled.id}/tickets",
        data={"ticket_type": "cancel", "comment": "Cancel it please."},
        headers=HX,
    )
    body = r.get_data(as_text=True)
    assert "<html" not in body
    assert choice(body, "cancel")[0] and choice(body, "refund")[0]
