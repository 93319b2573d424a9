"""S1 AUTHZ-MATRIX: every route of ``app.url_map``, every method, every principal, every object
kind gets exactly the status that ``tests/authz/matrix/*.py`` expects.

A route without an entry fails ``test_every_route_is_in_the_matrix`` (naming it); an entry for a
route that no longer exists fails too. One app and one data set serve the whole module (per
database backend); cells that change data act on objects made for them.

A feature file may list application bugs it found in ``KNOWN_BUGS`` (see ``_known_bugs``): the
row keeps the correct status, and only those cells are let off (the test xfails) until the fix.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import pytest

from portal import create_app
from portal.extensions import db
from tests.authz import matrix
from tests.authz.matrix import LOGIN, OBJECTS, PRINCIPALS, Case
from tests.authz.matrix._world import World, build, forge_session
from tests.conftest import HX, _settings

ROUTES, FILES, BUILDERS = matrix.collect()


def _known_bugs() -> dict[tuple, str]:
    """``KNOWN_BUGS`` of every feature file: {(endpoint, method, principal, obj, variant):
    reason}, ``obj`` None for routes without objects, ``variant`` "page" (test_route) or "htmx"
    (test_route_from_htmx). The row keeps the *correct* expectation; a listed cell that answers
    otherwise makes its test xfail (after every other cell passed), and a listed cell that
    answers correctly fails the test until it is taken off the list. Only for application bugs
    reported to the lead, never to make a wrong expectation pass."""
    bugs: dict[tuple, str] = {}
    for info in pkgutil.iter_modules(matrix.__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"{matrix.__name__}.{info.name}")
            bugs.update(getattr(module, "KNOWN_BUGS", {}))
    return bugs


KNOWN_BUGS = _known_bugs()
CASES = sorted((endpoint, method) for endpoint, methods in ROUTES.items() for method in methods)
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}  # answered by Werkzeug from GET / the rule itself
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
NO_EXPECTATION = object()


def _backends() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get("PORTAL_TEST_PG") == "1":
        backends.append("postgresql")
    return backends


@pytest.fixture(scope="module", params=_backends())
def world(request, tmp_path_factory):
    """The portal (development profile: /dev/mail exists) on its own database, with the
    matrix's data and a logged-in client per principal."""
    root = tmp_path_factory.mktemp("matrix")
    if request.param == "sqlite":
        yield from _world(f"sqlite:///{root / 'matrix.db'}", root, create=True)
    else:
        server = request.getfixturevalue("pg_server")
        with server.temporary_database(template="portal_template") as url:
            yield from _world(url, root, create=False)


def _world(url: str, root, *, create: bool):
    app = create_app({**_settings(url), "ENV": "development"})
    app.instance_path = str(root / "instance")
    with app.app_context():
        if create:
            db.create_all()
        db.session.remove()
    world = build(app)
    for collection, builder in BUILDERS.items():
        world.register(collection, builder)
    yield world
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- running one cell -----------------------------------------------------------------------------


def expected(case: Case, who: str, obj: str | None):
    value = case.expect.get(who, NO_EXPECTATION)
    if isinstance(value, Mapping):
        return value.get(obj, NO_EXPECTATION) if obj else NO_EXPECTATION
    return value


def request(world: World, case: Case, method: str, who: str, obj: str | None, *, hx=False,
            client=None):
    url = case.url(world, obj) if callable(case.url) else case.url
    data = case.data(world, who, obj) if callable(case.data) else case.data
    headers = dict((case.headers(world, who) if callable(case.headers) else case.headers) or {})
    if hx:
        headers.update(HX)
    if client is None:
        client = world.clients[who]
        if case.fresh_session:
            client = world.app.test_client()
            forge_session(world, client, who)
    response = client.open(url, method=method, data=data, headers=headers)
    if response.status_code in (301, 302, 303) and who != "anon":
        with client.session_transaction() as state:  # a message meant for the next page
            state.pop("_flashes", None)
    return response


def mismatch(want, response) -> str | None:
    """Why ``response`` is not ``want`` (None when it is)."""
    location = response.headers.get("Location", "")
    path = urlsplit(location).path
    got = f"{response.status_code}" + (f" -> {location}" if location else "")
    if want == LOGIN:
        if response.status_code == 302 and path == "/auth/login":
            return None
        return f"expected the login redirect, got {got}"
    if response.status_code != want:
        return f"expected {want}, got {got}"
    if want == 302 and path == "/auth/login":
        return "expected a 302 into the portal, got the login redirect"
    return None


