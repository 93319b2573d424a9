"""The customer's view of a ticket, reached from the mailed link: in their language, reply, turn
tech support into a refund, withdraw a request, close (DOMAIN.md §6a, seed 004)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.tickets import services, sweep
from portal.tickets.models import Ticket, TicketEvent
from tests.conftest import HX
from tests.customer_support.helpers import MONDAY, last_mail, link_in


def open_customer(client, ticket):
    first = client.get(link_in(last_mail(ticket.customer_email, ticket), "/s/c/"))
    assert first.status_code == 303
    return first.headers["Location"]


@pytest.fixture
def german_tech(make, sale, clock):
    return make.ticket(sale, ticket_type="tech_support", now=MONDAY, comment="Das Login funktioniert nicht.",
                       locale="de")


def test_the_page_is_in_the_tickets_language_with_a_switcher(client, german_tech):
    location = open_customer(client, german_tech)
    page = client.get(location).get_data(as_text=True)
    assert '<html lang="de"' in page
    assert "Verlauf" in page and "Antwort senden" in page and "In einen Rückerstattungsantrag umwandeln" in page
    assert "Das Login funktioniert nicht." in page
    switched = client.get(location + "?lang=es")
    assert switched.status_code == 303 and switched.headers["Location"] == location
    page = client.get(location).get_data(as_text=True)
    assert '<html lang="es"' in page and "Historial" in page and "Convertir en solicitud de reembolso" in page


def test_customer_reply_restarts_the_vendor_silent_timer_and_mails_the_vendor(client, german_tech, clock):
    clock.tick(timedelta(hours=30))
    location = open_customer(client, german_tech)
    response = client.post(location + "/reply", data={"comment": "Immer noch kein Zugang, bitte helfen."})
    assert response.status_code == 303
    ticket = db.session.get(Ticket, german_tech.id)
    assert ticket.last_party == "customer"
    assert ticket.next_action == "warn" and ticket.next_action_at == MONDAY + timedelta(hours=30 + 48)
    vendor = last_mail("help@ketovital.test", ticket)
    assert "The customer replied" in vendor.payload["text"] and "Immer noch kein Zugang" in vendor.payload["text"]
    assert "Ihre Antwort wurde gesendet." in client.get(location).get_data(as_text=True)


def test_customer_turns_tech_support_into_a_refund_processed_24_hours_later(client, german_tech, clock):
    clock.tick(timedelta(days=1))  # Tuesday 10:00 New York
    location = open_customer(client, german_tech)
    response = client.post(location + "/change-type",
                           data={"to_type": "refund", "comment": "Ich möchte mein Geld zurück."})
    assert response.status_code == 303
    ticket = db.session.get(Ticket, german_tech.id)
    assert (ticket.ticket_type, ticket.refund_state, ticket.next_action) == ("refund", "requested", "process")
    assert ticket.next_action_at == MONDAY + timedelta(days=2)
    event = db.session.scalars(select(TicketEvent).order_by(TicketEvent.id.desc())).first()
    assert (event.kind, event.actor_kind, event.from_value, event.to_value) == (
        "type_changed", "customer", "tech_support", "refund")
    mail = last_mail(ticket.customer_email, ticket)
    assert "von technische Unterstützung in Rückerstattung geändert" in mail.payload["text"]
    page = client.get(location).get_data(as_text=True)
    assert "Ihr Ticket ist jetzt: Rückerstattung." in page
    assert "Antrag zurückziehen und weiter Hilfe erhalten" in page  # and back again, if they like


def test_customer_withdraws_a_refund_request_and_keeps_getting_help(client, make, sale, clock):
    ticket = make.ticket(sale, ticket_type="refund", now=MONDAY, comment="Refund please, it is too hard.")
    location = open_customer(client, ticket)
    client.post(location + "/change-type", data={"to_type": "tech_support", "comment": "Let us try again."})
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.ticket_type == "tech_support" and ticket.refund_state is None and ticket.next_action == "warn"
    assert sweep.run(MONDAY + timedelta(days=3)).get("processing") is None


def test_customer_closes_the_ticket_and_then_only_sees_it(client, german_tech, clock):
    location = open_customer(client, german_tech)
    response = client.post(location + "/close", data={"comment": "Hat jetzt geklappt, danke!"})
    assert response.status_code == 303
    ticket = db.session.get(Ticket, german_tech.id)
    assert ticket.status == "closed" and ticket.next_action is None
    page = client.get(location).get_data(as_text=True)
    assert "Dieses Ticket ist geschlossen." in page and "Ihr Ticket wurde geschlossen." in page
    assert 'action="/s/c/tickets' not in page
    assert client.post(location + "/reply", data={"comment": "One more thing"}).status_code == 200
    assert db.session.get(Ticket, german_tech.id).status == "closed"


def test_a_refused_action_says_why_in_the_customers_language_and_keeps_the_text(client, german_tech):
    location = open_customer(client, german_tech)
    response = client.post(location + "/reply", data={"comment": "kurz"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Bitte schreiben Sie mindestens 6 Zeichen." in body
    assert ">kurz</textarea>" in body


def test_a_stale_page_is_a_conflict_not_a_lost_change(client, german_tech, clock):
    location = open_customer(client, german_tech)
    seen = db.session.get(Ticket, german_tech.id).version
    clock.tick(timedelta(minutes=5))
    client.post(location + "/reply", data={"comment": "Erste Nachricht von mir.", "version": seen})
    response = client.post(location + "/close", data={"comment": "Schließen bitte jetzt.", "version": seen})
    assert response.status_code == 200 and "inzwischen geändert" in response.get_data(as_text=True)
    assert db.session.get(Ticket, german_tech.id).status == "open"


def test_a_processing_refund_can_no_longer_be_changed_or_closed(client, make, sale, clock):
    ticket = make.ticket(sale, ticket_type="refund", now=MONDAY, comment="Refund please, thank you.")
    sweep.run(MONDAY + timedelta(hours=24))
    clock.move_to(MONDAY + timedelta(hours=25))
    location = open_customer(client, ticket)
    page = client.get(location).get_data(as_text=True)
    assert "being processed and can no longer be changed" in page
    assert "/change-type" not in page and "/close" not in page
    refused = client.post(location + "/close", data={"comment": "Changed my mind."})
    assert "can no longer be changed" in refused.get_data(as_text=True)


def test_vendor_staff_appear_as_the_shop_not_by_name_and_text_is_escaped(client, make, shop, german_tech):
    owner, account = shop
    clerk = make.clerk(owner, accounts=[account], first_name="Zacharias", last_name="Geheim")
    services.add_comment(services.Actor.for_user(clerk, principal_for(clerk)), german_tech,
                         "<script>alert(1)</script> Bitte Cache leeren.", now=MONDAY + timedelta(hours=1))
    location = open_customer(client, german_tech)
    page = client.get(location).get_data(as_text=True)
    assert "Support von ketovital" in page and "Zacharias" not in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    vendor_mail = last_mail("help@ketovital.test", german_tech)
    assert "<script>alert(1)</script>" not in vendor_mail.payload["html"]


def test_ticket_pages_work_for_htmx_requests_too(client, german_tech):
    location = open_customer(client, german_tech)
    response = client.post(location + "/reply", data={"comment": "Per htmx gesendet."}, headers=HX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == location
    assert client.get(location, headers=HX).status_code == 200
