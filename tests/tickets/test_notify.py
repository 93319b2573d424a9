"""Ticket mail (DOMAIN.md §7, seed 004): both parties, one layout, the customer's language, the
no-login links, and everything through the outbox."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.support import i18n
from portal.tickets import services, sweep
from portal.tickets.lifecycle import Refused

MONDAY = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York


@pytest.fixture
def shop(make):
    owner = make.owner()
    account = make.account(owner, "ketovital", cs_email="help@ketovital.test")
    clerk = make.clerk(owner, accounts=[account], first_name="Zacharias", last_name="Clerkson")
    return owner, account, clerk


def actor(user):
    return services.Actor.for_user(user, principal_for(user))


def outbox() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def pair(kind: str) -> tuple[OutboxMessage, OutboxMessage]:
    """The (customer, vendor) copies of the latest mail of ``kind``."""
    rows = [m for m in outbox() if (m.payload.get("dedupe") or "").startswith(kind + ":")]
    customer = [m for m in rows if m.payload["dedupe"].endswith(":customer")][-1]
    vendor = [m for m in rows if m.payload["dedupe"].endswith(":vendor")][-1]
    return customer, vendor


def sections_in_order(text: str, *markers: str) -> bool:
    """Each marker appears after the previous one."""
    position = 0
    for marker in markers:
        found = text.find(marker, position)
        if found < 0:
            return False
        position = found + len(marker)
    return True


def test_every_kind_goes_to_both_parties_through_the_outbox(make, shop):
    _, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), email="buyer@example.com")
    ticket = make.ticket(sale, ticket_type="tech_support", now=MONDAY, comment="The download link is broken.")
    services.add_comment(actor(clerk), ticket, "Here is a fresh link for you.", now=MONDAY + timedelta(hours=1))
    services.change_type(services.Actor.customer(ticket), ticket, "refund", "I want my money back.",
                         now=MONDAY + timedelta(hours=2))
    sweep.run(MONDAY + timedelta(days=3))  # processed, then refunded and closed
    kinds = [m.payload["dedupe"].split(":")[0] for m in outbox()]
    assert kinds == (["ticket_opened"] * 2 + ["ticket_reply"] * 2 + ["ticket_changed"] * 2
                     + ["refund_processed"] * 2 + ["ticket_closed"] * 2)
    for message in outbox():
        assert message.status == "pending" and message.kind == "ticket" and message.ticket_id == ticket.id
        assert message.payload["text"] and message.payload["html"]
    assert {m.recipient for m in outbox()} == {"buyer@example.com", "help@ketovital.test"}


def test_vendor_mail_goes_to_the_account_email_without_a_service_address(make):
    owner = make.owner()
    account = make.account(owner, "plainshop")
    sale = make.sale(account, at=MONDAY - timedelta(days=3))
    make.ticket(sale, now=MONDAY)
    assert sorted(m.recipient for m in outbox()) == sorted([sale.customer_email, "plainshop@vendor.test"])


def test_on_clickbank_accounts_only_the_vendor_is_mailed(make, shop):
    owner, _, _ = shop
    clickbank = make.account(owner, "cbvendor", source="clickbank", cs_email="cs@cbvendor.test")
    make.ticket(make.sale(clickbank, at=MONDAY - timedelta(days=3)), now=MONDAY)
    assert [m.recipient for m in outbox() if m.channel == "email"] == ["cs@cbvendor.test"]


def test_one_layout_reason_newest_link_details_history(make, shop):
    _, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), email="buyer@example.com")
    ticket = make.ticket(sale, now=MONDAY, comment="First: the app crashes on start.")
    services.add_comment(actor(clerk), ticket, "Second: please reinstall version 2.", now=MONDAY + timedelta(hours=1))
    customer, vendor = pair("ticket_reply")
    text = customer.payload["text"]
    assert sections_in_order(text, "There is a new reply on your ticket", "Newest comments",
                             "Second: please reinstall", "View and answer your ticket", "/s/c/",
                             "Ticket details", "Order details", "Complete history", "First: the app crashes")
    assert text.index("Second: please reinstall") < text.index("First: the app crashes")  # newest first
    assert sections_in_order(vendor.payload["text"], "Zacharias Clerkson replied", "Newest comments",
                             "Reply or close without logging in", "/s/v/", "Ticket details",
                             "Order details", "Complete history")
    html = customer.payload["html"]
    assert sections_in_order(html, 'data-part="reason"', "Newest comments", "/s/c/", "Ticket details",
                             "Order details", "Complete history")
    assert "$47.00" in text and sale.receipt in text and "Test Product" in text


@pytest.mark.parametrize("locale, subject, reason, link_label", [
    ("de", "Ticket #{id} eröffnet: technische Unterstützung", "Wir haben Ihre Anfrage erhalten",
     "Ticket ansehen und beantworten"),
    ("es", "Ticket #{id} abierto: soporte técnico", "Hemos recibido su solicitud", "Ver y responder su ticket"),
    ("en", "Ticket #{id} opened: tech support", "We received your request", "View and answer your ticket"),
    ("fr", "Ticket #{id} opened: tech support", "We received your request", "View and answer your ticket"),
])
def test_the_customers_copy_is_in_the_tickets_language(make, shop, locale, subject, reason, link_label):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), locale=locale if locale != "fr" else "en")
    ticket = make.ticket(sale, now=MONDAY, locale=locale)
    customer, vendor = pair("ticket_opened")
    assert customer.subject == subject.format(id=ticket.id)
    assert reason in customer.payload["text"] and link_label in customer.payload["html"]
    assert f'<html lang="{i18n.normalize(locale)}">' in customer.payload["html"]
    assert vendor.subject == f"[ketovital] Ticket #{ticket.id} opened: tech support"


def test_the_customers_warning_highlights_turning_the_ticket_into_a_refund(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), email="buyer@example.com", locale="de")
    ticket = make.ticket(sale, now=MONDAY, locale="de")
    sweep.run(MONDAY + timedelta(hours=48))
    customer, vendor = pair("ticket_warning")
    assert customer.subject == f"Ticket #{ticket.id}: keine Aktivität, bitte antworten oder schließen"
    assert "in einen Rückerstattungsantrag umwandeln" in customer.payload["text"]
    assert 'data-part="highlight"' in customer.payload["html"] and "#change" in customer.payload["html"]
    assert "Stattdessen Rückerstattung beantragen" in customer.payload["html"]
    assert f"No reply to the customer on ticket #{ticket.id}" in vendor.payload["text"]
    assert "inactivity warning goes out on" in vendor.payload["text"]  # the second one follows


def test_no_refund_highlight_when_the_refund_window_is_over(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=59))
    make.ticket(sale, now=MONDAY)
    sweep.run(MONDAY + timedelta(hours=48))
    customer, _ = pair("ticket_warning")
    assert 'data-part="highlight"' not in customer.payload["html"]
    assert "turn this ticket into a refund" not in customer.payload["text"]


def test_the_vendor_link_is_only_in_mail_about_an_open_ticket(make, shop):
    _, account, _ = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - timedelta(days=3)), now=MONDAY)
    opened_customer, opened_vendor = pair("ticket_opened")
    assert "/s/v/" in opened_vendor.payload["text"] and "/s/v/" not in opened_customer.payload["text"]
    services.close(services.Actor.customer(ticket), ticket, "All sorted, thanks.", now=MONDAY + timedelta(hours=1))
    closed_customer, closed_vendor = pair("ticket_closed")
    assert "/s/v/" not in closed_vendor.payload["text"] and "/tickets/" in closed_vendor.payload["text"]
    assert "/s/c/" in closed_customer.payload["text"] and "View your ticket" in closed_customer.payload["text"]


def test_internal_steps_and_staff_names_stay_out_of_the_customers_copy(make, shop):
    _, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=100))
    ticket = make.ticket(sale, now=MONDAY, comment="Old order, still broken.")
    services.escalate(actor(clerk), ticket, "Internal: ask ClickBank to allow it.", now=MONDAY + timedelta(hours=1))
    vendor = [m for m in outbox() if m.payload["dedupe"].startswith("ticket_changed:")]
    assert [m.payload["dedupe"].rsplit(":", 1)[1] for m in vendor] == ["vendor"]
    assert "Internal: ask ClickBank" in vendor[0].payload["text"]
    assert "Zacharias Clerkson escalated" in vendor[0].payload["text"]
    services.add_comment(actor(clerk), ticket, "We are on it.", now=MONDAY + timedelta(hours=2))
    customer, _ = pair("ticket_reply")
    assert "Internal: ask ClickBank" not in customer.payload["text"] and "Zacharias" not in customer.payload["text"]
    assert "Escalated" not in customer.payload["text"]


def test_steps_the_customer_cannot_see_send_them_no_mail(make, shop):
    """Escalating used to send the customer an empty "Ticket #N changed / Your ticket was
    updated" mail: the step itself is hidden from their copy. Only the vendor hears of it."""
    from portal.tickets import notify
    from portal.tickets.lifecycle import EventKind

    owner, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=100), email="buyer@example.com")
    ticket = make.ticket(sale, now=MONDAY, comment="Old order, still broken.")
    services.escalate(actor(clerk), ticket, "Escalate so it can be refunded.", now=MONDAY + timedelta(hours=1))
    assert [m.recipient for m in outbox() if m.payload["dedupe"].startswith("ticket_changed:")] == [
        "help@ketovital.test"]
    hidden = [k for k in EventKind if k.value not in notify.CUSTOMER_VISIBLE]
    assert {EventKind.ESCALATED, EventKind.HANDOFF} <= set(hidden)
    for kind in hidden:
        event = services._event(ticket, services.Actor.for_user(owner, principal_for(owner)), kind,
                                MONDAY + timedelta(hours=2), comment="An internal step.")
        db.session.flush()
        notify.ticket_mail(ticket, "ticket_changed", event, now=MONDAY + timedelta(hours=2))
        assert [m.recipient for m in outbox() if m.payload["dedupe"].startswith(f"ticket_changed:{event.id}:")] == [
            "help@ketovital.test"], kind
    visible = services._event(ticket, services.Actor.customer(ticket), EventKind.EMAIL_CHANGED,
                              MONDAY + timedelta(hours=3), to_value="new@example.com")
    db.session.flush()
    notify.ticket_mail(ticket, "ticket_changed", visible, now=MONDAY + timedelta(hours=3))
    assert {m.recipient for m in outbox() if m.payload["dedupe"].startswith(f"ticket_changed:{visible.id}:")} == {
        "buyer@example.com", "help@ketovital.test"}


