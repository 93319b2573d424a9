"""The one policy, pure: tabs per role (DOMAIN.md §2) and the tenant rule."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from portal.authz.permissions import TABS, Action, Perm
from portal.authz.policy import Principal, can


def principal(*perms, owner=False, accounts=(1, 2), api_only=False, via_api=False, master=1):
    return Principal(user_id=10, master_account_id=master, is_owner=owner, perms=frozenset(perms),
                     account_ids=frozenset(accounts), active_account_ids=frozenset(accounts),
                     is_api_only=api_only, via_api=via_api)


def tabs(p):
    return [title for action, title, _ in TABS if can(p, action)]


ALL = (Perm.ORDERS_TICKETS, Perm.SEARCH_ORDERS, Perm.API_READ, Perm.API_WRITE, Perm.MANAGE_USERS,
       Perm.REFUND_AUTHORITY)


@pytest.mark.parametrize("who, expected", [
    (principal(owner=True), ["Dashboard", "Accounts", "Tickets", "Transactions", "Reports", "Users"]),
    (principal(*ALL), ["Tickets", "Transactions", "Reports", "Users"]),
    # Orders/Tickets alone: only the Tickets tab (issue 5); its ticket-tied search is reached
    # from the Tickets tab (test_orders_tickets_alone_searches_without_the_transactions_tab).
    (principal(Perm.ORDERS_TICKETS), ["Tickets"]),
    (principal(Perm.ORDERS_TICKETS, Perm.REFUND_AUTHORITY), ["Tickets"]),
    (principal(Perm.SEARCH_ORDERS), ["Transactions"]),
    (principal(Perm.SEARCH_ORDERS, Perm.REFUND_AUTHORITY), ["Transactions"]),
    (principal(Perm.ORDERS_TICKETS, Perm.SEARCH_ORDERS), ["Tickets", "Transactions"]),
    (principal(Perm.ORDERS_TICKETS, Perm.SEARCH_ORDERS, Perm.MANAGE_USERS),
     ["Tickets", "Transactions", "Reports", "Users"]),
    (principal(Perm.API_READ, Perm.API_WRITE, api_only=True), []),
    (principal(), []),
])
def test_tabs_per_role(who, expected):
    assert tabs(who) == expected


def test_nobody_but_the_owner_sees_dashboard_or_accounts_even_with_every_permission():
    clerk = principal(*ALL)
    assert not can(clerk, Action.TAB_DASHBOARD) and not can(clerk, Action.ACCOUNT_MANAGE)


def test_objects_of_other_tenants_or_ungranted_accounts_are_never_allowed():
    owner = principal(owner=True, accounts=(1, 2))
    assert can(owner, Action.TICKET_VIEW, SimpleNamespace(linked_account_id=1))
    assert not can(owner, Action.TICKET_VIEW, SimpleNamespace(linked_account_id=3))
    assert not can(owner, Action.USER_EDIT, SimpleNamespace(master_account_id=2, is_owner=False, id=5))


def test_orders_tickets_alone_sees_only_transactions_tied_to_tickets():
    clerk = principal(Perm.ORDERS_TICKETS)
    assert can(clerk, Action.TRANSACTION_VIEW, SimpleNamespace(linked_account_id=1, has_ticket=True))
    assert not can(clerk, Action.TRANSACTION_VIEW, SimpleNamespace(linked_account_id=1, has_ticket=False))
    searcher = principal(Perm.ORDERS_TICKETS, Perm.SEARCH_ORDERS)
    assert can(searcher, Action.TRANSACTION_VIEW, SimpleNamespace(linked_account_id=1, has_ticket=False))
    # Both search (issue 8 item 1); only Search Orders finds every transaction.
    assert can(clerk, Action.TRANSACTION_SEARCH) and not can(clerk, Action.TRANSACTION_SEARCH_ALL)
    assert can(searcher, Action.TRANSACTION_SEARCH_ALL)


def test_orders_tickets_alone_searches_without_the_transactions_tab():
    """The tab is Search Orders'; the search itself (ticket-tied results) is also Orders/Tickets'
    (issue 8 item 1), and nobody else's."""
    clerk = principal(Perm.ORDERS_TICKETS)
    assert not can(clerk, Action.TAB_TRANSACTIONS)
    assert can(clerk, Action.TRANSACTION_SEARCH) and can(clerk, Action.TAB_TICKETS)
    searcher = principal(Perm.SEARCH_ORDERS)
    assert can(searcher, Action.TAB_TRANSACTIONS) and can(searcher, Action.TRANSACTION_SEARCH)
    for single in (Perm.MANAGE_USERS, Perm.REFUND_AUTHORITY, Perm.API_READ):
        assert not can(principal(single), Action.TAB_TRANSACTIONS)
        assert not can(principal(single), Action.TRANSACTION_SEARCH)


