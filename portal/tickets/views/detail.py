"""The ticket page and its actions. Each action is one service call; the page offers only what
the policy and the lifecycle allow, and the services check both again.

Every action posts the same form (comment + the version the user saw). A refusal or a too-short
comment re-renders the form with the message and the user's text (200); a ticket that changed
meanwhile re-renders the new state with the text still in the box (409).
"""

from __future__ import annotations

from flask import abort, flash, make_response, request, url_for
from flask_login import current_user

from portal.authz.permissions import Action
from portal.authz.scope import current_principal
from portal.extensions import db, limiter
from portal.tickets import bp, queries, services
from portal.tickets.forms import ActionForm
from portal.tickets.lifecycle import Refused
from portal.tickets.models import Ticket
from portal.tickets.views.queue import load_ticket, present, row_context, row_links, viewer_tz
from portal.types import utcnow
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, redirect_to, render, trigger
from portal.web.templating import label

CONFLICT_MESSAGE = (
    "This ticket changed while you were writing — here is the new state; your comment is still "
    "in the box."
)
FIELD_OF_REFUSAL = {
    "comment_too_short": "comment",
    "invalid_email": "new_email",
    "same_email": "new_email",
    "customer_consent_required": "customer_agreed",
}


@bp.get("/<int:ticket_id>")
@require(Action.TICKET_VIEW)
def show(ticket_id: int):
    """Every field of the ticket, the order, the whole history, and the actions."""
    ticket = load_ticket(ticket_id, Action.TICKET_VIEW)
    return _page(ticket, ActionForm(formdata=None, version=ticket.version))


def _page(
    ticket: Ticket,
    form: ActionForm,
    *,
    status: int = 200,
    notice: str | None = None,
    conflict: str | None = None,
    problem: str | None = None,
    receipt_form: ActionForm | None = None,
):
    """``receipt_form``: the email-receipt form's input and errors, when that form was sent
    (it has a comment box of its own; ``form`` is the actions card's)."""
    principal = current_principal()
    body = render(
        "tickets/show.html",
        block="ticket_main",
        ticket=ticket,
        account=ticket.linked_account,
        order=queries.order_summary(ticket),
        events=queries.history(ticket),
        options=services.available_actions(principal, ticket, now=utcnow()),
        form=form,
        receipt_form=receipt_form,
        notice=notice,
        conflict=conflict,
        problem=problem,
        viewer_tz=viewer_tz(),
        row=present(ticket, ticket.linked_account, row_links()),
    )
    return body, status


def _act(ticket_id: int, perform, done, *, needs=None, slot: str | None = None):
    """Run one action: load (404/403), validate the form, call the service, answer. ``slot``
    names a form of the page other than the actions card (``"receipt"``): its text and errors
    are shown there."""
    ticket = load_ticket(ticket_id, Action.TICKET_WORK)
    form = ActionForm()
    from_row = form.ctx.data == "row" and is_fragment_request()
    valid = form.validate()
    if valid and needs is not None:
        field, message = needs
        if not getattr(form, field).data:
            getattr(form, field).errors.append(message)
            valid = False
    if not valid:
        return _again(ticket, form, from_row, slot=slot)
    actor = services.Actor.for_user(current_user, current_principal())
    try:
        perform(actor, ticket, form, utcnow())
    except services.Conflict:
        db.session.rollback()
        ticket = db.session.get(Ticket, ticket_id)
        form.version.data = ticket.version
        return _again(ticket, form, from_row, status=409, conflict=CONFLICT_MESSAGE, slot=slot)
    except services.NotAllowed:
        db.session.rollback()
        abort(403)
    except Refused as refused:
        db.session.rollback()
        field = FIELD_OF_REFUSAL.get(refused.code)
        if field:
            getattr(form, field).errors = [*getattr(form, field).errors, refused.message]
        return _again(ticket, form, from_row, problem=None if field else refused.message, slot=slot)
    message = done(ticket) if callable(done) else done
    if from_row:
        response = render(
            "tickets/index.html", block="ticket_row", **row_context(ticket, notice=message)
        )
        return trigger(_response(response), "ticket-changed")
    if is_fragment_request():
        fresh = ActionForm(formdata=None, version=ticket.version)
        body, status = _page(ticket, fresh, notice=message)
        return trigger(_response(body, status), "ticket-changed")
    flash(message, "success")
    return redirect_to(_back(ticket))


