"""HTTP glue shared by every feature: login-by-default, security headers, error pages,
template helpers, the home redirect and the health check."""
from __future__ import annotations

from flask import Blueprint, Flask, abort, g, jsonify, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import text

from portal.extensions import db
from portal.web import errors, logs, templating
from portal.web.decorators import public
from portal.web.htmx import is_htmx

bp = Blueprint("web", __name__)


@bp.get("/")
def home():
    """Send the user to the first tab they may see."""
    for tab in templating.visible_tabs():
        return redirect(url_for(tab["endpoint"]))
    return redirect(url_for("auth.security"))


@bp.get("/healthz")
@public
def healthz():
    """200 when the database answers, 503 with the reason otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        db.session.rollback()
        return jsonify(status="error", reason=f"database: {exc.__class__.__name__}"), 503
    return jsonify(status="ok")


def _is_public_endpoint() -> bool:
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":
        return True  # unknown URLs fall through to the 404 handler
    view = request.url_rule and request.url_rule.endpoint and _view_for(endpoint)
    return bool(getattr(view, "_public", False))


def _view_for(endpoint: str):
    from flask import current_app

    view = current_app.view_functions.get(endpoint)
    # @require wraps the view; @public may sit inside or outside it.
    while view is not None:
        if getattr(view, "_public", False):
            return view
        view = getattr(view, "__wrapped__", None)
    return None


def _fresh_request_state():
    """Who is logged in and what they may do is computed per request, never carried over (an app
    context can outlive a request, e.g. in tests or CLI calls)."""
    g.pop("_login_user", None)
    g.pop("principal", None)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _refuse_nul_bytes():
    """A NUL byte in the path, a query or form value or a JSON string is never meaningful, and
    PostgreSQL refuses it in text columns (a 500 deep in a query): answer 400 before anything
    reads it."""
    if "\x00" in request.path or any(
        _has_nul(k) or _has_nul(v) for k, v in request.args.items(multi=True)
    ):
        abort(400)
    if request.mimetype in FORM_TYPES and any(
        _has_nul(k) or _has_nul(v) for k, v in request.form.items(multi=True)
    ):
        abort(400)
    if request.is_json and _has_nul(request.get_json(silent=True)):
        abort(400)


def _require_login():
    if _is_public_endpoint() or current_user.is_authenticated:
        return None
    abort(401)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def _headers(response):
    response.vary.add("HX-Request")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
    if current_user and current_user.is_authenticated or request.path.startswith(("/api/", "/s/")):
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(_fresh_request_state)
    app.before_request(_refuse_nul_bytes)
    app.before_request(_require_login)
    app.after_request(_headers)
    errors.init_app(app)
    logs.init_app(app)
    templating.init_app(app)


__all__ = ["bp", "init_app", "public", "is_htmx"]
