"""Linking, confirming, removing and configuring linked accounts (DOMAIN.md §4).

Every write is one service call: change the rows, append audit rows, queue the mail, commit.
Services take the acting user and ``now``; views check permissions and the step-up re-check.

A nickname can be *active* (pending or linked) in one Master Account at a time: the partial
unique index ``uq_linked_accounts_active_nickname`` guarantees it even under races, and
:func:`start_link` turns the conflict into a clear message. Removing keeps the row and its
history (status ``removed``, read only); linking the same nickname again in the same Master
Account reuses that row, so its history comes back.
"""

from __future__ import annotations

import re
import secrets
import string
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from portal import audit
from portal.accounts.models import (
    AccountSource,
    AccountStatus,
    ClerkAccountAccess,
    LinkedAccount,
)
from portal.auth import tokens
from portal.auth.models import OneTimeToken, TokenPurpose, User
from portal.crypto import decrypt, encrypt
from portal.extensions import db
from portal.notifications import mail

# THE nickname rule of the portal (sign-up and the Accounts tab both use nickname_problem):
# a ClickBank account nickname has 5 to 10 letters and digits, stored lower-case. Sandbox accounts
# follow it too: they stand in for ClickBank accounts (the demo's ketovital, mindshift, fitforge,
# vendor001… all fit), and a sandbox name that ClickBank would refuse could never be switched to
# or compared with a real account. Words the account URLs use are reserved.
NICKNAME_RE = re.compile(r"^[a-z0-9]{5,10}$")
NICKNAME_MESSAGE = "A ClickBank nickname has 5 to 10 letters and digits (no spaces or symbols)."
RESERVED_NICKNAMES = frozenset({"new", "link", "accounts", "admin", "api", "static"})  # URLs
# Looking an existing account up by the nickname in its URL accepts any stored nickname (accounts
# linked before the rule was one, and test fixtures), but nothing that could not be one.
STORED_NICKNAME_RE = re.compile(r"^[a-z0-9]{1,32}$")
COLOUR_RE = re.compile(r"^#[0-9a-f]{6}$")
INS_SECRET_RE = re.compile(r"^[A-Z0-9]{1,16}$")  # ClickBank: up to 16 capital letters and digits
# Distinct, readable on white, in the order new accounts get them.
PALETTE = (
    "#4f46e5",
    "#0ea5e9",
    "#f59e0b",
    "#10b981",
    "#ef4444",
    "#8b5cf6",
    "#14b8a6",
    "#f97316",
    "#64748b",
    "#ec4899",
    "#84cc16",
    "#06b6d4",
    "#a16207",
    "#be123c",
    "#1d4ed8",
    "#15803d",
)
LINK_TTL_HOURS = 24


class AccountError(Exception):
    """A refusal with a message the user can act on (``field`` names the form field, if any)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


# --- reading -------------------------------------------------------------------------------------


def normalise_nickname(value: str | None) -> str:
    """The one normalisation of a nickname typed into a form (sign-up, Accounts tab)."""
    return (value or "").strip().lower()


def nickname_problem(nickname: str | None) -> str | None:
    """Why ``nickname`` is not a valid ClickBank account nickname, or None (see NICKNAME_RE)."""
    nickname = normalise_nickname(nickname)
    if not nickname:
        return "Enter the account's nickname."
    if not NICKNAME_RE.match(nickname):
        return NICKNAME_MESSAGE
    if nickname in RESERVED_NICKNAMES:
        return f"“{nickname}” cannot be used as a nickname here."
    return None


def timezones() -> list[str]:
    """Every IANA zone name, sorted (the settings form offers them all)."""
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


def find(master_account_id: int, nickname: str) -> LinkedAccount | None:
    """The Master Account's account with ``nickname``: the active one, else the latest removed."""
    nickname = normalise_nickname(nickname)
    if not STORED_NICKNAME_RE.match(nickname):
        return None
    rows = db.session.scalars(
        select(LinkedAccount).where(
            LinkedAccount.master_account_id == master_account_id,
            LinkedAccount.nickname == nickname,
        )
    ).all()
    rows.sort(key=lambda a: (a.status != AccountStatus.REMOVED, a.id), reverse=True)
    return rows[0] if rows else None


