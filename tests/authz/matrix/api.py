"""Matrix entries of the JSON API (/api/v1).

Only the ``X-API-Key`` header authenticates: the principals holding a key (``owner``,
``other_owner``, ``api_only``) send theirs; every other principal sends none and gets 401 --
their browser session cookie does not count under /api/. Objects are scoped as on the web: the
owner sees A1 and A2, the other owner B1, the API-only user (API Read + Read/Write on A1) A1;
anything else is 404, the same as a missing id. The OpenAPI document is public. Write routes
take JSON bodies and are CSRF-exempt (authenticated by the header, never by a cookie).

New principals of the matrix fall into ``UNKEYED`` automatically (401 everywhere) unless they
are given a key in ``_world.py``; then add them to ``KEYED`` and ``VISIBLE``.
"""
from __future__ import annotations

import json

from tests.authz.matrix import OBJECTS, PRINCIPALS, Case, each, public

KEYED = ("owner", "other_owner", "api_only")
UNKEYED = tuple(p for p in PRINCIPALS if p not in KEYED)
VISIBLE = {"owner": {"own", "ungranted"}, "other_owner": {"foreign"}, "api_only": {"own"}}
WRITERS = KEYED  # every keyed principal holds API Read/Write (the owner holds everything)
COMMENT = "Matrix check through the API."


def headers(w, who):
    sent = {"Content-Type": "application/json"}
    if who in w.api_keys:
        sent["X-API-Key"] = w.api_keys[who]
    return sent


def keyed(status) -> dict:
    """``status`` for every principal with a key, 401 for the rest."""
    return {**each(UNKEYED, 401), **each(KEYED, status)}


def api_scoped(ok, *, allowed=KEYED, denied=403) -> dict:
    """An object route: ``ok`` where a key's user may see the object, 404 elsewhere; 401
    without a key."""
    table: dict = each(UNKEYED, 401)
    for who in KEYED:
        hit = ok if who in allowed else denied
        table[who] = {o: (hit if o in VISIBLE[who] else 404) for o in OBJECTS}
    return table


def ticket_url(suffix: str = "", collection: str = "ticket", fresh: bool = True):
    def url(w, o):
        number = w.fresh(collection, o) if fresh else w.id(collection, o)
        return f"/api/v1/tickets/{number}{suffix}"

    return url


def body(**fields):
    return lambda w, who, o: json.dumps({"comment": COMMENT, **fields})


def _open_body(w, who, o):
    return json.dumps({"transaction": w.fresh("transaction", o), "comment": COMMENT})


ROUTES = {
    "api.spec": {"GET": Case("/api/v1/openapi.json", public(200), headers=headers)},
    "api.me": {"GET": Case("/api/v1/me", keyed(200), headers=headers)},
    "api.accounts": {"GET": Case("/api/v1/accounts", keyed(200), headers=headers)},
    "api.tickets": {"GET": Case("/api/v1/tickets", keyed(200), headers=headers)},
    "api.transactions": {"GET": Case("/api/v1/transactions", keyed(200), headers=headers)},
    "api.ticket": {"GET": Case(ticket_url(fresh=False), api_scoped(200), headers=headers)},
    "api.transaction": {"GET": Case(
        lambda w, o: f"/api/v1/transactions/{w.id('transaction', o)}", api_scoped(200),
        headers=headers)},
    "api.open_ticket": {"POST": Case(
        lambda w, o: "/api/v1/tickets", api_scoped(201, allowed=WRITERS), objects=True,
        data=_open_body, headers=headers, csrf_exempt=True)},
    "api.comment": {"POST": Case(
        ticket_url("/comments"), api_scoped(201, allowed=WRITERS), data=body(),
        headers=headers, csrf_exempt=True)},
    "api.close": {"POST": Case(
        ticket_url("/close"), api_scoped(200, allowed=WRITERS), data=body(),
        headers=headers, csrf_exempt=True)},
    "api.reopen": {"POST": Case(
        ticket_url("/reopen", collection="closed_ticket"), api_scoped(200, allowed=WRITERS),
        data=body(), headers=headers, csrf_exempt=True)},
    "api.change_type": {"POST": Case(
        ticket_url("/type", collection="refund_ticket"), api_scoped(200, allowed=WRITERS),
        data=body(to="tech_support", customer_agreed=True), headers=headers, csrf_exempt=True)},
}
