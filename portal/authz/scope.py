"""Turning the logged-in user into a :class:`Principal`, and scoping queries by account.

Every query of tickets or transactions filters on ``visible_account_ids``; loaders call
:func:`load_or_404`, so an object outside the user's accounts is a 404, never a 403.
"""
from __future__ import annotations

from flask import abort, g, has_request_context
from sqlalchemy import select

from portal.accounts.models import AccountStatus, ClerkAccountAccess, LinkedAccount
from portal.authz.permissions import Action, Perm
from portal.authz.policy import Principal, UserSubject, can
from portal.extensions import db

PERM_COLUMNS = {
    Perm.ORDERS_TICKETS: "perm_orders_tickets",
    Perm.SEARCH_ORDERS: "perm_search_orders",
    Perm.API_READ: "perm_api_read",
    Perm.API_WRITE: "perm_api_write",
    Perm.MANAGE_USERS: "perm_manage_users",
    Perm.REFUND_AUTHORITY: "perm_refund_authority",
}


def user_perms(user) -> frozenset[Perm]:
    if user.is_owner:
        return frozenset(Perm)
    return frozenset(p for p, col in PERM_COLUMNS.items() if getattr(user, col))


def account_ids_for(user) -> tuple[frozenset[int], frozenset[int]]:
    """(visible, active) linked-account ids. The owner also sees removed accounts (read only);
    a clerk sees only granted accounts that are still linked."""
    if user.is_owner:
        rows = db.session.execute(
            select(LinkedAccount.id, LinkedAccount.status).where(
                LinkedAccount.master_account_id == user.master_account_id,
                LinkedAccount.status != AccountStatus.PENDING,
            )
        ).all()
    else:
        rows = db.session.execute(
            select(LinkedAccount.id, LinkedAccount.status)
            .join(ClerkAccountAccess, ClerkAccountAccess.linked_account_id == LinkedAccount.id)
            .where(
                ClerkAccountAccess.user_id == user.id,
                LinkedAccount.master_account_id == user.master_account_id,
                LinkedAccount.status == AccountStatus.LINKED,
            )
        ).all()
    visible = frozenset(r.id for r in rows)
    active = frozenset(r.id for r in rows if r.status == AccountStatus.LINKED)
    return visible, active


def principal_for(user, *, via_api: bool = False) -> Principal:
    visible, active = account_ids_for(user)
    return Principal(
        user_id=user.id,
        master_account_id=user.master_account_id,
        is_owner=user.is_owner,
        perms=user_perms(user),
        account_ids=visible,
        active_account_ids=active,
        is_api_only=user.is_api_only,
        via_api=via_api,
    )


def current_principal() -> Principal | None:
    """The principal of this request (computed once per request, never cached in the session)."""
    if not has_request_context():
        return None  # worker and CLI code act as the system, never as a logged-in user
    if "principal" not in g:
        from flask_login import current_user

        g.principal = principal_for(current_user) if current_user.is_authenticated else None
    return g.principal


def visible_account_ids(principal: Principal | None = None) -> frozenset[int]:
    principal = principal or current_principal()
    return principal.account_ids if principal else frozenset()


def load_or_404(model, object_id, action: Action, principal: Principal | None = None):
    """Load ``model`` by id inside the user's accounts and check ``action`` on it.

    An object that does not exist, belongs to another tenant or to an account the user may not
    see is a 404 (indistinguishable); one the user may see but not act on is a 403.
    """
    principal = principal or current_principal()
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    if not (0 < object_id < 2**31):  # INTEGER ids are 32-bit on PostgreSQL
        abort(404)
    obj = db.session.get(model, object_id)
    if obj is None or principal is None:
        abort(404)
    account_id = getattr(obj, "linked_account_id", None)
    if account_id is not None and account_id not in principal.account_ids:
        abort(404)
    master = getattr(obj, "master_account_id", None)
    if master is not None and master != principal.master_account_id:
        abort(404)
    if not can(principal, action, obj):
        abort(403)
    return obj


def user_subjects(users) -> dict[int, UserSubject]:
    """Policy subjects for ``users`` (one query for all their account grants)."""
    users = list(users)
    clerk_ids = [u.id for u in users if not u.is_owner]
    granted: dict[int, set[int]] = {uid: set() for uid in clerk_ids}
    if clerk_ids:
        rows = db.session.execute(
            select(ClerkAccountAccess.user_id, ClerkAccountAccess.linked_account_id)
            .join(LinkedAccount, LinkedAccount.id == ClerkAccountAccess.linked_account_id)
            .where(
                ClerkAccountAccess.user_id.in_(clerk_ids),
                LinkedAccount.status == AccountStatus.LINKED,
            )
        ).all()
        for user_id, account_id in rows:
            granted[user_id].add(account_id)
    subjects = {}
    for user in users:
        if user.is_owner:
            accounts = account_ids_for(user)[1]
        else:
            accounts = frozenset(granted.get(user.id, ()))
        subjects[user.id] = UserSubject(
            id=user.id,
            master_account_id=user.master_account_id,
            is_owner=user.is_owner,
            perms=user_perms(user),
            account_ids=frozenset(accounts),
            is_deleted=user.deleted_at is not None,
        )
    return subjects


def user_subject(user) -> UserSubject:
    """The policy's view of ``user`` as the object of ``Action.USER_EDIT``."""
    return user_subjects([user])[user.id]
