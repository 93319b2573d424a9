"""Logging in: one generic failure, constant work per attempt, lockout after repeated failures."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import g, has_app_context
from sqlalchemy import func, or_, select, update

from portal import audit
from portal.auth import hashing
from portal.auth.models import User
from portal.extensions import db

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
# Every lock a user can be under, and the audit row that says it ended (issue 3 item 4).
LOCKS = (
    ("locked_until", "login.unlocked"),  # 5 wrong passwords: 15 minutes
    ("pin_locked_until", "stepup.unblocked"),  # 5 wrong PINs at a re-check (auth.stepup)
    ("recovery_locked_until", "recovery.unlocked"),  # 5 wrong answers in recovery (auth.recovery)
)


class LoginFailed(Exception):
    """Wrong email or password, locked, disabled, API-only or unconfirmed: one message for all."""


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def email_hash(email: str) -> str:
    """A keyed hash of an address nobody has a login with, for the audit row of an attempt:
    repeated probes of one address can be told apart without the log keeping the address."""
    from portal.crypto import keyed_hash

    return keyed_hash((email or "").strip().lower(), "audit-email")[:32]


def authenticate(email: str, password: str, *, now: datetime) -> User:
    """Return the user or raise :class:`LoginFailed`. Always runs exactly one hash check, so the
    time taken does not reveal whether the email exists (SECURITY.md S12). An unknown email does
    the same database work as a wrong password (issue 3 item 4): the failure counter's UPDATE
    (it matches no row), an audit row and a commit."""
    user = find_user(email)
    password = hashing.normalise_password(password)
    ok = hashing.verify_secret(user.password_hash if user else None, password)
    if user is None:
        _count_unknown_failure(email, now)
        raise LoginFailed()
    release_expired_locks(user, now)
    if user.locked_until and user.locked_until > now:
        audit.record("login.locked_attempt", user=user, now=now)
        db.session.commit()
        raise LoginFailed()
    if not ok:
        count_failure(user, now)
        raise LoginFailed()
    if not user.is_active or user.confirmed_at is None:
        audit.record("login.refused", user=user, now=now, reason=_refusal(user))
        db.session.commit()
        raise LoginFailed()
    if user.failed_logins:
        user.failed_logins = 0
    user.password_hash = hashing.upgraded(user.password_hash, password)
    user.last_login_at = now
    audit.record("login.success", user=user, now=now)
    return user


def release_expired_locks(user: User, now: datetime) -> int:
    """Lift the locks of ``user`` that ran out by ``now``, each with its unlock audit row dated
    when it ran out (``via="expired"``; no IP: nobody did it). Returns how many; the caller
    commits. Run by the login and the re-check that touch the user, and by the sweep
    (:func:`record_expired_unlocks`) for those nobody touches; a lifted lock's column is empty,
    so each unlock is recorded once."""
    lifted = 0
    for column, event in LOCKS:
        until = getattr(user, column)
        if until is not None and until <= now:
            setattr(user, column, None)
            row = audit.record(event, user=user, now=until, via="expired")
            row.ip = row.user_agent = None
            lifted += 1
    return lifted


def record_expired_unlocks(now: datetime, *, batch: int = 500) -> int:
    """The periodic sweep: an unlock audit row for every lock that has run out by ``now`` and
    was not recorded yet (see :func:`release_expired_locks`). Idempotent; commits per batch.
    Returns the number of unlocks recorded. Reads the users under an expired lock (few; the
    three columns are empty for everybody else)."""
    expired = or_(*(getattr(User, column) <= now for column, _ in LOCKS))
    lifted = 0
    while True:
        users = list(db.session.scalars(select(User).where(expired).order_by(User.id).limit(batch)))
        if not users:
            return lifted
        for user in users:
            lifted += release_expired_locks(user, now)
        db.session.commit()


def _refusal(user: User) -> str:
    if user.deleted_at:
        return "deleted"
    if user.is_api_only:
        return "api_only"
    if not user.is_enabled:
        return "disabled"
    return "unconfirmed"


def count_failure(user: User, now: datetime, *, what: str = "password") -> None:
    """A wrong password (or second-factor code) at login: 5 in a row lock the login for 15
    minutes and email the user and their owner. Commits."""
    user.failed_logins = (user.failed_logins or 0) + 1
    audit.record("login.failure", user=user, now=now, failures=user.failed_logins, step=what)
    if user.failed_logins >= MAX_FAILURES:
        user.locked_until = now + LOCK_FOR
        user.failed_logins = 0
        audit.record("login.lock", user=user, now=now, minutes=int(LOCK_FOR.total_seconds() // 60))
        from portal.notifications import mail

        owner = _owner_of(user)
        mail.queue_email(
            "account_locked",
            to=user.email,
            subject="Your Master Account login was locked",
            context={"user": user, "until": user.locked_until, "owner": owner, "recipient": user},
            master_account_id=user.master_account_id,
            now=now,
        )
        if owner is not None and owner.id != user.id:
            mail.queue_email(
                "account_locked",
                to=owner.email,
                subject=f"Login locked for {user.email}",
                context={"user": user, "until": user.locked_until, "owner": owner, "recipient": owner},
                master_account_id=user.master_account_id,
                now=now,
            )
    db.session.commit()


def _count_unknown_failure(email: str, now: datetime) -> None:
    """The unknown-email twin of :func:`count_failure`'s usual path (statement for statement)."""
    address = (email or "").strip().lower()
    db.session.execute(
        update(User).where(User.email == address).values(failed_logins=User.failed_logins + 1)
        .execution_options(synchronize_session=False)
    )
    audit.record("login.unknown_email", now=now, step="password", email_hash=email_hash(address))
    db.session.commit()


