"""The Security settings page: password, PIN, questions and hints, two-factor authentication,
active sessions, recent security events, and (owner) "require 2FA for all clerks".

Each card is a block of ``auth/security.html``; its form posts with htmx and gets the card back
(or, without JavaScript, the whole page). Changing the PIN, the questions or 2FA needs the
step-up re-check (``stepup.StepUpForm``); changing the password needs the current password.
"""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select

from portal import audit
from portal.accounts.models import MasterAccount
from portal.audit import AuditEvent
from portal.auth import bp, hashing, passwords, services, sessions, totp
from portal.auth.forms import (
    ChangePasswordForm,
    ChangePinForm,
    ClerkTwoFactorForm,
    CodeForm,
    QuestionsForm,
    StepUpOnlyForm,
)
from portal.auth.models import Role, SecurityAnswer, User, UserSession
from portal.auth.questions import QUESTIONS, clean_hint
from portal.authz.permissions import Action
from portal.crypto import pepper
from portal.extensions import db, limiter
from portal.types import utcnow
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, redirect_to, render, trigger

SECURITY_LIMIT = "30 per 10 minutes"
_limit = limiter.shared_limit(SECURITY_LIMIT, scope="security-settings")

EVENT_LABELS = {
    "login.success": "Logged in",
    "login.failure": "Failed login",
    "login.lock": "Login locked after failed attempts",
    "login.locked_attempt": "Login attempt while locked",
    "login.unlocked": "Login unlocked",
    "login.refused": "Login refused",
    "recovery.not_sent": "Reset requested; no link sent",
    "login.second_factor": "Two-factor code accepted",
    "stepup.success": "PIN / password re-check passed",
    "stepup.failure": "Wrong PIN / password at a re-check",
    "stepup.blocked": "Sensitive actions blocked",
    "stepup.unblocked": "Sensitive actions possible again (block ran out)",
    "signup.created": "Master Account created",
    "signup.confirmation_sent": "Confirmation email sent",
    "signup.confirmed": "Email confirmed",
    "signup.existing_email": "Sign-up attempted with this email",
    "password.set": "Password set",
    "password.changed": "Password changed",
    "password.change_failed": "Wrong current password",
    "password.reset": "Password reset by email link",
    "password.reset_requested": "Password reset requested",
    "password.reset_refused": "Password reset refused",
    "password.reset_throttled": "Password reset mail held back (too many)",
    "password.invitation_sent": "Invitation email sent",
    "pin.changed": "PIN changed",
    "pin.reset": "PIN reset by email link",
    "pin.reset_requested": "PIN reset requested",
    "recovery.failure": "Wrong answer during recovery",
    "recovery.locked": "Recovery paused after wrong answers",
    "recovery.unlocked": "Recovery possible again (pause ran out)",
    "recovery.question_passed": "Security question answered",
    "recovery.second_factor_passed": "Two-factor code accepted during recovery",
    "recovery.questions_changed": "Security questions changed",
    "twofa.enrolment_started": "Two-factor set-up started",
    "twofa.enabled": "Two-factor authentication turned on",
    "twofa.disabled": "Two-factor authentication turned off",
    "twofa.reset": "Two-factor authentication reset by a manager",
    "twofa.recovery_codes_renewed": "New recovery codes made",
    "twofa.recovery_code_used": "Recovery code used",
    "twofa.required_for_clerks": "Two-factor required for clerks",
    "twofa.not_required_for_clerks": "Two-factor no longer required for clerks",
    "sessions.ended_others": "Signed out everywhere else",
    "sessions.ended_one": "Signed out a session",
}
DANGER = {"login.failure", "login.lock", "login.locked_attempt", "stepup.failure", "stepup.blocked",
          "recovery.failure", "recovery.locked", "password.change_failed", "twofa.disabled",
          "twofa.reset"}


def _me() -> User:
    return current_user._get_current_object()


def _events(user: User, scope: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.event.in_(EVENT_LABELS))
    if scope == "all" and user.is_owner:
        query = query.where(AuditEvent.master_account_id == user.master_account_id)
    else:
        query = query.where(or_(AuditEvent.user_id == user.id, AuditEvent.actor_id == user.id))
    return list(db.session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(25)))


