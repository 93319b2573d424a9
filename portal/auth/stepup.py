"""Step-up re-check for sensitive actions (linking/unlinking accounts, changing security
questions, PIN or 2FA, showing/regenerating API keys, deleting users, changing permissions).

The owner confirms with the Master Account PIN; a clerk (who has no PIN) with their password.
A success is remembered on the login session for 10 minutes, so a run of sensitive actions asks
once. Five wrong answers block sensitive actions for 15 minutes and email the owner.

Forms that need it inherit :class:`StepUpForm` and render ``stepup_field(form)`` from
``templates/_macros/forms.html``; the field is shown only when the re-check is due.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField
from wtforms.validators import Length, ValidationError

from portal import audit
from portal.auth import hashing
from portal.crypto import pepper
from portal.extensions import db
from portal.types import utcnow

VALID_FOR = timedelta(minutes=10)
MAX_FAILURES = 5
BLOCK_FOR = timedelta(minutes=15)
# Per client IP, across every sensitive action of every feature (Flask-Limiter's storage):
# a second brake beside the per-user block, so one address cannot walk through many logins' PINs.
IP_LIMIT = "20 per 10 minutes"


class StepUpRateLimited(Exception):
    """Too many re-check attempts from this address."""


def _ip_allows_attempt() -> bool:
    from flask import has_request_context
    from flask_limiter.util import get_remote_address
    from limits import parse

    from portal.extensions import limiter

    if not has_request_context() or not (limiter.enabled and limiter.initialized):
        return True
    return limiter.limiter.hit(parse(IP_LIMIT), "stepup-pin", get_remote_address())


class StepUpBlocked(Exception):
    """Too many wrong answers: sensitive actions are blocked until ``until``."""

    def __init__(self, until: datetime):
        super().__init__(f"blocked until {until.isoformat()}")
        self.until = until


def label_for(user) -> str:
    return "PIN" if user.is_owner else "Password"


def is_fresh(user, now: datetime) -> bool:
    row = getattr(user, "current_session", None)
    return bool(row and row.pin_verified_at and now - row.pin_verified_at < VALID_FOR)


def is_blocked(user, now: datetime) -> bool:
    return bool(user.pin_locked_until and user.pin_locked_until > now)


def verify(user, secret: str, now: datetime) -> bool:
    """Check the PIN (owner) or password (clerk); count failures; remember a success."""
    from portal.auth.services import release_expired_locks

    release_expired_locks(user, now)  # a block that ran out gets its row before anything else
    if is_blocked(user, now):
        raise StepUpBlocked(user.pin_locked_until)
    if not _ip_allows_attempt():
        raise StepUpRateLimited()
    if user.is_owner:
        candidate = pepper((secret or "").strip())
        ok = hashing.verify_secret(user.pin_hash, candidate)
    else:
        candidate = hashing.normalise_password(secret or "")
        ok = hashing.verify_secret(user.password_hash, candidate)
    if ok:
        if user.is_owner:
            user.pin_hash = hashing.upgraded(user.pin_hash, candidate)
        else:
            user.password_hash = hashing.upgraded(user.password_hash, candidate)
        user.pin_failures = 0
        if getattr(user, "current_session", None) is not None:
            user.current_session.pin_verified_at = now
        audit.record("stepup.success", user=user, now=now)
        return True
    user.pin_failures = (user.pin_failures or 0) + 1
    audit.record("stepup.failure", user=user, now=now, failures=user.pin_failures)
    if user.pin_failures >= MAX_FAILURES:
        user.pin_failures = 0
        user.pin_locked_until = now + BLOCK_FOR
        audit.record("stepup.blocked", user=user, now=now)
        _notify_owner(user, now)
    db.session.commit()  # failures count even though the action itself is refused
    return False


def _notify_owner(user, now: datetime) -> None:
    from portal.auth.models import User
    from portal.notifications import mail

    owner = db.session.scalar(
        select(User).where(User.master_account_id == user.master_account_id, User.role == "owner")
    )
    if owner is None:
        return
    mail.queue_email(
        "stepup_blocked",
        to=owner.email,
        subject="Sensitive actions blocked after wrong PIN or password entries",
        context={"user": user, "owner": owner, "recipient": owner, "until": user.pin_locked_until},
        master_account_id=user.master_account_id,
        now=now,
    )


class StepUpForm(FlaskForm):
    """A form whose submission needs the step-up re-check (unless done in the last 10 minutes)."""

    stepup = PasswordField("PIN", validators=[Length(max=256)], render_kw={"autocomplete": "off"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if current_user and current_user.is_authenticated:
            self.stepup.label.text = label_for(current_user)
            if current_user.is_owner:
                self.stepup.render_kw = {"autocomplete": "off", "inputmode": "numeric"}

    def keep_passed_check(self) -> None:
        """The form failed for another reason after a correct PIN/password: keep the re-check
        for the next 10 minutes (``verify`` marked the session row and wrote the audit row), so
        the user does not type it again when they correct the form."""
        if self.stepup.data and not self.stepup.errors:
            db.session.commit()

    @property
    def stepup_needed(self) -> bool:
        return not is_fresh(current_user, utcnow())

    def validate_stepup(self, field):
        now = utcnow()
        if not self.stepup_needed and not field.data:
            return
        if not (field.data or "").strip():
            word = "PIN" if current_user.is_owner else "password"
            raise ValidationError(f"Please enter your {word} to confirm.")  # not a wrong guess
        try:
            ok = verify(current_user, field.data or "", now)
        except StepUpBlocked as blocked:
            raise ValidationError(
                "Too many wrong entries. Sensitive actions are blocked until "
                f"{blocked.until.strftime('%H:%M UTC')}."
            ) from None
        except StepUpRateLimited:
            raise ValidationError(
                "Too many attempts from your network. Please wait a few minutes and try again."
            ) from None
        if not ok:
            word = "PIN" if current_user.is_owner else "password"
            raise ValidationError(f"That {word} is not right.")
