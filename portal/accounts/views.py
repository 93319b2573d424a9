"""Accounts tab: the list, adding (with the emailed confirmation), account pages, settings and
removing. Everything about an account is in its URL (``/accounts/<nickname>/…``); nothing about
"the current account" lives in the session, so several accounts can be open in separate tabs.
"""

from __future__ import annotations

from datetime import timedelta

from flask import flash, make_response, redirect, request, session, url_for
from flask_login import current_user

from portal.accounts import bp, services
from portal.accounts.forms import (
    AddAccountForm,
    ConfirmLinkForm,
    CredentialsForm,
    InsSecretForm,
    RemoveForm,
    RevealForm,
    SettingsForm,
)
from portal.accounts.models import AccountStatus
from portal.auth import tokens
from portal.authz.permissions import Action
from portal.extensions import db, limiter
from portal.types import utcnow
from portal.web.decorators import public, require
from portal.web.errors import alert_fragment
from portal.web.htmx import is_fragment_request, redirect_to, render


def _load(nickname: str, *, include_pending: bool = True):
    return services.get_or_404(nickname, Action.ACCOUNT_MANAGE, include_pending=include_pending)


# --- the list ------------------------------------------------------------------------------------


@bp.get("/")
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
def index():
    """All accounts of the Master Account; the search box asks htmx for the rows only."""
    q = (request.args.get("q") or "").strip()[:100]
    active, removed = services.list_accounts(current_user.master_account_id, q=q)
    return render(
        "accounts/index.html",
        block="account_rows",
        active=active,
        removed=removed,
        q=q,
    )


# --- adding and confirming ------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
@limiter.limit("20 per hour", methods=["POST"])
def new():
    """Nickname + credentials + the PIN; then a confirmation mail to the account's own address."""
    form = AddAccountForm()
    if request.method == "GET":
        relink = services.find(current_user.master_account_id, request.args.get("nickname", ""))
        if relink is not None and relink.status == AccountStatus.REMOVED:
            form.nickname.data = relink.nickname
            form.account_email.data = relink.account_email
            form.timezone.data = relink.timezone
            form.colour.data = relink.colour
        else:
            form.timezone.data = current_user.timezone or "America/New_York"
            form.colour.data = services.next_colour(current_user.master_account_id)
    if form.validate_on_submit():
        try:
            account = services.start_link(
                current_user,
                nickname=form.nickname.data,
                account_email=form.account_email.data,
                password=form.password.data,
                source=form.source.data,
                timezone=form.timezone.data,
                colour=(form.colour.data or "").lower() or None,
                now=utcnow(),
            )
        except services.AccountError as refused:
            getattr(form, refused.field or "nickname").errors.append(refused.message)
        else:
            flash(
                f"We sent a confirmation link to {account.account_email}. “{account.nickname}” "
                "stays pending until someone with access to that mailbox opens the link (valid "
                f"{services.LINK_TTL_HOURS} hours).",
                "success",
            )
            return redirect_to(url_for("accounts.index"))
    elif request.method == "POST":
        form.keep_passed_check()
    return render("accounts/new.html", block="add_form", form=form)


LINK_PROBLEMS = {
    "expired": "The link has expired (links work for 24 hours). Ask the owner to send a new one.",
    "used": "The link was already used, replaced by a newer one, or the request was cancelled.",
    "missing": "The link is incomplete. Open it from the email again.",
    "unknown": "The link is not valid. Open it from the newest email.",
}


# The confirmation link's token, between the mail's URL and the answer (as the auth links do).
LINK_SESSION_KEY = "account_link_token"


def _private(response, status: int | None = None):
    """The token must not leak through the Referer header or a cache (S16, S31)."""
    response = make_response(response) if status is None else make_response(response, status)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/link/")
@bp.get("/link/<token>")
@public
def link(token: str | None = None):
    """The link in the confirmation mail: says what is being linked to which Master Account and
    asks for a click (mail scanners that prefetch links must not confirm anything). The first
    GET moves the token into the session and redirects to the bare ``/accounts/link/``, so the
    token is not kept in the address bar, the history or a Referer; that page reads it from
    the session (single use and the 24 hours are checked there, as before)."""
    if token is not None:
        session[LINK_SESSION_KEY] = token[:200]
        return _private(redirect(url_for("accounts.link"), 303))
    token = session.get(LINK_SESSION_KEY)
    now = utcnow()
    problem, request_ = None, None
    if not token:
        problem = "missing"
    else:
        try:
            request_ = services.inspect_link(token, now=now)
        except tokens.TokenInvalid as invalid:
            problem = invalid.reason
    status = 200 if problem is None else (404 if problem in ("unknown", "missing") else 410)
    if problem is not None and is_fragment_request():
        return alert_fragment(status, "Link not valid", LINK_PROBLEMS.get(problem, LINK_PROBLEMS["unknown"]))
    # The form carries the token it shows (not the session's at posting time): a second link
    # opened in another tab meanwhile cannot turn this page's click into a confirmation of it.
    form = ConfirmLinkForm(token=token or "")
    return _private(render("accounts/link.html", form=form, link=request_, problem=problem), status)


