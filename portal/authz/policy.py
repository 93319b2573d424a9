"""The one permission policy: ``can(actor, action, obj=None)``. Pure: no Flask, no database.

``actor`` is a :class:`Principal` (built once per request from the database, so revocations take
effect at the next request). ``obj`` is anything with ``master_account_id`` and/or
``linked_account_id`` attributes; a transaction checked for an Orders/Tickets-only clerk also
carries ``has_ticket``. The tenant check comes first: an object of another Master Account, or of an
account the clerk was not granted, is never allowed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from portal.authz.permissions import Action, Perm

OWNER_ONLY = frozenset({Action.TAB_DASHBOARD, Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE})


@dataclass(frozen=True)
class Principal:
    user_id: int
    master_account_id: int
    is_owner: bool
    perms: frozenset[Perm]
    account_ids: frozenset[int] = field(default_factory=frozenset)  # linked accounts visible
    active_account_ids: frozenset[int] = field(default_factory=frozenset)  # not removed
    is_api_only: bool = False
    via_api: bool = False
    is_authenticated: bool = True

    def has(self, perm: Perm) -> bool:
        return self.is_owner or perm in self.perms


def _tenant_ok(actor: Principal, obj) -> bool:
    master = getattr(obj, "master_account_id", None)
    if master is not None and master != actor.master_account_id:
        return False
    account = getattr(obj, "linked_account_id", None)
    if account is not None and account not in actor.account_ids:
        return False
    return True


def _writable(actor: Principal, obj) -> bool:
    """Removed accounts are read only, even for the owner."""
    account = getattr(obj, "linked_account_id", None)
    return account is None or account in actor.active_account_ids


def can(actor, action: Action | str, obj=None) -> bool:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    action = Action(action)
    if obj is not None and not _tenant_ok(actor, obj):
        return False
    if action is Action.SECURITY_SETTINGS:
        return not actor.is_api_only
    if actor.via_api:
        return _can_api(actor, action, obj)
    if actor.is_api_only:
        return False  # an API-only user never uses the web interface
    if action in OWNER_ONLY:
        return actor.is_owner
    match action:
        case Action.TAB_TICKETS | Action.TICKET_VIEW:
            return actor.has(Perm.ORDERS_TICKETS)
        case Action.TICKET_WORK:
            return actor.has(Perm.ORDERS_TICKETS) and _writable(actor, obj)
        case Action.TICKET_REFUND | Action.SUBSCRIPTION_MANAGE:
            working = actor.has(Perm.ORDERS_TICKETS) or actor.has(Perm.SEARCH_ORDERS)
            return working and actor.has(Perm.REFUND_AUTHORITY) and _writable(actor, obj)
        case Action.TAB_TRANSACTIONS:
            # The tab is Search Orders' (issue 5: an Orders/Tickets-only clerk sees only the
            # Tickets tab); they reach the ticket-tied search from the Tickets tab instead.
            return actor.has(Perm.SEARCH_ORDERS)
        case Action.TRANSACTION_SEARCH:
            # Orders/Tickets alone searches too, but finds only transactions tied to tickets.
            return actor.has(Perm.SEARCH_ORDERS) or actor.has(Perm.ORDERS_TICKETS)
        case Action.TRANSACTION_SEARCH_ALL:
            return actor.has(Perm.SEARCH_ORDERS)
        case Action.TRANSACTION_VIEW:
            if actor.has(Perm.SEARCH_ORDERS):
                return True
            return actor.has(Perm.ORDERS_TICKETS) and (
                obj is None or bool(getattr(obj, "has_ticket", False))
            )
        case Action.ACCOUNT_VIEW:
            return actor.has(Perm.ORDERS_TICKETS) or actor.has(Perm.SEARCH_ORDERS)
        case Action.TAB_REPORTS | Action.REPORTS_VIEW | Action.TAB_USERS | Action.USERS_MANAGE:
            return actor.has(Perm.MANAGE_USERS)
        case Action.USER_EDIT:
            return _can_edit_user(actor, obj)
        case Action.USER_API_KEY:
            return _can_manage_key(actor, obj)
        case Action.API_READ | Action.API_WRITE:
            return False  # the API is used with a key, not a browser session
    return False


@dataclass(frozen=True)
class UserSubject:
    """A user as the object of ``USER_EDIT``: who they are and what they hold (built by
    ``scope.user_subject``). ``account_ids`` are the linked accounts granted and still linked."""

    id: int
    master_account_id: int
    is_owner: bool = False
    perms: frozenset[Perm] = frozenset()
    account_ids: frozenset[int] = frozenset()
    is_deleted: bool = False


def _can_edit_user(actor: Principal, target) -> bool:
    """The owner edits any clerk of the Master Account. A Manage-Users clerk edits other clerks
    whose permissions and accounts all lie within their own -- never the owner, never
    themselves (no raising one's own permissions), never someone who holds more than they do
    (so they cannot lock out, reset or re-key a more trusted colleague), and never another
    Manage-Users clerk (two supervisors cannot disable, reset or delete each other: only the
    owner manages the people who manage users). Nobody edits a deleted user."""
    if not actor.has(Perm.MANAGE_USERS):
        return False
    if target is None:
        return True
    if getattr(target, "is_owner", False):
        return False
    if getattr(target, "is_deleted", False) or getattr(target, "deleted_at", None) is not None:
        return False
    if actor.is_owner:
        return True
    if getattr(target, "id", None) == actor.user_id:
        return False
    target_perms = set(getattr(target, "perms", ()) or ())
    if Perm.MANAGE_USERS in target_perms:
        return False
    if ungrantable(actor, target_perms):
        return False
    if ungrantable_accounts(actor, set(getattr(target, "account_ids", ()) or ())):
        return False
    return True


def _can_manage_key(actor: Principal, target) -> bool:
    """API keys: whoever may edit the user, and the owner for their own key."""
    if actor.is_owner and target is not None and getattr(target, "id", None) == actor.user_id:
        return True
    return _can_edit_user(actor, target)


def _can_api(actor: Principal, action: Action, obj) -> bool:
    readable = actor.has(Perm.API_READ) or actor.has(Perm.API_WRITE)
    match action:
        case Action.API_READ | Action.TICKET_VIEW | Action.ACCOUNT_VIEW:
            return readable
        case Action.TRANSACTION_SEARCH:
            return readable  # results are scoped: ticket-tied only without Search Orders
        case Action.TRANSACTION_SEARCH_ALL:
            return readable and actor.has(Perm.SEARCH_ORDERS)
        case Action.TRANSACTION_VIEW:
            return readable and (
                obj is None or actor.has(Perm.SEARCH_ORDERS) or bool(getattr(obj, "has_ticket", False))
            )
        case Action.API_WRITE | Action.TICKET_WORK:
            return actor.has(Perm.API_WRITE) and _writable(actor, obj)
        case Action.TICKET_REFUND:
            return (
                actor.has(Perm.API_WRITE)
                and actor.has(Perm.REFUND_AUTHORITY)
                and _writable(actor, obj)
            )
    return False


def ungrantable(actor: Principal, perms: set[Perm]) -> set[Perm]:
    """The permissions in ``perms`` that ``actor`` may not grant (they do not hold them)."""
    return {p for p in perms if not actor.has(Perm(p))}


def ungrantable_accounts(actor: Principal, account_ids: set[int]) -> set[int]:
    """The linked accounts in ``account_ids`` that ``actor`` may not grant: any they cannot see
    themselves, removed accounts, and (so also) every account of another Master Account."""
    return {a for a in account_ids if a not in actor.active_account_ids}