def test_refund_processed_names_the_last_charge_of_a_subscription(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=40), recurring=True, amount_cents=1995, locale="es")
    make.rebill(sale, at=MONDAY - timedelta(days=10))
    make.ticket(sale, ticket_type="refund", now=MONDAY, locale="es")
    sweep.run(MONDAY + timedelta(days=3))
    customer, vendor = pair("refund_processed")
    assert "Se ha reembolsado el último cargo de su suscripción (19,95\u00a0$)" in customer.payload["text"]
    assert "was refunded and the subscription cancelled" in vendor.payload["text"]


def test_cancellation_processed_says_no_money_was_returned(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=5), recurring=True)
    make.ticket(sale, ticket_type="cancel", now=MONDAY)
    sweep.run(MONDAY + timedelta(days=3))
    customer, vendor = pair("refund_processed")
    assert "Your subscription for order" in customer.payload["text"] and "no further charges" in customer.payload["text"]
    assert "No money was returned" in vendor.payload["text"]


def test_a_refused_change_queues_no_mail(make, shop):
    _, account, clerk = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - timedelta(days=3)), ticket_type="refund", now=MONDAY)
    before = db.session.scalar(select(func.count(OutboxMessage.id)))
    with pytest.raises(Refused):
        services.close(actor(clerk), ticket, "Closing without asking.", now=MONDAY + timedelta(hours=1))
    db.session.rollback()
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == before


