"""Fixtures of the Users tab: one Master Account with two linked accounts, its owner, a
supervisor (Manage Users on account ``ketovital`` only) and a plain clerk; plus a second Master
Account. Users log in through the real login form (``login`` fixture)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from portal.accounts.models import LinkedAccount
from portal.auth.models import User


@dataclass
class Team:
    owner: User
    keto: LinkedAccount
    mind: LinkedAccount
    supervisor: User
    clerk: User
    other_owner: User
    other_account: LinkedAccount


@pytest.fixture
def team(make) -> Team:
    owner = make.owner(email="owner@team.test")
    keto = make.account(owner, "ketovital")
    mind = make.account(owner, "mindshift", timezone_name="Europe/Berlin")
    supervisor = make.clerk(owner, email="sue@team.test", first_name="Sue", last_name="Visor",
                            perms=("orders_tickets", "search_orders", "manage_users"), accounts=[keto])
    clerk = make.clerk(owner, email="tina@team.test", first_name="Tina", last_name="Tickets",
                       perms=("orders_tickets",), accounts=[keto])
    other_owner = make.owner(email="boss@elsewhere.test")
    other_account = make.account(other_owner, "elsewhere")
    return Team(owner, keto, mind, supervisor, clerk, other_owner, other_account)


@pytest.fixture
def as_owner(team, login):
    return login(team.owner)


@pytest.fixture
def as_supervisor(team, login):
    return login(team.supervisor)


@pytest.fixture
def fresh_stepup(app):
    """Mark the logged-in client's session as having passed the step-up re-check just now."""
    from sqlalchemy import update

    from portal.auth.models import UserSession
    from portal.extensions import db
    from portal.types import utcnow

    def _fresh(user):
        db.session.execute(update(UserSession).where(UserSession.user_id == user.id,
                                                     UserSession.revoked_at.is_(None))
                           .values(pin_verified_at=utcnow()))
        db.session.commit()

    return _fresh
