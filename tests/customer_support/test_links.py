"""Signed no-login links (DOMAIN.md §7, SECURITY.md S31): the vendor's reply link and the
customer's ticket link, from the mail to the page, and every way they must be refused."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.extensions import db
from portal.support import links
from portal.tickets import services
from portal.tickets.models import Ticket, TicketEvent
from tests.customer_support.helpers import MONDAY, last_mail, link_in

FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


@pytest.fixture
def refund(make, sale, clock):
    """A customer's refund request on a sale in New York, opened Monday 10:00 local."""
    return make.ticket(sale, ticket_type="refund", now=MONDAY, comment="The course does not work for me.")


@pytest.fixture
def tech(make, shop, clock):
    _, account = shop
    other = make.sale(account, at=MONDAY - timedelta(days=2), email="second@example.com")
    return make.ticket(other, ticket_type="tech_support", now=MONDAY, comment="Cannot log in to the members area.",
                       locale="de")


def vendor_path(ticket) -> str:
    return link_in(last_mail("help@ketovital.test", ticket), "/s/v/")


def customer_path(ticket) -> str:
    return link_in(last_mail(ticket.customer_email, ticket), "/s/c/")


def audit_events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)))


def open_link(client, path):
    first = client.get(path)
    assert first.status_code == 303, first.get_data(as_text=True)[:300]
    assert first.headers["Referrer-Policy"] == "no-referrer"
    location = first.headers["Location"]
    token = path.rsplit("/", 1)[1]
    assert token not in location, "the token must leave the URL after the first GET"
    page = client.get(location)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    return location, page


# --- the vendor's link ------------------------------------------------------------------------------

