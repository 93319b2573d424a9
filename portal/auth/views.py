"""Login (password, then the second factor), logout, sign-up, forgot password / PIN, and the
pages emailed links open (set password, reset PIN), plus the live password checklist."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, g, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal import audit
from portal.auth import bp, gate, passwords, recovery, services, sessions, tokens, totp
from portal.auth import signup as signups
from portal.auth.forms import (
    AnswerForm,
    CodeForm,
    EmailForm,
    LoginForm,
    NewPinForm,
    SetPasswordForm,
    SignupForm,
    ZONES,
)
from portal.auth.models import TokenPurpose, User
from portal.auth.questions import Entry
from portal.extensions import db, limiter
from portal.types import utcnow
from portal.web.decorators import public
from portal.web.htmx import full_redirect, redirect_to, render

LOGIN_ERROR = "Wrong email or password, or the account cannot log in right now."

# Rate limits per client IP (Flask-Limiter; memory store by default, Redis in production).
LOGIN_LIMIT = "20 per minute; 200 per hour"
SECOND_FACTOR_LIMIT = "10 per 5 minutes; 60 per hour"
SIGNUP_LIMIT = "5 per hour; 20 per day"
FORGOT_LIMIT = "5 per 15 minutes; 30 per day"
RECOVERY_LIMIT = "20 per hour"
RESEND_LIMIT = "3 per 10 minutes; 20 per day"
CHECK_LIMIT = "240 per minute"

LINK_SESSION_KEYS = {"password": "auth_link_pw", "pin": "auth_link_pin"}


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


# --- login ----------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
def login():
    """Email + password. One generic message for every failure; the second factor follows."""
    if current_user.is_authenticated and request.method == "GET":
        return full_redirect(url_for("web.home"))
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET" and session.get("auth_login_email"):
        form.email.data = session.pop("auth_login_email")
    error = None
    if form.validate_on_submit():
        now = utcnow()
        try:
            user = services.authenticate(form.email.data, form.password.data, now=now)
        except services.LoginFailed:
            error = LOGIN_ERROR
        else:
            remember = bool(form.remember.data)
            second = gate.needs_second_factor(user)
            session.clear()  # a new session at login (no fixation)
            sessions.start(user, now=now, remember=remember, second_factor_done=not second)
            db.session.commit()
            login_user(user, remember=remember and not second)
            target = safe_next(form.next.data) or url_for("web.home")
            if second:
                session["auth_after_2fa"] = {"next": target, "remember": remember}
                endpoint = "auth.login_2fa" if totp.is_enabled(user) else "auth.login_enrol"
                return full_redirect(url_for(endpoint))
            return full_redirect(target)
    elif request.method == "POST":
        error = "Please enter your email and password."
    return render("auth/login.html", form=form, error=error)


def _finish_login(user: User):
    """The second factor is done: the session becomes a full one and the user goes on."""
    after = session.pop("auth_after_2fa", None) or {}
    row = user.current_session
    row.second_factor_done = True
    db.session.commit()
    remember = bool(after.get("remember"))
    login_user(user, remember=remember)
    return full_redirect(safe_next(after.get("next")) or url_for("web.home"))


@bp.route("/login/verify", methods=["GET", "POST"])
@public
@limiter.limit(SECOND_FACTOR_LIMIT, methods=["POST"])
def login_2fa():
    """The second step of login when two-factor authentication is on."""
    user = gate.pending_user()
    if user is None:
        return full_redirect(url_for("auth.login"))
    if not totp.is_enabled(user):
        return full_redirect(url_for("auth.login_enrol"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        now = utcnow()
        kind = totp.verify_second_factor(user, form.code.data, now)
        if kind:
            audit.record("login.second_factor", user=user, now=now, method=kind)
            if kind == "recovery":
                recovery._recovery_code_notice(user, now)
            return _finish_login(user)
        services.count_failure(user, now, what="second_factor")
        if user.locked_until and user.locked_until > now:
            sessions.end(user.session_token, now=now)
            db.session.commit()
            logout_user()
            session.clear()
            flash(LOGIN_ERROR, "error")
            return full_redirect(url_for("auth.login"))
        error = "That code is not right. Use the current code from your app, or a recovery code."
    elif request.method == "POST":
        error = "Please enter the code."
    return render("auth/login_2fa.html", form=form, error=error, user=user)


@bp.route("/login/two-factor-setup", methods=["GET", "POST"])
@public
@limiter.limit(SECOND_FACTOR_LIMIT, methods=["POST"])
def login_enrol():
    """The owner requires two-factor authentication for clerks: set it up before going on."""
    user = gate.pending_user()
    if user is None:
        return full_redirect(url_for("auth.login"))
    if totp.is_enabled(user):
        if not user.current_session.second_factor_done:
            return full_redirect(url_for("auth.login_2fa"))
        return full_redirect(url_for("web.home"))
    now = utcnow()
    form = CodeForm()
    codes = error = None
    action = request.form.get("action")
    if request.method == "POST" and action == "start":
        # (CSRFProtect checked the token of this plain button already.)
        totp.begin_enrolment(user)
        audit.record("twofa.enrolment_started", user=user, now=now, forced=True)
        db.session.commit()
        return redirect_to(url_for("auth.login_enrol"))
    elif request.method == "POST" and action == "confirm":
        if form.validate_on_submit() and totp.verify_code(user, form.code.data, now):
            codes = totp.enable(user, now=now)
            sessions.end_all(user, now=now, keep_token=user.session_token)
            user.current_session.second_factor_done = True
            audit.record("twofa.enabled", user=user, now=now, forced=True)
            services.queue_auth_mail("twofa_enabled", user, "Two-factor authentication is on", now=now)
            db.session.commit()
            after = session.get("auth_after_2fa") or {}
            login_user(user, remember=bool(after.get("remember")))
        else:
            error = "That code is not right. Check the time on your phone and type the current code."
    secret = totp.secret_of(user)
    return render(
        "auth/login_enrol.html", form=form, user=user, error=error, codes=codes,
        enrolment=_enrolment_view(user, secret) if secret and not codes else None,
        next_url=safe_next((session.get("auth_after_2fa") or {}).get("next")) or url_for("web.home"),
    )


def _enrolment_view(user: User, secret: str) -> dict:
    uri = totp.provisioning_uri(user, secret)
    return {"qr": totp.qr_data_uri(uri), "secret": totp.grouped(secret), "uri": uri}


@bp.post("/logout")
@public
def logout():
    user = gate.pending_user() or (current_user if current_user.is_authenticated else None)
    if user is not None:
        sessions.end(user.session_token, now=utcnow())
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return full_redirect(url_for("auth.login"))


# --- sign-up --------------------------------------------------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
@public
@limiter.limit(SIGNUP_LIMIT, methods=["POST"])
def signup():
    """Create a Master Account: you, two security questions, a PIN, the first account."""
    if current_user.is_authenticated and request.method == "GET":
        return full_redirect(url_for("web.home"))
    form = SignupForm()
    if request.method == "POST":
        valid = form.validate_on_submit()
        valid = form.check_questions() and valid
        valid = form.check_pin() and valid
        if problem := signups.nickname_problem(form.nickname.data):
            form.nickname.errors = list(form.nickname.errors) + [problem]
            valid = False
        if valid:
            data = signups.SignUp(
                email=form.email.data, first_name=form.first_name.data,
                last_name=form.last_name.data, questions=form.entries(), pin=form.pin.data,
                nickname=form.nickname.data, account_password=form.account_password.data,
                timezone=form.timezone.data if form.timezone.data in ZONES else "America/New_York",
            )
            try:
                signups.sign_up(data, now=utcnow())
            except signups.NicknameTaken:
                db.session.rollback()
                form.nickname.errors = list(form.nickname.errors) + [
                    "This ClickBank account is already linked to a Master Account."
                ]
            else:
                session["auth_signup_email"] = form.email.data.strip().lower()
                return redirect_to(url_for("auth.signup_sent"))
        # Secrets are never sent back: the PIN fields are empty again.
        form.pin.data = form.pin_confirm.data = form.account_password.data = None
    return render("auth/signup.html", form=form, block="signup_form")


@bp.get("/signup/check-your-mailbox")
@public
def signup_sent():
    """The same page whether the email was new or already registered (S12)."""
    return render("auth/signup_sent.html", email=session.get("auth_signup_email"))


# --- forgot password / PIN ------------------------------------------------------------------------


def _forgot(kind: str):
    form = EmailForm()
    if form.validate_on_submit():
        now = utcnow()
        if kind == "password":
            services.request_password_reset(form.email.data, now=now)
        else:
            services.request_pin_reset(form.email.data, now=now)
        return render("auth/forgot_sent.html", kind=kind)
    if (
        request.method == "GET"
        and kind == "pin"
        and current_user.is_authenticated
        and current_user.is_owner
    ):
        form.email.data = current_user.email
    return render("auth/forgot.html", form=form, kind=kind)


@bp.route("/forgot-password", methods=["GET", "POST"])
@public
@limiter.limit(FORGOT_LIMIT, methods=["POST"])
def forgot_password():
    return _forgot("password")


@bp.route("/forgot-pin", methods=["GET", "POST"])
@public
@limiter.limit(FORGOT_LIMIT, methods=["POST"])
def forgot_pin():
    return _forgot("pin")


# --- pages opened from emailed links --------------------------------------------------------------


def _no_referrer(response):
    """The link's token must not leak through the Referer header (S16)."""
    from flask import make_response

    response = make_response(response)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _link_page(kind: str):
    """GET with ``?token=``: move the token into the session and redirect to the bare URL, so it
    is not kept in the address bar, the history or a Referer. Then show the due step."""
    endpoint = "auth.set_password" if kind == "password" else "auth.reset_pin"
    key = LINK_SESSION_KEYS[kind]
    if "token" in request.args:
        session[key] = request.args["token"][:200]
        return _no_referrer(redirect(url_for(endpoint), 303))
    purposes = recovery.PASSWORD_PURPOSES if kind == "password" else recovery.PIN_PURPOSES
    plaintext = session.get(key)
    now = utcnow()
    try:
        link = recovery.open_link(plaintext, purposes, now=now)
    except tokens.TokenInvalid as invalid:
        return _no_referrer(_invalid_page(kind, invalid))
    step = recovery.next_step(link, now)
    form = error = None
    if request.method == "POST":
        posted_step = request.form.get("step")
        if posted_step != step:
            return _no_referrer(redirect(url_for(endpoint), 303))  # an old form: show the due step
        if step == recovery.Step.QUESTION:
            form = AnswerForm()
            if form.validate_on_submit():
                left = recovery.answer_question(link, form.answer.data, now=now)
                if left is None:
                    return _no_referrer(redirect(url_for(endpoint), 303))
                error = _tries_left("That answer is not right.", left)
        elif step == recovery.Step.SECOND_FACTOR:
            form = CodeForm()
            if form.validate_on_submit():
                left = recovery.pass_second_factor(link, form.code.data, now=now)
                if left is None:
                    return _no_referrer(redirect(url_for(endpoint), 303))
                error = _tries_left("That code is not right.", left)
        elif step == recovery.Step.PASSWORD:
            form = SetPasswordForm()
            if form.validate_on_submit():
                rules = form.check_password(email=link.user.email, names=_names(link.user))
                if passwords.all_ok(rules):
                    return _password_done(link, plaintext, form.new_password.data, now, key)
        elif step == recovery.Step.PIN:
            form = NewPinForm()
            if form.validate_on_submit() and form.check_pin():
                recovery.complete_pin(link, plaintext, form.pin.data, now=now)
                session.pop(key, None)
                flash("Your new PIN is saved.", "success")
                return full_redirect(url_for("web.home") if current_user.is_authenticated
                                     else url_for("auth.login"))
            form.pin.data = form.pin_confirm.data = None
        if recovery.next_step(link, now) == recovery.Step.LOCKED:
            step = recovery.Step.LOCKED
    if form is None or request.method == "GET":
        form = {
            recovery.Step.QUESTION: AnswerForm,
            recovery.Step.SECOND_FACTOR: CodeForm,
            recovery.Step.PASSWORD: SetPasswordForm,
            recovery.Step.PIN: NewPinForm,
        }.get(step, AnswerForm)(formdata=None)
    question = recovery.question_for(link) if step == recovery.Step.QUESTION else None
    rules = None
    if step == recovery.Step.PASSWORD:
        rules = passwords.check(
            form.new_password.data or "", email=link.user.email, names=_names(link.user),
            confirm=form.confirm_password.data or "",
        )
    return _no_referrer(render(
        "auth/link.html", kind=kind, link=link, step=step, form=form, error=error, rules=rules,
        question=question, question_text=recovery.question_text(question) if question else None,
        action=url_for(endpoint), locked_until=link.user.recovery_locked_until,
    ))