def open_ticket_counts(account_ids) -> dict[int, int]:
    """Open (or reopened) tickets per account, in one grouped query."""
    from portal.tickets.models import Ticket

    ids = list(account_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Ticket.linked_account_id, func.count(Ticket.id))
        .where(Ticket.linked_account_id.in_(ids), Ticket.status != "closed")
        .group_by(Ticket.linked_account_id)
    ).all()
    return {account_id: count for account_id, count in rows}


def pending_links(account_ids) -> dict[int, OneTimeToken]:
    """The newest unused confirmation token of each pending account (when sent, when it expires)."""
    ids = list(account_ids)
    if not ids:
        return {}
    rows = db.session.scalars(
        select(OneTimeToken)
        .where(
            OneTimeToken.purpose == TokenPurpose.ACCOUNT_LINK,
            OneTimeToken.linked_account_id.in_(ids),
            OneTimeToken.used_at.is_(None),
        )
        .order_by(OneTimeToken.id)
    ).all()
    return {row.linked_account_id: row for row in rows}


def clerks_with_access(account: LinkedAccount) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(ClerkAccountAccess, ClerkAccountAccess.user_id == User.id)
            .where(
                ClerkAccountAccess.linked_account_id == account.id,
                User.deleted_at.is_(None),
            )
            .order_by(User.first_name, User.last_name)
        )
    )


@dataclass
class AccountRow:
    account: LinkedAccount
    open_tickets: int
    link: OneTimeToken | None  # pending: the confirmation mail in flight


def list_accounts(
    master_account_id: int, *, q: str = ""
) -> tuple[list[AccountRow], list[AccountRow]]:
    """(active, removed) rows of the Accounts tab: three queries whatever the number of accounts."""
    query = select(LinkedAccount).where(LinkedAccount.master_account_id == master_account_id)
    q = (q or "").strip().lower()
    if q:
        like = f"%{_escape_like(q)}%"
        query = query.where(
            LinkedAccount.nickname.like(like, escape="\\")
            | func.lower(LinkedAccount.account_email).like(like, escape="\\")
            | func.lower(func.coalesce(LinkedAccount.cs_email, "")).like(like, escape="\\")
        )
    accounts = db.session.scalars(query.order_by(LinkedAccount.nickname, LinkedAccount.id)).all()
    counts = open_ticket_counts(a.id for a in accounts if a.status != AccountStatus.PENDING)
    links = pending_links(a.id for a in accounts if a.status == AccountStatus.PENDING)
    active, removed = [], []
    for account in accounts:
        row = AccountRow(account, counts.get(account.id, 0), links.get(account.id))
        (removed if account.status == AccountStatus.REMOVED else active).append(row)
    return active, removed


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def next_colour(master_account_id: int) -> str:
    """The first palette colour no active account of the Master Account uses yet."""
    used = set(
        db.session.scalars(
            select(LinkedAccount.colour).where(
                LinkedAccount.master_account_id == master_account_id,
                LinkedAccount.status != AccountStatus.REMOVED,
            )
        )
    )
    for colour in PALETTE:
        if colour not in used:
            return colour
    return PALETTE[len(used) % len(PALETTE)]


def get_or_404(
    nickname: str, action=None, principal=None, *, include_pending: bool = False
) -> LinkedAccount:
    """The account at ``/accounts/<nickname>/…`` for this request's user (the tickets and
    transactions pages of an account use it too): 404 outside the user's accounts, 403 when
    visible but ``action`` is not allowed. Pending accounts only with ``include_pending``."""
    from flask import abort

    from portal.authz.permissions import Action
    from portal.authz.policy import can
    from portal.authz.scope import current_principal

    principal = principal or current_principal()
    if principal is None:
        abort(404)
    account = find(principal.master_account_id, nickname)
    if account is None:
        abort(404)
    pending_ok = include_pending and principal.is_owner and account.status == AccountStatus.PENDING
    if account.id not in principal.account_ids and not pending_ok:
        abort(404)
    if not can(principal, action or Action.ACCOUNT_VIEW, account):
        abort(403)
    return account


