"""JSON API v1 at /api/v1 for API users (per-user keys in the ``X-API-Key`` header).

- ``auth.py``: the key check before every request, rate limits, no browser session under /api/.
- ``views.py``: /me, /accounts, /tickets (queue, one ticket, comment, close, reopen, change
  type, open), /transactions (search, one transaction).
- ``openapi.py``: /openapi.json, the OpenAPI 3.1 document (public).
- ``errors.py``: every error is ``{"error": {"code", "message"}}`` JSON.
- ``idempotency.py``: the ``Idempotency-Key`` header on writes.
"""
from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api/v1")

def _setup_blueprint() -> None:
    """Once per process (the blueprint and the limiter are module-level objects)."""
    from portal.api import auth, errors, openapi, views  # noqa: F401  (registers routes)
    from portal.extensions import limiter

    bp.before_request(auth.authenticate_request)
    errors.register(bp)
    # Per key (or address without one) on every request, and per address for failed keys.
    limiter.limit(auth.request_limit, key_func=auth.rate_key)(bp)
    limiter.limit(
        auth.failure_limit,
        key_func=auth.failure_key,
        deduct_when=lambda response: response.status_code == 401,
    )(bp)


_setup_blueprint()


def init_app(app: Flask) -> None:
    from portal.api.auth import ApiSessionInterface
    from portal.extensions import csrf

    # Authenticated by a header a browser never sends on its own, never by the session cookie:
    # no CSRF token (SECURITY.md S19 lists these routes as the exempt ones).
    csrf.exempt(bp)
    app.register_blueprint(bp)
    if not isinstance(app.session_interface, ApiSessionInterface):
        app.session_interface = ApiSessionInterface(app.session_interface)
