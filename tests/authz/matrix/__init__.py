"""The authorization matrix (SECURITY.md S1): for every route in ``app.url_map`` and every HTTP
method, the status each principal gets, per object kind for routes about one object.

Each feature owns one data module here (``web.py``, ``auth.py``, ``tickets.py`` …) defining
``ROUTES = {endpoint: {method: Case(...)}}``; ``tests/authz/test_matrix.py`` walks them all. See
README.md in this folder for how to add a feature's routes.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

# Who asks. Every Case must say what each of them gets (deny by default: nothing is implied).
PRINCIPALS = (
    "anon",         # no session
    "owner",        # owner of Master Account A (accounts A1, A2)
    "other_owner",  # owner of Master Account B (account B1)
    "clerk",        # Orders/Tickets on A1
    "searcher",     # Orders/Tickets + Search Orders on A1
    "supervisor",   # Orders/Tickets + Search Orders + Manage Users on A1
    "refunder",     # Orders/Tickets + Refund authority on A1
    "search_only",  # Search Orders alone on A1
    "manager",      # Manage Users alone on A1
    "refund_only",  # Refund authority alone on A1
    "api_reader",   # a web user with API Read alone on A1 (no permission for any tab)
    "disabled",     # Orders/Tickets on A1; logged in, then disabled
    "api_only",     # API-only user (API Read + Read/Write on A1); holds a forged web session
)
# About what: the object of an account granted to the A clerks (A1), of an account of A that no
# clerk was granted (A2), of Master Account B (B1), and an id that does not exist.
OBJECTS = ("own", "ungranted", "foreign", "missing")

GUESTS = ("anon", "disabled", "api_only")  # no live web session: bounced to the login page
CLERKS = ("clerk", "searcher", "supervisor", "refunder")
# Clerks holding one permission alone (Orders/Tickets alone is ``clerk``).
SINGLES = ("search_only", "manager", "refund_only", "api_reader")
OWNERS = ("owner", "other_owner")
ALL_CLERKS = CLERKS + SINGLES  # every logged-in clerk, whatever they hold
LOGGED_IN = OWNERS + ALL_CLERKS

LOGIN = "login"  # 302 to /auth/login (an htmx request gets 401 with HX-Redirect instead)

Status = Union[int, str]
Expect = Mapping[str, Union[Status, Mapping[str, Status]]]


@dataclass(frozen=True)
class Case:
    """One route and method.

    ``url``: a path, or ``url(world, obj)`` for routes about one object (``obj`` is one of
    OBJECTS; use ``world.id(collection, obj)`` or ``world.fresh(collection, obj)``); with
    ``objects=False`` a callable url is asked once with ``obj=None``.
    ``expect``: principal -> status, or principal -> {obj: status} (or one status for all objects)
    for object routes. ``data``: form fields, or ``data(world, principal, obj)``.
    ``headers``: extra headers, or ``headers(world, principal)`` (e.g. an API key).
    ``fresh_session``: the request ends or changes the session (logout), so each cell gets a
    session of its own. ``check(world, principal, obj, response)`` may return a message when a
    response has the right status but the wrong content. ``csrf_exempt``: a write route that
    does not use the session cookie (the JSON API); every other write route must refuse a
    request without a CSRF token.
    """

    url: str | Callable[..., str]
    expect: Expect
    data: Mapping[str, Any] | Callable[..., Mapping[str, Any]] | None = None
    headers: Mapping[str, str] | Callable[..., Mapping[str, str]] | None = None
    fresh_session: bool = False
    check: Callable[..., str | None] | None = None
    csrf_exempt: bool = False  # only for routes authenticated by an API key (never a cookie)
    objects: bool | None = None  # run once per OBJECTS kind; default: when ``url`` is callable

    @property
    def per_object(self) -> bool:
        return callable(self.url) if self.objects is None else self.objects


# --- helpers for writing expectations ---------------------------------------------------------


def each(principals: Iterable[str], status) -> dict:
    """The same status (or per-object mapping) for several principals."""
    return {p: status for p in principals}


def objs(own: Status, ungranted: Status, foreign: Status, missing: Status = 404) -> dict:
    """Per-object statuses for one principal."""
    return {"own": own, "ungranted": ungranted, "foreign": foreign, "missing": missing}


def public(status: Status) -> dict:
    """A page anyone gets (no login needed)."""
    return each(PRINCIPALS, status)


def logged_in(status, **overrides) -> dict:
    """``status`` for every logged-in principal, LOGIN for the guests; ``overrides`` per
    principal (e.g. ``clerk=403``)."""
    table = {**each(GUESTS, LOGIN), **each(LOGGED_IN, status)}
    unknown = set(overrides) - set(PRINCIPALS)
    if unknown:
        raise ValueError(f"unknown principals: {sorted(unknown)}")
    table.update(overrides)
    return table


def scoped(ok: Status, *, allowed: Iterable[str], denied: Status = 403,
           coarse: Iterable[str] = ()) -> dict:
    """An object route on account-scoped objects (tickets, transactions) behind ``load_or_404``:
    principals in ``allowed`` get ``ok`` on what they can see and 404 on the rest; other
    logged-in principals get ``denied`` on what they can see (404 elsewhere), or ``denied``
    everywhere when a coarse ``@require`` check refuses them first (``coarse``)."""
    allowed, coarse = set(allowed), set(coarse)
    visible = {
        "owner": {"own", "ungranted"}, "other_owner": {"foreign"},
        **{c: {"own"} for c in CLERKS + SINGLES},
    }
    table: dict = each(GUESTS, LOGIN)
    for who in LOGGED_IN:
        if who in coarse:
            table[who] = denied
            continue
        hit = ok if who in allowed else denied
        table[who] = {o: (hit if o in visible[who] else 404) for o in OBJECTS}
    return table


# --- loading every feature's file ---------------------------------------------------------------


def collect() -> tuple[dict[str, dict[str, Case]], dict[str, str], dict[str, Callable]]:
    """All ROUTES of every module in this package: ({endpoint: {method: Case}}, {endpoint: file},
    {collection: builder}) -- a module may also define ``BUILDERS = {collection: fn(world, obj)}``
    for objects of its own. An endpoint or collection listed by two files is an error."""
    routes: dict[str, dict[str, Case]] = {}
    owners: dict[str, str] = {}
    builders: dict[str, Callable] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        table = getattr(module, "ROUTES", None)
        if not isinstance(table, dict):
            raise TypeError(f"tests/authz/matrix/{info.name}.py must define ROUTES = {{...}}")
        for endpoint, methods in table.items():
            if endpoint in routes:
                raise ValueError(f"{endpoint} is in both {owners[endpoint]} and {info.name}.py")
            routes[endpoint] = {m.upper(): case for m, case in methods.items()}
            owners[endpoint] = f"{info.name}.py"
        for collection, builder in getattr(module, "BUILDERS", {}).items():
            if collection in builders:
                raise ValueError(f"collection {collection!r} is built by two files")
            builders[collection] = builder
    return routes, owners, builders
