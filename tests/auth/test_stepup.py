"""The step-up re-check: PIN for the owner, password for clerks, 10 minutes, 5 strikes."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.auth import sessions, stepup
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from tests.factories import PASSWORD, PIN


@pytest.fixture
def owner_in_session(make, now):
    owner = make.owner()
    sessions.start(owner, now=now)
    db.session.commit()
    return owner


def test_owner_confirms_with_the_pin_and_it_lasts_ten_minutes(owner_in_session, now):
    owner = owner_in_session
    assert not stepup.is_fresh(owner, now)
    assert stepup.verify(owner, PIN, now)
    assert stepup.is_fresh(owner, now + timedelta(minutes=9))
    assert not stepup.is_fresh(owner, now + timedelta(minutes=10))


def test_clerk_confirms_with_their_password(make, now):
    clerk = make.clerk(make.owner())
    sessions.start(clerk, now=now)
    assert not stepup.verify(clerk, PIN, now)
    assert stepup.verify(clerk, PASSWORD, now)


def test_five_wrong_pins_block_sensitive_actions_and_email_the_owner(owner_in_session, now):
    owner = owner_in_session
    for _ in range(5):
        assert not stepup.verify(owner, "0000", now)
    with pytest.raises(stepup.StepUpBlocked):
        stepup.verify(owner, PIN, now + timedelta(minutes=14))
    assert stepup.verify(owner, PIN, now + timedelta(minutes=16))
    assert db.session.scalar(select(OutboxMessage.recipient).where(OutboxMessage.kind == "stepup_blocked")) == owner.email
