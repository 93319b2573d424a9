"""Fixtures for the Tickets tab: a small help desk whose tickets are dated from the real clock (the
views use ``utcnow()``), and a query counter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.tickets import services
from portal.tickets.models import Ticket
from portal.types import utcnow


@dataclass
class Desk:
    owner: object
    keto: object  # ketovital, New York
    mind: object  # mindshift, Berlin
    clerk: object  # Orders/Tickets on ketovital only
    clock: datetime

    def ago(self, **kw) -> datetime:
        return self.clock - timedelta(**kw)


@pytest.fixture
def desk(make) -> Desk:
    owner = make.owner(timezone="Europe/London")
    keto = make.account(owner, "ketovital", timezone_name="America/New_York", colour="#4f46e5")
    mind = make.account(owner, "mindshift", timezone_name="Europe/Berlin", colour="#0ea5e9")
    clerk = make.clerk(owner, accounts=[keto], timezone="Europe/London")
    return Desk(owner, keto, mind, clerk, utcnow().replace(microsecond=0))


@pytest.fixture
def ticket_for(make, desk):
    """``ticket_for(account, "refund", recurring=True, email=..., sale_days=10, hours=2)``: a sale
    ``sale_days`` ago and a customer's ticket on it opened ``hours`` ago."""

    def _open(
        account,
        ticket_type="tech_support",
        *,
        recurring=False,
        email=None,
        sale_days=10,
        hours=2.0,
        receipt=None,
        amount_cents=4700,
        locale="en",
        by=None,
    ):
        sale = make.sale(
            account,
            at=desk.ago(days=sale_days),
            recurring=recurring,
            email=email,
            receipt=receipt,
            amount_cents=amount_cents,
            locale=locale,
        )
        actor = by or services.Actor.customer(sale)
        return services.open_ticket(
            actor,
            sale,
            ticket_type,
            comment="Please help me with my order.",
            now=desk.ago(hours=hours),
            locale=locale,
        )

    return _open


def actor_of(user):
    return services.Actor.for_user(user, principal_for(user))


class Statement(str):
    """An executed SQL statement; ``params`` holds what was bound to it."""

    params: tuple = ()


@pytest.fixture
def queries_run(app):
    """A list that collects every SQL statement executed while the test runs."""
    seen: list[Statement] = []

    def _record(conn, cursor, statement, parameters, context, executemany):
        recorded = Statement(statement)
        recorded.params = parameters
        seen.append(recorded)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", _record)
    yield seen
    event.remove(engine, "before_cursor_execute", _record)


# --- timeline tests (sweep, order state): one New York account with a clerk ---------------------


@pytest.fixture
def shop(make):
    owner = make.owner()
    account = make.account(owner, "ketovital", cs_email="help@ketovital.test")
    clerk = make.clerk(owner, accounts=[account])
    return owner, account, clerk


def as_user(user):
    return services.Actor.for_user(user, principal_for(user))


def fresh(ticket) -> Ticket:
    db.session.expire_all()
    return db.session.get(Ticket, ticket.id)
