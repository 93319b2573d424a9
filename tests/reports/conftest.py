"""A hand-built ticket history with known answers for every report.

Times are UTC. The reports are read for New York (UTC-5 in November 2026), UTC, Berlin and
Kolkata (UTC+5:30), so events near midnight land on different days in different zones.

Tickets (accounts: ketovital "K" in New York, mindshift "M" in Berlin):

T1 K refund, customer     e1  Nov 10 04:30 opened (NY: Nov 9 23:30)
                          e2  Nov 10 05:30 Alice comments (first reply after 1 h)
                          e3  Nov 10 06:00 Alice: refund → tech support (saved)
                          e4  Nov 11 15:00 Alice closes (34.5 h after opening)
T2 K tech support, Bob    e5  Nov 10 12:00 Bob opens
                          e6  Nov 10 13:00 customer comments
                          e7  Nov 10 14:00 customer: tech support → refund
                          e8  Nov 12 03:00 Bob closes the refund request (saved; 39 h)
                          e9  Nov 12 06:00 customer reopens
                          e10 Nov 13 06:00 system closes it (inactive; 24 h)
T3 M cancel, phone        e11 Nov 10 23:30 ClickBank phone support opens
                          e12 Nov 11 00:10 Ann (API user) comments (first reply after 40 min)
                          e13 Nov 11 01:00 Alice escalates
                          e14 Nov 12 00:00 system: processing (counted nowhere)
                          e15 Nov 13 00:00 system: finalized (closed, 48.5 h)
T4 K tech support, cust.  e16 Nov 5 10:00 opened; e17 Nov 5 11:00 Alice replies
                          e18 Nov 10 16:00 Alice again (her previous touch: Nov 5)
                          e19 Nov 10 17:00 Alice again
T5 K refund, customer     e20 Nov 10 18:45 opened (Kolkata: Nov 11 00:15)
T6 M tech support, phone  e21 Nov 10 18:15 opened (Kolkata: Nov 10 23:45)

Afterwards Alice is renamed (Alice Adams → Alice Baker) and Bob is deleted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest

from portal.extensions import db
from portal.tickets.models import Ticket, TicketEvent

UTC = timezone.utc


def T(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass
class World:
    owner: object
    k: object
    m: object
    alice: object
    bob: object
    ann: object
    supervisor: object
    plain: object
    tickets: dict
    events: dict


def _ticket(make, account, ticket_type: str, opened_at: datetime, source: str) -> Ticket:
    sale = make.sale(account, at=opened_at - timedelta(days=3), recurring=ticket_type == "cancel")
    ticket = Ticket(
        linked_account_id=account.id, transaction_id=sale.id, receipt=sale.receipt,
        ticket_type=ticket_type, status="open", source=source, opened_at=opened_at,
        updated_at=opened_at, customer_email=sale.customer_email, product_type=sale.product_type,
        amount_cents=sale.amount_cents, currency=sale.currency,
    )
    db.session.add(ticket)
    db.session.flush()
    return ticket


def add_event(ticket, at, kind, *, actor_kind, user=None, ticket_type, frm=None, to=None,
              comment="A comment of some length.", label=None) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id, linked_account_id=ticket.linked_account_id, at=at, kind=kind,
        actor_kind=actor_kind, actor_user_id=user.id if user is not None else None,
        actor_label=label or (user.full_name if user is not None else actor_kind.capitalize()),
        ticket_type=ticket_type, from_value=frm, to_value=to, comment=comment,
    )
    db.session.add(event)
    return event


@pytest.fixture
def world(make) -> World:
    owner = make.owner(timezone="America/New_York")
    k = make.account(owner, "ketovital", timezone_name="America/New_York", colour="#4f46e5")
    m = make.account(owner, "mindshift", timezone_name="Europe/Berlin", colour="#0ea5e9")
    alice = make.clerk(owner, accounts=[k, m], first_name="Alice", last_name="Adams")
    bob = make.clerk(owner, accounts=[k, m], first_name="Bob", last_name="Brown")
    ann = make.clerk(owner, perms=("api_read", "api_write", "orders_tickets"), accounts=[k, m],
                     api_only=True, first_name="Ann", last_name="Api")
    supervisor = make.clerk(owner, perms=("orders_tickets", "manage_users"), accounts=[k],
                            first_name="Sue", last_name="Visor")
    plain = make.clerk(owner, perms=("orders_tickets",), accounts=[k, m], first_name="Pat", last_name="Plain")

    t1 = _ticket(make, k, "refund", T(10, 4, 30), "customer")
    t2 = _ticket(make, k, "tech_support", T(10, 12), "clerk")
    t3 = _ticket(make, m, "cancel", T(10, 23, 30), "phone")
    t4 = _ticket(make, k, "tech_support", T(5, 10), "customer")
    t5 = _ticket(make, k, "refund", T(10, 18, 45), "customer")
    t6 = _ticket(make, m, "tech_support", T(10, 18, 15), "phone")

    e = {}
    e[1] = add_event(t1, T(10, 4, 30), "opened", actor_kind="customer", ticket_type="refund", to="refund")
    e[2] = add_event(t1, T(10, 5, 30), "commented", actor_kind="clerk", user=alice, ticket_type="refund",
                     comment="Sorry to hear that. Could you tell me more?")
    e[3] = add_event(t1, T(10, 6), "type_changed", actor_kind="clerk", user=alice, ticket_type="tech_support",
                     frm="refund", to="tech_support", comment="Customer agreed to try the fix first.")
    e[4] = add_event(t1, T(11, 15), "closed", actor_kind="clerk", user=alice, ticket_type="tech_support",
                     frm="open", to="closed", comment="Solved, closing.")
    e[5] = add_event(t2, T(10, 12), "opened", actor_kind="clerk", user=bob, ticket_type="tech_support",
                     to="tech_support", comment="Opened for the customer on the phone.")
    e[6] = add_event(t2, T(10, 13), "commented", actor_kind="customer", ticket_type="tech_support")
    e[7] = add_event(t2, T(10, 14), "type_changed", actor_kind="customer", ticket_type="refund",
                     frm="tech_support", to="refund")
    e[8] = add_event(t2, T(12, 3), "closed", actor_kind="clerk", user=bob, ticket_type="refund",
                     frm="open", to="closed", comment="=HYPERLINK(\"http://evil.test\")")
    e[9] = add_event(t2, T(12, 6), "reopened", actor_kind="customer", ticket_type="refund",
                     frm="closed", to="reopened")
    e[10] = add_event(t2, T(13, 6), "auto_closed", actor_kind="system", ticket_type="refund", comment=None)
    e[11] = add_event(t3, T(10, 23, 30), "opened", actor_kind="phone", ticket_type="cancel", to="cancel")
    e[12] = add_event(t3, T(11, 0, 10), "commented", actor_kind="api", user=ann, ticket_type="cancel",
                      comment="Received through the helpdesk integration.")
    e[13] = add_event(t3, T(11, 1), "escalated", actor_kind="clerk", user=alice, ticket_type="cancel",
                      to="escalated", comment="Escalating: the sale is old.")
    e[14] = add_event(t3, T(12, 0), "processing", actor_kind="system", ticket_type="cancel", comment=None)
    e[15] = add_event(t3, T(13, 0), "finalized", actor_kind="system", ticket_type="cancel", comment=None)
    e[16] = add_event(t4, T(5, 10), "opened", actor_kind="customer", ticket_type="tech_support")
    e[17] = add_event(t4, T(5, 11), "commented", actor_kind="clerk", user=alice, ticket_type="tech_support",
                      comment="Here is a new download link.")
    e[18] = add_event(t4, T(10, 16), "commented", actor_kind="clerk", user=alice, ticket_type="tech_support",
                      comment="Following up: does it work now?")
    e[19] = add_event(t4, T(10, 17), "commented", actor_kind="clerk", user=alice, ticket_type="tech_support",
                      comment="Closing the loop on this one.")
    e[20] = add_event(t5, T(10, 18, 45), "opened", actor_kind="customer", ticket_type="refund")
    e[21] = add_event(t6, T(10, 18, 15), "opened", actor_kind="phone", ticket_type="tech_support")
    db.session.commit()

    # Later: Alice marries and takes a new name; Bob leaves and is deleted.
    alice.last_name = "Baker"
    bob.deleted_at = T(20, 9)
    db.session.commit()
    tickets = {1: t1, 2: t2, 3: t3, 4: t4, 5: t5, 6: t6}
    return World(owner, k, m, alice, bob, ann, supervisor, plain, tickets, e)


NOV = {d: date(2026, 11, d) for d in range(1, 31)}