def _owner_of(user: User) -> User | None:
    return db.session.scalar(
        select(User).where(User.master_account_id == user.master_account_id, User.role == "owner")
    )


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0


# --- emailed links: invitation, password reset, PIN reset, sign-up confirmation ------------------

SIGNUP_TTL = timedelta(hours=24)
INVITATION_TTL = timedelta(hours=72)
RESET_TTL = timedelta(hours=2)
RESET_BY_OWNER_TTL = timedelta(hours=24)
MAX_LINKS_PER_HOUR = 3  # per user and purpose: nobody can flood a mailbox with reset links


def queue_auth_mail(kind: str, user: User, subject: str, *, now: datetime, **context) -> None:
    """One of the auth mails (templates/email/<kind>.txt + .html) about ``user``, sent to
    ``recipient`` when given (e.g. the owner), else to ``user``."""
    from portal.notifications import mail

    recipient = context.get("recipient") or user
    mail.queue_email(
        kind,
        to=recipient.email,
        subject=subject,
        context={"user": user, "now": now, **context},
        master_account_id=user.master_account_id,
        now=now,
    )


def _link(purpose, user: User, *, now: datetime, ttl: timedelta, data: dict | None = None) -> str:
    """Issue a token bound to ``user`` and their current email; return the absolute link."""
    from portal.auth import tokens
    from portal.auth.models import TokenPurpose
    from portal.notifications.mail import external_url

    plaintext = tokens.issue(purpose, user=user, email=user.email, data=data, now=now, ttl=ttl)
    endpoint = "auth.reset_pin" if purpose == TokenPurpose.PIN_RESET else "auth.set_password"
    return external_url(endpoint, token=plaintext)


def links_sent_recently(user: User, purpose, *, now: datetime) -> int:
    from portal.auth.models import OneTimeToken

    return db.session.scalar(
        select(func.count(OneTimeToken.id)).where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.created_at > now - timedelta(hours=1),
        )
    ) or 0


def send_signup_confirmation(user: User, *, now: datetime) -> None:
    """The "Master Account Confirmation" mail with a single-use link valid 24 h (the caller
    commits)."""
    from portal.auth.models import TokenPurpose

    link = _link(TokenPurpose.SIGNUP_CONFIRM, user, now=now, ttl=SIGNUP_TTL)
    queue_auth_mail(
        "signup_confirm", user, "Master Account Confirmation", now=now, link=link,
        expires=now + SIGNUP_TTL,
    )
    audit.record("signup.confirmation_sent", user=user, now=now)


