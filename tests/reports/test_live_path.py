"""The report tables follow the event log as the ticket services write it (ORM inserts, timers,
refunds), and a rebuild from the log agrees; a rolled-back action leaves no trace."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.reports import aggregate
from portal.reports.models import AffiliateDaily, ReportFact
from portal.tickets import services
from portal.tickets.lifecycle import Refused
from portal.tickets.models import TicketEvent
from tests.reports.test_known_answers import _snapshot

MONDAY = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)


def actor(user):
    return services.Actor.for_user(user, principal_for(user))


@pytest.fixture
def shop(make):
    owner = make.owner()
    account = make.account(owner, "ketovital")
    clerk = make.clerk(owner, perms=("orders_tickets", "refund_authority"), accounts=[account])
    return owner, account, clerk


def test_services_keep_the_tables_in_step(make, shop):
    owner, account, clerk = shop
    sale = make.sale(account, at=MONDAY - timedelta(days=3), affiliate="healthhub")
    ticket = make.ticket(sale, ticket_type="refund", now=MONDAY)  # a customer's request
    services.add_comment(actor(clerk), ticket, "Let me help you with that.", now=MONDAY + timedelta(hours=2))
    services.change_type(actor(clerk), ticket, "tech_support", "Customer agreed to try again.",
                         now=MONDAY + timedelta(hours=3), customer_agreed=True)
    services.close(actor(owner), ticket, "All solved now, thanks.", now=MONDAY + timedelta(hours=5))
    services.reopen(actor(clerk), ticket, "The customer says it broke again.",
                    now=MONDAY + timedelta(days=1))
    other = make.ticket(make.sale(account, at=MONDAY - timedelta(days=1)), ticket_type="refund",
                        now=MONDAY + timedelta(hours=1))
    services.run_due(other, now=MONDAY + timedelta(days=3))  # processed, then finalized: refunded

    metrics = sorted(db.session.scalars(select(ReportFact.metric).where(ReportFact.ticket_id == ticket.id)))
    assert metrics == sorted([
        "opened", "commented", "touch", "first_reply", "reply:1to24h",
        "tc:refund>tech_support", "touch", "saved", "closed", "touch", "reopened", "touch",
        # per ticket: first work (2 h), then 1 h, 2 h and 19 h after the previous vendor touch
        "work_first", "work:0", "work:1", "work:4",
    ])
    reply = db.session.scalar(select(ReportFact).where(ReportFact.metric == "first_reply"))
    assert (reply.actor, reply.seconds) == (f"u{clerk.id}", 7200)
    closing = db.session.scalar(select(ReportFact).where(ReportFact.metric == "finalized"))
    assert closing.actor == "system" and closing.ticket_id == other.id
    events = db.session.scalar(select(func.count()).select_from(TicketEvent))
    assert db.session.scalar(select(func.max(ReportFact.event_id))) == events  # ids read back

    live = _snapshot()
    refunded = db.session.scalar(select(func.sum(AffiliateDaily.refunded)).where(AffiliateDaily.account_id != 0))
    assert refunded == 1  # the second sale was refunded by the timer
    db.session.commit()
    aggregate.rebuild(db.session.connection())
    db.session.commit()
    assert _snapshot() == live


def test_a_refused_action_leaves_no_report_rows(make, shop):
    owner, account, clerk = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - timedelta(days=3)), ticket_type="refund", now=MONDAY)
    before = db.session.scalar(select(func.count()).select_from(ReportFact))
    with pytest.raises(Refused):  # closing a customer's request needs their consent
        services.close(actor(clerk), ticket, "Closing without asking.", now=MONDAY + timedelta(hours=1))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ReportFact)) == before


def test_rolled_back_events_roll_back_their_facts(make, shop):
    owner, account, clerk = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - timedelta(days=3)), now=MONDAY)
    before = db.session.scalar(select(func.count()).select_from(ReportFact))
    db.session.add(TicketEvent(
        ticket_id=ticket.id, linked_account_id=account.id, at=MONDAY + timedelta(hours=1), kind="commented",
        actor_kind="clerk", actor_user_id=clerk.id, actor_label="x", ticket_type="tech_support", comment="Hello there",
    ))
    db.session.flush()
    assert db.session.scalar(select(func.count()).select_from(ReportFact)) > before
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ReportFact)) == before


def test_bulk_inserts_are_counted_and_pausing_skips_them(make, shop):
    owner, account, clerk = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - timedelta(days=3)), now=MONDAY)
    rows = [
        {"id": 1000 + i, "ticket_id": ticket.id, "linked_account_id": account.id,
         "at": MONDAY + timedelta(hours=i + 1), "kind": "commented", "actor_kind": "clerk",
         "actor_user_id": clerk.id, "actor_label": "Casey", "ticket_type": "tech_support",
         "comment": "Bulk reply number", "customer_agreed": False}
        for i in range(3)
    ]
    db.session.execute(insert(TicketEvent.__table__), rows)
    touches = db.session.scalars(
        select(ReportFact.gap_class).where(ReportFact.metric == "touch").order_by(ReportFact.at)).all()
    assert touches == [None, 0, 0]  # first touch, then one hour apart each
    with aggregate.paused():
        db.session.execute(insert(TicketEvent.__table__), [{**rows[0], "id": 2000}])
    assert db.session.scalar(select(func.count()).where(ReportFact.event_id == 2000)) == 0
    db.session.commit()
    aggregate.rebuild(db.session.connection())
    db.session.commit()
    assert db.session.scalar(select(func.count()).where(ReportFact.event_id == 2000)) == 3  # + touch, work


def test_the_cli_rebuilds(app, make, shop):
    owner, account, clerk = shop
    make.ticket(make.sale(account, at=MONDAY - timedelta(days=3)), now=MONDAY)
    db.session.execute(ReportFact.__table__.delete())
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["reports", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "Rebuilt the report tables" in result.output
    assert db.session.scalar(select(func.count()).select_from(ReportFact)) == 1
