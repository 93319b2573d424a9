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