def cells(case: Case):
    for who in PRINCIPALS:
        for obj in (OBJECTS if case.per_object else (None,)):
            yield who, obj


# --- the tests ------------------------------------------------------------------------------------


def test_every_route_is_in_the_matrix(world):
    """A route added without an entry in tests/authz/matrix/*.py fails here, by name."""
    missing = []
    for rule in world.app.url_map.iter_rules():
        for method in sorted(rule.methods - IMPLICIT_METHODS):
            if method not in ROUTES.get(rule.endpoint, {}):
                missing.append(f"  {rule.endpoint} {method} {rule.rule}")
    assert not missing, (
        "These routes have no entry in the authorization matrix (tests/authz/matrix/<feature>.py, "
        "see README.md there):\n" + "\n".join(sorted(missing))
    )


def test_no_matrix_entry_for_a_route_that_does_not_exist(world):
    known = {(r.endpoint, m) for r in world.app.url_map.iter_rules() for m in r.methods}
    stale = [f"  {e} {m} ({FILES[e]})" for e, m in CASES if (e, m) not in known]
    assert not stale, "Matrix entries for routes that do not exist:\n" + "\n".join(stale)


def test_every_entry_says_what_every_principal_gets():
    """Deny by default: nothing is implied, every cell is written down."""
    problems = []
    for endpoint, method in CASES:
        case = ROUTES[endpoint][method]
        unknown = set(case.expect) - set(PRINCIPALS)
        if unknown:
            problems.append(f"{endpoint} {method}: unknown principals {sorted(unknown)}")
        for who, obj in cells(case):
            if expected(case, who, obj) is NO_EXPECTATION:
                problems.append(f"{endpoint} {method}: nothing for {who}{' / ' + obj if obj else ''}")
    assert not problems, "\n".join(problems)


TOKEN_RE = re.compile(r"[A-Za-z0-9._-]{40,}")  # CSRF tokens are signed with a timestamp


@pytest.mark.parametrize("endpoint, method", CASES, ids=[f"{e}:{m}" for e, m in CASES])
def test_route(world, endpoint, method):
    case = ROUTES[endpoint][method]
    problems, known = [], []
    not_found: dict[str, dict[str, str]] = {}
    for who, obj in cells(case):
        want = expected(case, who, obj)
        response = request(world, case, method, who, obj)
        problem = mismatch(want, response)
        if problem is None and case.check is not None:
            problem = case.check(world, who, obj, response)
        problem = _known(endpoint, method, who, obj, "page", problem, known)
        if problem:
            problems.append(f"  {who:<12} {obj or '-':<10} {problem}")
        elif want == 404 and obj in ("foreign", "missing"):
            not_found.setdefault(who, {})[obj] = TOKEN_RE.sub("TOKEN", response.get_data(as_text=True))
    # S2: another Master Account's object and one that does not exist cannot be told apart.
    for who, bodies in not_found.items():
        if len(bodies) == 2 and bodies["foreign"] != bodies["missing"]:
            problems.append(f"  {who:<12} foreign    answers differently from a missing id")
    assert not problems, f"{endpoint} {method} ({FILES[endpoint]}):\n" + "\n".join(problems)
    _xfail_known(known)


@pytest.mark.parametrize("endpoint, method", CASES, ids=[f"{e}:{m}" for e, m in CASES])
def test_route_from_htmx(world, endpoint, method):
    """The same refusals for htmx requests: 401 with HX-Redirect instead of the login redirect,
    403/404 as fragments aimed at the page's alert area."""
    case = ROUTES[endpoint][method]
    problems, known = [], []
    for who, obj in cells(case):
        want = expected(case, who, obj)
        if want not in (LOGIN, 403, 404):
            continue
        response = request(world, case, method, who, obj, hx=True)
        if want == LOGIN:
            ok = (response.status_code == 401
                  and response.headers.get("HX-Redirect", "").startswith("/auth/login"))
        else:
            ok = response.status_code == want and (
                endpoint == "static" or "<html" not in response.get_data(as_text=True).lower()
            )
        problem = None if ok else (
            f"expected {want}{'' if want == LOGIN else ' as a fragment'}, "
            f"got {response.status_code} " + ("(a whole page)" if response.status_code == want
                                              else response.headers.get("HX-Redirect", "")))
        problem = _known(endpoint, method, who, obj, "htmx", problem, known)
        if problem:
            problems.append(f"  {who:<12} {obj or '-':<10} {problem}")
    assert not problems, f"{endpoint} {method} from htmx ({FILES[endpoint]}):\n" + "\n".join(problems)
    _xfail_known(known)