def test_refunds_need_refund_authority():
    ticket = SimpleNamespace(linked_account_id=1)
    assert not can(principal(Perm.ORDERS_TICKETS), Action.TICKET_REFUND, ticket)
    assert can(principal(Perm.ORDERS_TICKETS, Perm.REFUND_AUTHORITY), Action.TICKET_REFUND, ticket)
    assert can(principal(owner=True), Action.TICKET_REFUND, ticket)


def test_manage_users_clerk_never_edits_the_owner_or_themselves():
    supervisor = principal(Perm.MANAGE_USERS)
    assert can(supervisor, Action.USER_EDIT, SimpleNamespace(master_account_id=1, is_owner=False, id=11))
    assert not can(supervisor, Action.USER_EDIT, SimpleNamespace(master_account_id=1, is_owner=True, id=1))
    assert not can(supervisor, Action.USER_EDIT, SimpleNamespace(master_account_id=1, is_owner=False, id=10))


def test_removed_accounts_are_read_only():
    owner = Principal(user_id=1, master_account_id=1, is_owner=True, perms=frozenset(Perm),
                      account_ids=frozenset({1, 2}), active_account_ids=frozenset({1}))
    removed = SimpleNamespace(linked_account_id=2)
    assert can(owner, Action.TICKET_VIEW, removed) and not can(owner, Action.TICKET_WORK, removed)


def test_api_permissions():
    reader = principal(Perm.API_READ, api_only=True, via_api=True)
    writer = principal(Perm.API_READ, Perm.API_WRITE, api_only=True, via_api=True)
    ticket = SimpleNamespace(linked_account_id=1)
    assert can(reader, Action.TICKET_VIEW, ticket) and not can(reader, Action.TICKET_WORK, ticket)
    assert can(writer, Action.TICKET_WORK, ticket)
    browser_clerk = principal(Perm.ORDERS_TICKETS)  # no API permission: browser only
    assert not can(browser_clerk, Action.API_READ)
    assert not can(principal(Perm.ORDERS_TICKETS, via_api=True), Action.TICKET_VIEW, ticket)


def test_an_api_search_lists_every_transaction_only_with_search_orders():
    """The API searches as the Transactions tab does: ticket-tied transactions only, unless the
    key's user holds Search Orders (the owner holds it)."""
    tickets_only = principal(Perm.API_READ, Perm.ORDERS_TICKETS, via_api=True)
    searcher = principal(Perm.API_READ, Perm.SEARCH_ORDERS, via_api=True)
    no_api = principal(Perm.SEARCH_ORDERS, via_api=True)
    owner = principal(owner=True, via_api=True)
    assert can(tickets_only, Action.TRANSACTION_SEARCH)
    assert not can(tickets_only, Action.TRANSACTION_SEARCH_ALL)
    assert can(searcher, Action.TRANSACTION_SEARCH_ALL) and can(owner, Action.TRANSACTION_SEARCH_ALL)
    assert not can(no_api, Action.TRANSACTION_SEARCH_ALL)


def test_anonymous_may_do_nothing():
    assert not can(None, Action.TAB_TICKETS)
    assert not can(SimpleNamespace(is_authenticated=False), Action.TAB_TICKETS)