# --- linking -------------------------------------------------------------------------------------


def _conflict_message(existing: LinkedAccount, master_account_id: int) -> str:
    nick = existing.nickname
    if existing.master_account_id == master_account_id:
        if existing.status == AccountStatus.PENDING:
            return (
                f"“{nick}” is already waiting for confirmation. Resend or cancel that request "
                "from the Accounts list."
            )
        return f"“{nick}” is already linked to your Master Account."
    return (
        f"The account “{nick}” is already linked to another Master Account (or waiting for its "
        "confirmation). An account can belong to one Master Account at a time: it has to be "
        "removed there before it can be linked here."
    )


def _is_stale(account: LinkedAccount, now: datetime) -> bool:
    """A pending request whose confirmation link is used up or expired."""
    link = pending_links([account.id]).get(account.id)
    return link is None or link.expires_at <= now


def _drop_pending(account: LinkedAccount, *, now: datetime, reason: str, actor=None) -> None:
    """Withdraw a pending request: a row that was linked before goes back to ``removed`` (its
    history stays); a row that never was linked is deleted with its tokens."""
    audit.record(
        f"account.link_{reason}",
        actor=actor,
        master_account_id=account.master_account_id,
        now=now,
        account_id=account.id,
        nickname=account.nickname,
    )
    db.session.execute(
        delete(OneTimeToken).where(
            OneTimeToken.linked_account_id == account.id,
            OneTimeToken.purpose == TokenPurpose.ACCOUNT_LINK,
        )
    )
    if account.linked_at is not None:
        account.status = AccountStatus.REMOVED
        account.removed_at = account.removed_at or now
        account.credentials_enc = None
    else:
        db.session.delete(account)
    db.session.flush()


def start_link(
    owner: User,
    *,
    nickname: str,
    account_email: str,
    password: str,
    now: datetime,
    source: str = AccountSource.SANDBOX,
    timezone: str | None = None,
    colour: str | None = None,
) -> LinkedAccount:
    """Create a pending account and mail its confirmation link to the account's own address."""
    nickname = normalise_nickname(nickname)
    if problem := nickname_problem(nickname):
        raise AccountError(problem, "nickname")
    if source == AccountSource.CLICKBANK and not current_app.config.get("CLICKBANK_ENABLED"):
        raise AccountError("Linking ClickBank accounts is not available yet.", "source")
    if source not in (AccountSource.SANDBOX, AccountSource.CLICKBANK):
        raise AccountError("Choose where the account's data comes from.", "source")
    if timezone and timezone not in available_timezones():
        raise AccountError("Choose a time zone from the list.", "timezone")
    master_id = owner.master_account_id

    existing = db.session.scalar(
        select(LinkedAccount).where(
            LinkedAccount.nickname == nickname, LinkedAccount.status != AccountStatus.REMOVED
        )
    )
    if existing is not None:
        if (
            existing.master_account_id != master_id
            and existing.status == AccountStatus.PENDING
            and _is_stale(existing, now)
        ):
            # An expired request must not hold a nickname hostage.
            _drop_pending(existing, now=now, reason="expired")
        else:
            raise AccountError(_conflict_message(existing, master_id), "nickname")

    account = find(master_id, nickname)  # a removed account of ours: link it again, history returns
    relink = account is not None
    if account is None:
        account = LinkedAccount(master_account_id=master_id, nickname=nickname, created_at=now)
        db.session.add(account)
    account.source = source
    account.status = AccountStatus.PENDING
    account.account_email = account_email.strip().lower()
    account.credentials_enc = encrypt(password)
    if timezone:
        account.timezone = timezone
    elif not relink:
        account.timezone = owner.timezone or "America/New_York"
    account.colour = (
        colour
        if colour and COLOUR_RE.match(colour)
        else (account.colour if relink else next_colour(master_id))
    )
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        # Someone linked the nickname between our check and our insert: the index decided.
        db.session.rollback()
        raise AccountError(
            f"The account “{nickname}” was just linked elsewhere. It can belong to one Master "
            "Account at a time.",
            "nickname",
        ) from None
    audit.record(
        "account.link_requested",
        actor=owner,
        master_account_id=master_id,
        now=now,
        account_id=account.id,
        nickname=nickname,
        account_email=account.account_email,
        relink=relink,
    )
    _send_link(owner, account, now=now)
    db.session.commit()
    return account


