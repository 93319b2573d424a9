"""Users tab use cases: list, create, change permissions and accounts, reset password, enable or
disable, delete, and API keys.

Every function checks the one policy (``can(principal, Action.USER_EDIT, subject)`` and
``policy.ungrantable*``) itself, so a hand-made request gets the same answer as the page; writes
append an audit row and commit in one transaction. Time comes in as ``now``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import abort
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal import audit
from portal.accounts.models import AccountStatus, ClerkAccountAccess, LinkedAccount
from portal.audit import AuditEvent
from portal.auth import sessions
from portal.auth.models import OneTimeToken, Role, User
from portal.authz.permissions import PERM_LABELS, Action, Perm
from portal.authz.policy import Principal, UserSubject, can, ungrantable, ungrantable_accounts
from portal.authz.scope import PERM_COLUMNS, user_perms, user_subject, user_subjects
from portal.extensions import db
from portal.users import apikeys, invitations
from portal.users.models import ApiKey

API_PERMS = frozenset({Perm.API_READ, Perm.API_WRITE})


class NotAllowed(Exception):
    """The policy refuses this change (the view answers 403)."""


class Invalid(Exception):
    """The input cannot be saved; ``errors`` maps form field names to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class Refused(Exception):
    """A business rule refuses the action (e.g. an API-only user has no password to reset)."""


@dataclass(frozen=True)
class Manager:
    """Who is acting: the logged-in user and the principal computed for this request."""

    user: User
    principal: Principal


@dataclass
class UserInput:
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    description: str = ""
    api_only: bool = False
    perms: set[Perm] = field(default_factory=set)
    account_ids: set[int] = field(default_factory=set)


@dataclass
class UserRow:
    """One line of the Users list."""

    user: User
    perms: frozenset[Perm]
    accounts: list[LinkedAccount]  # granted accounts the viewer may see
    hidden_accounts: int  # granted accounts the viewer may not see
    api_key: ApiKey | None
    subject: UserSubject
    editable: bool

    @property
    def status(self) -> str:
        return status_of(self.user)


def status_of(user: User) -> str:
    """``disabled``, ``invited`` (web user who has not chosen a password yet) or ``active``."""
    if user.deleted_at is not None:
        return "deleted"
    if not user.is_enabled:
        return "disabled"
    if not user.is_api_only and user.password_hash is None:
        return "invited"
    return "active"


# --- reading -------------------------------------------------------------------------------------


def grantable_accounts(principal: Principal) -> list[LinkedAccount]:
    """Linked accounts ``principal`` may grant: those they can see that are still linked."""
    if not principal.active_account_ids:
        return []
    return list(
        db.session.scalars(
            select(LinkedAccount)
            .where(
                LinkedAccount.master_account_id == principal.master_account_id,
                LinkedAccount.id.in_(principal.active_account_ids),
            )
            .order_by(LinkedAccount.nickname)
        )
    )


def list_users(principal: Principal, *, q: str = "", perm: Perm | None = None,
               status: str | None = None) -> list[UserRow]:
    """Users of the Master Account (deleted ones hidden), owner first, filtered by text (name,
    email, description) and by permission (the owner holds every permission)."""
    query = select(User).where(
        User.master_account_id == principal.master_account_id, User.deleted_at.is_(None)
    )
    q = (q or "").strip()[:100]
    if q:
        name = func.lower(User.first_name + " " + User.last_name)
        needle = q.lower()
        query = query.where(
            or_(
                name.contains(needle, autoescape=True),
                User.email.contains(needle, autoescape=True),
                func.lower(User.description).contains(needle, autoescape=True),
            )
        )
    if perm is not None:
        column = getattr(User, PERM_COLUMNS[perm])
        query = query.where(or_(User.role == Role.OWNER, column.is_(True)))
    if status == "disabled":
        query = query.where(User.is_enabled.is_(False))
    elif status == "invited":
        query = query.where(User.is_enabled.is_(True), User.is_api_only.is_(False),
                            User.password_hash.is_(None))
    elif status == "api_only":
        query = query.where(User.is_api_only.is_(True))
    elif status == "active":
        query = query.where(User.is_enabled.is_(True),
                            or_(User.is_api_only.is_(True), User.password_hash.is_not(None)))
    query = query.order_by((User.role == Role.OWNER).desc(), func.lower(User.first_name),
                           func.lower(User.last_name), User.id)
    users = list(db.session.scalars(query))
    return _rows(principal, users)


