"""SECURITY.md §0.2: hashes made with older (weaker) argon2 parameters are upgraded when the
secret is next proven -- passwords at login, and the PIN and security answers too."""
from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from portal.auth import hashing, recovery, services, stepup, tokens
from portal.auth.models import SecurityAnswer, TokenPurpose, User
from portal.crypto import pepper
from portal.extensions import db
from tests.factories import PASSWORD, PIN, T0

WEAK = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def params(stored: str) -> str:
    return stored.split("$")[3]  # "m=...,t=...,p=..."


@pytest.fixture
def current():
    return params(hashing.hash_secret("x"))


def test_a_pin_hashed_with_weaker_parameters_is_rehashed_at_a_passed_re_check(app, make, current):
    owner = make.owner()
    owner.pin_hash = WEAK.hash(pepper(PIN))
    db.session.commit()
    assert hashing.needs_rehash(owner.pin_hash)
    with app.test_request_context(method="POST"):
        assert stepup.verify(owner, PIN, T0)
    db.session.commit()
    stored = db.session.get(User, owner.id).pin_hash
    assert params(stored) == current and not hashing.needs_rehash(stored)
    with app.test_request_context(method="POST"):
        assert stepup.verify(owner, PIN, T0 + timedelta(minutes=1))  # the new hash still works
        assert not stepup.verify(owner, "9753", T0 + timedelta(minutes=2))


def test_a_wrong_pin_does_not_touch_the_old_hash(app, make):
    owner = make.owner()
    weak = owner.pin_hash = WEAK.hash(pepper(PIN))
    db.session.commit()
    with app.test_request_context(method="POST"):
        assert not stepup.verify(owner, "9753", T0)
    assert db.session.get(User, owner.id).pin_hash == weak


def test_a_clerks_password_at_a_re_check_is_rehashed_too(app, make, current):
    owner = make.owner()
    clerk = make.clerk(owner)
    clerk.password_hash = WEAK.hash(hashing.normalise_password(PASSWORD))
    db.session.commit()
    with app.test_request_context(method="POST"):
        assert stepup.verify(clerk, PASSWORD, T0)
    db.session.commit()
    assert params(db.session.get(User, clerk.id).password_hash) == current


def test_a_security_answer_hashed_with_weaker_parameters_is_rehashed_when_answered(app, make, current):
    owner = make.owner()
    for position, (key, answer) in enumerate([("first_pet", "Rex"), ("birth_city", "Lyon")], start=1):
        db.session.add(SecurityAnswer(user_id=owner.id, position=position, question_key=key,
                                      answer_hash=WEAK.hash(hashing.normalise_answer(answer)), hint="hint"))
    db.session.commit()
    with app.test_request_context(method="POST"):
        plaintext = tokens.issue(TokenPurpose.PASSWORD_RESET, user=owner, email=owner.email, now=T0,
                                 ttl=timedelta(hours=2))
        db.session.commit()
        link = recovery.open_link(plaintext, [TokenPurpose.PASSWORD_RESET], now=T0)
        row = recovery.question_for(link)
        other = next(a for a in owner.security_answers if a.id != row.id)
        untouched = other.answer_hash
        answer = "  REX " if row.question_key == "first_pet" else "lyon"
        assert recovery.answer_question(link, answer, now=T0) is None
    db.session.expire_all()
    asked = db.session.get(SecurityAnswer, row.id)
    assert params(asked.answer_hash) == current
    assert hashing.verify_secret(asked.answer_hash, hashing.normalise_answer(answer))
    assert db.session.get(SecurityAnswer, other.id).answer_hash == untouched  # only the proven one


def test_login_still_rehashes_the_password(app, make, current):
    owner = make.owner()
    owner.password_hash = WEAK.hash(hashing.normalise_password(PASSWORD))
    db.session.commit()
    with app.test_request_context(method="POST"):
        services.authenticate(owner.email, PASSWORD, now=T0)
    db.session.commit()
    assert params(db.session.get(User, owner.id).password_hash) == current