@bp.post("/link/")
@public
@limiter.limit("30 per hour")
def link_answer():
    """Confirm or decline the link (the token comes in the form, not the URL)."""
    form = ConfirmLinkForm()
    now = utcnow()
    outcome, account, problem = None, None, None
    if form.validate_on_submit() and form.decision.data in ("confirm", "decline"):
        try:
            if form.decision.data == "confirm":
                account = services.confirm_link(form.token.data, now=now)
                outcome = "linked"
            else:
                account = services.decline_link(form.token.data, now=now)
                outcome = "declined"
        except tokens.TokenInvalid as invalid:
            db.session.rollback()
            problem = invalid.reason
        else:
            if session.get(LINK_SESSION_KEY) == form.token.data:
                session.pop(LINK_SESSION_KEY)  # used up: nothing left to show
    else:
        problem = "unknown"
    owner_here = (
        account is not None
        and current_user.is_authenticated
        and current_user.is_owner
        and current_user.master_account_id == account.master_account_id
    )
    return _private(
        render(
            "accounts/link_done.html",
            outcome=outcome,
            account=account,
            problem=problem,
            owner_here=owner_here,
        ),
        200 if problem is None else 410,
    )


# --- one account ---------------------------------------------------------------------------------


@bp.get("/<nickname>/")
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
def show(nickname: str):
    """Overview: status, details, the last 30 days, links to its tickets and transactions."""
    from portal.dashboard import periods
    from portal.dashboard.services import summarise
    from portal.web.templating import zone

    account = _load(nickname)
    now = utcnow()
    summary = None
    if account.status != AccountStatus.PENDING:
        today = now.astimezone(zone(account.timezone)).date()
        summary = summarise([account], periods.preset("30d", today))
    counts = (
        services.open_ticket_counts([account.id]) if account.status != AccountStatus.PENDING else {}
    )
    return render(
        "accounts/show.html",
        account=account,
        summary=summary,
        open_tickets=counts.get(account.id, 0),
        link=services.pending_links([account.id]).get(account.id),
        clerks=services.clerks_with_access(account),
        tab="overview",
    )


def _settings_page(
    account, form=None, secret_form=None, credentials_form=None, revealed=None, status=200
):
    """The settings page, also as the answer to the key and password forms (which post to their
    own URLs): the address bar is pointed back at the settings page."""
    form = form or SettingsForm(obj=account)
    html = render(
        "accounts/settings.html",
        account=account,
        form=form,
        secret_form=secret_form or InsSecretForm(),
        reveal_form=RevealForm(),
        credentials_form=credentials_form or CredentialsForm(),
        has_secret=services.has_ins_secret(account),
        revealed=revealed,
        read_only=account.status != AccountStatus.LINKED,
        tab="settings",
    )
    headers = {"HX-Push-Url": url_for("accounts.settings", nickname=account.nickname)}
    return html, status, headers if request.method == "POST" else {}


@bp.route("/<nickname>/settings", methods=["GET", "POST"])
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
def settings(nickname: str):
    account = _load(nickname, include_pending=False)
    if request.method == "GET":
        return _settings_page(account)
    form = SettingsForm()
    if account.status != AccountStatus.LINKED:
        flash(f"“{account.nickname}” was removed: its settings are read only.", "warning")
        return redirect_to(url_for("accounts.settings", nickname=account.nickname))
    if form.validate_on_submit():
        try:
            changes = services.update_settings(current_user, account, form.values(), now=utcnow())
        except services.AccountError as refused:
            flash(refused.message, "danger")
        else:
            if changes:
                names = ", ".join(form[name].label.text.split(" (")[0].lower() for name in changes)
                flash(f"Saved: {names}.", "success")
            else:
                flash("Nothing changed.", "info")
            return redirect_to(url_for("accounts.settings", nickname=account.nickname))
    return _settings_page(account, form=form)


@bp.get("/<nickname>/ins-secret")
@bp.get("/<nickname>/ins-secret/reveal")
@bp.get("/<nickname>/credentials")
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
def settings_forms(nickname: str):
    """These forms post to their own URLs; a reload or a bookmark of one lands on the settings."""
    account = _load(nickname, include_pending=False)
    return redirect_to(url_for("accounts.settings", nickname=account.nickname))


