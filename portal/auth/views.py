"""Login and logout."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal.auth import bp, services, sessions
from portal.auth.forms import LoginForm
from portal.extensions import db, limiter
from portal.types import utcnow
from portal.web.decorators import public
from portal.web.htmx import full_redirect, render


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit("20 per minute; 200 per hour", methods=["POST"])
def login():
    """Email + password. One generic message for every failure."""
    if current_user.is_authenticated and request.method == "GET":
        return full_redirect(url_for("web.home"))
    form = LoginForm(next=request.args.get("next", ""))
    error = None
    if form.validate_on_submit():
        now = utcnow()
        try:
            user = services.authenticate(form.email.data, form.password.data, now=now)
        except services.LoginFailed:
            error = "Wrong email or password, or the account cannot log in right now."
        else:
            session.clear()  # a new session at login (no fixation)
            sessions.start(user, now=now, remember=form.remember.data)
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return full_redirect(safe_next(form.next.data) or url_for("web.home"))
    elif request.method == "POST":
        error = "Please enter your email and password."
    return render("auth/login.html", form=form, error=error), (200 if not error else 200)


@bp.post("/logout")
def logout():
    sessions.end(current_user.session_token, now=utcnow())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return full_redirect(url_for("auth.login"))


@bp.get("/security")
def security():
    """The user's own security settings."""
    return render("auth/security.html", sessions=sessions.active(current_user, now=utcnow()))


@bp.get("/set-password")
@public
def set_password():
    """Emailed links land here (sign-up confirmation, clerk invitation, password reset)."""
    from flask import abort

    abort(404)  # the full flow follows in the next commits


@bp.get("/reset-pin")
@public
def reset_pin():
    from flask import abort

    abort(404)
