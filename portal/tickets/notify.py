"""Ticket mail (DOMAIN.md §7): every change notifies both the customer and the vendor.

One layout for every kind: why it was sent, the newest comment, a link to the ticket, ticket and
order details, and the whole history. The customer's copy is in the ticket's locale and links to
the customer's view; the vendor's copy goes to the account's customer-service email (else the
account email) and carries the no-login reply link.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal.notifications.mail import external_url, queue_email
from portal.support import links
from portal.tickets.models import Ticket, TicketEvent
from portal.extensions import db

SUBJECTS = {
    "en": {
        "ticket_opened": "Ticket #{id} opened: {type}",
        "ticket_reply": "New reply on ticket #{id}",
        "ticket_changed": "Ticket #{id} changed",
        "ticket_closed": "Ticket #{id} closed",
        "ticket_warning": "Ticket #{id}: no activity — please reply or close it",
        "refund_processed": "Ticket #{id}: your {type} was processed",
    },
    "de": {
        "ticket_opened": "Ticket #{id} eröffnet: {type}",
        "ticket_reply": "Neue Antwort zu Ticket #{id}",
        "ticket_changed": "Ticket #{id} wurde geändert",
        "ticket_closed": "Ticket #{id} wurde geschlossen",
        "ticket_warning": "Ticket #{id}: keine Aktivität – bitte antworten oder schließen",
        "refund_processed": "Ticket #{id}: Ihre {type} wurde bearbeitet",
    },
    "es": {
        "ticket_opened": "Ticket #{id} abierto: {type}",
        "ticket_reply": "Nueva respuesta en el ticket #{id}",
        "ticket_changed": "El ticket #{id} ha cambiado",
        "ticket_closed": "Ticket #{id} cerrado",
        "ticket_warning": "Ticket #{id}: sin actividad, responda o ciérrelo",
        "refund_processed": "Ticket #{id}: su {type} ha sido procesado",
    },
}

TYPE_NAMES = {
    "en": {"tech_support": "tech support", "refund": "refund", "cancel": "cancellation"},
    "de": {"tech_support": "technische Unterstützung", "refund": "Rückerstattung", "cancel": "Stornierung"},
    "es": {"tech_support": "soporte técnico", "refund": "reembolso", "cancel": "cancelación"},
}


def _subject(kind: str, locale: str, ticket: Ticket) -> str:
    table = SUBJECTS.get(locale, SUBJECTS["en"])
    types = TYPE_NAMES.get(locale, TYPE_NAMES["en"])
    return table[kind].format(id=ticket.id, type=types.get(ticket.ticket_type, ticket.ticket_type))


def ticket_mail(ticket: Ticket, kind: str, event: TicketEvent, *, now: datetime) -> None:
    """Queue the customer's and the vendor's copy of one ticket notification."""
    history = list(
        db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))
    )
    account = ticket.linked_account
    common = {
        "ticket": ticket,
        "account": account,
        "event": event,
        "history": history,
        "kind": kind,
        "order": ticket.transaction,
    }
    locale = ticket.locale if ticket.locale in SUBJECTS else "en"
    queue_email(
        "ticket",
        to=ticket.customer_email,
        subject=_subject(kind, locale, ticket),
        context={**common, "side": "customer", "locale": locale, "link": links.customer_url(ticket)},
        now=now,
        linked_account_id=account.id,
        master_account_id=account.master_account_id,
        ticket_id=ticket.id,
    )
    vendor_link = None if ticket.is_closed else links.vendor_url(ticket)
    queue_email(
        "ticket",
        to=account.notification_email,
        subject=f"[{account.nickname}] " + _subject(kind, "en", ticket),
        context={
            **common,
            "side": "vendor",
            "locale": "en",
            "link": vendor_link,
            "portal_link": external_url("tickets.show", ticket_id=ticket.id),
        },
        now=now,
        linked_account_id=account.id,
        master_account_id=account.master_account_id,
        ticket_id=ticket.id,
    )