def test_vendor_link_in_the_mail_opens_the_ticket_without_login_and_is_audited(client, refund):
    path = vendor_path(refund)
    assert path.startswith("/s/v/")
    location, page = open_link(client, path)
    assert location.endswith(f"/s/v/tickets/{refund.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and f"Ticket #{refund.id}" in body
    assert "The course does not work for me." in body
    actions = set(FORM_ACTION.findall(body))
    assert actions == {f"/s/v/tickets/{refund.id}/reply", f"/s/v/tickets/{refund.id}/close"}, \
        "the link opens the ticket for reply or close, nothing else"
    [opened] = audit_events("support.vendor_link.opened")
    assert opened.details["ticket_id"] == refund.id and opened.master_account_id is not None
    assert opened.ip is not None


def test_every_view_through_the_vendor_link_is_audited(client, refund, clock):
    location, _ = open_link(client, vendor_path(refund))
    clock.tick(timedelta(minutes=3))
    assert client.get(location).status_code == 200
    viewed = audit_events("support.vendor_link.viewed")
    assert len(viewed) == 2, "the first page after the redirect and the reload each leave a row"
    assert {v.details["ticket_id"] for v in viewed} == {refund.id}
    assert all(v.master_account_id is not None and v.ip is not None for v in viewed)
    assert viewed[1].at - viewed[0].at == timedelta(minutes=3)


def test_a_refused_view_without_a_grant_is_not_recorded_as_a_view(client, refund):
    assert client.get(f"/s/v/tickets/{refund.id}").status_code == 403
    assert audit_events("support.vendor_link.viewed") == []


def test_vendor_replies_from_the_link_and_the_customer_is_mailed(client, refund, clock):
    location, _ = open_link(client, vendor_path(refund))
    clock.tick(timedelta(minutes=10))
    response = client.post(location + "/reply", data={"comment": "Have you tried module 2? It covers this.",
                                                      "version": refund.version})
    assert response.status_code == 303
    event = db.session.scalars(select(TicketEvent).order_by(TicketEvent.id.desc())).first()
    assert (event.kind, event.actor_kind, event.comment) == (
        "commented", "vendor_link", "Have you tried module 2? It covers this.")
    assert event.actor_label == "ketovital (email link)"
    reply_mail = last_mail("buyer@example.com")
    assert "Have you tried module 2?" in reply_mail.payload["text"]
    assert len(audit_events("support.vendor_link.replied")) == 1
    page = client.get(location).get_data(as_text=True)
    assert "Your reply was sent to the customer." in page


def test_vendor_reply_too_short_keeps_the_text_and_says_why(client, refund):
    location, _ = open_link(client, vendor_path(refund))
    response = client.post(location + "/reply", data={"comment": "ok"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "at least 6 characters" in body and ">ok</textarea>" in body
    assert db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.kind == "commented")) == 0
    assert len(audit_events("support.vendor_link.refused")) == 1


def test_vendor_needs_the_customers_consent_to_close_a_refund_request(client, refund):
    location, page = open_link(client, vendor_path(refund))
    assert 'name="customer_agreed"' in page.get_data(as_text=True)
    refused = client.post(location + "/close", data={"comment": "Customer is happy now."})
    assert refused.status_code == 200 and "Customer agreed" in refused.get_data(as_text=True)
    assert db.session.get(Ticket, refund.id).status == "open"
    done = client.post(location + "/close", data={"comment": "Customer is happy now.", "customer_agreed": "y"})
    assert done.status_code == 200 and "no longer works" in done.get_data(as_text=True)
    ticket = db.session.get(Ticket, refund.id)
    assert ticket.status == "closed" and ticket.refund_state == "withdrawn"
    closed = db.session.scalars(select(TicketEvent).where(TicketEvent.kind == "closed")).one()
    assert closed.customer_agreed and closed.actor_kind == "vendor_link"
    assert len(audit_events("support.vendor_link.closed")) == 1
    [refused_try] = audit_events("support.vendor_link.refused")
    assert refused_try.details["code"] == "customer_consent_required"


def test_vendor_link_stops_working_when_the_ticket_closes(client, refund, clock):
    path = vendor_path(refund)
    location, _ = open_link(client, path)
    services.close(services.Actor.customer(refund), refund, "Solved, thank you!", now=MONDAY + timedelta(hours=1))
    assert client.get(location).status_code == 410
    again = client.get(path)
    assert again.status_code == 410 and "This ticket is closed" in again.get_data(as_text=True)
    assert len(audit_events("support.vendor_link.refused_closed")) == 1


def _reopen(owner, ticket, now):
    from portal.authz.scope import principal_for

    services.reopen(services.Actor.for_user(owner, principal_for(owner)), ticket, "Customer wrote again, reopening.",
                    now=now)


def test_a_vendor_link_mailed_before_a_close_stays_dead_after_a_reopen(client, shop, refund, clock):
    """Issue 7: the link "expires after 14 days or when the ticket closes" -- for good, not until
    somebody reopens the ticket (the reopen mail carries a new link)."""
    old = vendor_path(refund)
    services.close(services.Actor.customer(refund), refund, "Solved, thank you!", now=MONDAY + timedelta(hours=1))
    _reopen(shop[0], db.session.get(Ticket, refund.id), MONDAY + timedelta(hours=2))
    assert db.session.get(Ticket, refund.id).status == "reopened"
    refused = client.get(old)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 410 and "This link no longer works" in body and "newest email" in body
    assert client.get(f"/s/v/tickets/{refund.id}").status_code == 403  # no grant was made
    assert audit_events("support.vendor_link.refused_closed")[-1].details["reason"] == "closed_since"
    fresh = vendor_path(db.session.get(Ticket, refund.id))  # the reopen mail's own link works
    assert fresh != old
    location, page = open_link(client, fresh)
    assert page.status_code == 200 and f"Ticket #{refund.id}" in page.get_data(as_text=True)


def test_a_vendor_grant_taken_before_a_close_ends_with_it_even_if_the_ticket_reopens(client, shop, refund, clock):
    location, _ = open_link(client, vendor_path(refund))
    services.close(services.Actor.customer(refund), refund, "Solved, thank you!", now=MONDAY + timedelta(minutes=5))
    _reopen(shop[0], db.session.get(Ticket, refund.id), MONDAY + timedelta(minutes=10))
    clock.tick(timedelta(minutes=15))  # well inside the grant's two hours
    page = client.get(location)
    assert page.status_code == 410 and "This link no longer works" in page.get_data(as_text=True)
    reply = client.post(location + "/reply", data={"comment": "Answering through an old link"})
    assert reply.status_code in (403, 410)
    assert db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.kind == "commented")) == 0


