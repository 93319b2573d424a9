"""ClickBank calls queued in the outbox. A ticket change on a ClickBank account becomes one
REST call (ClickBank's Tickets API, REFERENCE.md §3.2), delivered by the worker through the
client the clickbank package registers for the ``clickbank`` channel."""
from __future__ import annotations

from portal.extensions import db
from portal.notifications.models import Channel, OutboxMessage, OutboxStatus
from portal.tickets.lifecycle import EventKind

TYPE_CODES = {"refund": "rfnd", "cancel": "cncl", "tech_support": "tech"}


def _call_for(ticket, event) -> dict | None:
    kind = EventKind(event.kind)
    comment = event.comment or ""
    if kind is EventKind.OPENED:
        return {"method": "POST", "path": f"/1.3/tickets/{ticket.receipt}",
                "params": {"type": TYPE_CODES[ticket.ticket_type], "comment": comment}}
    if not ticket.external_id:
        return None  # not yet known to ClickBank; the open call carries the state
    path = f"/1.3/tickets/{ticket.external_id}"
    if kind is EventKind.CLOSED:
        return {"method": "PUT", "path": path, "params": {"action": "close", "comment": comment}}
    if kind is EventKind.REOPENED:
        return {"method": "PUT", "path": path, "params": {"action": "reopen", "comment": comment}}
    if kind is EventKind.TYPE_CHANGED:
        return {"method": "PUT", "path": path,
                "params": {"action": "change", "type": TYPE_CODES[ticket.ticket_type], "comment": comment}}
    if kind is EventKind.COMMENTED:
        return {"method": "PUT", "path": path, "params": {"comment": comment}}
    return None


def queue_ticket_call(ticket, event) -> OutboxMessage | None:
    call = _call_for(ticket, event)
    if call is None:
        return None
    message = OutboxMessage(
        channel=Channel.CLICKBANK,
        kind=f"ticket_{event.kind}",
        status=OutboxStatus.PENDING,
        created_at=event.at,
        next_attempt_at=event.at,
        master_account_id=ticket.linked_account.master_account_id,
        linked_account_id=ticket.linked_account_id,
        ticket_id=ticket.id,
        payload=call,
    )
    db.session.add(message)
    return message
