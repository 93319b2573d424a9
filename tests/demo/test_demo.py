"""The demo data: the named users, enough of everything, and consistent with the timers."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from portal.auth.models import User
from portal.extensions import db
from portal.tickets import sweep
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions.models import Transaction

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc)


def test_demo_loads_everything_the_issue_names_and_is_idempotent(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    emails = set(db.session.scalars(select(User.email)))
    assert {"owner@demo.test", "tickets@demo.test", "search@demo.test", "supervisor@demo.test",
            "api@demo.test", "apiread@demo.test"} <= emails
    assert db.session.scalar(select(func.count(Transaction.id))) >= 5000
    assert db.session.scalar(select(func.count(Ticket.id))) >= 600
    for column in (Ticket.ticket_type, Ticket.status, Ticket.source, Ticket.locale):
        values = set(db.session.scalars(select(column).distinct()))
        expected = {
            "ticket_type": {"tech_support", "refund", "cancel"},
            "status": {"open", "reopened", "closed"},
            "source": {"customer", "vendor", "clerk", "phone", "api"},
            "locale": {"en", "de", "es"},
        }[column.key]
        assert expected <= values, column.key
    kinds = set(db.session.scalars(select(Transaction.txn_type).distinct()))
    assert {"SALE", "BILL", "RFND", "CGBK", "TEST_SALE"} <= kinds
    clerk_events = db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.actor_kind == "clerk"))
    assert clerk_events > 100
    assert sweep.run(NOW) == {}  # nothing in the demo data is overdue at its own "now"
    logins = (app.instance_path + "/demo-logins.txt")
    assert "api@demo.test" in open(logins).read()

    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "already loaded" in again.output


def test_demo_is_deterministic_from_its_seed(app):
    from portal.demo import generator

    first = generator.generate("demo", seed=7, now=NOW)
    receipts = db.session.scalars(select(Transaction.receipt).order_by(Transaction.id).limit(50)).all()
    assert first["tickets"] >= 600 and len(receipts) == 50
    assert receipts[0] and all(len(r.split("-")[0]) == 8 for r in receipts)