def test_the_customers_link_survives_a_close_and_reopen(client, shop, refund, clock):
    """The customer's link names the ticket's whole life (it shows a closed ticket, and the
    customer keeps the conversation going after a reopen); only the email change ends it."""
    path = customer_path(refund)
    services.close(services.Actor.customer(refund), refund, "Solved, thank you!", now=MONDAY + timedelta(hours=1))
    _reopen(shop[0], db.session.get(Ticket, refund.id), MONDAY + timedelta(hours=2))
    location, page = open_link(client, path)
    assert page.status_code == 200
    assert client.post(location + "/reply", data={"comment": "Thanks for reopening it."}).status_code == 303


def test_vendor_link_expires_after_14_days(client, refund, clock):
    path = vendor_path(refund)
    clock.tick(timedelta(days=13, hours=23))
    assert client.get(path).status_code == 303
    clock.tick(timedelta(hours=1, seconds=1))
    expired = client.get(path)
    assert expired.status_code == 410 and "This link has expired" in expired.get_data(as_text=True)


def test_the_session_grant_ends_after_two_hours(client, refund, clock):
    location, _ = open_link(client, vendor_path(refund))
    clock.tick(timedelta(hours=1, minutes=59))
    assert client.get(location).status_code == 200
    clock.tick(timedelta(minutes=2))
    ended = client.get(location)
    assert ended.status_code == 403 and "Your access has ended" in ended.get_data(as_text=True)
    assert client.post(location + "/reply", data={"comment": "Still here after hours?"}).status_code == 403


# --- refusing tokens -----------------------------------------------------------------------------