def _send_link(owner: User, account: LinkedAccount, *, now: datetime) -> None:
    plaintext = tokens.issue(
        TokenPurpose.ACCOUNT_LINK,
        linked_account=account,
        email=account.account_email,
        data={"owner_id": owner.id},
        ttl=timedelta(hours=LINK_TTL_HOURS),
        now=now,
    )
    mail.queue_email(
        "account_link",
        to=account.account_email,
        subject=f"Confirm linking “{account.nickname}” to a Master Account",
        context={
            "account": account,
            "owner": owner,
            "link": mail.external_url("accounts.link", token=plaintext),
            "asked_at": now,
            "expires_at": now + timedelta(hours=LINK_TTL_HOURS),
        },
        master_account_id=account.master_account_id,
        now=now,
    )


def resend_link(owner: User, account: LinkedAccount, *, now: datetime) -> None:
    """A fresh link (the previous one stops working) to the same address."""
    if account.status != AccountStatus.PENDING:
        raise AccountError(f"“{account.nickname}” is not waiting for confirmation.")
    _send_link(owner, account, now=now)
    audit.record(
        "account.link_resent",
        actor=owner,
        master_account_id=account.master_account_id,
        now=now,
        account_id=account.id,
        nickname=account.nickname,
    )
    db.session.commit()


def cancel_link(owner: User, account: LinkedAccount, *, now: datetime) -> None:
    if account.status != AccountStatus.PENDING:
        raise AccountError(f"“{account.nickname}” is not waiting for confirmation.")
    _drop_pending(account, now=now, reason="cancelled", actor=owner)
    db.session.commit()


@dataclass
class LinkRequest:
    """What the confirmation page shows before anything happens."""

    token: OneTimeToken
    account: LinkedAccount
    owner: User | None


def inspect_link(plaintext: str | None, *, now: datetime) -> LinkRequest:
    """The pending link behind ``plaintext`` (raises :class:`tokens.TokenInvalid`)."""
    token = tokens.peek(TokenPurpose.ACCOUNT_LINK, plaintext, now=now)
    account = (
        db.session.get(LinkedAccount, token.linked_account_id) if token.linked_account_id else None
    )
    if account is None or account.status != AccountStatus.PENDING:
        raise tokens.TokenInvalid("used", token)
    return LinkRequest(token, account, _owner_of(account.master_account_id))


def _owner_of(master_account_id: int) -> User | None:
    return db.session.scalar(
        select(User).where(User.master_account_id == master_account_id, User.role == "owner")
    )


def confirm_link(plaintext: str | None, *, now: datetime) -> LinkedAccount:
    """The account's mailbox holder confirms: the account becomes linked."""
    request = inspect_link(plaintext, now=now)
    tokens.consume(TokenPurpose.ACCOUNT_LINK, plaintext, now=now)
    account = request.account
    account.status = AccountStatus.LINKED
    account.linked_at = now
    account.removed_at = None
    audit.record(
        "account.linked",
        master_account_id=account.master_account_id,
        now=now,
        account_id=account.id,
        nickname=account.nickname,
        account_email=account.account_email,
    )
    if request.owner is not None:
        mail.queue_email(
            "account_linked",
            to=request.owner.email,
            subject=f"“{account.nickname}” is now linked to your Master Account",
            context={
                "account": account,
                "owner": request.owner,
                "link": mail.external_url("accounts.show", nickname=account.nickname),
            },
            master_account_id=account.master_account_id,
            now=now,
        )
    db.session.commit()
    return account


