"""In a real browser: a customer asks for a refund on /support, the vendor answers from the link in
the mail without logging in, and the customer closes the ticket from the link in their mail.

This module runs its own live portal (demo data plus one fresh sale with a known receipt), so it
depends on nothing other browser tests change.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.conftest import make_portal_app

RECEIPT = "E2ESUP01"
CUSTOMER = "e2e.customer@example.com"
VENDOR_INBOX = "support@ketovital.demo.test"


@pytest.fixture(scope="module")
def support_portal(tmp_path_factory):
    from sqlalchemy import select

    from portal.accounts.models import LinkedAccount
    from portal.extensions import db
    from portal.transactions.models import Product
    from portal.types import utcnow
    from tests.factories import Factory
    from tests.support.live_server import live_server

    root = tmp_path_factory.mktemp("support-e2e")
    app = make_portal_app(root / "portal.db", root / "instance")
    with app.app_context():
        account = db.session.scalar(select(LinkedAccount).where(LinkedAccount.nickname == "ketovital"))
        product = db.session.scalars(select(Product).where(Product.linked_account_id == account.id,
                                                           Product.recurring.is_(False))).first()
        sale = Factory().sale(account, at=utcnow() - timedelta(days=2), email=CUSTOMER, receipt=RECEIPT,
                              product=product, amount_cents=product.price_cents)
        assert sale.id
        db.session.remove()
    app.config["BASE_URL"] = "http://placeholder"
    with live_server(app) as url:
        app.config["BASE_URL"] = url  # links in mail point at this server
        yield app, url


def newest_mail_link(page, base: str, to: str, subject_part: str, link_part: str) -> str:
    """Open the newest mail to ``to`` in /dev/mail whose subject has ``subject_part``; return the
    link in it that contains ``link_part`` (followed like a click in a mail program)."""
    page.goto(f"{base}/dev/mail/?to={to}")
    page.get_by_role("link", name=subject_part).first.click()
    page.wait_for_load_state("networkidle")
    return page.locator(f"[data-testid=mail-body] a[href*='{link_part}']").first.get_attribute("href")


def test_customer_refund_vendor_answers_from_the_mail_customer_closes(browser, support_portal):
    from tests.support import browser as browsers

    app, base = support_portal
    customer = browsers.new_page(browser)
    vendor = browsers.new_page(browser)
    try:
        # The customer finds the order and asks for a refund.
        customer.goto(base + "/support")
        customer.locator("#receipt").fill(RECEIPT.lower())
        customer.locator("#email").fill(CUSTOMER)
        customer.get_by_role("button", name="Find my order").click()
        customer.wait_for_url(base + "/support/order")
        assert RECEIPT in customer.locator("[data-testid=order-title]").inner_text()
        refund = customer.locator("[data-testid=request-refund]")
        refund.locator("summary").click()
        refund.locator("textarea").fill("The course is not what I expected, please refund it.")
        browsers.screenshot(customer, "customer-support-order")
        refund.get_by_role("button", name="Send request").click()
        customer.wait_for_url(f"{base}/s/c/tickets/*")
        assert "is open" in customer.locator("[data-testid=flash]").inner_text()
        assert customer.locator("[data-testid=ticket-status]").inner_text() == "Open · Requested"
        ticket_id = int(customer.url.rsplit("/", 1)[1])
        browsers.screenshot(customer, "customer-support-refund-opened")

        # The vendor opens the link from the "ticket opened" mail, without logging in.
        link = newest_mail_link(vendor, base, VENDOR_INBOX, f"Ticket #{ticket_id} opened", "/s/v/")
        vendor.goto(link)
        assert vendor.url == f"{base}/s/v/tickets/{ticket_id}", "the token leaves the address bar"
        assert "Log in" not in vendor.locator("main h1").inner_text()
        assert "please refund it" in vendor.locator("[data-testid=history]").inner_text()
        vendor.locator("#reply-text").fill("Sorry to hear that! Module 2 shows the quick start. Want to try it?")
        vendor.get_by_role("button", name="Send reply").click()
        vendor.wait_for_load_state("networkidle")
        assert "Your reply was sent" in vendor.locator("[data-testid=flash]").inner_text()
        assert vendor.url == f"{base}/s/v/tickets/{ticket_id}"
        browsers.screenshot(vendor, "customer-support-vendor-replied")

        # The customer follows the link in the reply mail and closes the ticket.
        link = newest_mail_link(customer, base, CUSTOMER, f"New reply on ticket #{ticket_id}", "/s/c/")
        customer.goto(link)
        assert customer.url == f"{base}/s/c/tickets/{ticket_id}"
        assert "Module 2 shows the quick start" in customer.locator("[data-testid=history]").inner_text()
        close = customer.locator("[data-testid=close-form]")
        close.locator("textarea").fill("Module 2 solved it, thank you!")
        close.get_by_role("button", name="Close the ticket").click()
        customer.wait_for_load_state("networkidle")
        assert "Your ticket was closed." in customer.locator("[data-testid=flash]").inner_text()
        assert customer.locator("[data-testid=ticket-status]").inner_text() == "Closed · Withdrawn"
        assert customer.locator("[data-testid=ticket-closed]").is_visible()
        browsers.screenshot(customer, "customer-support-closed")

        # The vendor's link stops working once the ticket is closed.
        vendor.goto(link.replace("/s/c/", "/s/v/"))
        assert "does not work" in vendor.content() or "closed" in vendor.content()
        vendor.goto(f"{base}/s/v/tickets/{ticket_id}")
        assert "This ticket is closed" in vendor.content()
    finally:
        customer.context.close()
        vendor.context.close()

    with app.app_context():
        from sqlalchemy import select

        from portal.extensions import db
        from portal.tickets.models import Ticket, TicketEvent
        from portal.transactions.models import Transaction

        ticket = db.session.get(Ticket, ticket_id)
        assert (ticket.status, ticket.refund_state, ticket.source) == ("closed", "withdrawn", "customer")
        kinds = [(e.kind, e.actor_kind) for e in db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))]
        assert kinds == [("opened", "customer"), ("commented", "vendor_link"), ("closed", "customer")]
        assert db.session.scalar(select(Transaction).where(Transaction.receipt == RECEIPT,
                                                           Transaction.txn_type == "RFND")) is None
        db.session.remove()