def _context(**overrides) -> dict:
    """Everything the page shows; a posted form (with its errors) replaces the empty one."""
    user = _me()
    now = utcnow()
    master = db.session.get(MasterAccount, user.master_account_id)
    ctx = {
        "user": user,
        "now": now,
        "password_form": ChangePasswordForm(formdata=None, prefix="pw"),
        "pin_form": ChangePinForm(formdata=None, prefix="pin"),
        "questions_form": _questions_form(user, formdata=None),
        "twofa_start_form": StepUpOnlyForm(formdata=None, prefix="tfs"),
        "twofa_confirm_form": CodeForm(formdata=None, prefix="tfc"),
        "twofa_off_form": StepUpOnlyForm(formdata=None, prefix="tfo"),
        "codes_form": StepUpOnlyForm(formdata=None, prefix="tfr"),
        "clerk_form": ClerkTwoFactorForm(formdata=None, prefix="c2",
                                         require=bool(master and master.require_clerk_2fa)),
        "rules": passwords.check("", email=user.email, names=[user.first_name, user.last_name],
                                 confirm=""),
        "sessions": sessions.active(user, now=now),
        "describe_agent": sessions.describe,
        "current_session_id": getattr(user.current_session, "id", None),
        "twofa_on": totp.is_enabled(user),
        "enrolment": None,
        "codes": None,
        "codes_left": totp.unused_recovery_codes(user) if totp.is_enabled(user) else 0,
        "master": master,
        "clerks_without_2fa": _clerks_without_2fa(user) if user.is_owner else 0,
        "answers": list(user.security_answers),
        "questions": QUESTIONS,
        "event_labels": EVENT_LABELS,
        "danger_events": DANGER,
        "event_scope": "mine",
        "events": None,
        "message": {},
    }
    if user.totp_secret_enc and not totp.is_enabled(user):
        secret = totp.secret_of(user)
        uri = totp.provisioning_uri(user, secret)
        ctx["enrolment"] = {"qr": totp.qr_data_uri(uri), "secret": totp.grouped(secret), "uri": uri}
    ctx.update(overrides)
    if ctx["events"] is None:
        ctx["events"] = _events(user, ctx["event_scope"])
    ctx["event_users"] = {}
    if ctx["event_scope"] == "all":
        ctx["event_users"] = {
            u.id: u for u in db.session.scalars(
                select(User).where(User.master_account_id == user.master_account_id))
        }
    return ctx


def _questions_form(user: User, formdata=None) -> QuestionsForm:
    answers = {a.position: a for a in user.security_answers}
    kwargs = {}
    for n in (1, 2):
        if n in answers:
            kwargs[f"question_{n}"] = answers[n].question_key
            kwargs[f"hint_{n}"] = answers[n].hint
    if formdata is None:
        return QuestionsForm(formdata=None, prefix="q", **kwargs)
    return QuestionsForm(prefix="q")


def _clerks_without_2fa(owner: User) -> int:
    return db.session.scalar(
        select(func.count(User.id)).where(
            User.master_account_id == owner.master_account_id,
            User.role == Role.CLERK,
            User.deleted_at.is_(None),
            User.is_api_only.is_(False),
            User.totp_enabled_at.is_(None),
        )
    ) or 0


def _card(block: str, *, changed: bool = False, **ctx):
    """The card for htmx, the whole page otherwise (a success without JavaScript redirects)."""
    if changed and not is_fragment_request():
        message = ctx.get("message") or {}
        if message.get("text") and not ctx.get("codes"):
            flash(message["text"], "success")
            return redirect_to(url_for("auth.security"))
    if is_fragment_request():
        # The card, plus the badges at the top of the page (2FA on/off, password date), out of band.
        response = render("auth/security.html", block=[block, "badges"], badges_oob=True,
                          **_context(**ctx))
    else:
        response = render("auth/security.html", block=block, **_context(**ctx))
    if changed and is_fragment_request():
        from flask import make_response

        response = trigger(make_response(response), "security-changed")
    return response


@bp.get("/security")
@require(Action.SECURITY_SETTINGS)
def security():
    """The user's own security settings."""
    return render("auth/security.html", **_context())


@bp.get("/security/events")
@require(Action.SECURITY_SETTINGS)
def security_events():
    scope = "all" if request.args.get("scope") == "all" and current_user.is_owner else "mine"
    return render("auth/security.html", block="events_card", **_context(event_scope=scope))


@bp.post("/security/password")
@require(Action.SECURITY_SETTINGS)
@_limit
def change_password():
    user = _me()
    form = ChangePasswordForm(prefix="pw")
    now = utcnow()
    names = [user.first_name, user.last_name]
    rules = passwords.check(form.new_password.data or "", email=user.email, names=names,
                            confirm=form.confirm_password.data or "")
    if form.validate_on_submit():
        current_ok = hashing.verify_secret(user.password_hash,
                                           hashing.normalise_password(form.current_password.data))
        rules = form.check_password(email=user.email, names=names)
        if not current_ok:
            form.current_password.errors = list(form.current_password.errors) + [
                "That is not your current password."
            ]
            audit.record("password.change_failed", user=user, now=now)
            db.session.commit()
        elif passwords.all_ok(rules):
            if hashing.verify_secret(user.password_hash,
                                     hashing.normalise_password(form.new_password.data)):
                form.new_password.errors = ["The new password must differ from the current one."]
            else:
                ended = change_password_now(user, form.new_password.data, now=now)
                message = "Your password is changed."
                if ended:
                    message += f" {ended} other session{'s' if ended != 1 else ''} signed out."
                return _card("password_card", changed=True,
                             message={"card": "password", "text": message})
    form.current_password.data = None
    return _card("password_card", password_form=form, rules=rules)