def test_customer_text_is_never_markup_in_the_html_part(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3))
    make.ticket(sale, now=MONDAY, comment='<img src=x onerror="alert(1)"> <a href="javascript:x">hi</a>')
    for message in outbox():
        assert "<img src=x" not in message.payload["html"] and 'href="javascript:x"' not in message.payload["html"]
        assert "&lt;img src=x" in message.payload["html"]


# --- the catalogue ------------------------------------------------------------------------------------

def test_every_language_has_every_message_with_the_same_placeholders():
    import string

    def fields(text):
        return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name)

    english = i18n.CATALOGUE["en"]
    for code in ("de", "es"):
        table = i18n.CATALOGUE[code]
        assert set(table) == set(english), code
        for key, text in english.items():
            if key == "mail.greeting":
                continue  # German greets with the full name
            assert fields(table[key]) == fields(text), (code, key)


def test_money_and_dates_follow_the_language():
    moment = datetime(2026, 11, 23, 15, 30, tzinfo=timezone.utc)
    assert i18n.money(123456, "USD", "en") == "$1,234.56"
    assert i18n.money(123456, "EUR", "de") == "1.234,56\u00a0€"
    assert i18n.money(500, "JPY", "es") == "500\u00a0¥"
    assert i18n.datetime_(moment, "Europe/Berlin", "de", weekday=True) == "Mo., 23. Nov. 2026, 16:30 CET"
    assert i18n.datetime_(moment, "America/New_York", "en") == "Nov 23, 2026, 10:30 EST"
    assert i18n.date(moment, "Europe/Madrid", "es") == "23 nov 2026"
    assert i18n.normalize("de-AT") == "de" and i18n.normalize("pt") == "en" and i18n.normalize(None) == "en"
