"""What happens after an emailed link is opened: sign-up confirmation, a clerk's invitation,
a password reset, a PIN reset.

Order of the steps (ASVS 2.3.1: they cannot be skipped):

* sign-up confirmation, invitation: choose a password.
* password reset, PIN reset: the answer to one of the owner's two security questions (its hint
  shown — only now, after the link proved control of the mailbox, never to an anonymous visitor);
  then, if two-factor authentication is on, a TOTP or recovery code (a reset never bypasses the
  second factor, ASVS 6.4.3); then the new password or PIN.

Progress is kept server-side on the token row (``data``), so it is bound to that one link.
Wrong answers and wrong codes count toward a lock: 5, then recovery is paused for 1 hour, the
link dies and the owner gets an email.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from portal import audit
from portal.accounts.models import AccountStatus, LinkedAccount
from portal.auth import hashing, services, sessions, tokens, totp
from portal.auth.models import SecurityAnswer, TokenPurpose, User
from portal.auth.questions import QUESTIONS
from portal.crypto import pepper
from portal.extensions import db

MAX_FAILURES = 5
LOCK_FOR = timedelta(hours=1)

PASSWORD_PURPOSES = (TokenPurpose.SIGNUP_CONFIRM, TokenPurpose.SET_PASSWORD, TokenPurpose.PASSWORD_RESET)
PIN_PURPOSES = (TokenPurpose.PIN_RESET,)
RESETS = (TokenPurpose.PASSWORD_RESET, TokenPurpose.PIN_RESET)


class Step:
    QUESTION = "question"
    SECOND_FACTOR = "second_factor"
    PASSWORD = "password"
    PIN = "pin"
    LOCKED = "locked"


@dataclass
class Link:
    token: object  # OneTimeToken
    user: User
    purpose: TokenPurpose

    @property
    def progress(self) -> dict:
        return dict(self.token.data or {})

    def mark(self, **values) -> None:
        self.token.data = {**self.progress, **values}  # a new dict, so the JSON column is saved


def open_link(plaintext: str | None, purposes, *, now: datetime) -> Link:
    """The valid link for ``plaintext`` among ``purposes``, or :class:`tokens.TokenInvalid`.

    Beyond the token's own checks: the user must still exist and be able to use it, and a link
    dies when the user's email changed after it was sent (S16).
    """
    last: tokens.TokenInvalid | None = None
    for purpose in purposes:
        try:
            row = tokens.peek(purpose, plaintext, now=now)
        except tokens.TokenInvalid as invalid:
            if invalid.reason != "unknown":
                if (invalid.token.data or {}).get("superseded"):
                    invalid.reason = "superseded"
                raise
            last = invalid
            continue
        user = db.session.get(User, row.user_id) if row.user_id else None
        if user is None or not _may_use(user, purpose) or (row.email and row.email != user.email):
            raise tokens.TokenInvalid("unknown")
        return Link(row, user, TokenPurpose(purpose))
    raise last or tokens.TokenInvalid("unknown")


def _may_use(user: User, purpose: TokenPurpose) -> bool:
    if user.deleted_at is not None or user.is_api_only:
        return False
    if purpose == TokenPurpose.SIGNUP_CONFIRM:
        return user.is_owner and user.confirmed_at is None
    if purpose == TokenPurpose.SET_PASSWORD:
        return user.is_enabled and user.password_hash is None
    if purpose == TokenPurpose.PIN_RESET:
        return user.is_owner and user.confirmed_at is not None
    return user.is_enabled


def question_for(link: Link) -> SecurityAnswer | None:
    """The question this link asks: one of the two, fixed per link (derived from the token, so
    reloading the page cannot shop for the easier one, and a GET writes nothing)."""
    answers = list(link.user.security_answers)
    if not answers:
        return None
    return answers[int(link.token.token_hash[:8], 16) % len(answers)]


def is_locked(user: User, now: datetime) -> bool:
    return bool(user.recovery_locked_until and user.recovery_locked_until > now)


def next_step(link: Link, now: datetime) -> str:
    done = link.progress
    if link.purpose in RESETS:
        if is_locked(link.user, now):
            return Step.LOCKED
        if not done.get("answered") and question_for(link) is not None:
            return Step.QUESTION
        if not done.get("second_factor") and totp.is_enabled(link.user):
            return Step.SECOND_FACTOR
    return Step.PIN if link.purpose == TokenPurpose.PIN_RESET else Step.PASSWORD


def question_text(answer: SecurityAnswer) -> str:
    return QUESTIONS.get(answer.question_key, answer.question_key)


def _fail(link: Link, now: datetime, what: str) -> int:
    """Count a wrong answer/code; at 5, lock recovery for an hour, kill the link, tell the owner.
    Returns the number of tries left. Commits (a failure must count even though nothing else is
    saved)."""
    user = link.user
    user.recovery_failures = (user.recovery_failures or 0) + 1
    audit.record("recovery.failure", user=user, now=now, step=what, failures=user.recovery_failures,
                 purpose=str(link.purpose))
    left = MAX_FAILURES - user.recovery_failures
    if left <= 0:
        user.recovery_failures = 0
        user.recovery_locked_until = now + LOCK_FOR
        link.token.used_at = now
        link.mark(locked=True)
        audit.record("recovery.locked", user=user, now=now)
        owner = services._owner_of(user) or user
        services.queue_auth_mail(
            "recovery_locked", user, "Password and PIN recovery paused after wrong answers",
            now=now, until=user.recovery_locked_until,
        )
        if owner.id != user.id:
            services.queue_auth_mail(
                "recovery_locked", user, f"Recovery paused for {user.email}", now=now,
                until=user.recovery_locked_until, recipient=owner,
            )
        left = 0
    db.session.commit()
    return left


def answer_question(link: Link, answer: str | None, *, now: datetime) -> int | None:
    """None when right (the step is done); otherwise the tries left."""
    row = question_for(link)
    if row is None or next_step(link, now) != Step.QUESTION:
        return None
    candidate = hashing.normalise_answer(answer or "")
    if hashing.verify_secret(row.answer_hash, candidate):
        row.answer_hash = hashing.upgraded(row.answer_hash, candidate)
        link.mark(answered=True)
        audit.record("recovery.question_passed", user=link.user, now=now)
        db.session.commit()
        return None
    return _fail(link, now, "question")


def pass_second_factor(link: Link, code: str | None, *, now: datetime) -> int | None:
    """None when the TOTP or recovery code is right; otherwise the tries left."""
    kind = totp.verify_second_factor(link.user, code, now)
    if kind:
        link.mark(second_factor=True)
        audit.record("recovery.second_factor_passed", user=link.user, now=now, method=kind)
        if kind == "recovery":
            _recovery_code_notice(link.user, now)
        db.session.commit()
        return None
    return _fail(link, now, "second_factor")


def _recovery_code_notice(user: User, now: datetime) -> None:
    audit.record("twofa.recovery_code_used", user=user, now=now)
    services.queue_auth_mail(
        "twofa_recovery_code_used", user, "A two-factor recovery code was used", now=now,
        left=totp.unused_recovery_codes(user),
    )


def complete_password(link: Link, plaintext: str, password: str, *, now: datetime) -> None:
    """Use the link up and set the password (the caller validated it with passwords.check).

    Sign-up confirmation also confirms the owner and links the first account; a reset ends every
    session of the user and lifts a login lock. Never logs the user in (OWASP Forgot Password).
    """
    tokens.consume(link.purpose, plaintext, now=now)
    user = link.user
    user.password_hash = hashing.hash_secret(hashing.normalise_password(password))
    user.password_changed_at = now
    user.failed_logins = 0
    user.recovery_failures = 0
    services.release_expired_locks(user, now)  # a lock that already ran out ended then, not now
    if user.locked_until:
        user.locked_until = None
        audit.record("login.unlocked", user=user, now=now, via="password_reset")
    ended = sessions.end_all(user, now=now)
    if link.purpose == TokenPurpose.SIGNUP_CONFIRM:
        user.confirmed_at = now
        for account in db.session.scalars(
            select(LinkedAccount).where(
                LinkedAccount.master_account_id == user.master_account_id,
                LinkedAccount.status == AccountStatus.PENDING,
            )
        ):
            account.status = AccountStatus.LINKED
            account.linked_at = now
            audit.record("account.linked", user=user, now=now, nickname=account.nickname)
        audit.record("signup.confirmed", user=user, now=now)
        audit.record("password.set", user=user, now=now)
    elif link.purpose == TokenPurpose.SET_PASSWORD:
        user.confirmed_at = user.confirmed_at or now
        audit.record("password.set", user=user, now=now)
    else:
        audit.record("password.reset", user=user, now=now, sessions_ended=ended)
        services.queue_auth_mail(
            "password_changed", user, "Your Master Account password was reset", now=now,
            via="reset", ended=ended, forgot_link=services.forgot_link(),
        )
        services.notify_owner_of_recovery(user, now=now, what="password")
    db.session.commit()


def complete_pin(link: Link, plaintext: str, pin: str, *, now: datetime) -> None:
    """Use the link up and set the new PIN (validated by the caller with pins.problems)."""
    tokens.consume(link.purpose, plaintext, now=now)
    user = link.user
    user.pin_hash = hashing.hash_secret(pepper(pin.strip()))
    user.pin_failures = 0
    user.pin_locked_until = None
    user.recovery_failures = 0
    audit.record("pin.reset", user=user, now=now)
    services.queue_auth_mail("pin_changed", user, "Your Master Account PIN was reset", now=now, via="reset")
    db.session.commit()


def resend(link_token, *, now: datetime) -> str:
    """A new link for the user of an expired, used or superseded one. Returns what happened:
    ``sent``, ``already_done`` (nothing left to do: log in) or ``unavailable``."""
    user = db.session.get(User, link_token.user_id) if link_token and link_token.user_id else None
    if user is None or user.deleted_at is not None or user.is_api_only:
        return "unavailable"
    purpose = TokenPurpose(link_token.purpose)
    if purpose == TokenPurpose.SIGNUP_CONFIRM:
        if user.confirmed_at is not None:
            return "already_done"
        if services.links_sent_recently(user, purpose, now=now) >= services.MAX_LINKS_PER_HOUR:
            return "unavailable"
        services.send_signup_confirmation(user, now=now)
    elif purpose == TokenPurpose.SET_PASSWORD:
        if user.password_hash is not None:
            return "already_done"
        if not user.is_enabled or (
            services.links_sent_recently(user, purpose, now=now) >= services.MAX_LINKS_PER_HOUR
        ):
            return "unavailable"
        services.send_invitation(user, now=now)
    elif purpose == TokenPurpose.PASSWORD_RESET:
        if not user.is_enabled or not services.send_password_reset(user, now=now):
            return "unavailable"
    elif purpose == TokenPurpose.PIN_RESET:
        if not services.send_pin_reset(user, now=now):
            return "unavailable"
    else:
        return "unavailable"
    db.session.commit()
    return "sent"
