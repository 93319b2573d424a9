"""The second-factor gate, run before every request (registered on the auth blueprint with
``before_app_request``, after the portal's own login check).

A session whose password was right but whose second factor is still due
(``UserSession.second_factor_done`` is False) — or a clerk whose owner requires two-factor
authentication and who has not enrolled yet — may reach only the two-factor pages and logout.
For everything else the request sees nobody logged in: other features never have to know.
"""
from __future__ import annotations

from datetime import timedelta

from flask import g, redirect, request, url_for
from flask_login import current_user

from portal.accounts.models import MasterAccount
from portal.auth import sessions, totp
from portal.extensions import db, login_manager
from portal.types import utcnow
from portal.web.htmx import is_htmx

PENDING_FOR = timedelta(minutes=10)  # to type the code after the password

ALLOWED = frozenset({"auth.login_2fa", "auth.login_enrol", "auth.logout", "static"})


def must_enrol(user) -> bool:
    """A clerk of a Master Account that requires 2FA for clerks, not enrolled yet."""
    if user.is_owner or totp.is_enabled(user):
        return False
    master = db.session.get(MasterAccount, user.master_account_id)
    return bool(master and master.require_clerk_2fa)


def needs_second_factor(user) -> bool:
    """Asked at login: 2FA is on, or it must be set up now."""
    return totp.is_enabled(user) or must_enrol(user)


def pending_user():
    """The user half-way through login on this request (password right, second factor due)."""
    return g.get("auth_pending_user")


def check():
    g.pop("auth_pending_user", None)  # per request (an app context may outlive one, e.g. in tests)
    if request.endpoint in (None, "static"):
        return None  # no session lookup for assets and unknown URLs
    if not current_user.is_authenticated:
        return None
    row = current_user.current_session
    pending = row is not None and not row.second_factor_done
    if not pending and not must_enrol(current_user):
        return None
    user = current_user._get_current_object()
    now = utcnow()
    if pending and row is not None and now - row.created_at > PENDING_FOR:
        sessions.end(user.session_token, now=now)  # too slow: start again from the password
        db.session.commit()
        return _to(url_for("auth.login"))
    g.auth_pending_user = user
    g._login_user = login_manager.anonymous_user()  # every other part of the portal sees nobody
    g.pop("principal", None)
    if request.endpoint in ALLOWED or _is_public(request.endpoint):
        return None
    return _to(url_for("auth.login_enrol" if not totp.is_enabled(user) else "auth.login_2fa"))


def _is_public(endpoint: str | None) -> bool:
    from flask import current_app

    view = current_app.view_functions.get(endpoint or "")
    while view is not None:
        if getattr(view, "_public", False):
            return True
        view = getattr(view, "__wrapped__", None)
    return endpoint is None


def _to(url: str):
    if is_htmx():
        return "", 401, {"HX-Redirect": url}
    return redirect(url)
