"""Two-factor authentication with TOTP (pyotp) and single-use recovery codes.

* The seed comes from a CSPRNG (pyotp.random_base32, 160 bits) and is stored encrypted at rest
  (``crypto.encrypt``); while ``totp_enabled_at`` is empty the stored seed is an enrolment in
  progress, not an active factor.
* A code is accepted for the current 30-second step and ±1 step of clock drift (ASVS 6.5.5: the
  drift allowance is documented here) — and never twice: the last accepted step is stored per
  user and only a later step is accepted after it (ASVS 6.5.1). The check-and-set is one atomic
  UPDATE, so two requests racing with the same code cannot both pass.
* 10 recovery codes of 50 random bits each, shown once, stored as argon2id hashes (ASVS 6.5.2:
  under 112 bits needs a password hash), each usable once.
"""
from __future__ import annotations

import secrets
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, or_, select, update

from portal.auth import hashing
from portal.auth.models import RecoveryCode, User
from portal.crypto import decrypt, encrypt
from portal.extensions import db

ISSUER = "Master Account Portal"
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to copy by hand


def new_secret() -> str:
    return pyotp.random_base32()


def is_enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and bool(user.totp_secret_enc)


def secret_of(user: User) -> str | None:
    return decrypt(user.totp_secret_enc) if user.totp_secret_enc else None


def begin_enrolment(user: User) -> str:
    """Store a fresh (not yet active) seed for ``user`` and return it. The caller commits."""
    if is_enabled(user):
        raise ValueError("two-factor authentication is already on")
    secret = new_secret()
    user.totp_secret_enc = encrypt(secret)
    user.totp_last_step = None
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """The QR code as an inline SVG data URI (rendered on the server; the CSP allows data: images)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#1e1b4b")


def grouped(secret: str) -> str:
    """``JBSW Y3DP EHPK 3PXP`` — the seed for typing by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def step_at(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def clean_code(code: str | None) -> str:
    return "".join(ch for ch in (code or "") if not ch.isspace())


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to (current ±1), if it is later than ``last_step``. Pure."""
    code = clean_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = step_at(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_step(user: User, step: int) -> bool:
    """Record ``step`` as used, atomically; False if another request used it (or a later) first."""
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    user.totp_last_step = step
    return True


def verify_code(user: User, code: str | None, now: datetime) -> bool:
    """A TOTP code of ``user``'s seed (enrolled or in enrolment), never accepted twice."""
    secret = secret_of(user)
    if not secret:
        return False
    step = matching_step(secret, code or "", now, user.totp_last_step)
    return step is not None and _claim_step(user, step)


# --- recovery codes ------------------------------------------------------------------------------


def normalise_recovery_code(code: str | None) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def new_recovery_codes() -> list[str]:
    """10 codes like ``k7m2q-x9c4t`` (10 characters from a 31-letter alphabet, ~50 bits)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def replace_recovery_codes(user: User, *, now: datetime) -> list[str]:
    """Forget the old codes, store hashes of 10 new ones and return them (shown once)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = new_recovery_codes()
    for code in codes:
        db.session.add(
            RecoveryCode(user_id=user.id, code_hash=hashing.hash_secret(normalise_recovery_code(code)))
        )
    return codes


def unused_recovery_codes(user: User) -> int:
    return len(_unused(user))


def _unused(user: User) -> list[RecoveryCode]:
    return list(
        db.session.scalars(
            select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
    )


def use_recovery_code(user: User, code: str | None, now: datetime) -> bool:
    """Spend one unused recovery code (atomically, so it works only once)."""
    cleaned = normalise_recovery_code(code)
    if len(cleaned) != 10:
        return False
    for row in _unused(user):
        if hashing.verify_secret(row.code_hash, cleaned):
            result = db.session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                row.used_at = now
                return True
            return False
    return False


def verify_second_factor(user: User, code: str | None, now: datetime) -> str | None:
    """``"totp"`` or ``"recovery"`` when ``code`` is a valid authenticator or recovery code."""
    if not is_enabled(user):
        return None
    cleaned = clean_code(code)
    if len(cleaned) == 6 and cleaned.isdigit():
        return "totp" if verify_code(user, cleaned, now) else None
    return "recovery" if use_recovery_code(user, code, now) else None


def enable(user: User, *, now: datetime) -> list[str]:
    """Turn 2FA on (after the first code was confirmed) and return the fresh recovery codes."""
    user.totp_enabled_at = now
    return replace_recovery_codes(user, now=now)


def disable(user: User) -> None:
    user.totp_enabled_at = None
    user.totp_secret_enc = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
