"""The customer's order page of sandbox accounts (DOMAIN.md §8, seed 004): find the order with
receipt + email, download, print and email the invoice, change the email, and ask for tech
support, a refund (inside the window) or a cancellation (subscriptions only)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.extensions import db
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions.models import Transaction
from tests.conftest import HX
from tests.customer_support.helpers import MONDAY, last_mail, mails


def find(client, receipt, email, **kw):
    return client.post("/support", data={"receipt": receipt, "email": email}, **kw)


def signed_in(client, sale):
    response = find(client, sale.receipt, sale.customer_email)
    assert response.status_code == 303 and response.headers["Location"] == "/support/order"
    return client


def audit_names() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.event).order_by(AuditEvent.id)))


# --- finding the order -----------------------------------------------------------------------------

def test_the_find_page_is_public_and_private(client, clock):
    response = client.get("/support")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Find your order" in body and 'name="receipt"' in body
    assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["Cache-Control"] == "no-store"
    german = client.get("/support", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert "Ihre Bestellung aufrufen" in german


def test_receipt_and_email_open_the_order_in_its_language(client, make, shop, clock):
    _, account = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), email="ana@example.es", locale="es")
    response = find(client, f"  {sale.receipt.lower()} ", " ANA@example.es ")
    assert response.status_code == 303
    page = client.get("/support/order").get_data(as_text=True)
    assert '<html lang="es"' in page and f"Su pedido {sale.receipt}" in page
    assert "47,00\u00a0$" in page and "Solicitar un reembolso" in page
    assert "https://" not in page or "download" in page


@pytest.mark.parametrize("receipt, email", [
    ("NOPE12345", "buyer@example.com"),  # unknown receipt
    (None, "other@example.com"),  # right receipt, wrong email
    (None, ""),  # missing email
    ("<script>", "buyer@example.com"),
])
def test_wrong_pairs_get_one_neutral_message(client, sale, clock, receipt, email):
    response = find(client, receipt or sale.receipt, email)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "could not find an order" in body or "Please enter the receipt number and the email" in body
    assert "/support/order" not in response.headers.get("Location", "")
    assert client.get("/support/order").status_code == 303  # no session was started


def test_unknown_receipt_and_wrong_email_are_indistinguishable(client, sale, clock):
    a = find(client, "NOPE12345", sale.customer_email).get_data(as_text=True)
    b = find(client, sale.receipt, "someone@example.com").get_data(as_text=True)
    strip = lambda html: html.replace("NOPE12345", "X").replace(sale.receipt, "X").replace(
        sale.customer_email, "Y").replace("someone@example.com", "Y")
    assert strip(a) == strip(b)


def test_a_rebill_receipt_finds_the_subscription(client, make, shop, clock):
    _, account = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=40), recurring=True, email="sub@example.com")
    rebill = make.rebill(sale, at=MONDAY - timedelta(days=10))
    assert find(client, rebill.receipt, "sub@example.com").status_code == 303
    page = client.get("/support/order").get_data(as_text=True)
    assert f"Your order {sale.receipt}" in page and rebill.receipt in page and "Cancel my subscription" in page


def test_only_sandbox_accounts_that_are_linked_have_an_order_page(client, make, shop, clock):
    owner, _ = shop
    clickbank = make.account(owner, "cbshop", source="clickbank")
    removed = make.account(owner, "gone", status="removed")
    for account in (clickbank, removed):
        sale = make.sale(account, at=MONDAY - timedelta(days=2), email="x@example.com")
        assert find(client, sale.receipt, "x@example.com").status_code == 200


def test_failed_lookups_are_rate_limited_but_successes_do_not_count(client, make, shop, limited):
    from portal.types import utcnow

    _, account = shop
    sale = make.sale(account, at=utcnow() - timedelta(days=3), email="buyer@example.com")
    for _ in range(5):
        assert find(client, sale.receipt, sale.customer_email).status_code == 303
    codes = [find(client, sale.receipt, f"guess{i}@example.com").status_code for i in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429
    blocked = find(client, sale.receipt, sale.customer_email)
    assert blocked.status_code == 429 and "Too many attempts" in blocked.get_data(as_text=True)
    limited.tick(timedelta(minutes=16))
    assert find(client, sale.receipt, sale.customer_email).status_code == 303


def test_the_order_session_ends_when_idle_and_never_reaches_clerk_routes(client, sale, clock):
    signed_in(client, sale)
    clock.tick(timedelta(minutes=29))
    assert client.get("/support/order").status_code == 200
    assert client.get("/tickets/").status_code == 302 and "/auth/login" in client.get("/tickets/").headers["Location"]
    assert client.get(f"/transactions/{sale.id}").status_code in (302, 404)
    clock.tick(timedelta(minutes=31))
    ended = client.get("/support/order")
    assert ended.status_code == 303 and ended.headers["Location"] == "/support"
    assert "Your session has ended" in client.get("/support").get_data(as_text=True)


def test_leaving_ends_the_session(client, sale, clock):
    signed_in(client, sale)
    assert client.post("/support/leave").status_code == 303
    assert client.get("/support/order").status_code == 303


# --- the order page --------------------------------------------------------------------------------

def test_the_order_page_shows_the_order_and_what_can_be_done(client, sale, clock):
    from portal.transactions.models import Product

    product = db.session.get(Product, sale.product_id)
    product.download_url = "https://downloads.example.com/course"
    db.session.commit()
    page = signed_in(client, sale).get("/support/order").get_data(as_text=True)
    assert sale.receipt in page and "$47.00" in page and "buyer@example.com" in page
    assert 'href="https://downloads.example.com/course"' in page and 'rel="noopener noreferrer"' in page
    assert "/support/order/invoice" in page and "Email me the invoice" in page
    assert "Request a refund" in page and "You can request a refund until" in page
    assert "Cancel my subscription" not in page  # a standard product
    assert "There are no tickets for this order yet." in page


def test_the_printable_invoice(client, sale, clock):
    page = signed_in(client, sale).get("/support/order/invoice").get_data(as_text=True)
    assert "Invoice" in page and sale.receipt in page and "$47.00" in page and "data-print" in page
    assert "css/support.css" in page and "js/support.js" in page
    with open("static/css/support.css") as css:
        assert "@media print" in css.read()


def test_the_order_page_offers_the_invoice_as_a_pdf_download(client, sale, clock):
    import io

    from pypdf import PdfReader

    page = signed_in(client, sale).get("/support/order").get_data(as_text=True)
    assert 'href="/support/order/invoice.pdf"' in page and "Download the invoice (PDF)" in page
    response = client.get("/support/order/invoice.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    safe = "".join(ch for ch in sale.receipt if ch.isalnum() or ch == "-")
    assert response.headers["Content-Disposition"] == f'attachment; filename="receipt-{safe}.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert sale.receipt in text and "47.00" in text


def test_the_invoice_pdf_needs_the_order_session(client, sale, clock):
    response = client.get("/support/order/invoice.pdf")
    assert response.status_code == 303 and response.headers["Location"] == "/support"
    signed_in(client, sale)
    client.post("/support/leave")
    assert client.get("/support/order/invoice.pdf").status_code == 303


def test_email_me_the_invoice_queues_a_receipt_mail(client, make, shop, clock):
    _, account = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), email="kunde@example.de", locale="de")
    signed_in(client, sale)
    response = client.post("/support/order/invoice/email")
    assert response.status_code == 303
    mail = last_mail("kunde@example.de")
    assert mail.kind == "support_receipt" and mail.subject == f"Rechnung zu Ihrer Bestellung {sale.receipt}"
    assert "47,00" in mail.payload["text"] and mail.payload["html"]
    assert "support.invoice_emailed" in audit_names()
    assert "Wir haben die Rechnung an kunde@example.de gesendet." in client.get("/support/order").get_data(as_text=True)


def test_changing_the_email_updates_the_order_and_its_tickets_and_tells_both_addresses(client, make, sale, clock):
    ticket = make.ticket(sale, ticket_type="tech_support", now=MONDAY, comment="Question about module 3")
    from portal.tickets import services

    services.close(services.Actor.customer(ticket), ticket, "Answered, thanks!", now=MONDAY)
    signed_in(client, sale)
    mismatch = client.post("/support/order/email", data={"email": "new@example.com", "confirm": "neu@example.com"})
    assert mismatch.status_code == 200 and "The two addresses do not match." in mismatch.get_data(as_text=True)
    invalid = client.post("/support/order/email", data={"email": "not-an-email", "confirm": "not-an-email"})
    assert "Please enter a valid email address." in invalid.get_data(as_text=True)
    done = client.post("/support/order/email", data={"email": "New@Example.com", "confirm": "new@example.com"})
    assert done.status_code == 303
    assert db.session.scalar(select(Transaction.customer_email).where(Transaction.id == sale.id)) == "new@example.com"
    assert db.session.get(Ticket, ticket.id).customer_email == "new@example.com"
    notices = [m for m in mails() if m.kind == "support_email_changed"]
    assert sorted(m.recipient for m in notices) == ["buyer@example.com", "new@example.com"]
    assert "support.email_changed" in audit_names()
    page = client.get("/support/order").get_data(as_text=True)  # the session follows the new address
    assert "Your email address is now new@example.com." in page


def test_changing_the_email_with_an_open_ticket_records_a_ticket_event(client, make, sale, clock):
    ticket = make.ticket(sale, ticket_type="tech_support", now=MONDAY, comment="Question about module 3")
    signed_in(client, sale)
    client.post("/support/order/email", data={"email": "new@example.com", "confirm": "new@example.com"})
    event = db.session.scalars(select(TicketEvent).where(TicketEvent.kind == "email_changed")).one()
    assert (event.ticket_id, event.from_value, event.to_value, event.actor_kind) == (
        ticket.id, "buyer@example.com", "new@example.com", "customer")
    assert last_mail("help@ketovital.test", ticket).subject.endswith("changed")


# --- requests open tickets -------------------------------------------------------------------------

def test_a_refund_request_opens_a_customer_ticket_with_its_timer(client, sale, clock):
    signed_in(client, sale)
    response = client.post("/support/order/request", data={"ticket_type": "refund",
                                                           "comment": "It is not what I expected."})
    assert response.status_code == 303
    ticket = db.session.scalars(select(Ticket)).one()
    assert response.headers["Location"] == f"/s/c/tickets/{ticket.id}"
    assert (ticket.ticket_type, ticket.source, ticket.refund_state, ticket.locale) == (
        "refund", "customer", "requested", "en")
    assert ticket.next_action == "process" and ticket.next_action_at == MONDAY + timedelta(hours=24)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Your ticket #{ticket.id} is open" in page and "Your refund will be processed on" in page
    order_page = client.get("/support/order").get_data(as_text=True)
    assert f"#{ticket.id}" in order_page and "A refund or cancellation request is already open" in order_page
    assert {m.recipient for m in mails()} == {"buyer@example.com", "help@ketovital.test"}


def test_a_friday_evening_request_waits_for_monday_in_the_accounts_zone(client, make, shop, clock):
    owner, _ = shop
    berlin = make.account(owner, "mindshift", timezone_name="Europe/Berlin")
    friday_evening = MONDAY + timedelta(days=4, hours=3)  # Friday 18:00 UTC = 19:00 in Berlin
    sale = make.sale(berlin, at=friday_evening - timedelta(days=2), email="kaeufer@example.de", locale="de")
    clock.move_to(friday_evening)
    signed_in(client, sale)
    client.post("/support/order/request", data={"ticket_type": "refund", "comment": "Bitte erstatten."})
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.next_action_at == MONDAY + timedelta(days=7, hours=3)  # Monday 19:00 Berlin
    assert ticket.locale == "de"


def test_a_refund_outside_the_window_is_not_offered_and_refused(client, make, shop, clock):
    _, account = shop
    old = make.sale(account, at=MONDAY - timedelta(days=61), email="old@example.com")
    signed_in(client, old)
    page = client.get("/support/order").get_data(as_text=True)
    assert "Refunds can be requested within 60 days" in page and "ended on" in page
    response = client.post("/support/order/request", data={"ticket_type": "refund", "comment": "Refund please!"})
    assert response.status_code == 200 and "this order is older" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Ticket.id))) == 0
    tech = client.post("/support/order/request", data={"ticket_type": "tech_support", "comment": "Need help!"})
    assert tech.status_code == 303  # help is always available


def test_the_refund_window_is_a_per_account_setting(client, make, shop, clock):
    _, account = shop
    account.customer_refund_days = 90
    db.session.commit()
    sale = make.sale(account, at=MONDAY - timedelta(days=80), email="late@example.com")
    signed_in(client, sale)
    assert client.post("/support/order/request",
                       data={"ticket_type": "refund", "comment": "Refund please!"}).status_code == 303


def test_cancellation_only_for_subscriptions(client, make, shop, sale, clock):
    signed_in(client, sale)
    refused = client.post("/support/order/request", data={"ticket_type": "cancel", "comment": "Cancel it please"})
    assert refused.status_code == 200 and "Only subscriptions can be cancelled." in refused.get_data(as_text=True)
    _, account = shop
    sub = make.sale(account, at=MONDAY - timedelta(days=5), recurring=True, email="sub@example.com")
    client.post("/support/leave")
    signed_in(client, sub)
    assert client.post("/support/order/request",
                       data={"ticket_type": "cancel", "comment": "Cancel it please"}).status_code == 303
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.ticket_type == "cancel" and ticket.source == "customer"


def test_a_second_request_while_one_is_open_is_refused(client, sale, clock):
    signed_in(client, sale)
    client.post("/support/order/request", data={"ticket_type": "refund", "comment": "Refund please!"})
    again = client.post("/support/order/request", data={"ticket_type": "refund", "comment": "Refund please!!"})
    assert again.status_code == 200 and "already open" in again.get_data(as_text=True)


def test_a_short_request_keeps_the_text_and_says_why(client, sale, clock):
    signed_in(client, sale)
    response = client.post("/support/order/request", data={"ticket_type": "tech_support", "comment": "help"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Please write at least 6 characters." in body and ">help</textarea>" in body


def test_an_order_session_opens_its_own_tickets_but_not_others(client, make, shop, sale, clock):
    _, account = shop
    mine = make.ticket(sale, ticket_type="tech_support", now=MONDAY, comment="My own question")
    other_sale = make.sale(account, at=MONDAY - timedelta(days=2), email="other@example.com")
    theirs = make.ticket(other_sale, ticket_type="tech_support", now=MONDAY, comment="Someone else's question")
    signed_in(client, sale)
    assert client.get(f"/s/c/tickets/{mine.id}").status_code == 200
    assert client.get(f"/s/c/tickets/{theirs.id}").status_code == 403
    assert client.post(f"/s/c/tickets/{theirs.id}/close", data={"comment": "Closing theirs"}).status_code == 403


def test_order_actions_answer_htmx_with_a_redirect_header(client, sale, clock):
    signed_in(client, sale)
    response = client.post("/support/order/invoice/email", headers=HX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/support/order"
    assert client.post("/support/order/request", headers=HX,
                       data={"ticket_type": "tech_support", "comment": "short"}).status_code == 200


def test_order_actions_without_a_session_go_back_to_the_lookup(client, sale, clock):
    for path in ("/support/order/request", "/support/order/email", "/support/order/invoice/email"):
        response = client.post(path, data={"ticket_type": "refund", "comment": "Refund please!"})
        assert response.status_code == 303 and response.headers["Location"] == "/support"
    assert db.session.scalar(select(func.count(Ticket.id))) == 0


def test_the_invoice_total_is_what_was_paid_with_tax_and_shipping_shown(client, make, shop, clock):
    _, account = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), email="tax@example.com", amount_cents=5990)
    sale.tax_cents, sale.shipping_cents = 990, 500
    db.session.commit()
    page = signed_in(client, sale).get("/support/order/invoice").get_data(as_text=True)
    assert "$45.00" in page and "$9.90" in page and "$5.00" in page
    assert 'data-testid="invoice-total">$59.90<' in page


def test_the_language_switch_stays_on_this_site(client, clock):
    response = client.get("/support?lang=de&x=1")
    assert response.status_code == 303 and response.headers["Location"] == "/support?x=1"
    assert "Ihre Bestellung aufrufen" in client.get("/support").get_data(as_text=True)
    assert client.get("/support?lang=xx").headers["Location"] == "/support"


def test_the_order_page_asks_the_request_rule_about_the_order_once(app, make, shop, clock):
    """Refund and cancellation are judged against one reading of the order (its charges, the
    subscription, an open request), not one reading each."""
    from sqlalchemy import event

    from portal.support import services as support

    _, account = shop
    sub = make.sale(account, at=MONDAY - timedelta(days=5), recurring=True, email="sub@example.com")
    seen: list[str] = []

    def _record(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    order = db.session.get(Transaction, sub.id)
    assert order.linked_account is not None
    engine = db.engine
    event.listen(engine, "before_cursor_execute", _record)
    try:
        view = support.order_view(order, now=MONDAY)
    finally:
        event.remove(engine, "before_cursor_execute", _record)
    assert view.can_refund and view.can_cancel
    order_reads = [s for s in seen if s.startswith("SELECT") and "FROM transactions" in s]
    subscription_reads = [s for s in seen if s.startswith("SELECT") and "FROM subscriptions" in s]
    open_request_reads = [s for s in seen if s.startswith("SELECT tickets.id FROM tickets")]
    assert len(order_reads) == 2, "\n".join(s[:60] + " ... " + s[-120:] for s in seen)  # the page's rows, and the rule's one reading
    assert len(open_request_reads) == 1 and len(subscription_reads) <= 2


def test_both_requests_are_refused_while_one_is_open(client, make, shop, clock):
    _, account = shop
    sub = make.sale(account, at=MONDAY - timedelta(days=5), recurring=True, email="sub@example.com")
    make.ticket(sub, ticket_type="refund", now=MONDAY - timedelta(hours=1))
    from portal.support import services as support

    view = support.order_view(db.session.get(Transaction, sub.id), now=MONDAY)
    assert not view.can_refund and not view.can_cancel
    assert view.refund_refusal and view.cancel_refusal
