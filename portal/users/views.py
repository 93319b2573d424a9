"""Users tab: the list, creating users, one user's page and its actions.

Every route needs Manage Users (the owner always has it). Actions on a user load it inside the
Master Account (404 otherwise), then ask the policy whether this principal may edit that user
(403 otherwise) before a form is even validated; the services check the same again.
"""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_login import current_user

from portal.auth.services import RESET_BY_OWNER_TTL
from portal.authz.permissions import PERM_HELP, PERM_LABELS, Action, Perm
from portal.authz.policy import can
from portal.authz.scope import current_principal, user_subject
from portal.extensions import limiter
from portal.types import utcnow
from portal.users import apikeys, bp, services
from portal.users.forms import (
    DeleteForm,
    DetailsForm,
    FilterForm,
    KeyForm,
    PermissionsForm,
    TwoFactorResetForm,
    UserForm,
)
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, redirect_to, render

TEMPLATE_GLOBALS = {"PERMS": list(Perm), "PERM_LABELS": PERM_LABELS, "PERM_HELP": PERM_HELP}


def _manager() -> services.Manager:
    return services.Manager(current_user._get_current_object(), current_principal())


# --- list ----------------------------------------------------------------------------------------


@bp.get("/")
@require(Action.TAB_USERS)
def index():
    principal = current_principal()
    filters = FilterForm(formdata=request.args)
    filters.validate()
    q = filters.q.data if not filters.q.errors else ""
    perm = Perm(filters.perm.data) if filters.perm.data and not filters.perm.errors else None
    status = filters.status.data if filters.status.data and not filters.status.errors else None
    rows = services.list_users(principal, q=q or "", perm=perm, status=status)
    return render(
        "users/index.html", block="user_table", rows=rows, filters=filters,
        filtered=bool(q or perm or status), **TEMPLATE_GLOBALS,
    )


# --- create --------------------------------------------------------------------------------------


def _new_form(**kwargs) -> UserForm:
    return UserForm(accounts=services.grantable_accounts(current_principal()), **kwargs)


def _form_page(form: UserForm):
    principal = current_principal()
    return render("users/new.html", form=form, principal=principal,
                  grantable=services.grantable_accounts(principal), **TEMPLATE_GLOBALS)


@bp.get("/new")
@require(Action.USERS_MANAGE)
def new():
    return _form_page(_new_form())


# Both send mail to an address typed in here: keep a runaway script from flooding inboxes.
MAIL_LIMIT = "30 per hour"


@bp.post("/new")
@require(Action.USERS_MANAGE)
@limiter.limit(MAIL_LIMIT)
def create():
    form = _new_form()
    if not form.validate():
        form.keep_passed_check()
        return _form_page(form)
    data = services.UserInput(
        email=form.email.data, first_name=form.first_name.data, last_name=form.last_name.data,
        description=form.description.data or "", api_only=form.api_only.data,
        perms={Perm(p) for p in form.perms.data or ()}, account_ids=set(form.accounts.data or ()),
    )
    try:
        user, key = services.create_user(_manager(), data, now=utcnow())
    except services.NotAllowed:
        abort(403)
    except services.Invalid as invalid:
        for name, message in invalid.errors.items():
            form[name].errors = list(form[name].errors) + [message]
        form.keep_passed_check()
        return _form_page(form)
    page = render("users/created.html", user=user, key=key,
                  row=services.row_for(current_principal(), user), **TEMPLATE_GLOBALS)
    show_url = url_for("users.show", user_id=user.id)
    return page, 200, {"HX-Push-Url": show_url}


# --- one user ------------------------------------------------------------------------------------


def _load(user_id: int):
    principal = current_principal()
    target = services.get_user_or_404(principal, user_id)
    return principal, target


def _require_edit(principal, target, action: Action = Action.USER_EDIT):
    if not can(principal, action, user_subject(target)):
        abort(403)


def _perm_form(target, principal, formdata=None) -> PermissionsForm:
    row = services.row_for(principal, target)
    form = PermissionsForm(
        formdata=formdata,
        accounts=services.grantable_accounts(principal),
        data={"perms": [p.value for p in row.perms],
              "accounts": [a for a in row.subject.account_ids]},
    )
    return form


def _show(target, *, status: int = 200, block: str | None = None, **forms):
    principal = current_principal()
    row = services.row_for(principal, target)
    forms.setdefault("details_form", DetailsForm(formdata=None, obj=target))
    forms.setdefault("perm_form", _perm_form(target, principal))
    forms.setdefault("delete_form", DeleteForm(formdata=None))
    forms.setdefault("key_form", KeyForm(formdata=None))
    forms.setdefault("twofa_form", TwoFactorResetForm(formdata=None))
    editable = can(principal, Action.USER_EDIT, row.subject)
    key_manageable = can(principal, Action.USER_API_KEY, row.subject)
    # Someone a supervisor may only look at keeps their security history and key to themselves.
    private = not (principal.is_owner or editable)
    body = render(
        "users/show.html", block=block, target=target, row=row, principal=principal,
        editable=editable, key_manageable=key_manageable, private=private,
        grantable=services.grantable_accounts(principal),
        activity=[] if private else services.recent_activity(target),
        status=services.status_of(target),
        api_usable=apikeys.may_use_api(target), **forms, **TEMPLATE_GLOBALS,
    )
    return body, status


@bp.get("/<int:user_id>")
@require(Action.USERS_MANAGE)
def show(user_id: int):
    _, target = _load(user_id)
    return _show(target)


