"""The refund hand-off (seed 001): record the return's progress, escalate to the refund
authority, process the refund; and the Escalations list.

The panel's forms post here from the ticket page (or the Escalations list). htmx gets the panel
back (with the error and the clerk's comment kept, or the new state); without JavaScript a
success redirects back and an error shows the panel on a page of its own.
"""

from __future__ import annotations

from flask import abort, flash, make_response, render_template, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy.orm import selectinload

from portal.accounts.models import LinkedAccount
from portal.authz.permissions import Action
from portal.authz.policy import can
from portal.authz.scope import current_principal, load_or_404
from portal.extensions import db
from portal.tickets import services as ticket_services
from portal.tickets.lifecycle import Refused
from portal.tickets.models import Ticket
from portal.transactions import bp, handoff
from portal.transactions.forms import TicketStepForm
from portal.transactions.views.detail import safe_next
from portal.types import utcnow
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, redirect_to, render, trigger

DONE = {
    "return": "Return status recorded.",
    "handoff": "Handed off to the refund authority.",
    "process": "Refund approved: it is being processed now.",
}


def _context() -> str | None:
    """The Escalations tab the panel sits in, if any (its row is refreshed with the panel)."""
    value = request.form.get("context")
    return value if value in handoff.TABS else None


def _fragment(ticket: Ticket, **ctx) -> str:
    """The panel, plus (inside Escalations) its list row swapped out of band."""
    tab = _context()
    html = render_template(
        "transactions/_handoff_panel.html",
        ticket=ticket,
        handoff_context=tab,
        handoff_next=request.form.get("next"),
        **ctx,
    )
    if tab:
        principal = current_principal()
        row = render_block(
            "transactions/escalations.html",
            "escalation_row",
            t=ticket,
            oob=True,
            tab=tab,
            now=utcnow(),
            panels={ticket.id: handoff.panel_for(ticket, principal)},
            accounts={ticket.linked_account_id: ticket.linked_account},
        )
        html += f"<template>{row}</template>"  # a <tr> survives HTML parsing only inside <template>
    return html


def _panel(
    ticket: Ticket,
    *,
    status: int = 200,
    error: str | None = None,
    form_kind: str | None = None,
    comment: str = "",
    message: str | None = None,
):
    ctx = dict(
        handoff_error=error,
        handoff_form=form_kind,
        handoff_comment=comment,
        handoff_message=message,
    )
    if is_fragment_request():
        return _fragment(ticket, **ctx), status
    return render(
        "transactions/handoff_form.html",
        ticket=ticket,
        handoff_next=request.form.get("next"),
        **ctx,
    ), status


def _act(ticket_id: int, kind: str, needs: Action, call):
    ticket = load_or_404(Ticket, ticket_id, needs)
    form = TicketStepForm()
    comment = form.comment.data or ""
    if not form.validate_on_submit():
        error = "; ".join(e for errors in form.errors.values() for e in errors)
        return _panel(ticket, error=error, form_kind=kind, comment=comment)
    actor = ticket_services.Actor.for_user(current_user, current_principal())
    try:
        ticket = call(actor, ticket, form)
    except ticket_services.NotAllowed:
        abort(403)
    except ticket_services.Conflict as exc:
        db.session.rollback()
        fresh = exc.ticket or db.session.get(Ticket, ticket_id)
        return _panel(
            fresh,
            error="Someone changed this ticket meanwhile; here is its current state. "
            "Your comment is kept below.",
            form_kind=kind,
            comment=comment,
        )
    except Refused as exc:
        db.session.rollback()
        return _panel(
            db.session.get(Ticket, ticket_id), error=exc.message, form_kind=kind, comment=comment
        )
    if is_fragment_request():
        return trigger(
            make_response(_fragment(ticket, handoff_message=DONE[kind])), "ticket-changed"
        )
    flash(DONE[kind], "success")
    return redirect_to(safe_next(form.next.data) or handoff.ticket_home(ticket))


@bp.post("/escalations/<int:ticket_id>/return")
@require(Action.TICKET_WORK)
def record_return(ticket_id: int):
    """Label sent → in transit → received (sending the label holds the refund timer)."""
    return _act(
        ticket_id,
        "return",
        Action.TICKET_WORK,
        lambda actor, ticket, form: ticket_services.record_return(
            actor,
            ticket,
            form.step.data,
            form.comment.data,
            now=utcnow(),
            expected_version=form.expected_version.data,
        ),
    )


@bp.post("/escalations/<int:ticket_id>/handoff")
@require(Action.TICKET_WORK)
def hand_off(ticket_id: int):
    """Escalate the held refund to the refund authority."""
    return _act(
        ticket_id,
        "handoff",
        Action.TICKET_WORK,
        lambda actor, ticket, form: ticket_services.hand_off(
            actor,
            ticket,
            form.comment.data,
            now=utcnow(),
            expected_version=form.expected_version.data,
        ),
    )


@bp.post("/escalations/<int:ticket_id>/process")
@require(Action.TICKET_REFUND)
def process_refund(ticket_id: int):
    """The refund authority lets the refund go through (once the return is received)."""
    return _act(
        ticket_id,
        "process",
        Action.TICKET_REFUND,
        lambda actor, ticket, form: ticket_services.process_refund(
            actor,
            ticket,
            form.comment.data,
            now=utcnow(),
            expected_version=form.expected_version.data,
        ),
    )


@bp.get("/escalations")
@require()
def escalations():
    """Refunds waiting for their return and the refund authority, oldest first."""
    principal = current_principal()
    if not (can(principal, Action.TICKET_VIEW) or can(principal, Action.TICKET_REFUND)):
        abort(403)
    now = utcnow()
    tab = request.args.get("tab", "handed_off")
    if tab not in handoff.TABS:
        tab = "handed_off"
    tickets = handoff.escalations(principal, tab, now)
    if tickets:  # the panels read each ticket's events: load them in one query
        ids = [t.id for t in tickets]
        db.session.scalars(
            db.select(Ticket)
            .where(Ticket.id.in_(ids))
            .options(selectinload(Ticket.events), selectinload(Ticket.linked_account))
        ).all()
    accounts = {
        a.id: a
        for a in db.session.scalars(
            db.select(LinkedAccount).where(LinkedAccount.id.in_(principal.account_ids))
        )
    }
    return render(
        "transactions/escalations.html",
        block="escalation_list",
        tab=tab,
        tabs=handoff.TABS,
        tab_labels=handoff.TAB_LABELS,
        counts=handoff.counts(principal, now),
        tickets=tickets,
        limit=handoff.LIST_LIMIT,
        panels={t.id: handoff.panel_for(t, principal) for t in tickets},
        accounts=accounts,
        can_refund=can(principal, Action.TICKET_REFUND),
        now=now,
    )
