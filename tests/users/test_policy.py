"""The policy's rules for managing users (pure: no app, no database)."""
from __future__ import annotations

from portal.authz.permissions import Action, Perm
from portal.authz.policy import Principal, UserSubject, can, ungrantable, ungrantable_accounts


def principal(*perms, owner=False, accounts=(1,), user_id=10, master=1, api=False):
    return Principal(user_id=user_id, master_account_id=master, is_owner=owner,
                     perms=frozenset(perms), account_ids=frozenset(accounts),
                     active_account_ids=frozenset(accounts), via_api=api)


OWNER = principal(owner=True, accounts=(1, 2), user_id=1)
SUPERVISOR = principal(Perm.ORDERS_TICKETS, Perm.SEARCH_ORDERS, Perm.MANAGE_USERS, accounts=(1,))


def clerk(*perms, accounts=(1,), id=20, master=1, **kw):
    return UserSubject(id=id, master_account_id=master, perms=frozenset(perms or (Perm.ORDERS_TICKETS,)),
                       account_ids=frozenset(accounts), **kw)


def test_supervisor_edits_a_clerk_who_holds_no_more_than_they_do():
    assert can(SUPERVISOR, Action.USER_EDIT, clerk(Perm.ORDERS_TICKETS, Perm.SEARCH_ORDERS))


def test_supervisor_may_not_touch_a_clerk_with_a_permission_they_lack():
    assert not can(SUPERVISOR, Action.USER_EDIT, clerk(Perm.ORDERS_TICKETS, Perm.REFUND_AUTHORITY))
    assert not can(SUPERVISOR, Action.USER_API_KEY, clerk(Perm.API_READ))


def test_supervisor_may_not_touch_a_clerk_with_an_account_they_cannot_see():
    assert not can(SUPERVISOR, Action.USER_EDIT, clerk(accounts=(1, 2)))


def test_the_owner_edits_any_clerk_of_their_master_account_but_not_of_another():
    assert can(OWNER, Action.USER_EDIT, clerk(Perm.REFUND_AUTHORITY, accounts=(1, 2, 3)))
    assert not can(OWNER, Action.USER_EDIT, clerk(master=2))


def test_nobody_edits_the_owner_or_a_deleted_user():
    owner_subject = UserSubject(id=1, master_account_id=1, is_owner=True, perms=frozenset(Perm))
    assert not can(OWNER, Action.USER_EDIT, owner_subject)
    assert not can(SUPERVISOR, Action.USER_EDIT, owner_subject)
    assert not can(OWNER, Action.USER_EDIT, clerk(is_deleted=True))


def test_a_supervisor_never_edits_themselves():
    me = clerk(Perm.ORDERS_TICKETS, Perm.SEARCH_ORDERS, Perm.MANAGE_USERS, id=SUPERVISOR.user_id)
    assert not can(SUPERVISOR, Action.USER_EDIT, me)
    assert not can(SUPERVISOR, Action.USER_API_KEY, me)


def test_a_supervisor_never_edits_another_manage_users_clerk():
    """Peers cannot lock each other out; the owner manages the people who manage users."""
    peer = clerk(Perm.ORDERS_TICKETS, Perm.MANAGE_USERS, id=21)
    assert not can(SUPERVISOR, Action.USER_EDIT, peer)
    assert not can(SUPERVISOR, Action.USER_API_KEY, peer)
    assert can(OWNER, Action.USER_EDIT, peer)


def test_the_owner_manages_their_own_api_key_but_not_their_own_permissions():
    me = UserSubject(id=OWNER.user_id, master_account_id=1, is_owner=True, perms=frozenset(Perm))
    assert can(OWNER, Action.USER_API_KEY, me)
    assert not can(OWNER, Action.USER_EDIT, me)


def test_clerks_without_manage_users_and_api_principals_edit_nobody():
    assert not can(principal(Perm.ORDERS_TICKETS, Perm.SEARCH_ORDERS), Action.USER_EDIT, clerk())
    assert not can(principal(Perm.MANAGE_USERS, api=True), Action.USER_EDIT, clerk())


def test_ungrantable_permissions_and_accounts():
    assert ungrantable(SUPERVISOR, {Perm.ORDERS_TICKETS, Perm.REFUND_AUTHORITY}) == {Perm.REFUND_AUTHORITY}
    assert ungrantable(OWNER, set(Perm)) == set()
    assert ungrantable_accounts(SUPERVISOR, {1, 2, 99}) == {2, 99}
    assert ungrantable_accounts(OWNER, {1, 2}) == set()


def test_removed_accounts_cannot_be_granted_even_by_the_owner():
    owner = Principal(user_id=1, master_account_id=1, is_owner=True, perms=frozenset(Perm),
                      account_ids=frozenset({1, 2}), active_account_ids=frozenset({1}))
    assert ungrantable_accounts(owner, {2}) == {2}
