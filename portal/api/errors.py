"""Errors of the JSON API: every answer under /api/v1 that is not a success is
``{"error": {"code": "...", "message": "..."}}`` with ``Content-Type: application/json`` -- from
our own refusals, from Werkzeug (404, 405, 413), from the rate limiter (429) and from crashes
(500).

Routes of this blueprint raise :class:`ApiError`; the blueprint's handlers below turn it (and
any other HTTP error raised while one of its views runs) into JSON. URLs under /api/ that match no
route never reach the blueprint: ``portal.web.errors`` answers those in the same JSON shape.
"""
from __future__ import annotations

import logging

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from portal.extensions import db
from portal.web.errors import MESSAGES, error_code

log = logging.getLogger(__name__)


class ApiError(HTTPException):
    """A refusal with a stable machine-readable ``error_code``, a sentence for people and, for
    some errors, more members of the ``error`` object (``fields`` of a 422, the current
    ``ticket`` of a 409)."""

    def __init__(self, status: int, error_code: str, message: str, **extra):
        super().__init__(description=message)
        self.code = status
        self.error_code = error_code
        self.message = message
        self.extra = extra


# The API's sentence for each status raised by Werkzeug, the policy loaders or the limiter. A
# missing object and one outside the key's accounts get the same 404 (SECURITY.md S2).
API_MESSAGES = {
    400: "The request could not be understood.",
    401: "Send a valid API key in the X-API-Key header.",
    403: "This key's user may not do this.",
    404: "Not found (or not visible to this key).",
    413: "The request body is too large.",
    429: "Too many requests. Please wait a little and try again.",
    500: "An unexpected error happened. Nothing was saved; please try again.",
}


def not_found() -> "ApiError":
    return ApiError(404, "not_found", API_MESSAGES[404])


def error_body(status: int, code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def json_error(status: int, code: str, message: str, **extra):
    response = jsonify(error_body(status, code, message, **extra))
    response.status_code = status
    return response


def _from_http(exc: HTTPException):
    if isinstance(exc, ApiError):
        return json_error(exc.code, exc.error_code, exc.message, **exc.extra)
    status = exc.code or 500
    message = API_MESSAGES.get(status) or MESSAGES.get(status, ("", "Something went wrong."))[1]
    if status == 405:
        message = f"{request.method} is not allowed here."
    response = json_error(status, error_code(status), message)
    headers = dict(exc.get_headers())
    for name in ("Allow", "Retry-After"):  # 405 says what is allowed; 429 when to come back
        if headers.get(name):
            response.headers[name] = headers[name]
    return response


def _crash(exc: Exception):
    if isinstance(exc, HTTPException):
        return _from_http(exc)
    db.session.rollback()
    log.exception("Unhandled error on API %s %s", request.method, request.path)
    return json_error(500, "server_error", API_MESSAGES[500])


def register(bp) -> None:
    """Blueprint-level handlers: they win over the app's HTML error pages for API routes."""
    bp.register_error_handler(HTTPException, _from_http)
    bp.register_error_handler(Exception, _crash)
