"""Shared fixtures: an app on a throwaway database, a client, factories, a logged-in client.

Every test that uses ``app`` runs on SQLite; with ``PORTAL_TEST_PG=1`` (``make test``) it runs on
a throwaway PostgreSQL cluster as well (SECURITY.md R12).
"""
from __future__ import annotations

import os

os.environ.setdefault("PORTAL_ENV", "testing")  # before portal.tasks picks its Huey backend

from datetime import datetime, timezone  # noqa: E402

import pytest  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db as _db  # noqa: E402
from tests import factories  # noqa: E402

HX = {"HX-Request": "true"}
HX_BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}


def pytest_generate_tests(metafunc):
    if "db_url" in metafunc.fixturenames:
        backends = ["sqlite"]
        if os.environ.get("PORTAL_TEST_PG") == "1" and "e2e" not in metafunc.definition.keywords:
            backends.append("postgresql")
        metafunc.parametrize("db_backend", backends)


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL cluster per session, with the schema in a template database."""
    from tests.support import pg, skip_or_fail

    if reason := pg.unavailable_reason():
        skip_or_fail(reason, "PORTAL_TEST_PG")
    with pg.throwaway_cluster() as server:
        server.create_database("portal_template")
        schema_app = create_app(_settings(server.url("portal_template")))
        with schema_app.app_context():
            _db.create_all()
            _db.session.remove()
            _db.engine.dispose()  # the template must have no open connections to be copied
        yield server


@pytest.fixture
def db_url(db_backend, tmp_path, request):
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    server = request.getfixturevalue("pg_server")
    with server.temporary_database(template="portal_template") as url:
        yield url


def _settings(db_url: str) -> dict:
    return {
        "ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": db_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "HUEY_IMMEDIATE": True,
        "BASE_URL": "http://portal.test",
        "MAIL_BACKEND": "dev",
    }


@pytest.fixture
def app(db_url, tmp_path):
    """A fresh app and empty schema per test (create_all is fine in tests; migrations are
    checked by their own test)."""
    app = create_app(_settings(db_url))
    app.instance_path = str(tmp_path / "instance")
    with app.app_context():
        if db_url.startswith("sqlite"):
            _db.create_all()  # PostgreSQL databases are copies of a template that has the schema
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def now():
    """A fixed Wednesday noon UTC; tests pass it explicitly (no sleeping, no real clock)."""
    return datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def make(app):
    """Factories bound to the test's app: ``make.owner()``, ``make.clerk(...)``, ``make.sale(...)``…"""
    return factories.Factory()


@pytest.fixture
def login(client):
    """Log ``user`` in through the real login form (password: ``factories.PASSWORD``)."""

    def _login(user, password=factories.PASSWORD, remember=False):
        response = client.post(
            "/auth/login",
            data={"email": user.email, "password": password, "remember": "y" if remember else ""},
        )
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
        return client

    return _login


# --- S20 (GET-IS-SAFE): no GET or HEAD request changes data -------------------------------------

import re  # noqa: E402

# The documented exceptions (SECURITY.md S20 allows session touches and "last seen" columns):
GET_WRITES_ALLOWED = [
    # The session table: the idle timeout needs the time of the last request (written at most
    # once a minute), and a request on a session found expired ends it.
    re.compile(r'^UPDATE "?user_sessions"? SET ', re.I),
    # "Last API use" on the Users tab (at most once a minute per key).
    re.compile(r'^UPDATE "?api_keys"? SET "?last_used_at"?\s*=', re.I),
    re.compile(r'^UPDATE "?users"? SET "?last_api_at"?\s*=', re.I),
    # Security events are audited whatever the method: a signed link opened, or refused.
    re.compile(r'^INSERT INTO "?audit_events"? ', re.I),
    # Mail delivery: the tests run the worker's task inline (HUEY_IMMEDIATE) after the next
    # request when a test queued mail outside one; in production the worker does it. Queueing mail
    # (INSERT INTO outbox) during a GET still counts.
    re.compile(r'^UPDATE "?outbox"? SET ', re.I),
]
_WRITE_RE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.I)
_get_writes: list[tuple[str, str, str]] = []


def _count_get_writes(conn, cursor, statement, parameters, context, executemany):
    from flask import has_request_context, request

    if not has_request_context() or request.method not in ("GET", "HEAD"):
        return
    match = _WRITE_RE.match(statement)
    if match is None or any(allowed.match(statement.lstrip()) for allowed in GET_WRITES_ALLOWED):
        return
    _get_writes.append((match.group(1).split()[0].upper(), match.group(2).lower(),
                        f"{request.method} {request.path}"))


@pytest.fixture(autouse=True)
def get_requests_write_nothing():
    """Every test of the suite doubles as S20: a GET or HEAD that writes fails the test."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "before_cursor_execute", _count_get_writes):
        event.listen(Engine, "before_cursor_execute", _count_get_writes)
    _get_writes.clear()
    yield
    found, _get_writes[:] = list(_get_writes), []
    shown = sorted({f"{verb} {table} during {where[:80]}" for verb, table, where in found})
    assert not found, "GET requests changed data (SECURITY.md S20): " + ", ".join(shown[:5])