def decline_link(plaintext: str | None, *, now: datetime) -> LinkedAccount:
    """The mailbox holder says no: the request is withdrawn and the owner told."""
    request = inspect_link(plaintext, now=now)
    tokens.consume(TokenPurpose.ACCOUNT_LINK, plaintext, now=now)
    account = request.account
    nickname, email, master_id = account.nickname, account.account_email, account.master_account_id
    _drop_pending(account, now=now, reason="declined")
    if request.owner is not None:
        mail.queue_email(
            "account_link_declined",
            to=request.owner.email,
            subject=f"Linking “{nickname}” was declined",
            context={"nickname": nickname, "account_email": email, "owner": request.owner},
            master_account_id=master_id,
            now=now,
        )
    db.session.commit()
    return account


# --- removing ------------------------------------------------------------------------------------


def remove(owner: User, account: LinkedAccount, *, now: datetime) -> list[int]:
    """Unlink: status ``removed`` (history kept, read only), secrets wiped, clerk grants ended.
    Returns the ids of the clerks who lost access."""
    if account.status != AccountStatus.LINKED:
        raise AccountError(f"“{account.nickname}” is not linked.")
    clerk_ids = list(
        db.session.scalars(
            select(ClerkAccountAccess.user_id).where(
                ClerkAccountAccess.linked_account_id == account.id
            )
        )
    )
    db.session.execute(
        delete(ClerkAccountAccess).where(ClerkAccountAccess.linked_account_id == account.id)
    )
    account.status = AccountStatus.REMOVED
    account.removed_at = now
    account.credentials_enc = None
    account.ins_secret_enc = None
    audit.record(
        "account.removed",
        actor=owner,
        master_account_id=account.master_account_id,
        now=now,
        account_id=account.id,
        nickname=account.nickname,
        clerks_lost_access=clerk_ids,
    )
    mail.queue_email(
        "account_removed",
        to=account.account_email,
        subject=f"“{account.nickname}” was removed from a Master Account",
        context={"account": account, "owner": owner, "removed_at": now},
        master_account_id=account.master_account_id,
        now=now,
    )
    db.session.commit()
    return clerk_ids


# --- settings ------------------------------------------------------------------------------------

SETTING_FIELDS = (
    "timezone",
    "cs_email",
    "colour",
    "customer_refund_days",
    "vendor_refund_days",
    "settle_hours",
    "include_test_transactions",
    "capture_abandoned_orders",
)


def update_settings(owner: User, account: LinkedAccount, values: dict, *, now: datetime) -> dict:
    """Apply the settings in ``values`` (keys of :data:`SETTING_FIELDS`); returns what changed
    as ``{field: [before, after]}``. A new time zone re-counts the daily totals in it."""
    if account.status == AccountStatus.REMOVED:
        raise AccountError(f"“{account.nickname}” was removed: its settings are read only.")
    _check_settings(values)
    changes = {}
    for name in SETTING_FIELDS:
        if name not in values:
            continue
        if name == "settle_hours" and not account.is_sandbox:
            continue
        before, after = getattr(account, name), values[name]
        if name == "cs_email":
            after = (after or "").strip().lower() or None
        if before != after:
            changes[name] = [before, after]
            setattr(account, name, after)
    if not changes:
        return changes
    if "timezone" in changes:
        ZoneInfo(account.timezone)  # validated by the form; fail loudly otherwise
        rebuild_daily(account)
        from portal.tickets.services import move_deadlines_off_weekends

        move_deadlines_off_weekends(account)
    audit.record(
        "account.settings_changed",
        actor=owner,
        master_account_id=account.master_account_id,
        now=now,
        account_id=account.id,
        nickname=account.nickname,
        changes=changes,
    )
    db.session.commit()
    return changes


SETTING_RANGES = {
    "customer_refund_days": (1, 365),
    "vendor_refund_days": (1, 365),
    "settle_hours": (0, 168),
}


