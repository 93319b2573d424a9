"""Keeping secrets out of the logs (SECURITY.md S29, ASVS 16.2.5).

Single-use links carry their token in the URL: ``?token=`` for password links, the path for
account confirmation (``/accounts/link/<token>``) and the no-login ticket links (``/s/v/<token>``,
``/s/c/<token>``). An access log line would keep a live link for anyone who reads the log, so
every request line, path, query string and referer is passed through :func:`redact` before it is
written: by gunicorn (:class:`GunicornLogger`, set by ``scripts/serve.py``) and by the development
server (a filter on the ``werkzeug`` logger, installed by :func:`init_app`).
"""
from __future__ import annotations

import logging
import re

from flask import Flask

MASK = "[redacted]"
_QUERY_SECRET = re.compile(r"(?i)((?:^|[?&;])(?:token|key|api_key|code|pin|password)=)[^&;\s\"']*")
_PATH_SECRET = re.compile(r"(/(?:accounts/link|s/[vc])/)(?!tickets/)[^/?#\s\"']+")
_SECRET_HEADERS = ("{cookie}i", "{x-api-key}i", "{authorization}i", "{x-csrftoken}i")


def redact(text: str) -> str:
    """``text`` (a URL, request line or log message) with link tokens and secret query values
    replaced by a mask."""
    if not text:
        return text
    return _PATH_SECRET.sub(r"\1" + MASK, _QUERY_SECRET.sub(r"\1" + MASK, text))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message through :func:`redact` (for the development server's
    request log, whose request line is one of the record's arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def init_app(app: Flask) -> None:
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactingFilter) for f in werkzeug.filters):
        werkzeug.addFilter(RedactingFilter())


try:  # gunicorn is a production dependency; the test suite may import this without it
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = object


class GunicornLogger(_GunicornLogger):  # type: ignore[misc, valid-type]
    """gunicorn's logger with every access-log atom redacted and secret headers dropped."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in _SECRET_HEADERS:
            if name in atoms:
                atoms[name] = MASK
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