def _again(ticket, form, from_row, *, status=200, conflict=None, problem=None, slot=None):
    """The form again, with its messages and the user's text (and the ticket as it is now)."""
    if from_row:
        kind = "receipt" if slot == "receipt" else "email"
        return render(
            "tickets/index.html",
            block="ticket_row",
            **row_context(ticket, edit_form=form, edit_kind=kind, conflict=conflict, problem=problem),
        ), status
    if slot == "receipt":
        actions = ActionForm(formdata=None, version=form.version.data)
        return _page(ticket, actions, status=status, conflict=conflict, problem=problem, receipt_form=form)
    return _page(ticket, form, status=status, conflict=conflict, problem=problem)


def _response(body, status=200):
    return make_response(body, status)


def _back(ticket: Ticket) -> str:
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("tickets.show", ticket_id=ticket.id)


@bp.post("/<int:ticket_id>/comment")
@require(Action.TICKET_WORK)
def comment(ticket_id: int):
    return _act(
        ticket_id,
        lambda actor, t, form, now: services.add_comment(
            actor, t, form.comment.data, now=now, expected_version=form.version.data
        ),
        "Comment added. The customer and the vendor were notified.",
    )


@bp.post("/<int:ticket_id>/type")
@require(Action.TICKET_WORK)
def change_type(ticket_id: int):
    return _act(
        ticket_id,
        lambda actor, t, form, now: services.change_type(
            actor,
            t,
            form.to_type.data,
            form.comment.data,
            now=now,
            customer_agreed=form.customer_agreed.data,
            expected_version=form.version.data,
        ),
        lambda t: f"Type changed to {_type_label(t.ticket_type)}.",
        needs=("to_type", "Choose the new type."),
    )


@bp.post("/<int:ticket_id>/close")
@require(Action.TICKET_WORK)
def close(ticket_id: int):
    return _act(
        ticket_id,
        lambda actor, t, form, now: services.close(
            actor,
            t,
            form.comment.data,
            now=now,
            customer_agreed=form.customer_agreed.data,
            expected_version=form.version.data,
        ),
        "Ticket closed.",
    )


@bp.post("/<int:ticket_id>/reopen")
@require(Action.TICKET_WORK)
def reopen(ticket_id: int):
    return _act(
        ticket_id,
        lambda actor, t, form, now: services.reopen(
            actor, t, form.comment.data, now=now, expected_version=form.version.data
        ),
        "Ticket reopened.",
    )


@bp.post("/<int:ticket_id>/escalate")
@require(Action.TICKET_WORK)
def escalate(ticket_id: int):
    return _act(
        ticket_id,
        lambda actor, t, form, now: services.escalate(
            actor, t, form.comment.data, now=now, expected_version=form.version.data
        ),
        "Escalated: ClickBank customer service may refund this sale although it is older than the "
        "refund window.",
    )


@bp.post("/<int:ticket_id>/email")
@require(Action.TICKET_WORK)
def change_email(ticket_id: int):
    return _act(
        ticket_id,
        lambda actor, t, form, now: services.change_email(
            actor,
            t,
            form.new_email.data,
            form.comment.data,
            now=now,
            expected_version=form.version.data,
        ),
        lambda t: f"Customer email changed to {t.customer_email}.",
        needs=("new_email", "Enter the customer's new email address."),
    )


def _user_key() -> str:
    return f"ticket-receipt:{current_user.id}"


@bp.post("/<int:ticket_id>/email-receipt")
@require(Action.TICKET_WORK)
@limiter.limit("30 per hour", key_func=_user_key)
def email_receipt(ticket_id: int):
    """Email the order's receipt to the customer: a ticket action like the others (a comment of
    at least 6 characters, recorded in the history), with its own small form in the Receipt card
    and one the queue row opens (``queue.receipt_form``)."""
    return _act(
        ticket_id,
        lambda actor, t, form, now: services.email_receipt(
            actor, t, form.comment.data, now=now, expected_version=form.version.data
        ),
        lambda t: f"Receipt {t.receipt} emailed to {t.transaction.customer_email}.",
        slot="receipt",
    )


def _type_label(value: str) -> str:
    return label(value)