def _check_settings(values: dict) -> None:
    """The form's limits, for every caller (the colour ends up in a style attribute)."""
    if "timezone" in values and values["timezone"] not in available_timezones():
        raise AccountError("Choose a time zone from the list.", "timezone")
    if "colour" in values and not COLOUR_RE.match(values["colour"] or ""):
        raise AccountError("Pick a colour.", "colour")
    for name, (low, high) in SETTING_RANGES.items():
        if name in values and not (isinstance(values[name], int) and low <= values[name] <= high):
            raise AccountError(
                f"{name.replace('_', ' ').capitalize()} must be between {low} and {high}.", name
            )
    for name in ("include_test_transactions", "capture_abandoned_orders"):
        if name in values:
            values[name] = bool(values[name])


def rebuild_daily(account: LinkedAccount) -> None:
    """Re-count the account's DailySales in its (new) time zone from its transactions."""
    from portal.transactions.models import DailySales, Transaction
    from portal.transactions.services import daily_increments

    db.session.execute(delete(DailySales).where(DailySales.linked_account_id == account.id))
    zone = ZoneInfo(account.timezone)
    totals: dict = defaultdict(lambda: defaultdict(int))
    rows = db.session.execute(
        select(
            Transaction.occurred_at,
            Transaction.txn_type,
            Transaction.amount_cents,
            Transaction.currency,
        )
        .where(Transaction.linked_account_id == account.id)
        .execution_options(yield_per=5000)
    )
    for occurred_at, txn_type, amount, currency in rows:
        increments = daily_increments(txn_type, amount)
        if increments:
            bucket = totals[(occurred_at.astimezone(zone).date(), currency)]
            for column, value in increments.items():
                bucket[column] += value
    if totals:
        db.session.execute(
            DailySales.__table__.insert(),
            [
                {
                    "linked_account_id": account.id,
                    "day": day,
                    "currency": currency,
                    **{c: 0 for c in _DAILY_COLUMNS},
                    **dict(bucket),
                }
                for (day, currency), bucket in totals.items()
            ],
        )


_DAILY_COLUMNS = (
    "sales_count",
    "sales_cents",
    "rebill_count",
    "rebill_cents",
    "refund_count",
    "refund_cents",
    "chargeback_count",
    "chargeback_cents",
    "fee_cents",
)


def generate_ins_secret() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16))


def set_ins_secret(
    owner: User, account: LinkedAccount, secret: str | None, *, now: datetime
) -> None:
    """Store (encrypted) or clear the INS secret key."""
    if account.status == AccountStatus.REMOVED:
        raise AccountError(f"“{account.nickname}” was removed: its settings are read only.")
    secret = (secret or "").strip().upper()
    if secret and not INS_SECRET_RE.match(secret):
        raise AccountError("The secret key has up to 16 capital letters and digits.", "secret")
    had = account.ins_secret_enc is not None
    account.ins_secret_enc = encrypt(secret) if secret else None
    audit.record(
        "account.ins_secret_set" if secret else "account.ins_secret_cleared",
        actor=owner,
        master_account_id=account.master_account_id,
        now=now,
        account_id=account.id,
        nickname=account.nickname,
        replaced=had,
    )
    db.session.commit()


def reveal_ins_secret(owner: User, account: LinkedAccount, *, now: datetime) -> str | None:
    """The INS secret key in clear (after the step-up re-check); the reveal is audited."""
    if not account.ins_secret_enc:
        return None
    audit.record(
        "account.ins_secret_revealed",
        actor=owner,
        master_account_id=account.master_account_id,
        now=now,
        account_id=account.id,
        nickname=account.nickname,
    )
    db.session.commit()
    return decrypt(account.ins_secret_enc)


def has_ins_secret(account: LinkedAccount) -> bool:
    """Pages say *whether* a key is stored; its characters are shown only after the re-check."""
    return bool(account.ins_secret_enc)


def replace_credentials(
    owner: User, account: LinkedAccount, password: str, *, now: datetime
) -> None:
    if account.status != AccountStatus.LINKED:
        raise AccountError(f"“{account.nickname}” is not linked.")
    account.credentials_enc = encrypt(password)
    audit.record(
        "account.credentials_replaced",
        actor=owner,
        master_account_id=account.master_account_id,
        now=now,
        account_id=account.id,
        nickname=account.nickname,
    )
    db.session.commit()