def change_password_now(user: User, password: str, *, now) -> int:
    """Set the new password, end the user's other sessions, notify. Returns sessions ended."""
    user.password_hash = hashing.hash_secret(hashing.normalise_password(password))
    user.password_changed_at = now
    ended = sessions.end_all(user, now=now, keep_token=user.session_token)
    audit.record("password.changed", user=user, now=now, sessions_ended=ended)
    services.queue_auth_mail("password_changed", user, "Your Master Account password was changed",
                             now=now, via="change", ended=ended, forgot_link=services.forgot_link())
    db.session.commit()
    return ended


@bp.post("/security/pin")
@require(Action.SECURITY_SETTINGS)
@_limit
def change_pin():
    user = _me()
    if not user.is_owner:
        abort(404)
    form = ChangePinForm(prefix="pin")
    now = utcnow()
    valid = form.validate_on_submit()
    if form.check_pin() and valid:
        user.pin_hash = hashing.hash_secret(pepper(form.pin.data.strip()))
        audit.record("pin.changed", user=user, now=now)
        services.queue_auth_mail("pin_changed", user, "Your Master Account PIN was changed", now=now,
                                 via="change")
        db.session.commit()
        return _card("pin_card", changed=True, message={"card": "pin", "text": "Your PIN is changed."})
    form.keep_passed_check()
    form.pin.data = form.pin_confirm.data = form.stepup.data = None
    return _card("pin_card", pin_form=form)


@bp.post("/security/questions")
@require(Action.SECURITY_SETTINGS)
@_limit
def change_questions():
    user = _me()
    if not user.is_owner:
        abort(404)
    form = _questions_form(user, formdata=True)
    now = utcnow()
    valid = form.validate_on_submit()
    if form.check_questions() and valid:
        hashes = [hashing.hash_secret(hashing.normalise_answer(e.answer or "")) for e in form.entries()]
        for row in list(user.security_answers):
            db.session.delete(row)
        db.session.flush()
        for position, (entry, answer_hash) in enumerate(zip(form.entries(), hashes), start=1):
            db.session.add(SecurityAnswer(user_id=user.id, position=position,
                                          question_key=entry.question, answer_hash=answer_hash,
                                          hint=clean_hint(entry.hint)))
        audit.record("recovery.questions_changed", user=user, now=now)
        services.queue_auth_mail("recovery_questions_changed", user,
                                 "Your security questions were changed", now=now)
        db.session.commit()
        db.session.refresh(user)
        return _card("questions_card", changed=True,
                     message={"card": "questions", "text": "Your security questions are saved."})
    form.keep_passed_check()
    form.answer_1.data = form.answer_2.data = form.stepup.data = None
    return _card("questions_card", questions_form=form)


# --- two-factor authentication --------------------------------------------------------------------


@bp.post("/security/two-factor/start")
@require(Action.SECURITY_SETTINGS)
@_limit
def twofa_start():
    user = _me()
    form = StepUpOnlyForm(prefix="tfs")
    now = utcnow()
    if totp.is_enabled(user):
        return _card("twofa_card")
    if form.validate_on_submit():
        totp.begin_enrolment(user)
        audit.record("twofa.enrolment_started", user=user, now=now)
        db.session.commit()
        return _card("twofa_card")
    return _card("twofa_card", twofa_start_form=form)


@bp.post("/security/two-factor/confirm")
@require(Action.SECURITY_SETTINGS)
@_limit
def twofa_confirm():
    user = _me()
    form = CodeForm(prefix="tfc")
    now = utcnow()
    if totp.is_enabled(user) or not user.totp_secret_enc:
        return _card("twofa_card")
    if form.validate_on_submit() and totp.verify_code(user, form.code.data, now):
        codes = totp.enable(user, now=now)
        ended = sessions.end_all(user, now=now, keep_token=user.session_token)
        audit.record("twofa.enabled", user=user, now=now, sessions_ended=ended)
        services.queue_auth_mail("twofa_enabled", user, "Two-factor authentication is on", now=now)
        db.session.commit()
        return _card("twofa_card", changed=True, codes=codes, twofa_on=True,
                     message={"card": "twofa", "text": "Two-factor authentication is on."})
    if request.method == "POST" and form.code.data:
        form.code.errors = ["That code is not right. Check the time on your phone and type the "
                            "current code."]
    form.code.data = None
    return _card("twofa_card", twofa_confirm_form=form)


