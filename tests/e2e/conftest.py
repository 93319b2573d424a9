"""Browser fixtures for the end-to-end tests; every test under tests/e2e/ is marked ``e2e``.

The portal's own app and live-server fixtures live in tests/conftest.py (see
tests/support/live_server.py); this file only knows about the browser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import browser as browsers

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """Mark the tests in this folder ``e2e`` so ``-m "not e2e"`` leaves the browser out."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's outcome on the item, so ``page`` can screenshot failures."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    browsers.require_browser()
    with browsers.launch_browser() as chromium:
        yield chromium


@pytest.fixture
def page(browser, request):
    """A fresh 1400x900 page with its own cookies; on failure its last state is saved as a PNG."""
    page = browsers.new_page(browser)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed and not page.is_closed():
        try:
            browsers.screenshot(page, f"FAILED-{request.node.name}")
        except Exception:  # a crashed page must not hide the test's own error
            pass
    page.context.close()


@pytest.fixture
def shot(page, request):
    """``shot()`` saves the page as artifacts/<test name>.png; ``shot("step")`` adds a suffix."""

    def take(suffix: str = "") -> Path:
        name = request.node.name + (f"-{suffix}" if suffix else "")
        return browsers.screenshot(page, name)

    return take


# --- the portal itself ---------------------------------------------------------------------------

DEMO_PASSWORD = "Demo!!Pass12"


def make_portal_app(db_path: Path, instance: Path):
    """The portal as `make run` serves it (development profile, /dev/mail, CSRF on), migrated
    with Alembic and filled with the demo data; the worker runs tasks inline."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.demo import generator

    app = create_app({
        "ENV": "development",
        "SECRET_KEY": "e2e-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "HUEY_IMMEDIATE": True,
        "RATELIMIT_ENABLED": False,
    })
    app.instance_path = str(instance)
    with app.app_context():
        upgrade()
        generator.generate("demo")
        from portal.extensions import db

        db.session.remove()
    return app


@pytest.fixture(scope="session")
def portal_url(tmp_path_factory):
    """Base URL of a live portal with the demo data, shared by the e2e tests of a session."""
    from tests.support.live_server import live_server

    root = tmp_path_factory.mktemp("portal-e2e")
    app = make_portal_app(root / "portal.db", root / "instance")
    app.config["BASE_URL"] = "http://placeholder"
    with live_server(app) as url:
        app.config["BASE_URL"] = url
        yield url


@pytest.fixture
def log_in(page, portal_url):
    """Log in through the real login page: ``log_in("owner@demo.test")``."""

    def _log_in(email: str, password: str = DEMO_PASSWORD):
        page.goto(portal_url + "/auth/login")
        page.locator("#email").fill(email)
        page.locator("#password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state("networkidle")
        return page

    return _log_in