def _tries_left(message: str, left: int) -> str:
    if left <= 0:
        return "Too many wrong answers. Recovery is paused for an hour and this link no longer works."
    return f"{message} {left} {'try' if left == 1 else 'tries'} left."


def _names(user: User) -> list[str]:
    return [user.first_name, user.last_name]


def _password_done(link, plaintext, password, now, key):
    recovery.complete_password(link, plaintext, password, now=now)
    session.pop(key, None)
    was_logged_in = current_user.is_authenticated
    if was_logged_in:
        logout_user()  # every session of the user ended with the reset, this one too
    session.clear()
    session["auth_login_email"] = link.user.email
    if link.purpose == TokenPurpose.SIGNUP_CONFIRM:
        flash("Your Master Account is confirmed and your password is saved. Log in to see your "
              "Dashboard.", "success")
    elif link.purpose == TokenPurpose.SET_PASSWORD:
        flash("Your password is saved. Log in to start.", "success")
    else:
        flash("Your new password is saved, and every session was signed out. Log in with it now.",
              "success")
    return full_redirect(url_for("auth.login"))


def _invalid_page(kind: str, invalid: tokens.TokenInvalid):
    row = invalid.token
    purpose = row.purpose if row is not None else None
    return render(
        "auth/link_invalid.html", kind=kind, reason=invalid.reason, purpose=purpose,
        can_resend=row is not None and row.user_id is not None
        and not (row.data or {}).get("locked"),
    )