@bp.post("/<int:user_id>/details")
@require(Action.USERS_MANAGE)
def update_details(user_id: int):
    principal, target = _load(user_id)
    _require_edit(principal, target)
    form = DetailsForm()
    if not form.validate():
        return _show(target, details_form=form, block="details_card")
    try:
        changed = services.update_details(
            _manager(), target, first_name=form.first_name.data, last_name=form.last_name.data,
            description=form.description.data or "", now=utcnow())
    except services.NotAllowed:
        abort(403)
    message = "Details saved." if changed else "Nothing to change."
    if is_fragment_request():
        return _show(target, block="details_card", details_saved=message)
    flash(message, "success")
    return redirect_to(url_for("users.show", user_id=target.id))


@bp.post("/<int:user_id>/permissions")
@require(Action.USERS_MANAGE)
def update_permissions(user_id: int):
    principal, target = _load(user_id)
    _require_edit(principal, target)
    form = PermissionsForm(accounts=services.grantable_accounts(principal))
    if not form.validate():
        form.keep_passed_check()
        return _show(target, perm_form=form, block="permissions_card")
    try:
        changed = services.update_permissions(
            _manager(), target, perms=form.perms.data or (), account_ids=form.accounts.data or (),
            now=utcnow())
    except services.NotAllowed:
        abort(403)
    except services.Invalid as invalid:
        for name, message in invalid.errors.items():
            form[name].errors = list(form[name].errors) + [message]
        form.keep_passed_check()
        return _show(target, perm_form=form, block="permissions_card")
    message = ("Permissions saved. They apply from the user's next click."
               if changed else "Nothing to change.")
    if is_fragment_request():
        return _show(target, block="permissions_card", perms_saved=message)
    flash(message, "success")
    return redirect_to(url_for("users.show", user_id=target.id))


@bp.post("/<int:user_id>/reset-password")
@require(Action.USERS_MANAGE)
@limiter.limit(MAIL_LIMIT)
def reset_password(user_id: int):
    principal, target = _load(user_id)
    _require_edit(principal, target)
    try:
        kind = services.reset_password(_manager(), target, now=utcnow())
    except services.NotAllowed:
        abort(403)
    except services.Refused as refused:
        flash(str(refused), "warning")
    else:
        if kind == "invitation":
            flash(f"A new invitation was sent to {target.email}.", "success")
        else:
            hours = int(RESET_BY_OWNER_TTL.total_seconds() // 3600)
            flash(f"A password reset link was sent to {target.email}. It works once and "
                  f"expires in {hours} hours; their current password keeps working until they "
                  f"use it.", "success")
    return redirect_to(url_for("users.show", user_id=target.id))


def _set_enabled(user_id: int, enabled: bool):
    principal, target = _load(user_id)
    _require_edit(principal, target)
    try:
        changed = services.set_enabled(_manager(), target, enabled, now=utcnow())
    except services.NotAllowed:
        abort(403)
    if changed and enabled:
        flash(f"{target.full_name} is enabled again.", "success")
    elif changed:
        flash(f"{target.full_name} is disabled: their sessions ended and their API key stopped "
              "working.", "success")
    return redirect_to(url_for("users.show", user_id=target.id))


@bp.post("/<int:user_id>/disable")
@require(Action.USERS_MANAGE)
def disable(user_id: int):
    return _set_enabled(user_id, False)


@bp.post("/<int:user_id>/enable")
@require(Action.USERS_MANAGE)
def enable(user_id: int):
    return _set_enabled(user_id, True)


@bp.post("/<int:user_id>/delete")
@require(Action.USERS_MANAGE)
def delete(user_id: int):
    principal, target = _load(user_id)
    _require_edit(principal, target)
    form = DeleteForm()
    if not form.validate():
        form.keep_passed_check()
        return _show(target, delete_form=form, block="delete_card")
    name = target.full_name
    try:
        services.delete_user(_manager(), target, now=utcnow())
    except services.NotAllowed:
        abort(403)
    flash(f"{name} was deleted. Their name stays on the tickets they worked.", "success")
    return redirect_to(url_for("users.index"))


@bp.post("/<int:user_id>/two-factor/reset")
@require(Action.USERS_MANAGE)
def reset_two_factor(user_id: int):
    """Turn off the 2FA of a clerk who lost their authenticator (PIN re-check)."""
    principal, target = _load(user_id)
    _require_edit(principal, target)
    form = TwoFactorResetForm()
    if not form.validate():
        form.keep_passed_check()
        return _show(target, twofa_form=form, block="twofa_card")
    try:
        was_on = services.reset_two_factor(_manager(), target, now=utcnow())
    except services.NotAllowed:
        abort(403)
    message = (f"Two-factor authentication is off for {target.full_name}; their sessions ended "
               "and they were told by email." if was_on
               else f"{target.full_name} has no two-factor authentication to reset.")
    if is_fragment_request():
        return _show(target, block="twofa_card", twofa_message=message)
    flash(message, "success")
    return redirect_to(url_for("users.show", user_id=target.id))


@bp.post("/<int:user_id>/api-key")
@require(Action.USERS_MANAGE)
def regenerate_key(user_id: int):
    principal, target = _load(user_id)
    _require_edit(principal, target, Action.USER_API_KEY)
    form = KeyForm()
    if not form.validate():
        form.keep_passed_check()
        return _show(target, key_form=form, block="key_card")
    try:
        key = services.regenerate_key(_manager(), target, now=utcnow())
    except services.NotAllowed:
        abort(403)
    if is_fragment_request():
        return _show(target, block="key_card", new_key=key)
    return render("users/key.html", user=target, key=key, api_usable=apikeys.may_use_api(target),
                  **TEMPLATE_GLOBALS)