def send_invitation(user: User, *, now: datetime, invited_by: User | None = None) -> None:
    """Email a new clerk the link to set their own password (valid 72 h). The caller commits.

    Called by the Users tab when it creates a clerk (never for API-only users: they never log in
    to the web interface). A newer invitation replaces an older unused one.
    """
    from portal.auth.models import TokenPurpose

    if user.is_api_only:
        raise ValueError("API-only users never get a password")
    if invited_by is None and user.created_by_id:
        invited_by = db.session.get(User, user.created_by_id)
    owner = _owner_of(user)
    link = _link(TokenPurpose.SET_PASSWORD, user, now=now, ttl=INVITATION_TTL)
    queue_auth_mail(
        "password_invitation", user, "You are invited to the Master Account Portal", now=now,
        link=link, expires=now + INVITATION_TTL, invited_by=invited_by or owner, owner=owner,
    )
    audit.record("password.invitation_sent", user=user, actor=invited_by, now=now)


def send_password_reset(user: User, *, now: datetime, initiated_by: User | None = None) -> bool:
    """Email ``user`` a single-use link to choose a new password. The caller commits.

    ``initiated_by`` is the owner or supervisor who pressed "reset password" on the Users tab
    (they start the reset but never choose the password: ASVS 6.4.6); the link then lives 24 h
    instead of 2 h. Returns False (nothing sent) when the user cannot log in (API-only, deleted)
    or already received three links in the last hour.
    """
    from portal.auth.models import TokenPurpose

    if user.is_api_only or user.deleted_at is not None:
        return False
    if links_sent_recently(user, TokenPurpose.PASSWORD_RESET, now=now) >= MAX_LINKS_PER_HOUR:
        audit.record("password.reset_throttled", user=user, actor=initiated_by, now=now)
        return False
    ttl = RESET_BY_OWNER_TTL if initiated_by is not None else RESET_TTL
    link = _link(TokenPurpose.PASSWORD_RESET, user, now=now, ttl=ttl)
    queue_auth_mail(
        "password_reset", user, "Reset your Master Account password", now=now, link=link,
        expires=now + ttl, initiated_by=initiated_by,
    )
    audit.record(
        "password.reset_requested", user=user, actor=initiated_by, now=now,
        by_admin=initiated_by is not None,
    )
    return True


def send_pin_reset(user: User, *, now: datetime) -> bool:
    """Email the owner a single-use link to choose a new PIN (the caller commits)."""
    from portal.auth.models import TokenPurpose

    if not user.is_owner or user.deleted_at is not None:
        return False
    if links_sent_recently(user, TokenPurpose.PIN_RESET, now=now) >= MAX_LINKS_PER_HOUR:
        audit.record("pin.reset_throttled", user=user, now=now)
        return False
    link = _link(TokenPurpose.PIN_RESET, user, now=now, ttl=RESET_TTL)
    queue_auth_mail(
        "pin_reset", user, "Reset your Master Account PIN", now=now, link=link,
        expires=now + RESET_TTL,
    )
    audit.record("pin.reset_requested", user=user, now=now)
    return True


def forgot_link() -> str:
    from portal.notifications.mail import external_url

    return external_url("auth.forgot_password")


def notify_owner_of_recovery(user: User, *, now: datetime, what: str) -> None:
    """A clerk's password was reset through the emailed link: the owner hears of it too."""
    owner = _owner_of(user)
    if owner is None or owner.id == user.id:
        return  # the owner's own notice is the password_changed mail
    queue_auth_mail(
        "recovery_used", user, f"{user.email} reset their {what}", now=now, recipient=owner,
        what=what,
    )


def _recent_mails(recipient: str, kind: str, *, now: datetime) -> int:
    from portal.notifications.models import OutboxMessage

    return db.session.scalar(
        select(func.count(OutboxMessage.id)).where(
            OutboxMessage.recipient == recipient,
            OutboxMessage.kind == kind,
            OutboxMessage.created_at > now - timedelta(hours=1),
        )
    ) or 0


