"""Fixtures of the Transactions tab: one Master Account with two linked accounts, clerks with
each permission set, a foreign tenant, and sales at times relative to the real clock (the views
use it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from portal.types import utcnow


@dataclass
class World:
    owner: object
    keto: object  # linked account "ketovital" (New York)
    mind: object  # linked account "mindshift" (Berlin)
    tickets_clerk: object  # Orders/Tickets on ketovital only
    search_clerk: object  # Orders/Tickets + Search Orders on both
    refunds_clerk: object  # + Refund authority
    users_clerk: object  # Manage Users only
    other_owner: object
    other_account: object
    now: datetime


@pytest.fixture
def world(make) -> World:
    owner = make.owner(email="owner@shop.test")
    keto = make.account(owner, "ketovital", cs_email="help@ketovital.test")
    mind = make.account(owner, "mindshift", timezone_name="Europe/Berlin")
    other_owner = make.owner(email="owner@elsewhere.test")
    other_account = make.account(other_owner, "elsewhere")
    return World(
        owner=owner,
        keto=keto,
        mind=mind,
        tickets_clerk=make.clerk(
            owner, perms=("orders_tickets",), accounts=[keto], email="tickets@shop.test"
        ),
        search_clerk=make.clerk(
            owner,
            perms=("orders_tickets", "search_orders"),
            accounts=[keto, mind],
            email="search@shop.test",
        ),
        refunds_clerk=make.clerk(
            owner,
            perms=("orders_tickets", "search_orders", "refund_authority"),
            accounts=[keto, mind],
            email="refunds@shop.test",
        ),
        users_clerk=make.clerk(
            owner, perms=("manage_users",), accounts=[keto], email="users@shop.test"
        ),
        other_owner=other_owner,
        other_account=other_account,
        now=utcnow(),
    )


def days_ago(world: World, days: float, hours: float = 0) -> datetime:
    return world.now - timedelta(days=days, hours=hours)
