"""The transaction page, receipts (page, PDF, email) and opening a ticket for the sale."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.audit import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions import services as txn_services
from tests.conftest import HX
from tests.transactions.conftest import days_ago

# --- the page ------------------------------------------------------------------------------------


def test_the_page_shows_the_order_related_rows_subscription_and_tickets(client, login, make, world):
    sale = make.sale(
        world.keto,
        at=days_ago(world, 40),
        recurring=True,
        receipt="SUBS0001",
        email="buyer@example.com",
        affiliate="healthhub",
    )
    rebill = make.rebill(sale, at=days_ago(world, 10))
    refund = txn_services.refund_charge(rebill, world.keto, now=days_ago(world, 5))
    db.session.commit()
    ticket = make.ticket(sale, now=days_ago(world, 4))
    login(world.owner)
    html = client.get(f"/transactions/{sale.id}").get_data(as_text=True)
    assert 'data-testid="receipt-number">SUBS0001<' in html
    related = html.split('data-testid="related"')[1].split("</table>")[0]
    assert related.index("SUBS0001<") < related.index("SUBS0001-1<")  # oldest first
    assert related.count("SUBS0001-1") == 2 and "Refund" in related
    assert f'href="/tickets/{ticket.id}"' in html
    assert "healthhub" in html and "buyer@example.com" in html
    assert 'data-testid="subscription-status">Active' in html
    assert "every 30 days" in html
    assert refund.receipt == "SUBS0001-1"
    rebill_page = client.get(f"/transactions/{rebill.id}").get_data(as_text=True)
    assert "Refunded" in rebill_page or "Refund" in rebill_page
    assert f'href="/transactions/{sale.id}">SUBS0001<' in rebill_page  # link to the order's sale


@pytest.mark.parametrize("who", ["owner", "search_clerk", "refunds_clerk"])
def test_search_orders_users_open_any_transaction_of_their_accounts(
    client, login, make, world, who
):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(getattr(world, who))
    assert client.get(f"/transactions/{sale.id}").status_code == 200


def test_orders_tickets_only_clerk_opens_a_transaction_only_through_its_ticket(
    client, login, make, world
):
    """Seed 003: Orders/Tickets sees only transactions tied to support tickets; others are 404."""
    loose = make.sale(world.keto, at=days_ago(world, 3))
    tied = make.sale(world.keto, at=days_ago(world, 3))
    rebill_of_tied = make.rebill(tied, at=days_ago(world, 1))
    make.ticket(tied, now=days_ago(world, 2))
    login(world.tickets_clerk)
    assert client.get(f"/transactions/{loose.id}").status_code == 404
    assert client.get(f"/transactions/{loose.id}/receipt").status_code == 404
    assert client.get(f"/transactions/{loose.id}/receipt.pdf").status_code == 404
    assert client.post(f"/transactions/{loose.id}/email-receipt").status_code == 404
    assert (
        client.post(
            f"/transactions/{loose.id}/tickets",
            data={"ticket_type": "tech_support", "comment": "Customer asks for help."},
        ).status_code
        == 404
    )
    assert client.get(f"/transactions/{tied.id}").status_code == 200
    assert client.get(f"/transactions/{rebill_of_tied.id}").status_code == 200  # same order
    assert client.get(f"/transactions/{tied.id}/receipt.pdf").status_code == 200


def test_other_accounts_and_tenants_are_404_and_other_roles_403(client, login, make, world):
    mind = make.sale(world.mind, at=days_ago(world, 3))
    foreign = make.sale(world.other_account, at=days_ago(world, 3))
    login(world.tickets_clerk)  # granted ketovital only
    make.ticket(mind, now=days_ago(world, 2))
    assert client.get(f"/transactions/{mind.id}").status_code == 404
    login(world.owner)
    assert client.get(f"/transactions/{foreign.id}").status_code == 404
    assert client.get("/transactions/999999").status_code == 404
    assert client.get(f"/transactions/{2**63 + 5}").status_code == 404
    login(world.users_clerk)
    assert client.get(f"/transactions/{mind.id}").status_code == 403


# --- receipts ------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_receipt_page_has_a_print_stylesheet_and_the_numbers(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="PRNT0001", amount_cents=4700)
    login(world.search_clerk)
    html = client.get(f"/transactions/{sale.id}/receipt").get_data(as_text=True)
    assert 'data-testid="receipt-number">PRNT0001<' in html and "$47.00" in html
    assert "css/transactions.css" in html and "data-print" in html
    css = client.get("/static/css/transactions.css").get_data(as_text=True)
    assert "@media print" in css


def test_pdf_receipt_is_a_real_pdf_with_the_receipt_number(client, login, make, world):
    sale = make.sale(
        world.mind, at=days_ago(world, 3), receipt="PDF00001", amount_cents=4900, currency="EUR"
    )
    sale.customer_first_name, sale.customer_last_name = "Łukasz", "Müller"
    db.session.commit()
    login(world.owner)
    r = client.get(f"/transactions/{sale.id}/receipt.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert r.headers["Content-Disposition"] == 'attachment; filename="receipt-PDF00001.pdf"'
    assert r.data.startswith(b"%PDF-")
    text = pdf_text(r.data)
    assert "PDF00001" in text and "mindshift" in text and "Müller" in text
    assert "49.00" in text


def test_pdf_with_the_builtin_font_keeps_latin1_and_simplifies_the_rest(make, world):
    from portal.transactions import receipts

    sale = make.sale(world.mind, at=days_ago(world, 3), receipt="PDF00002", currency="EUR")
    sale.customer_first_name, sale.customer_last_name = "Łukasz", "Müller 中"
    data = receipts.render_pdf(receipts.build(sale), force_builtin_font=True)
    text = pdf_text(data)
    assert "PDF00002" in text and "Lukasz" in text and "Müller ?" in text and "47.00 EUR" in text


def test_pdf_never_fetches_anything(make, world):
    """Markup in customer data is printed as text; nothing is loaded from a URL or a file."""
    from portal.transactions import receipts

    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="PDF00003")
    sale.product_title = '<img src="http://127.0.0.1:9/x"> <link href="file:///etc/passwd">'
    import socket

    real_connect = socket.socket.connect
    calls = []

    def spy(self, address):
        calls.append(address)
        return real_connect(self, address)

    socket.socket.connect = spy
    try:
        data = receipts.render_pdf(receipts.build(sale))
    finally:
        socket.socket.connect = real_connect
    assert calls == []
    text = pdf_text(data)
    assert "root:" not in text and "127.0.0.1:9/x" in text


def test_email_receipt_goes_to_the_customer_through_the_outbox(client, login, make, world):
    sale = make.sale(
        world.keto, at=days_ago(world, 3), receipt="MAIL0001", email="buyer@example.com"
    )
    login(world.search_clerk)
    r = client.post(f"/transactions/{sale.id}/email-receipt")
    assert r.status_code == 303 and r.headers["Location"] == f"/transactions/{sale.id}"
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert message.recipient == "buyer@example.com" and "MAIL0001" in message.subject
    assert "MAIL0001" in message.payload["text"] and "$47.00" in message.payload["html"]
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "receipt.emailed"))
    assert audit.actor_id == world.search_clerk.id and audit.details["receipt"] == "MAIL0001"
    page = client.get(f"/transactions/{sale.id}").get_data(as_text=True)
    assert "Receipt MAIL0001 emailed to buyer@example.com." in page


def test_email_receipt_goes_back_where_it_was_sent_from_but_only_inside_the_portal(
    client, login, make, world
):
    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="MAIL0002")
    ticket = make.ticket(sale, now=days_ago(world, 2))
    login(world.search_clerk)
    r = client.post(
        f"/transactions/{sale.id}/email-receipt",
        data={"next": "/transactions/?q=MAIL", "ticket_id": ticket.id},  # an old form's field
    )
    assert r.status_code == 303 and r.headers["Location"] == "/transactions/?q=MAIL"
    evil = client.post(
        f"/transactions/{sale.id}/email-receipt", data={"next": "https://evil.test/x"}
    )
    assert evil.headers["Location"] == f"/transactions/{sale.id}"
    # A receipt sent from the Transactions tab is no ticket's history (the ticket has its own
    # action, with a comment).
    kinds = db.session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id))
    assert "receipt_emailed" not in list(kinds)


def test_email_receipt_on_a_removed_account_is_refused(client, login, make, world):
    sale = make.sale(world.mind, at=days_ago(world, 3))
    world.mind.status = "removed"
    db.session.commit()
    login(world.owner)
    assert client.get(f"/transactions/{sale.id}").status_code == 200  # still readable
    assert client.post(f"/transactions/{sale.id}/email-receipt").status_code == 403


# --- the "T" action ------------------------------------------------------------------------------


def open_ticket(
    client, sale, ticket_type, comment="Customer asked us for this.", headers=None, **extra
):
    return client.post(
        f"/transactions/{sale.id}/tickets",
        data={"ticket_type": ticket_type, "comment": comment, **extra},
        headers=headers or {},
    )


def test_tech_support_ticket_by_a_clerk_who_may_work_the_transaction(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.search_clerk)
    r = open_ticket(client, sale, "tech_support")
    ticket = db.session.scalar(select(Ticket))
    assert r.status_code == 303 and r.headers["Location"] == f"/tickets/{ticket.id}"
    assert (
        ticket.ticket_type == "tech_support"
        and ticket.source == "clerk"
        and ticket.receipt == sale.receipt
    )
    assert ticket.opened_by_id == world.search_clerk.id


def test_refund_by_refund_authority_is_vendor_initiated_and_processed_after_five_minutes(
    client, login, make, world
):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.refunds_clerk)
    r = open_ticket(client, sale, "refund", headers=HX)
    ticket = db.session.scalar(select(Ticket))
    assert r.status_code == 204 and r.headers["HX-Redirect"] == f"/tickets/{ticket.id}"
    assert (
        ticket.ticket_type == "refund"
        and ticket.vendor_initiated
        and ticket.refund_state == "requested"
    )
    from zoneinfo import ZoneInfo

    from portal.tickets.lifecycle import weekend_adjusted

    expected = weekend_adjusted(
        ticket.opened_at + timedelta(minutes=5), ZoneInfo("America/New_York")
    )
    assert ticket.next_action == "process" and ticket.next_action_at == expected


def test_refund_without_refund_authority_is_refused(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.search_clerk)
    assert open_ticket(client, sale, "refund").status_code == 403
    assert open_ticket(client, sale, "cancel").status_code == 403
    assert db.session.scalar(select(Ticket)) is None
    page = client.get(f"/transactions/{sale.id}").get_data(as_text=True)
    assert re.search(r'id="tt-refund" value="refund" disabled', page)
    assert "needs Refund authority" in page


def test_refund_outside_the_vendor_window_needs_escalate(client, login, make, world):
    old = make.sale(world.keto, at=days_ago(world, 120))
    login(world.refunds_clerk)
    page = client.get(f"/transactions/{old.id}").get_data(as_text=True)
    assert 'name="escalate"' in page and "past the 90-day vendor window" in page
    r = open_ticket(client, old, "refund", headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "more than 90 days old" in body and 'id="open-ticket"' in body
    assert "Customer asked us for this." in body  # the comment is kept
    assert db.session.scalar(select(Ticket)) is None
    r = open_ticket(client, old, "refund", escalate="y")
    ticket = db.session.scalar(select(Ticket))
    assert r.status_code == 303 and ticket.escalated and ticket.ticket_type == "refund"


def test_escalate_is_ignored_for_a_young_sale(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.refunds_clerk)
    open_ticket(client, sale, "refund", escalate="y")
    assert db.session.scalar(select(Ticket)).escalated is False


def test_a_second_refund_request_for_the_order_is_refused(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    first = make.ticket(sale, ticket_type="refund", now=days_ago(world, 1))
    login(world.refunds_clerk)
    r = open_ticket(client, sale, "refund")
    assert r.status_code == 200
    assert f"already open for this order (ticket #{first.id})" in r.get_data(as_text=True)
    assert len(db.session.scalars(select(Ticket)).all()) == 1


def test_refund_of_an_already_refunded_order_is_refused(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    txn_services.refund_charge(sale, world.keto, now=days_ago(world, 1))
    db.session.commit()
    login(world.refunds_clerk)
    r = open_ticket(client, sale, "refund")
    assert r.status_code == 200 and "already refunded" in r.get_data(as_text=True)


def test_cancellation_only_for_subscriptions_and_opened_on_the_sale(client, login, make, world):
    plain = make.sale(world.keto, at=days_ago(world, 3))
    sub_sale = make.sale(world.keto, at=days_ago(world, 40), recurring=True)
    rebill = make.rebill(sub_sale, at=days_ago(world, 10))
    login(world.refunds_clerk)
    r = open_ticket(client, plain, "cancel")
    assert r.status_code == 200 and "only possible for a recurring product" in r.get_data(as_text=True)
    r = open_ticket(client, rebill, "cancel")  # from the rebill's page: the ticket is on the sale
    ticket = db.session.scalar(select(Ticket))
    assert (
        r.status_code == 303
        and ticket.transaction_id == sub_sale.id
        and ticket.ticket_type == "cancel"
    )


def test_short_comment_is_refused_with_the_form_kept(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.search_clerk)
    r = open_ticket(client, sale, "tech_support", comment="help", headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "at least 6 characters" in body
    assert re.search(r">\s*help</textarea>", body)
    assert db.session.scalar(select(Ticket)) is None


def test_the_page_without_javascript_re_renders_in_full_on_error(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.search_clerk)
    r = open_ticket(client, sale, "tech_support", comment="x")
    assert r.status_code == 200 and "<html" in r.get_data(as_text=True)


def test_refund_authority_without_orders_tickets_may_refund_but_not_open_tech_support(
    client, login, make, world
):
    clerk = make.clerk(world.owner, perms=("search_orders", "refund_authority"), accounts=[world.keto])
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(clerk)
    page = client.get(f"/transactions/{sale.id}").get_data(as_text=True)
    assert re.search(r'id="tt-tech_support" value="tech_support" disabled', page)
    assert "needs Orders/Tickets" in page
    assert open_ticket(client, sale, "tech_support").status_code == 403
    assert open_ticket(client, sale, "refund").status_code == 303


def test_forms_need_the_csrf_token(app, client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.search_clerk)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post(f"/transactions/{sale.id}/email-receipt").status_code == 400
        assert client.post(f"/transactions/{sale.id}/email-receipt", headers=HX).status_code == 400
        assert db.session.scalar(select(OutboxMessage)) is None
        page = client.get(f"/transactions/{sale.id}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        r = client.post(f"/transactions/{sale.id}/email-receipt", data={"csrf_token": token})
        assert r.status_code == 303
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_with_htmx_the_email_card_says_it_was_sent(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="MAIL0003", email="buyer@example.com")
    login(world.search_clerk)
    r = client.post(f"/transactions/{sale.id}/email-receipt", headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="email-receipt"' in body and "<html" not in body
    assert "Receipt MAIL0003 emailed to buyer@example.com." in body