def _decoy_reset(kind: str, email: str, user: User | None, *, now: datetime) -> None:
    """A forgot-password/PIN request that sends nothing (no such login, or one that cannot use
    the link) does the same work as one that sends the link (issue 3 item 4: the response time
    must not tell): the recent-links count, the revoke UPDATE (matching no row), the mail body
    rendered (and dropped), an audit row, a commit and the outbox kick after the response. Only the token and outbox INSERTs are
    missing, a fraction of a millisecond, far below the network's jitter."""
    from portal.auth.models import OneTimeToken, TokenPurpose
    from portal.notifications.mail import external_url, render_email

    address = (email or "").strip().lower()
    purpose = TokenPurpose.PIN_RESET if kind == "pin_reset" else TokenPurpose.PASSWORD_RESET
    db.session.scalar(select(func.count(OneTimeToken.id)).where(
        OneTimeToken.email == address, OneTimeToken.user_id.is_(None), OneTimeToken.purpose == purpose,
        OneTimeToken.created_at > now - timedelta(hours=1)))
    db.session.execute(
        update(OneTimeToken).where(OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None),
                                   OneTimeToken.user_id.is_(None), OneTimeToken.email == address)
        .values(used_at=now).execution_options(synchronize_session=False)
    )
    stand_in = User(email=address, first_name="", last_name="")
    endpoint = "auth.reset_pin" if kind == "pin_reset" else "auth.set_password"
    render_email(kind, {"user": stand_in, "now": now, "link": external_url(endpoint, token="x" * 43),
                        "expires": now + RESET_TTL, "initiated_by": None})
    audit.record("recovery.unknown_email" if user is None else "recovery.not_sent", user=user, now=now,
                 what="pin" if kind == "pin_reset" else "password", email_hash=email_hash(address))
    db.session.commit()
    if has_app_context():
        g.outbox_queued = True  # the same hand-off to the worker after the response (it finds nothing new)


def request_password_reset(email: str, *, now: datetime) -> None:
    """"Forgot password": whatever the address, the requester sees the same page and the server
    does the same single hash check (S12); only the mailbox learns the account's state."""
    user = find_user(email)
    hashing.verify_secret(None, "constant-work")  # same cost whether or not the email exists
    if user is None or user.is_api_only or user.deleted_at is not None:
        _decoy_reset("password_reset", email, user, now=now)
        return
    from portal.auth.models import TokenPurpose
    from portal.auth.recovery import is_locked

    if not user.is_enabled or is_locked(user, now):
        if _recent_mails(user.email, "password_reset_unavailable", now=now) < MAX_LINKS_PER_HOUR:
            queue_auth_mail(
                "password_reset_unavailable", user, "Password reset not possible right now",
                now=now, reason="disabled" if not user.is_enabled else "locked",
                until=user.recovery_locked_until,
            )
            audit.record("password.reset_refused", user=user, now=now)
    elif user.is_owner and user.confirmed_at is None:
        if links_sent_recently(user, TokenPurpose.SIGNUP_CONFIRM, now=now) < MAX_LINKS_PER_HOUR:
            send_signup_confirmation(user, now=now)  # the way to a first password
    elif user.password_hash is None:
        if links_sent_recently(user, TokenPurpose.SET_PASSWORD, now=now) < MAX_LINKS_PER_HOUR:
            send_invitation(user, now=now)
    else:
        send_password_reset(user, now=now)
    db.session.commit()


def request_pin_reset(email: str, *, now: datetime) -> None:
    """"Forgot PIN": the same neutral answer and single hash check; only confirmed owners get a
    link (clerks have no PIN)."""
    user = find_user(email)
    hashing.verify_secret(None, "constant-work")
    if user is None or not user.is_owner or user.deleted_at is not None or user.confirmed_at is None:
        _decoy_reset("pin_reset", email, user, now=now)
        return
    from portal.auth.recovery import is_locked

    if is_locked(user, now):
        if _recent_mails(user.email, "password_reset_unavailable", now=now) < MAX_LINKS_PER_HOUR:
            queue_auth_mail(
                "password_reset_unavailable", user, "PIN reset not possible right now", now=now,
                reason="locked", until=user.recovery_locked_until,
            )
    else:
        send_pin_reset(user, now=now)
    db.session.commit()