@bp.route("/set-password", methods=["GET", "POST"])
@public
@limiter.limit(RECOVERY_LIMIT, methods=["POST"])
def set_password():
    """Emailed links land here: the sign-up confirmation (``SIGNUP_CONFIRM``), a new clerk's
    invitation (``SET_PASSWORD``) and password resets (``PASSWORD_RESET``); ``?token=...``."""
    return _link_page("password")


@bp.route("/reset-pin", methods=["GET", "POST"])
@public
@limiter.limit(RECOVERY_LIMIT, methods=["POST"])
def reset_pin():
    """The "forgot PIN" link: security question, second factor if on, new PIN."""
    return _link_page("pin")


@bp.post("/resend-link")
@public
@limiter.limit(RESEND_LIMIT)
def resend_link():
    """"Send me a new link" on the expired/used-link page. The token sits in the session."""
    kind = request.form.get("kind") if request.form.get("kind") in LINK_SESSION_KEYS else "password"
    plaintext = session.get(LINK_SESSION_KEYS[kind])
    now = utcnow()
    row = tokens.lookup(plaintext)
    outcome = recovery.resend(row, now=now) if row is not None else "unavailable"
    session.pop(LINK_SESSION_KEYS[kind], None)
    return _no_referrer(render("auth/link_resent.html", outcome=outcome,
                               purpose=row.purpose if row is not None else None, kind=kind))