def _rows(principal: Principal, users: list[User]) -> list[UserRow]:
    subjects = user_subjects(users)
    keys = apikeys.current_for(u.id for u in users)
    linked = {
        a.id: a
        for a in db.session.scalars(
            select(LinkedAccount)
            .where(
                LinkedAccount.master_account_id == principal.master_account_id,
                LinkedAccount.status == AccountStatus.LINKED,
            )
            .order_by(LinkedAccount.nickname)
        )
    }
    rows = []
    for user in users:
        subject = subjects[user.id]
        granted = [linked[a] for a in subject.account_ids if a in linked]
        granted.sort(key=lambda a: a.nickname)
        shown = [a for a in granted if a.id in principal.account_ids]
        rows.append(UserRow(
            user=user,
            perms=subject.perms,
            accounts=shown,
            hidden_accounts=len(granted) - len(shown),
            api_key=keys.get(user.id),
            subject=subject,
            editable=can(principal, Action.USER_EDIT, subject),
        ))
    return rows


def row_for(principal: Principal, user: User) -> UserRow:
    return _rows(principal, [user])[0]


def get_user_or_404(principal: Principal, user_id) -> User:
    """A user of the principal's Master Account (not deleted), else 404 -- another tenant's
    user and a user that does not exist look the same."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        abort(404)
    if not (0 < user_id < 2**63):
        abort(404)
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        abort(404)
    if user.master_account_id != principal.master_account_id:
        abort(404)
    if not can(principal, Action.USERS_MANAGE, user_subject(user)):
        abort(403)
    return user


EVENT_TEXT = {
    "user.created": "User created",
    "user.details_changed": "Details changed",
    "user.permissions_changed": "Permissions changed",
    "user.invitation_sent": "Invitation sent",  # older rows; now the auth service's row below
    "user.password_reset_sent": "Password reset link sent",  # older rows, likewise
    "password.invitation_sent": "Invitation sent",
    "password.reset_requested": "Password reset link sent",
    "password.reset_throttled": "Password reset refused: too many links this hour",
    "user.disabled": "Disabled",
    "user.enabled": "Enabled",
    "user.deleted": "Deleted",
    "twofa.reset": "Two-factor authentication reset",
    "user.create_refused": "New user refused: that email address can't be used",
    "recovery.not_sent": "Reset requested; no link sent (this login can't use one)",
    "api_key.created": "API key created",
    "api_key.regenerated": "API key regenerated",
    "login.success": "Logged in",
    "login.failure": "Wrong password at login",
    "login.lock": "Login locked after failed attempts",
    "login.unlocked": "Login unlocked",
    "login.refused": "Login refused",
    "login.locked_attempt": "Login attempt while locked",
    "stepup.success": "Confirmed a sensitive change",
    "stepup.failure": "Wrong PIN/password when confirming",
    "stepup.blocked": "Sensitive actions blocked",
    "stepup.unblocked": "Sensitive actions possible again",
    "recovery.locked": "Recovery paused after wrong answers",
    "recovery.unlocked": "Recovery possible again",
}


def describe(event: AuditEvent) -> str:
    """One line for the activity list of a user's page."""
    text = EVENT_TEXT.get(event.event) or event.event.replace(".", " ").replace("_", " ").capitalize()
    details = event.details or {}
    if event.event == "user.permissions_changed":
        before, after = set(details.get("perms_before", ())), set(details.get("perms_after", ()))
        parts = [f"+{PERM_LABELS[Perm(p)]}" for p in sorted(after - before) if p in Perm._value2member_map_]
        parts += [f"−{PERM_LABELS[Perm(p)]}" for p in sorted(before - after) if p in Perm._value2member_map_]
        parts += [f"+{n}" for n in details.get("accounts_added", ())]
        parts += [f"−{n}" for n in details.get("accounts_removed", ())]
        if parts:
            text += ": " + ", ".join(parts)
    elif event.event == "user.details_changed" and details.get("fields"):
        text += ": " + ", ".join(f.replace("_", " ") for f in details["fields"])
    elif event.event == "password.reset_requested" and not details.get("by_admin"):
        text = "Asked for a password reset link"
    elif event.event == "user.created" and details.get("perms"):
        labels = [PERM_LABELS[Perm(p)] for p in details["perms"] if p in Perm._value2member_map_]
        text += " with " + ", ".join(labels)
    return text