@bp.post("/<nickname>/ins-secret")
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
def ins_secret(nickname: str):
    """Set, generate or clear the INS secret key (stored encrypted)."""
    account = _load(nickname, include_pending=False)
    form = InsSecretForm()
    if account.status != AccountStatus.LINKED:
        flash(f"“{account.nickname}” was removed: its settings are read only.", "warning")
        return redirect_to(url_for("accounts.settings", nickname=account.nickname))
    if form.validate_on_submit():
        clearing = form.clear.data == "1"
        secret = (
            None
            if clearing
            else (
                services.generate_ins_secret()
                if form.generate.data and not form.secret.data
                else form.secret.data
            )
        )
        services.set_ins_secret(current_user, account, secret, now=utcnow())
        if clearing:
            flash(
                "The INS secret key was removed. Instant Notifications can no longer be read.",
                "success",
            )
            return redirect_to(url_for("accounts.settings", nickname=account.nickname))
        # Show the new key once, so it can be copied into ClickBank's settings.
        return _settings_page(account, revealed=secret)
    form.keep_passed_check()
    return _settings_page(account, secret_form=form)


@bp.post("/<nickname>/ins-secret/reveal")
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
def reveal_secret(nickname: str):
    """Show the INS secret key in clear after the re-check (audited)."""
    account = _load(nickname, include_pending=False)
    form = RevealForm()
    if form.validate_on_submit():
        secret = services.reveal_ins_secret(current_user, account, now=utcnow())
        if is_fragment_request():
            return render(
                "accounts/settings.html",
                block="secret_card",
                account=account,
                secret_form=InsSecretForm(),
                reveal_form=form,
                has_secret=bool(secret),
                revealed=secret,
                read_only=account.status != AccountStatus.LINKED,
            )
        return _settings_page(account, revealed=secret)
    form.keep_passed_check()
    if is_fragment_request():
        return render(
            "accounts/settings.html",
            block="secret_card",
            account=account,
            secret_form=InsSecretForm(),
            reveal_form=form,
            has_secret=services.has_ins_secret(account),
            revealed=None,
            read_only=account.status != AccountStatus.LINKED,
        )
    return _settings_page(account)


@bp.post("/<nickname>/credentials")
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
def credentials(nickname: str):
    """Replace the stored (encrypted) account password; it is never shown back."""
    account = _load(nickname, include_pending=False)
    form = CredentialsForm()
    if form.validate_on_submit():
        try:
            services.replace_credentials(current_user, account, form.password.data, now=utcnow())
        except services.AccountError as refused:
            flash(refused.message, "danger")
        else:
            flash("The new account password is stored (encrypted).", "success")
        return redirect_to(url_for("accounts.settings", nickname=account.nickname))
    form.keep_passed_check()
    return _settings_page(account, credentials_form=form)


@bp.route("/<nickname>/remove", methods=["GET", "POST"])
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
def remove(nickname: str):
    """Confirm (type the nickname) + PIN; the account's history stays, read only."""
    account = _load(nickname, include_pending=False)
    form = RemoveForm(nickname=account.nickname)
    if account.status != AccountStatus.LINKED:
        flash(f"“{account.nickname}” is already removed.", "info")
        return redirect_to(url_for("accounts.show", nickname=account.nickname))
    if form.validate_on_submit():
        lost = services.remove(current_user, account, now=utcnow())
        flash(
            f"“{account.nickname}” was removed. Its tickets and transactions are kept read only"
            + (
                f"; {len(lost)} clerk{'s' if len(lost) != 1 else ''} lost access to it."
                if lost
                else "."
            ),
            "success",
        )
        return redirect_to(url_for("accounts.index"))
    if request.method == "POST":
        form.keep_passed_check()
    counts = services.open_ticket_counts([account.id])
    return render(
        "accounts/remove.html",
        account=account,
        form=form,
        clerks=services.clerks_with_access(account),
        open_tickets=counts.get(account.id, 0),
        tab="remove",
    )


@bp.post("/<nickname>/resend")
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
@limiter.limit("10 per hour")
def resend(nickname: str):
    account = _load(nickname)
    now = utcnow()
    link = services.pending_links([account.id]).get(account.id)
    if link is not None and now - link.created_at < timedelta(minutes=1):
        flash(
            "A confirmation mail was sent less than a minute ago. Please wait a moment.", "warning"
        )
        return redirect_to(url_for("accounts.index"))
    try:
        services.resend_link(current_user, account, now=now)
    except services.AccountError as refused:
        flash(refused.message, "warning")
    else:
        flash(
            f"A new confirmation link was sent to {account.account_email}; the previous one no "
            "longer works.",
            "success",
        )
    return redirect_to(url_for("accounts.index"))


@bp.post("/<nickname>/cancel")
@require(Action.TAB_ACCOUNTS, Action.ACCOUNT_MANAGE)
def cancel(nickname: str):
    account = _load(nickname)
    try:
        services.cancel_link(current_user, account, now=utcnow())
    except services.AccountError as refused:
        flash(refused.message, "warning")
    else:
        flash(
            f"The request to link “{nickname}” was cancelled; its confirmation link no longer "
            "works.",
            "success",
        )
    return redirect_to(url_for("accounts.index"))
