"""Error answers: a full page for browsers, a small fragment (retargeted to the page's alert
area) for htmx, JSON under /api/. Never a stack trace."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.extensions import db
from portal.web.htmx import is_htmx

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Please go back and try again."),
    401: ("Please log in", "Your session has ended. Please log in again."),
    403: ("Not allowed", "You do not have permission to do that."),
    404: ("Not found", "There is nothing here. The link may be old or mistyped."),
    405: ("Not allowed", "That method is not allowed here."),
    409: ("Changed meanwhile", "Someone else changed this in the meantime."),
    413: ("Too large", "What you sent is too large."),
    429: ("Slow down", "Too many attempts. Please wait a little and try again."),
    500: ("Something went wrong", "An unexpected error happened. Nothing was saved; please try again."),
    503: ("Unavailable", "The service is temporarily unavailable. Please try again shortly."),
}


def error_code(status: int) -> str:
    return {
        400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
        405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid",
        429: "rate_limited", 500: "server_error", 503: "unavailable",
    }.get(status, "error")


def alert_fragment(status: int, title: str, message: str):
    """An error for an htmx (fragment) request: an alert swapped into the page's alert area."""
    body = render_template("errors/_alert.html", status=status, title=title, message=message)
    return body, status, {"HX-Retarget": "#page-alerts", "HX-Reswap": "afterbegin"}


def _respond(status: int, message: str | None = None):
    title, default = MESSAGES.get(status, ("Error", "Something went wrong."))
    message = message or default
    if request.path.startswith("/api/"):
        return jsonify(error={"code": error_code(status), "message": message}), status
    if status == 401:
        login = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
        if is_htmx():
            return "", 401, {"HX-Redirect": login}
        return "", 302, {"Location": login}
    if is_htmx():
        return alert_fragment(status, title, message)
    return render_template("errors/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return _respond(400, "Your form expired or was sent from elsewhere. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        description = exc.description if exc.code in (409, 422) or getattr(exc, "_portal_message", False) else None
        return _respond(exc.code or 500, description)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http(exc)
        db.session.rollback()
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return _respond(500)