def recent_activity(user: User, limit: int = 12) -> list[tuple[AuditEvent, str, str]]:
    """The newest audit events about ``user``: (event, who caused it, what happened)."""
    actor = db.aliased(User)
    rows = db.session.execute(
        select(AuditEvent, actor)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .where(AuditEvent.user_id == user.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ).all()
    return [(event, who.display_name if who else "System", describe(event)) for event, who in rows]


# --- writing -------------------------------------------------------------------------------------


def _check_grants(principal: Principal, perms: set[Perm], account_ids: set[int], *,
                  api_only: bool) -> dict[str, str]:
    errors: dict[str, str] = {}
    refused = ungrantable(principal, perms)
    if refused:
        names = ", ".join(sorted(PERM_LABELS[p] for p in refused))
        errors["perms"] = f"You can only grant permissions you hold yourself (not: {names})."
    elif api_only and Perm.MANAGE_USERS in perms:
        errors["perms"] = "An API-only user never logs in, so they cannot manage users."
    elif api_only and not perms & API_PERMS:
        errors["perms"] = "An API-only user needs API Read or API Read/Write, or they can do nothing."
    if ungrantable_accounts(principal, account_ids):
        errors["accounts"] = "You can only grant linked accounts that you can see yourself."
    return errors


EMAIL_EXISTS = "A user with this email address already exists."
# For an address that has a login in ANOTHER Master Account (emails are unique portal-wide): the
# clerk must not learn that it exists elsewhere (issue 5), so the answer says only that this
# address cannot be used, the same words for any refused address outside the own Master Account.
EMAIL_REFUSED = "This email address can't be used for a new user; use another address."


def _email_holder(email: str) -> int | None:
    """The Master Account id of the login that has ``email``, or None."""
    return db.session.scalar(select(User.master_account_id).where(func.lower(User.email) == email).limit(1))


def _email_problem(manager: "Manager", email: str, *, now: datetime) -> str | None:
    """The field error for an email that already has a login: clear inside the manager's Master
    Account, neutral (and audited, as a possible probe) for another Master Account's address."""
    holder = _email_holder(email)
    if holder is None:
        return None
    if holder == manager.principal.master_account_id:
        return EMAIL_EXISTS
    audit.record("user.create_refused", actor=manager.user, now=now, reason="email_unavailable", email=email)
    db.session.commit()
    return EMAIL_REFUSED


def _nicknames(ids) -> list[str]:
    ids = list(ids)
    if not ids:
        return []
    return sorted(db.session.scalars(select(LinkedAccount.nickname).where(LinkedAccount.id.in_(ids))))


def create_user(manager: Manager, data: UserInput, *, now: datetime) -> tuple[User, str]:
    """Create a clerk with their permissions, accounts and API key; a web user is emailed an
    invitation to choose their password. Returns the user and the key's plaintext (shown once)."""
    principal = manager.principal
    if not can(principal, Action.USERS_MANAGE):
        raise NotAllowed()
    perms = {Perm(p) for p in data.perms}
    account_ids = {int(a) for a in data.account_ids}
    errors = _check_grants(principal, perms, account_ids, api_only=data.api_only)
    email = data.email.strip().lower()
    if problem := _email_problem(manager, email, now=now):
        errors["email"] = problem
    if errors:
        raise Invalid(errors)
    user = User(
        master_account_id=principal.master_account_id,
        role=Role.CLERK,
        email=email,
        first_name=data.first_name.strip(),
        last_name=data.last_name.strip(),
        description=(data.description or "").strip(),
        is_api_only=data.api_only,
        is_enabled=True,
        confirmed_at=now if data.api_only else None,  # a web user confirms by choosing a password
        created_at=now,
        created_by_id=manager.user.id,
        **{column: perm in perms for perm, column in PERM_COLUMNS.items()},
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # the same email created concurrently
        db.session.rollback()
        raise Invalid({"email": _email_problem(manager, email, now=now) or EMAIL_REFUSED}) from None
    for account_id in sorted(account_ids):
        db.session.add(ClerkAccountAccess(user_id=user.id, linked_account_id=account_id))
    plaintext = apikeys.issue(user, now=now)
    if not data.api_only:
        invitations.send_invitation(user, now=now, invited_by=manager.user)
    audit.record(
        "user.created", user=user, actor=manager.user, now=now,
        perms=sorted(perms), accounts=_nicknames(account_ids), api_only=data.api_only,
    )
    db.session.commit()
    return user, plaintext


def _require_edit(manager: Manager, target: User, action: Action = Action.USER_EDIT) -> UserSubject:
    subject = user_subject(target)
    if target.master_account_id != manager.principal.master_account_id or target.deleted_at:
        raise NotAllowed()
    if not can(manager.principal, action, subject):
        raise NotAllowed()
    return subject


def update_details(manager: Manager, target: User, *, first_name: str, last_name: str,
                   description: str, now: datetime) -> bool:
    """Change name and description. Returns whether anything changed."""
    _require_edit(manager, target)
    new = {"first_name": first_name.strip(), "last_name": last_name.strip(),
           "description": (description or "").strip()}
    changed = sorted(k for k, v in new.items() if getattr(target, k) != v)
    if not changed:
        db.session.commit()
        return False
    for key in changed:
        setattr(target, key, new[key])
    audit.record("user.details_changed", user=target, actor=manager.user, now=now, fields=changed)
    db.session.commit()
    return True


def update_permissions(manager: Manager, target: User, *, perms, account_ids,
                       now: datetime) -> bool:
    """Set ``target``'s permissions and accounts. Only what the manager holds is touched (the
    owner holds everything; a grant of an account the manager cannot grant is left as it is --
    removing an account ends its grants, so a re-linked account starts with none). Takes effect at
    the target's next request: the principal is computed per request. Returns whether anything
    changed."""
    principal = manager.principal
    _require_edit(manager, target)
    perms = {Perm(p) for p in perms}
    account_ids = {int(a) for a in account_ids}
    errors = _check_grants(principal, perms, account_ids, api_only=target.is_api_only)
    if errors:
        raise Invalid(errors)

    before_perms = user_perms(target)
    holdable = {p for p in Perm if principal.has(p)}
    after_perms = (before_perms - holdable) | perms
    for perm, column in PERM_COLUMNS.items():
        setattr(target, column, perm in after_perms)

    current = set(db.session.scalars(
        select(ClerkAccountAccess.linked_account_id).where(ClerkAccountAccess.user_id == target.id)
    ))
    grantable = set(principal.active_account_ids)
    after_accounts = (current - grantable) | account_ids
    added, removed = after_accounts - current, current - after_accounts
    if removed:
        db.session.execute(delete(ClerkAccountAccess).where(
            ClerkAccountAccess.user_id == target.id,
            ClerkAccountAccess.linked_account_id.in_(removed),
        ))
    for account_id in sorted(added):
        db.session.add(ClerkAccountAccess(user_id=target.id, linked_account_id=account_id))

    if after_perms == before_perms and not added and not removed:
        db.session.commit()  # nothing changed; keeps a step-up re-check that just succeeded
        return False
    audit.record(
        "user.permissions_changed", user=target, actor=manager.user, now=now,
        perms_before=sorted(before_perms), perms_after=sorted(after_perms),
        accounts_added=_nicknames(added), accounts_removed=_nicknames(removed),
    )
    db.session.commit()
    return True


def reset_password(manager: Manager, target: User, *, now: datetime) -> str:
    """Email a single-use link: a new invitation if the user never chose a password, else a
    password reset (valid 24 h, naming ``manager.user`` as who started it). Returns
    ``"invitation"`` or ``"reset"``; raises :class:`Refused` (nothing sent, nothing audited as
    sent) when the user already got the hourly maximum of reset links, saying when to retry."""
    _require_edit(manager, target)
    if target.is_api_only:
        raise Refused("An API-only user has no password: they use their API key.")
    # One action, one audit row: the auth service writes it ("password.invitation_sent", or
    # "password.reset_requested" with by_admin and the manager as actor).
    if target.password_hash is None:
        invitations.send_invitation(target, now=now, invited_by=manager.user)
        kind = "invitation"
    else:
        if not invitations.send_password_reset(target, now=now, requested_by=manager.user):
            db.session.commit()  # keeps the auth service's "password.reset_throttled" audit row
            raise Refused(_reset_throttled_message(manager, target, now=now))
        kind = "reset"
    db.session.commit()
    return kind


def _reset_throttled_message(manager: Manager, target: User, *, now: datetime) -> str:
    """Why no link went out: the user already got the hourly maximum of reset links."""
    from portal.auth.services import MAX_LINKS_PER_HOUR
    from portal.web.templating import local, zone

    retry_at = invitations.reset_retry_at(target, now=now)
    if retry_at is None:  # pragma: no cover - the auth service refuses only the cases above
        return f"No password reset link was sent to {target.email}. Please try again later."
    minutes = max(1, -(-int((retry_at - now).total_seconds()) // 60))
    when = local(retry_at, zone(manager.user.timezone), "%H:%M %Z")
    return (f"No new link was sent: {target.email} already got {MAX_LINKS_PER_HOUR} password "
            f"reset links in the last hour, the most a user can get. Ask them to use the newest "
            f"one (it may be in their spam folder), or try again after {when} "
            f"(in {minutes} minute{'s' if minutes != 1 else ''}).")


def set_enabled(manager: Manager, target: User, enabled: bool, *, now: datetime) -> bool:
    """Enable or disable a user. Disabling ends their sessions (web) and stops their API key at
    once; both come back when the user is enabled again. Returns whether anything changed."""
    _require_edit(manager, target)
    if target.is_enabled == enabled:
        return False
    target.is_enabled = enabled
    ended = 0
    if not enabled:
        ended = sessions.end_all(target, now=now)
    audit.record("user.enabled" if enabled else "user.disabled", user=target, actor=manager.user,
                 now=now, **({} if enabled else {"sessions_ended": ended}))
    db.session.commit()
    return True


def reset_two_factor(manager: Manager, target: User, *, now: datetime) -> bool:
    """For a clerk who lost their authenticator and their recovery codes: turn their 2FA off
    (secret and recovery codes gone), end their sessions, tell them by mail. If the owner
    requires 2FA for clerks, they set it up again at their next login. Returns whether it was
    on."""
    from portal.auth import totp
    from portal.auth.services import queue_auth_mail

    _require_edit(manager, target)
    if not totp.is_enabled(target):
        return False
    totp.disable(target)
    ended = sessions.end_all(target, now=now)
    audit.record("twofa.reset", user=target, actor=manager.user, now=now, sessions_ended=ended)
    queue_auth_mail("twofa_reset", target, "Your two-factor authentication was reset", now=now,
                    by=manager.user)
    db.session.commit()
    return True


def deleted_email(user: User) -> str:
    """What a deleted user's email becomes: the address is free for a new user again, and the
    old one stays readable (a space makes it impossible as a login or a new user's email)."""
    suffix = f" (deleted #{user.id})"
    return user.email[: 254 - len(suffix)] + suffix


def delete_user(manager: Manager, target: User, *, now: datetime) -> None:
    """Soft delete: the row stays so tickets and reports keep the name; logins, sessions, the API
    key and pending email links stop at once."""
    _require_edit(manager, target)
    original = target.email
    target.deleted_at = now
    target.is_enabled = False
    target.email = deleted_email(target)
    ended = sessions.end_all(target, now=now)
    apikeys.revoke(target, now=now)
    db.session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.user_id == target.id, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.record("user.deleted", user=target, actor=manager.user, now=now, email=original,
                 sessions_ended=ended)
    db.session.commit()


def regenerate_key(manager: Manager, target: User, *, now: datetime) -> str:
    """A new API key for ``target``; the old one stops working at once. Returns the plaintext."""
    _require_edit(manager, target, Action.USER_API_KEY)
    had_key = apikeys.current(target) is not None
    plaintext = apikeys.issue(target, now=now)
    audit.record("api_key.regenerated" if had_key else "api_key.created", user=target,
                 actor=manager.user, now=now)
    db.session.commit()
    return plaintext
