"""Test harness helpers: throwaway PostgreSQL, SMTP sink, live WSGI server, Chromium."""

from __future__ import annotations

import os
import socket

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def skip_or_fail(reason: str, require_env: str) -> None:
    """Skip with ``reason``, or fail if the environment variable ``require_env`` is ``1``.

    Skipping keeps the suite usable on a laptop without the service; CI sets the variable so a
    missing service can never turn into a quietly green run.
    """
    if os.environ.get(require_env) == "1":
        pytest.fail(f"{reason} ({require_env}=1, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)
