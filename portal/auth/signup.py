"""Creating a Master Account (DOMAIN.md §1): the owner, their two security answers, the PIN and
the first linked account, in one transaction, then the "Master Account Confirmation" mail.

The owner stays unconfirmed (and cannot log in) until the emailed link is opened and a password
chosen (``recovery.complete_password``); the first account goes from "pending" to "linked" then.

Enumeration (S12): an email that already has a login gets exactly the same answer and the same
argon2 work (three hashes) as a new one — only the mailbox learns the difference.
A nickname is different: it names a ClickBank account, and one that is already linked to a
Master Account is refused with a clear field error — unless it is the account of the owner whose
email is being signed up again (identical details after a lost confirmation mail): that gets the
neutral answer and the mail like any other repeat of a registered email.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import audit
from portal.accounts.models import AccountSource, AccountStatus, LinkedAccount, MasterAccount
# One nickname rule for sign-up and the Accounts tab (ClickBank's: 5 to 10 letters and digits).
from portal.accounts.services import next_colour, nickname_problem, normalise_nickname  # noqa: F401 (re-exported)
from portal.auth import hashing, services
from portal.auth.models import OneTimeToken, Role, SecurityAnswer, TokenPurpose, User
from portal.auth.questions import Entry, clean_hint
from portal.crypto import encrypt, pepper
from portal.extensions import db

class NicknameTaken(Exception):
    """The nickname is already linked (or being linked) to a Master Account."""


@dataclass
class SignUp:
    email: str
    first_name: str
    last_name: str
    questions: list[Entry]
    pin: str
    nickname: str
    account_password: str
    timezone: str = "America/New_York"
    extra: dict = field(default_factory=dict)


def _active_holder(nickname: str) -> LinkedAccount | None:
    return db.session.scalar(
        select(LinkedAccount).where(
            func.lower(LinkedAccount.nickname) == nickname,
            LinkedAccount.status != AccountStatus.REMOVED,
        )
    )


def _release_if_abandoned(account: LinkedAccount, now: datetime) -> bool:
    """A nickname held by a sign-up that was never confirmed, whose link has expired, is free
    again (otherwise anyone could squat a vendor's nickname by signing up with it)."""
    if account.status != AccountStatus.PENDING:
        return False
    owner = db.session.scalar(
        select(User).where(
            User.master_account_id == account.master_account_id, User.role == Role.OWNER
        )
    )
    if owner is None or owner.confirmed_at is not None:
        return False
    live = db.session.scalar(
        select(func.count(OneTimeToken.id)).where(
            OneTimeToken.user_id == owner.id,
            OneTimeToken.purpose == TokenPurpose.SIGNUP_CONFIRM,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
    )
    if live:
        return False
    account.status = AccountStatus.REMOVED
    account.removed_at = now
    audit.record("account.released", user=owner, now=now, nickname=account.nickname,
                 reason="sign-up never confirmed")
    db.session.flush()
    return True


def _is_their_own(holder: LinkedAccount, user: User | None) -> bool:
    """The nickname belongs to the Master Account of the owner with the email being signed up."""
    return user is not None and user.is_owner and holder.master_account_id == user.master_account_id


def check_nickname(nickname: str, *, now: datetime, owner: User | None = None) -> None:
    """Raise :class:`NicknameTaken` unless the nickname is free (or released now).

    ``owner`` is the user already registered with the email being signed up, if any: their own
    account's nickname is not "taken" — that is someone signing up again with the same details
    (a lost confirmation mail), who gets the neutral answer and the mail, not a field error.
    Checked before the release of an abandoned sign-up, so a repeat of one's own sign-up never
    gives one's own pending account away.
    """
    holder = _active_holder(normalise_nickname(nickname))
    if holder is None or _is_their_own(holder, owner):
        return
    if not _release_if_abandoned(holder, now):
        raise NicknameTaken(nickname)


def sign_up(data: SignUp, *, now: datetime) -> User | None:
    """Create the Master Account, or (email already registered) tell the real owner by mail.

    Returns the new owner, or None for an email that already had a login — the caller must not
    show the difference. Raises :class:`NicknameTaken`. Commits.
    """
    email = data.email.strip().lower()
    # The same argon2 work on every path, before anything depends on the email (S12).
    pin_hash = hashing.hash_secret(pepper(data.pin.strip()))
    answer_hashes = [hashing.hash_secret(hashing.normalise_answer(q.answer or "")) for q in data.questions]
    nickname = normalise_nickname(data.nickname)
    existing = services.find_user(email)
    check_nickname(nickname, now=now, owner=existing)
    if existing is not None:
        _tell_existing(existing, now=now)
        db.session.commit()
        return None
    try:
        owner = create_master_account(data, email=email, nickname=nickname, pin_hash=pin_hash,
                                      answer_hashes=answer_hashes, now=now)
        services.send_signup_confirmation(owner, now=now)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a concurrent sign-up took the email or the nickname first
        existing = services.find_user(email)
        check_nickname(nickname, now=now, owner=existing)
        if existing is not None:
            _tell_existing(existing, now=now)
            db.session.commit()
        return None
    return owner


def create_master_account(data: SignUp, *, email: str, nickname: str, pin_hash: str,
                          answer_hashes: list[str], now: datetime) -> User:
    """The rows of a new Master Account (no commit). The first account is a sandbox account in
    an install without ClickBank access; it becomes "linked" when the owner confirms."""
    master = MasterAccount(created_at=now)
    db.session.add(master)
    db.session.flush()
    owner = User(
        master_account_id=master.id, role=Role.OWNER, email=email,
        first_name=data.first_name.strip(), last_name=data.last_name.strip(),
        description="Business owner", pin_hash=pin_hash, created_at=now,
    )
    db.session.add(owner)
    db.session.flush()
    for position, (entry, answer_hash) in enumerate(zip(data.questions, answer_hashes), start=1):
        db.session.add(SecurityAnswer(
            user_id=owner.id, position=position, question_key=entry.question,
            answer_hash=answer_hash, hint=clean_hint(entry.hint),
        ))
    link_first_account(master, owner, nickname=nickname, password=data.account_password,
                       timezone=data.timezone, now=now)
    audit.record("signup.created", user=owner, now=now, nickname=nickname)
    return owner


def link_first_account(master: MasterAccount, owner: User, *, nickname: str, password: str,
                       timezone: str, now: datetime) -> LinkedAccount:
    account = LinkedAccount(
        master_account_id=master.id, nickname=nickname, source=AccountSource.SANDBOX,
        status=AccountStatus.PENDING, timezone=timezone, account_email=owner.email,
        credentials_enc=encrypt(json.dumps({"password": password})), created_at=now,
        colour=next_colour(master.id),
    )
    db.session.add(account)
    db.session.flush()
    return account


def _tell_existing(user: User, *, now: datetime) -> None:
    """The neutral path: an unconfirmed owner gets a fresh confirmation link, anyone else a note
    that they already have a login (with links to log in or reset the password)."""
    from portal.notifications.mail import external_url

    if user.deleted_at is not None or user.is_api_only:
        audit.record("signup.existing_email", user=user, now=now, mailed=False)
        return
    if user.is_owner and user.confirmed_at is None:
        if services.links_sent_recently(user, TokenPurpose.SIGNUP_CONFIRM, now=now) < services.MAX_LINKS_PER_HOUR:
            services.send_signup_confirmation(user, now=now)
        return
    if services._recent_mails(user.email, "signup_existing", now=now) < services.MAX_LINKS_PER_HOUR:
        services.queue_auth_mail(
            "signup_existing", user, "You already have a Master Account login", now=now,
            login_link=external_url("auth.login"), forgot_link=external_url("auth.forgot_password"),
        )
    audit.record("signup.existing_email", user=user, now=now, mailed=True)
