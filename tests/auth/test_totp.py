"""TOTP (±1 step, never twice) and recovery codes (hashed, single use)."""
from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from portal.auth import totp
from portal.auth.models import RecoveryCode
from portal.extensions import db


def code_at(secret, moment):
    return pyotp.TOTP(secret).at(moment)


def test_matching_step_accepts_one_step_of_drift_either_way_and_no_more(now):
    secret = totp.new_secret()
    step = totp.step_at(now)
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, code_at(secret, now + timedelta(seconds=30 * offset)), now, None) == step + offset
    for offset in (-2, 2):
        assert totp.matching_step(secret, code_at(secret, now + timedelta(seconds=30 * offset)), now, None) is None


def test_matching_step_ignores_steps_already_used(now):
    secret = totp.new_secret()
    code = code_at(secret, now)
    step = totp.step_at(now)
    assert totp.matching_step(secret, code, now, last_step=step) is None
    assert totp.matching_step(secret, code, now, last_step=step - 1) == step


@pytest.fixture
def enrolled(make, now):
    user = make.owner()
    secret = totp.begin_enrolment(user)
    codes = totp.enable(user, now=now)
    db.session.commit()
    return user, secret, codes


def test_a_code_works_once(enrolled, now):
    user, secret, _ = enrolled
    code = code_at(secret, now)
    assert totp.verify_code(user, code, now)
    assert not totp.verify_code(user, code, now)  # replay, same moment
    assert not totp.verify_code(user, code, now + timedelta(seconds=20))  # replay within drift
    assert not totp.verify_code(user, code_at(secret, now - timedelta(seconds=30)), now)  # older
    assert totp.verify_code(user, code_at(secret, now + timedelta(seconds=30)), now + timedelta(seconds=30))


def test_the_seed_is_encrypted_at_rest(enrolled):
    user, secret, _ = enrolled
    assert secret not in user.totp_secret_enc and totp.secret_of(user) == secret


def test_ten_recovery_codes_stored_as_argon2id_and_each_works_once(enrolled, now):
    user, _, codes = enrolled
    assert len(codes) == 10 and len(set(codes)) == 10
    rows = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert len(rows) == 10
    for row in rows:
        assert row.code_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert all(totp.normalise_recovery_code(c) not in row.code_hash for c in codes)
    assert totp.verify_second_factor(user, codes[3].upper().replace("-", " "), now) == "recovery"
    assert totp.verify_second_factor(user, codes[3], now) is None
    assert totp.unused_recovery_codes(user) == 9


def test_new_recovery_codes_replace_the_old_ones(enrolled, now):
    user, _, codes = enrolled
    fresh = totp.replace_recovery_codes(user, now=now)
    db.session.commit()
    assert not totp.use_recovery_code(user, codes[0], now)
    assert totp.use_recovery_code(user, fresh[0], now)


def test_disable_forgets_seed_and_codes(enrolled, now):
    user, secret, codes = enrolled
    totp.disable(user)
    db.session.commit()
    assert not totp.is_enabled(user) and user.totp_secret_enc is None
    assert totp.verify_second_factor(user, code_at(secret, now), now) is None
    assert db.session.scalar(select(RecoveryCode).where(RecoveryCode.user_id == user.id)) is None


def test_the_qr_code_is_an_inline_svg(enrolled):
    user, secret, _ = enrolled
    uri = totp.provisioning_uri(user, secret)
    assert uri.startswith("otpauth://totp/") and "issuer=Master%20Account%20Portal" in uri
    assert totp.qr_data_uri(uri).startswith("data:image/svg+xml")