def _flip(token: str, i: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    swapped = alphabet[(alphabet.index(token[i]) + 1) % len(alphabet)]
    return token[:i] + swapped + token[i + 1:]


@pytest.mark.parametrize("side", ["vendor", "customer"])
def test_every_changed_character_of_a_token_is_refused(client, refund, side):
    path = vendor_path(refund) if side == "vendor" else customer_path(refund)
    prefix, token = path.rsplit("/", 1)
    accepted = []
    for i in range(len(token)):
        response = client.get(f"{prefix}/{_flip(token, i)}")
        if response.status_code != 404:
            accepted.append((i, response.status_code))
    assert accepted == []
    page = client.get(f"{prefix}/{_flip(token, 3)}").get_data(as_text=True)
    assert "This link does not work" in page
    assert client.get(f"/s/{'v' if side == 'vendor' else 'c'}/tickets/{refund.id}").status_code == 403
    assert len(audit_events("support.link_refused")) >= len(token)


def test_tokens_are_bound_to_their_purpose_and_their_ticket(client, refund, tech):
    vendor_token = vendor_path(refund).rsplit("/", 1)[1]
    customer_token = customer_path(refund).rsplit("/", 1)[1]
    assert client.get(f"/s/c/{vendor_token}").status_code == 404  # vendor token as a customer link
    assert client.get(f"/s/v/{customer_token}").status_code == 404  # and the other way round
    open_link(client, f"/s/v/{vendor_token}")
    # The grant for ticket A does not open ticket B (nor act on it).
    assert client.get(f"/s/v/tickets/{tech.id}").status_code == 403
    assert client.post(f"/s/v/tickets/{tech.id}/reply", data={"comment": "Answering the wrong ticket"}).status_code == 403
    assert client.post(f"/s/v/tickets/{tech.id}/close", data={"comment": "Closing the wrong ticket"}).status_code == 403
    assert client.get(f"/s/c/tickets/{refund.id}").status_code == 403  # vendor grant is not a customer grant
    assert db.session.get(Ticket, tech.id).status == "open"


def test_a_token_naming_another_ticket_is_refused(client, app, refund, tech):
    with app.test_request_context():
        forged_payload = links._serializer(links.VENDOR).dumps({"t": tech.id, "a": refund.linked_account_id + 1})
    assert client.get(f"/s/v/{forged_payload}").status_code == 404
    assert client.get("/s/v/" + "x" * 500).status_code == 404
    assert client.get("/s/v/tickets/99999999999999999999").status_code in (403, 404)


def test_customer_link_stops_working_when_the_email_changes(client, refund, clock):
    path = customer_path(refund)
    services.change_email(services.Actor.customer(refund), refund, "new@example.com", "Typo in my address",
                          now=MONDAY + timedelta(minutes=5))
    refused = client.get(path)
    assert refused.status_code == 404
    fresh = customer_path(db.session.get(Ticket, refund.id))
    assert fresh != path and client.get(fresh).status_code == 303


def test_customer_link_expires_after_60_days_but_shows_a_closed_ticket_before(client, refund, clock):
    path = customer_path(refund)
    services.close(services.Actor.customer(refund), refund, "Solved, thank you!", now=MONDAY + timedelta(hours=1))
    _, page = open_link(client, path)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "This ticket is closed" in body and "<form" not in body.split("</header>")[1]
    clock.tick(timedelta(days=60, seconds=1))
    assert client.get(path).status_code == 410


# --- limits and scope -----------------------------------------------------------------------------



def _fresh_refund(make, sale):
    from portal.types import utcnow

    return make.ticket(sale, ticket_type="refund", now=utcnow(), comment="Please refund this order.")


def test_replies_are_limited_to_20_an_hour_per_ticket_and_address(client, make, sale, limited):
    ticket = _fresh_refund(make, sale)
    vendor_location, _ = open_link(client, vendor_path(ticket))
    codes = [client.post(vendor_location + "/reply", data={"comment": f"Reply number {i}"}).status_code
             for i in range(30)]
    assert codes[:20] == [303] * 20 and set(codes[20:]) == {429}
    assert db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.kind == "commented")) == 20
    page = client.post(vendor_location + "/reply", data={"comment": "One too many"})
    assert "Too many" in page.get_data(as_text=True) or "many messages" in page.get_data(as_text=True)
    limited.tick(timedelta(minutes=61))
    open_link(client, vendor_path(ticket))
    assert client.post(vendor_location + "/reply", data={"comment": "After an hour"}).status_code == 303


def test_customer_replies_are_limited_too(client, make, sale, limited):
    ticket = _fresh_refund(make, sale)
    location, _ = open_link(client, customer_path(ticket))
    codes = [client.post(location + "/reply", data={"comment": f"Customer reply {i}"}).status_code for i in range(21)]
    assert codes.count(303) == 20 and codes[-1] == 429


def test_a_link_session_never_reaches_clerk_routes(app, client, refund, tech):
    open_link(client, vendor_path(refund))
    open_link(client, customer_path(tech))
    reached, checked = [], 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("support", "static", "devmail") or rule.endpoint in ("web.healthz",):
            continue
        view = app.view_functions[rule.endpoint]
        if getattr(view, "_public", False):
            continue  # login, sign-up, ... are for everybody
        values = {arg: (refund.id if "id" in arg else "x") for arg in rule.arguments}
        with app.test_request_context():
            from flask import url_for

            try:
                url = url_for(rule.endpoint, **values)
            except Exception:  # noqa: BLE001, S112 - a converter that wants another shape
                continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            checked += 1
            if response.status_code < 300 or response.status_code == 303:
                reached.append((method, url, response.status_code))
    assert reached == [], "a customer or vendor-link session reached a route that needs a login"
    assert checked >= 8
    assert client.get("/tickets/").status_code in (302, 401)
