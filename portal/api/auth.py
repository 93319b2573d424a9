"""Who is calling the API: an ``X-API-Key`` header, checked on every request.

- The key is read from the header only. A key-like parameter in the query string, the form or the
  JSON body is refused (401) without being looked up: a key in a URL ends up in logs, browser
  history and Referer headers (ASVS 14.2.1).
- ``apikeys.authenticate`` finds the live key's user and refuses revoked keys, disabled, deleted
  or unconfirmed users and users without API Read or API Read/Write -- so a change on the Users
  tab takes effect at the next request. The principal is built fresh per request with
  ``via_api=True``: the one policy (``authz.policy._can_api``) decides the rest.
- Every refusal is one structured log line (JSON, UTC, no key).
- The browser's session cookie plays no part: under /api/ the session is neither read nor
  written (:class:`ApiSessionInterface`), so a logged-in browser cannot be used to call the API
  (no CSRF through the API) and no API response sets a cookie.
"""
from __future__ import annotations

import json
import logging
from functools import wraps

from flask import current_app, g, request
from flask.sessions import SecureCookieSession
from flask_limiter.util import get_remote_address

from portal.api.errors import ApiError
from portal.authz.permissions import Action
from portal.authz.policy import Principal, can
from portal.authz.scope import principal_for
from portal.extensions import db
from portal.types import utcnow
from portal.users import apikeys

log = logging.getLogger("portal.api.auth")

PREFIX = "/api/"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Names under which a client might put a key where it must never be: refused, never looked up.
KEY_PARAMETERS = frozenset(
    {"api_key", "apikey", "api-key", "x-api-key", "x_api_key", "key", "access_token", "token"}
)

MESSAGES = {
    "missing_key": "Send your API key in the X-API-Key header.",
    "key_in_url": "Send the API key in the X-API-Key header only, never in the URL or the body. "
    "Treat this key as exposed: regenerate it on the Users tab.",
    "invalid_key": "This API key is not valid (unknown or revoked, or its user may not use the "
    "API).",
}


def public(view):
    """An API route anyone may read without a key (the OpenAPI document). Also tells the
    portal's login check to leave every API route to this module."""
    view._public = True
    view._api_public = True
    return view


def keyed(view):
    """An API route that needs a key (checked in :func:`authenticate_request`). Marked public
    for the portal's *session* login check, which does not apply under /api/."""
    view._public = True
    return view


def writes(view):
    """An API route that changes data: the key's user needs API Read/Write."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not can(current(), Action.API_WRITE):
            raise ApiError(
                403, "read_only_key", "This key may only read: its user needs API Read/Write."
            )
        return view(*args, **kwargs)

    wrapped._public = True
    return wrapped


def current() -> Principal:
    """The principal of this API request (set by :func:`authenticate_request`)."""
    return g.principal


def current_user():
    return g.api_user


def _key_elsewhere() -> bool:
    """Whether a key-like parameter came in the query string, a form or the JSON body."""
    if any(name.lower() in KEY_PARAMETERS for name in request.args):
        return True
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if any(name.lower() in KEY_PARAMETERS for name in request.form):
            return True
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and any(
            isinstance(name, str) and name.lower() in KEY_PARAMETERS for name in body
        ):
            return True
    return False


def _refuse(reason: str):
    """Log one structured line (no key, no secret; JSON keeps a hostile path on one line) and
    answer 401."""
    log.warning(
        json.dumps(
            {
                "event": "api.auth_failed",
                "at": utcnow().isoformat(),
                "reason": reason,
                "ip": request.remote_addr,
                "method": request.method,
                "path": request.path[:200],
                "key_sent": apikeys.HEADER in request.headers,
            },
            sort_keys=True,
        )
    )
    raise ApiError(401, reason, MESSAGES[reason])


def authenticate_request():
    """``before_request`` of the API blueprint."""
    g.api_user = None
    g.principal = None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "_api_public", False):
        return None
    if _key_elsewhere():
        _refuse("key_in_url")
    plaintext = apikeys.key_from_headers(request.headers)
    if plaintext is None:
        _refuse("missing_key")
    user = apikeys.authenticate(plaintext, now=utcnow())
    if user is None:
        _refuse("invalid_key")
    principal = principal_for(user, via_api=True)
    if not can(principal, Action.API_READ):
        _refuse("invalid_key")
    if request.method not in SAFE_METHODS:
        # A write request recorded the key's use in its own transaction: keep it even when the
        # action is then refused and rolled back.
        db.session.commit()
    g.api_user = user
    g.principal = principal
    return None


# ---------------------------------------------------------------------------------------------
# Rate limits (Flask-Limiter): per key, and per address for failed authentication


def rate_key() -> str:
    """Requests are counted per key (its keyed hash: the store never holds a key), or per
    address when no usable key was sent."""
    plaintext = apikeys.key_from_headers(request.headers)
    if plaintext and len(plaintext) <= apikeys.MAX_LENGTH:
        return "api-key:" + apikeys.hash_key(plaintext)[:32]
    return "api-ip:" + (get_remote_address() or "?")


def failure_key() -> str:
    return "api-fail:" + (get_remote_address() or "?")


def request_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", "300 per minute")


def failure_limit() -> str:
    return current_app.config.get("API_AUTH_FAILURE_LIMIT", "20 per minute")


# ---------------------------------------------------------------------------------------------
# No browser session under /api/


def is_api_path(path: str) -> bool:
    return path.startswith(PREFIX)


class ApiSessionInterface:
    """Wraps the app's session interface: under /api/ every request gets an empty session that
    is never saved, so the browser's cookie is not read (it cannot authenticate an API call)
    and no API response sets one. Everything else is the wrapped interface's."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def open_session(self, app, request):
        if is_api_path(request.path):
            return SecureCookieSession()
        return self.inner.open_session(app, request)

    def save_session(self, app, session, response):
        from flask import request

        if is_api_path(request.path):
            return None
        return self.inner.save_session(app, session, response)
