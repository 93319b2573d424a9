"""Playwright (sync API) driving Debian's Chromium; browsers are never downloaded.

Without Chromium the browser tests are skipped, unless ``PORTAL_REQUIRE_BROWSER=1`` (set by
``make test``) turns the skip into a failure. ``PORTAL_CHROMIUM`` may name another executable.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import skip_or_fail

REQUIRE_ENV = "PORTAL_REQUIRE_BROWSER"
ARTIFACTS = Path(__file__).resolve().parent.parent / "e2e" / "artifacts"
VIEWPORT = {"width": 1400, "height": 900}
DEFAULT_TIMEOUT_MS = 10_000  # fail a missing element in seconds, not Playwright's 30 s
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The Chromium executable to drive, or None."""
    return shutil.which(os.environ.get("PORTAL_CHROMIUM") or "chromium")


def unavailable_reason() -> str | None:
    """Why no browser can be driven here, or None when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not chromium_path():
        wanted = os.environ.get("PORTAL_CHROMIUM") or "chromium"
        return f"{wanted} not found (apt-get install chromium; make test does)"
    return None


def require_browser() -> None:
    """Skip the calling test or fixture without a browser (fail if PORTAL_REQUIRE_BROWSER=1)."""
    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason, REQUIRE_ENV)


@contextmanager
def launch_browser() -> Iterator:
    """A headless Chromium ``Browser``; Playwright gives it a fresh temporary profile."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError(unavailable_reason() or "chromium not found")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, **context_options):
    """A page in its own context (cookies, storage), 1400x900; close it with ``page.context``."""
    context = browser.new_context(viewport=VIEWPORT, **context_options)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    return context.new_page()


def artifact_name(name: str) -> str:
    """A file-name-safe version of a test id such as ``test_x[owner-htmx]``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "screenshot"


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG as ``tests/e2e/artifacts/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{artifact_name(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_htmx(page) -> None:
    """Wait until no htmx request, swap or settle is under way on ``page``.

    ``wait_for_load_state("networkidle")`` does not do this: once a page has been idle it counts
    as reached, and htmx pushes the new URL before its settle step puts the swapped elements'
    classes back (about 20 ms later)."""
    from playwright.sync_api import expect

    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")).to_have_count(0)
