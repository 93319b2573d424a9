"""Tickets saved (issue 9 item 2): refund or cancellation requests that ended without a refund.
A save that is later undone (the ticket processed after all, or saved again later) is taken
back from the day and the person it was counted for; the drill-down lists exactly what counts.

Hand-built history (UTC; read in New York, UTC-5):

S1 K refund, customer  Nov 10 14:00 opened
                       Nov 10 15:00 Alice: refund → tech support       (a save, later lost)
                       Nov 11 15:00 customer: tech support → refund
                       Nov 12 15:00 system: processing                  (refunded after all)
                       Nov 13 15:00 system: finalized
S2 K refund, customer  Nov 10 14:00 opened
                       Nov 10 16:00 Bob closes (customer agreed)       (a save, superseded)
                       Nov 11 16:00 customer reopens
                       Nov 11 17:00 Alice closes (customer agreed)     (the save that counts)
S3 M cancel, customer  Nov 10 14:00 opened
                       Nov 10 18:00 customer closes it                  (withdrawn: customer's)
S4 K refund, customer  Nov 10 14:00 opened
                       Nov 10 19:00 Alice: refund → tech support       (a save that stands)
S5 K refund, customer  Nov 10 14:00 opened
                       Nov 11 14:00 system closes it (already refunded elsewhere: no save)

Each event is committed on its own, so the live path takes back saves it stored earlier.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.extensions import db
from portal.reports import aggregate
from portal.reports.metrics import SAVE_LOST, SAVED, Event, History, derive
from portal.reports.models import ReportFact
from tests.reports.conftest import NOV, T, _ticket, add_event
from tests.reports.test_known_answers import _snapshot, run, table

Q = "period=custom&from=2026-11-10&to=2026-11-13&tz=America/New_York"


@dataclass
class Shop:
    owner: object
    k: object
    m: object
    alice: object
    bob: object


@pytest.fixture
def world(make) -> Shop:
    """Users and accounts only: the events are the fixture below."""
    owner = make.owner(timezone="America/New_York")
    k = make.account(owner, "ketovital", timezone_name="America/New_York")
    m = make.account(owner, "mindshift", timezone_name="Europe/Berlin")
    alice = make.clerk(owner, accounts=[k, m], first_name="Alice", last_name="Baker")
    bob = make.clerk(owner, accounts=[k, m], first_name="Bob", last_name="Brown")
    return Shop(owner, k, m, alice, bob)


@pytest.fixture
def saves(world, make):
    w = world
    tickets = {
        n: _ticket(make, acct, kind, T(10, 14), "customer")
        for n, acct, kind in ((1, w.k, "refund"), (2, w.k, "refund"), (3, w.m, "cancel"),
                              (4, w.k, "refund"), (5, w.k, "refund"))
    }
    db.session.commit()

    def ev(n, at, kind, actor_kind, ticket_type, user=None, frm=None, to=None):
        add_event(tickets[n], at, kind, actor_kind=actor_kind, user=user, ticket_type=ticket_type,
                  frm=frm, to=to, comment=None if actor_kind == "system" else "A comment of some length.")
        db.session.commit()

    for n, kind in ((1, "refund"), (2, "refund"), (3, "cancel"), (4, "refund"), (5, "refund")):
        ev(n, T(10, 14), "opened", "customer", kind, to=kind)
    ev(1, T(10, 15), "type_changed", "clerk", "tech_support", w.alice, "refund", "tech_support")
    ev(2, T(10, 16), "closed", "clerk", "refund", w.bob, "open", "closed")
    ev(3, T(10, 18), "closed", "customer", "cancel", None, "open", "closed")
    ev(4, T(10, 19), "type_changed", "clerk", "tech_support", w.alice, "refund", "tech_support")
    ev(1, T(11, 15), "type_changed", "customer", "refund", None, "tech_support", "refund")
    ev(2, T(11, 16), "reopened", "customer", "refund", None, "closed", "reopened")
    ev(2, T(11, 17), "closed", "clerk", "refund", w.alice, "open", "closed")
    ev(5, T(11, 14), "closed", "system", "refund", None, "open", "closed")
    ev(1, T(12, 15), "processing", "system", "refund")
    ev(1, T(13, 15), "finalized", "system", "refund")
    return tickets


def saved_facts():
    return sorted(
        (f.ticket_id, f.metric, f.actor, f.at)
        for f in db.session.scalars(select(ReportFact).where(ReportFact.metric.in_([SAVED, SAVE_LOST])))
    )


def test_only_saves_that_held_are_counted_live_and_after_a_rebuild(world, saves):
    t, a, b = saves, f"u{world.alice.id}", f"u{world.bob.id}"
    expected = sorted([
        (t[1].id, SAVE_LOST, a, T(10, 15)),  # refunded after all
        (t[2].id, SAVE_LOST, b, T(10, 16)),  # saved again later by Alice
        (t[2].id, SAVED, a, T(11, 17)),
        (t[3].id, SAVED, "customer", T(10, 18)),
        (t[4].id, SAVED, a, T(10, 19)),
    ])
    assert saved_facts() == expected
    live = _snapshot()
    db.session.commit()
    aggregate.rebuild(db.session.connection())
    db.session.commit()
    assert saved_facts() == expected
    assert _snapshot() == live  # every fact and count the same, no zero rows left behind


def test_the_response_report_credits_whoever_saved_it(world, saves):
    rows = table(run(world, "response-times", NOV[10], NOV[13]))
    assert rows["Alice Baker"]["saved"] == 2  # S2 (her close) and S4; not S1, refunded later
    assert rows.get("Bob Brown", {}).get("saved", 0) == 0  # his save was superseded
    assert rows["Customers"]["saved"] == 1  # S3 withdrawn by the customer
    assert rows["Total"]["saved"] == 3
    # Day by day: the lost saves leave the days they were made on (Nov 10 in New York).
    days = table(run(world, "response-times", NOV[10], NOV[13], clerk=f"u{world.alice.id}"))
    assert [days[k]["saved"] for k in ("Tue 10 Nov 2026", "Wed 11 Nov 2026", "Thu 12 Nov 2026")] == [1, 1, 0]
    # A period that holds only the lost save's day shows nothing for it, and never a negative.
    only_10 = table(run(world, "response-times", NOV[10], NOV[10], tz="UTC"))
    assert only_10["Total"]["saved"] == 2  # S3 and S4; S1's and Bob's S2 save taken back


def test_the_saved_column_drills_down_to_exactly_the_tickets_counted(client, login, world, saves):
    login(world.owner)
    page = BeautifulSoup(client.get(f"/reports/response-times?{Q}").get_data(True), "html.parser")
    saved_head = [th for th in page.select("th") if th.get_text(strip=True) == "Saved"][0]
    assert "ended without a refund" in saved_head["title"]
    assert "Customers" in saved_head["title"]
    assert "refunded or cancelled after all" in page.select_one(".report-help").get_text()
    drill = client.get(f"/reports/response-times/tickets?{Q}&col=saved")
    assert drill.status_code == 200
    soup = BeautifulSoup(drill.get_data(True), "html.parser")
    assert soup.select_one("[data-testid=drill-total]").get_text() == "3"
    listed = soup.select_one("[data-testid=drill-table]").get_text(" ")
    for n in (2, 3, 4):
        assert f"#{saves[n].id}" in listed
    for n in (1, 5):
        assert f"#{saves[n].id}" not in listed
    bob = client.get(f"/reports/response-times/tickets?{Q}&col=saved&actor=u{world.bob.id}")
    assert BeautifulSoup(bob.get_data(True), "html.parser").select_one(
        "[data-testid=drill-total]").get_text() == "0"


# ---------------------------------------------------------------------------------------------
# derive() alone


def _ev(i, kind, actor_kind="clerk", user=7, ticket_type="refund", frm=None, to=None, hours=0):
    return Event(i, 1, 1, T(10, 0) + timedelta(hours=hours), kind, actor_kind,
                 user if actor_kind == "clerk" else None, ticket_type, frm, to)


def test_derive_takes_a_save_back_when_the_ticket_is_processed():
    h = History()
    derive(_ev(1, "opened", "customer"), h)
    saved = [f for f in derive(_ev(2, "closed", hours=1), h) if f.metric == SAVED]
    assert len(saved) == 1 and h.standing_save == saved[0]
    derive(_ev(3, "reopened", "customer", hours=2), h)
    lost = [f for f in derive(_ev(4, "processing", "system", hours=3), h) if f.metric == SAVE_LOST]
    assert [(f.event_id, f.actor, f.at) for f in lost] == [(2, "u7", T(10, 1))]  # names the save
    assert h.standing_save is None
    assert not [f for f in derive(_ev(5, "finalized", "system", hours=4), h) if f.metric == SAVE_LOST]


def test_derive_a_second_save_replaces_the_first_and_processing_without_a_save_is_nothing():
    h = History()
    derive(_ev(1, "opened", "customer"), h)
    assert not [f for f in derive(_ev(2, "processing", "system", hours=1), h) if f.metric == SAVE_LOST]
    derive(_ev(3, "type_changed", ticket_type="tech_support", frm="refund", to="tech_support", hours=2), h)
    derive(_ev(4, "type_changed", "customer", frm="tech_support", to="refund", hours=3), h)
    facts = derive(_ev(5, "closed", "customer", hours=4), h)
    assert sorted((f.metric, f.event_id, f.actor) for f in facts if f.metric in (SAVED, SAVE_LOST)) == [
        (SAVE_LOST, 3, "u7"), (SAVED, 5, "customer")]


def test_the_live_path_resumes_the_standing_save_from_the_stored_facts(world, saves):
    """History rebuilt from the facts knows which save still counts (and its actor and type)."""
    conn = db.session.connection()
    histories = aggregate._histories(conn, [saves[2].id, saves[1].id])
    standing = histories[saves[2].id].standing_save
    assert (standing.actor, standing.at, standing.ticket_type) == (f"u{world.alice.id}", T(11, 17), "refund")
    assert histories[saves[1].id].standing_save is None
