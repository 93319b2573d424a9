"""Fixtures for the customer's side: a sandbox shop with a sale and a frozen clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from portal.extensions import limiter
from tests.customer_support.helpers import MONDAY


@pytest.fixture
def clock():
    """A frozen clock the views (``utcnow()``) and the signed links both read; ``clock.move_to``."""
    with freeze_time(MONDAY) as frozen:
        yield frozen


@pytest.fixture
def shop(make):
    owner = make.owner()
    account = make.account(owner, "ketovital", cs_email="help@ketovital.test")
    return owner, account


@pytest.fixture
def sale(make, shop):
    _, account = shop
    return make.sale(account, at=MONDAY - timedelta(days=3), email="buyer@example.com", amount_cents=4700)


@pytest.fixture
def limited(app):
    """Rate limits on (the test app turns them off), with a clean in-memory store, and a frozen
    clock a day *ahead* of the real one: the memory store expires counters from a background
    thread that reads the real clock, so a clock frozen in the past would empty it at once."""
    app.config["RATELIMIT_ENABLED"] = True
    limiter.init_app(app)
    limiter.reset()
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    with freeze_time(start) as frozen:
        yield frozen
    limiter.reset()
    limiter.enabled = False
