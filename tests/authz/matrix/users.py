"""Matrix entries of the Users tab.

Objects are clerks: "own" is a clerk of Master Account A on A1 (within what the supervisor
holds, so the supervisor may edit them), "ungranted" a clerk of A on A2 (the supervisor may look
but not change), "foreign" a clerk of Master Account B. Routes that change a user act on a
fresh clerk per cell, so no cell depends on another.
"""
from tests.authz.matrix import GUESTS, LOGIN, Case, each, objs

MANAGERS = ("owner", "other_owner", "supervisor", "manager")
NOT_MANAGERS = ("clerk", "searcher", "refunder", "search_only", "refund_only", "api_reader")


def _tab(status=200) -> dict:
    """Pages without an object: owners and the supervisor get in, other clerks 403."""
    return {**each(GUESTS, LOGIN), **each(MANAGERS, status), **each(NOT_MANAGERS, 403)}


def _on_user(ok, *, supervisor_ungranted=403, manager_may=False) -> dict:
    """One user's page or action: 404 outside the Master Account, the supervisor refused (403)
    on a clerk holding more than they do, clerks without Manage Users refused (403) before
    anything is looked up."""
    return {
        **each(GUESTS, LOGIN),
        "owner": objs(ok, ok, 404),
        "other_owner": objs(404, 404, ok),
        "supervisor": objs(ok, supervisor_ungranted, 404),
        # Manage Users alone: may look at every clerk of A, but change none of these (each
        # holds Orders/Tickets, which the manager does not hold).
        "manager": objs(ok, ok, 404) if manager_may else objs(403, 403, 404),
        **each(NOT_MANAGERS, 403),
    }


def _fresh(suffix: str):
    return lambda w, o: f"/users/{w.fresh('user', o)}/{suffix}"


def _new_user(w, who, obj):
    n = w.serial()
    return {"email": f"new{n}-{who}@matrix.test", "first_name": "New", "last_name": f"User{n}",
            "description": "Matrix", "perms": ["orders_tickets"], "accounts": [w.account_for(who)]}


def _created(w, who, obj, response):
    page = response.get_data(as_text=True)
    if response.status_code == 200 and who == "manager":
        # Manage Users alone cannot grant Orders/Tickets: the form comes back with the refusal.
        if 'data-testid="api-key-once"' in page or "only grant permissions you hold" not in page:
            return "a manager without Orders/Tickets created a clerk holding it"
    elif response.status_code == 200 and who in MANAGERS:
        if 'data-testid="api-key-once"' not in page:
            return "answered 200 but did not create the user"
    return None


def _same_permissions(w, who, obj):
    """The target keeps Orders/Tickets on their own account: allowed managers get a save."""
    account = {"own": "own", "ungranted": "ungranted", "foreign": "foreign", "missing": "own"}[obj]
    return {"perm-perms": ["orders_tickets"], "perm-accounts": [w.id("account_id", account)]}


ROUTES = {
    "users.index": {"GET": Case("/users/", _tab())},
    "users.new": {"GET": Case("/users/new", _tab())},
    "users.create": {"POST": Case("/users/new", _tab(), data=_new_user, check=_created)},
    "users.show": {"GET": Case(lambda w, o: f"/users/{w.id('user', o)}",
                               _on_user(200, supervisor_ungranted=200,
                                                       manager_may=True))},
    "users.update_details": {"POST": Case(
        _fresh("details"), _on_user(303),
        data={"first_name": "Renamed", "last_name": "Clerk", "description": "Matrix"})},
    "users.update_permissions": {"POST": Case(_fresh("permissions"), _on_user(303),
                                              data=_same_permissions)},
    "users.reset_password": {"POST": Case(_fresh("reset-password"), _on_user(303))},
    "users.disable": {"POST": Case(_fresh("disable"), _on_user(303))},
    "users.enable": {"POST": Case(_fresh("enable"), _on_user(303))},
    "users.delete": {"POST": Case(_fresh("delete"), _on_user(303))},
    "users.regenerate_key": {"POST": Case(_fresh("api-key"), _on_user(200))},
    # The fresh clerk has no 2FA: an allowed manager is told so (303 back to the user's page).
    "users.reset_two_factor": {"POST": Case(_fresh("two-factor/reset"), _on_user(303))},
}
