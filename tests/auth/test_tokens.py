"""Emailed-link tokens: one purpose, one use, an expiry, only the newest one valid."""
from __future__ import annotations

from datetime import timedelta

import pytest

from portal.auth import tokens
from portal.auth.models import OneTimeToken, TokenPurpose
from portal.extensions import db


def test_a_token_works_once_for_its_purpose_until_it_expires(make, now):
    owner = make.owner()
    plain = tokens.issue(TokenPurpose.PASSWORD_RESET, user=owner, now=now)
    db.session.commit()
    assert db.session.query(OneTimeToken).one().token_hash != plain  # only the hash is stored
    with pytest.raises(tokens.TokenInvalid) as wrong_purpose:
        tokens.consume(TokenPurpose.SIGNUP_CONFIRM, plain, now=now)
    assert wrong_purpose.value.reason == "unknown"
    with pytest.raises(tokens.TokenInvalid) as expired:
        tokens.peek(TokenPurpose.PASSWORD_RESET, plain, now=now + timedelta(hours=24))
    assert expired.value.reason == "expired"
    assert tokens.consume(TokenPurpose.PASSWORD_RESET, plain, now=now).user_id == owner.id
    with pytest.raises(tokens.TokenInvalid) as used:
        tokens.consume(TokenPurpose.PASSWORD_RESET, plain, now=now)
    assert used.value.reason == "used"


def test_a_new_token_replaces_the_previous_one(make, now):
    owner = make.owner()
    first = tokens.issue(TokenPurpose.PASSWORD_RESET, user=owner, now=now)
    second = tokens.issue(TokenPurpose.PASSWORD_RESET, user=owner, now=now + timedelta(minutes=1))
    with pytest.raises(tokens.TokenInvalid):
        tokens.peek(TokenPurpose.PASSWORD_RESET, first, now=now + timedelta(minutes=2))
    assert tokens.peek(TokenPurpose.PASSWORD_RESET, second, now=now + timedelta(minutes=2))
