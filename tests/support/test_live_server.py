"""The live server serves a WSGI app over real HTTP, concurrently, and stops cleanly."""

from __future__ import annotations

import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from tests.support.live_server import live_server


def test_serves_concurrent_requests_and_shuts_down():
    """Two requests that each wait for the other only finish if the server is threaded."""
    app = Flask(__name__)
    barrier = threading.Barrier(2, timeout=5)

    @app.get("/meet")
    def meet():
        barrier.wait()
        return "met"

    with live_server(app) as url:
        assert url.startswith("http://127.0.0.1:")
        with ThreadPoolExecutor(2) as pool:
            fetch = lambda _: urllib.request.urlopen(f"{url}/meet", timeout=10).read()  # noqa: E731
            bodies = list(pool.map(fetch, range(2)))
        assert bodies == [b"met", b"met"]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/meet", timeout=2)
