"""Serve a WSGI app on 127.0.0.1 from a background thread, for browser and HTTP-level tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """Request handler that keeps werkzeug's per-request log lines out of the test output."""

    def log_request(self, code="-", size="-") -> None:
        pass


@contextmanager
def live_server(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` (any WSGI callable) until the block ends; yield its base URL, no trailing /.

    Port 0 lets the OS pick a free port atomically. ``threaded=True`` so the browser's parallel
    requests (page, CSS, htmx calls) do not queue behind each other.
    """
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