# --- the live password checklist ------------------------------------------------------------------


@bp.post("/password-check")
@public
@limiter.limit(CHECK_LIMIT)
def password_check():
    """The checklist beside a new-password field, as the user types (htmx). The same function
    validates the form on the server; this only shows the result early. POST, so the password
    never appears in a URL or a log line."""
    user = _password_context_user()
    password = _field_ending("new_password")
    confirm = _field_ending("confirm_password")
    rules = passwords.check(
        password,
        email=user.email if user else None,
        names=_names(user) if user else (),
        confirm=confirm,
    )
    return render("auth/_password_checklist.html", rules=rules, oob=True, length=len(password))


def _field_ending(name: str) -> str:
    """``new_password`` or a prefixed form's ``pw-new_password``."""
    for key, value in request.form.items():
        if key == name or key.endswith("-" + name):
            return value[:1024]
    return ""


def _password_context_user() -> User | None:
    """Whose password is being chosen: the logged-in user, or the user of the emailed link."""
    if current_user.is_authenticated:
        return current_user
    pending = gate.pending_user()
    if pending is not None:
        return pending
    try:
        link = recovery.open_link(session.get(LINK_SESSION_KEYS["password"]),
                                  recovery.PASSWORD_PURPOSES, now=utcnow())
    except tokens.TokenInvalid:
        return None
    return link.user


@bp.app_context_processor
def _auth_helpers():
    return {"auth_pending_user": g.get("auth_pending_user")}


__all__ = ["safe_next", "Entry"]
