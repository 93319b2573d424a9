"""Ticket views."""
from portal.authz.permissions import Action
from portal.authz.scope import load_or_404
from portal.tickets import bp
from portal.tickets.models import Ticket
from portal.web.decorators import require
from portal.web.htmx import render


@bp.get("/")
@require(Action.TAB_TICKETS)
def index():
    return render("tickets/index.html")


@bp.get("/<int:ticket_id>")
@require(Action.TICKET_VIEW)
def show(ticket_id: int):
    ticket = load_or_404(Ticket, ticket_id, Action.TICKET_VIEW)
    return render("tickets/show.html", ticket=ticket)