@bp.post("/security/two-factor/cancel")
@require(Action.SECURITY_SETTINGS)
def twofa_cancel():
    user = _me()
    if not totp.is_enabled(user):
        user.totp_secret_enc = None
        db.session.commit()
    return _card("twofa_card")


@bp.post("/security/two-factor/recovery-codes")
@require(Action.SECURITY_SETTINGS)
@_limit
def twofa_codes():
    user = _me()
    form = StepUpOnlyForm(prefix="tfr")
    now = utcnow()
    if not totp.is_enabled(user):
        return _card("twofa_card")
    if form.validate_on_submit():
        codes = totp.replace_recovery_codes(user, now=now)
        audit.record("twofa.recovery_codes_renewed", user=user, now=now)
        db.session.commit()
        return _card("twofa_card", changed=True, codes=codes,
                     message={"card": "twofa", "text": "New recovery codes made; the old ones no "
                                                       "longer work."})
    return _card("twofa_card", codes_form=form)


@bp.post("/security/two-factor/disable")
@require(Action.SECURITY_SETTINGS)
@_limit
def twofa_disable():
    user = _me()
    form = StepUpOnlyForm(prefix="tfo")
    now = utcnow()
    if not totp.is_enabled(user):
        return _card("twofa_card")
    master = db.session.get(MasterAccount, user.master_account_id)
    if not user.is_owner and master and master.require_clerk_2fa:
        return _card("twofa_card", message={"card": "twofa", "error": "The account owner requires "
                     "two-factor authentication for clerks, so it cannot be turned off."})
    if form.validate_on_submit():
        totp.disable(user)
        ended = sessions.end_all(user, now=now, keep_token=user.session_token)
        audit.record("twofa.disabled", user=user, now=now, sessions_ended=ended)
        services.queue_auth_mail("twofa_disabled", user, "Two-factor authentication is off", now=now)
        db.session.commit()
        return _card("twofa_card", changed=True, twofa_on=False,
                     message={"card": "twofa", "text": "Two-factor authentication is off."})
    return _card("twofa_card", twofa_off_form=form)


@bp.post("/security/clerks-two-factor")
@require(Action.SECURITY_SETTINGS)
@_limit
def clerks_two_factor():
    user = _me()
    if not user.is_owner:
        abort(404)
    form = ClerkTwoFactorForm(prefix="c2")
    now = utcnow()
    if form.validate_on_submit():
        master = db.session.get(MasterAccount, user.master_account_id)
        master.require_clerk_2fa = bool(form.require.data)
        audit.record("twofa.required_for_clerks" if master.require_clerk_2fa
                     else "twofa.not_required_for_clerks", user=user, now=now)
        db.session.commit()
        text = ("Clerks must now use two-factor authentication; those without it set it up at "
                "their next page." if master.require_clerk_2fa
                else "Two-factor authentication is optional for clerks again.")
        return _card("clerk2fa_card", changed=True, message={"card": "clerk2fa", "text": text})
    return _card("clerk2fa_card", clerk_form=form)


# --- sessions -------------------------------------------------------------------------------------


@bp.post("/security/sessions/others/end")
@require(Action.SECURITY_SETTINGS)
def end_other_sessions():
    """"Sign out everywhere else": every other session of this user ends at its next request."""
    user = _me()
    now = utcnow()
    ended = sessions.end_all(user, now=now, keep_token=user.session_token)
    audit.record("sessions.ended_others", user=user, now=now, count=ended)
    db.session.commit()
    text = f"Signed out {ended} other session{'s' if ended != 1 else ''}." if ended else \
        "There were no other sessions."
    return _card("sessions_card", changed=True, message={"card": "sessions", "text": text})


@bp.post("/security/sessions/<int:session_id>/end")
@require(Action.SECURITY_SETTINGS)
def end_session(session_id: int):
    user = _me()
    now = utcnow()
    if not (0 < session_id < 2**63):
        abort(404)
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        abort(404)
    if row.id == getattr(user.current_session, "id", None):
        abort(404)  # this browser: use "Log out"
    row.revoked_at = now
    audit.record("sessions.ended_one", user=user, now=now, session=row.id)
    db.session.commit()
    return _card("sessions_card", changed=True,
                 message={"card": "sessions", "text": "That session is signed out."})