def _known(endpoint, method, who, obj, variant, problem, known):
    """A cell listed in KNOWN_BUGS: its failure is remembered (not a problem); its success is
    a problem (the bug is fixed: take it off the list)."""
    reason = KNOWN_BUGS.get((endpoint, method, who, obj, variant))
    if reason is None:
        return problem
    if problem is None:
        return f"answers as expected now: remove it from KNOWN_BUGS ({reason})"
    known.append((reason, f"{who}/{obj or '-'}: {problem}"))
    return None


def _xfail_known(known: list[tuple[str, str]]) -> None:
    """xfail (after every other cell passed) naming each known bug once, with its cells."""
    if known:
        cells_of: dict[str, list[str]] = {}
        for reason, cell in known:
            cells_of.setdefault(reason, []).append(cell)
        pytest.xfail("known application bug: " + "; ".join(
            f"{reason} [{', '.join(cells)}]" for reason, cells in cells_of.items()))


def test_known_bugs_name_real_cells():
    """Every KNOWN_BUGS entry names a cell of the matrix that is run in that variant."""
    wrong = []
    for (endpoint, method, who, obj, variant), reason in KNOWN_BUGS.items():
        case = ROUTES.get(endpoint, {}).get(method)
        if case is None or (who, obj) not in set(cells(case)) or variant not in ("page", "htmx") \
                or not reason:
            wrong.append(f"  {endpoint} {method} {who} {obj} {variant}")
        elif variant == "htmx" and expected(case, who, obj) not in (LOGIN, 403, 404):
            wrong.append(f"  {endpoint} {method} {who} {obj} htmx (not a refusal: never run)")
    assert not wrong, "KNOWN_BUGS entries that name no cell:\n" + "\n".join(wrong)


def test_every_write_route_refuses_a_request_without_csrf_token(world):
    """S19: with CSRF protection on (as in production), no write route accepts a request without
    the token -- from the owner, a clerk, or nobody."""
    world.app.config["WTF_CSRF_ENABLED"] = True
    problems, exempt = [], []
    try:
        for endpoint, method in CASES:
            if method not in WRITE_METHODS:
                continue
            case = ROUTES[endpoint][method]
            if case.csrf_exempt:
                exempt.append(endpoint)
                # Exempt because a cookie cannot authenticate it: the owner's logged-in browser
                # session, without the API key header, is refused.
                url = case.url(world, "own") if callable(case.url) else case.url
                response = _client_for(world, "owner").open(
                    url, method=method, data="{}", headers={"Content-Type": "application/json"})
                if response.status_code != 401:
                    problems.append(f"  {endpoint} {method} with a session and no key: "
                                    f"{response.status_code}")
                continue
            for who in ("anon", "owner", "supervisor"):
                obj = "own" if case.per_object else None
                response = request(world, case, method, who, obj, client=_client_for(world, who))
                if response.status_code != 400:
                    problems.append(f"  {endpoint} {method} as {who}: {response.status_code}")
    finally:
        world.app.config["WTF_CSRF_ENABLED"] = False
    assert not problems, "Write routes that accepted a request without a CSRF token:\n" + "\n".join(problems)
    # The documented exempt list (SECURITY.md S19): the JSON API's write routes, authenticated by
    # the X-API-Key header only, and nothing else.
    api_writes = sorted({e for e, m in CASES if e.startswith("api.") and m in WRITE_METHODS})
    assert sorted(exempt) == api_writes, f"Only API-key routes may skip CSRF, got {exempt}"


def _client_for(world: World, who: str):
    client = world.app.test_client()
    forge_session(world, client, who)
    return client


def test_principals_are_what_the_matrix_says(world):
    """The harness itself: the disabled clerk and the API-only user really hold a session row,
    and it is still refused; the others are really logged in."""
    assert world.clients["owner"].get("/auth/security").status_code == 200
    for who in ("disabled", "api_only"):
        with world.clients[who].session_transaction() as state:
            assert state.get("_user_id"), who
        assert world.clients[who].get("/auth/security").status_code == 302
