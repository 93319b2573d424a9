"""What the API says about tickets, events, transactions and accounts: plain dicts with an
explicit list of fields each (never a whole row: no account e-mail, credential or secret key is
ever in a response). Times are ISO 8601 in UTC (``...Z``); amounts are integers in minor units
of ``currency`` (cents), as stored."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import url_for

from portal.tickets.models import Ticket, TicketEvent
from portal.transactions.models import Transaction


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def account(row) -> dict:
    """A linked account as any API user may see it (``queries.visible_accounts`` rows)."""
    return {
        "id": row.id,
        "nickname": row.nickname,
        "source": row.source,
        "status": row.status,
        "timezone": row.timezone,
        "colour": row.colour,
    }


def account_ref(account_id: int, nicknames: dict[int, str]) -> dict:
    return {"id": account_id, "nickname": nicknames.get(account_id)}


def ticket(t: Ticket, nicknames: dict[int, str]) -> dict:
    """A ticket as the queue lists it."""
    return {
        "number": t.id,
        "status": t.status,
        "type": t.ticket_type,
        "refund_state": t.refund_state,
        "source": t.source,
        "locale": t.locale,
        "account": account_ref(t.linked_account_id, nicknames),
        "receipt": t.receipt,
        "transaction_id": t.transaction_id,
        "product_type": t.product_type,
        "amount_cents": t.amount_cents,
        "currency": t.currency,
        "customer": {
            "first_name": t.customer_first_name,
            "last_name": t.customer_last_name,
            "email": t.customer_email,
        },
        "opened_at": iso(t.opened_at),
        "updated_at": iso(t.updated_at),
        "closed_at": iso(t.closed_at),
        "expires_at": iso(t.next_action_at),
        "next_action": t.next_action,
        "escalated": bool(t.escalated),
        "return_status": t.return_status,
        "version": t.version,
        "url": url_for("api.ticket", number=t.id),
    }


def event(e: TicketEvent) -> dict:
    return {
        "id": e.id,
        "at": iso(e.at),
        "kind": e.kind,
        "actor": {"kind": e.actor_kind, "name": e.actor_label},
        "type": e.ticket_type,
        "from": e.from_value,
        "to": e.to_value,
        "comment": e.comment,
        "customer_agreed": bool(e.customer_agreed),
    }


def ticket_detail(t: Ticket, nicknames, *, order, events, options) -> dict:
    """Every field of the ticket page: the ticket, its order, its history, and what this key
    may do with it now (the same dry runs as the ticket page's buttons)."""
    body = ticket(t, nicknames)
    body["description"] = t.description
    sale = order.sale
    body["order"] = {
        "sale_transaction_id": sale.id,
        "receipt": sale.receipt,
        "purchased_at": iso(sale.occurred_at),
        "status": order.status,
        "affiliate": sale.affiliate,
        "payment_method": sale.payment_method,
        "product": {"sku": sale.sku, "title": sale.product_title},
        "transactions": [transaction_ref(r) for r in order.rows],
        "other_tickets": [o.id for o in order.other_tickets],
    }
    body["events"] = [event(e) for e in events]
    body["actions"] = {
        "comment": options.comment,
        "close": options.close,
        "close_blocked": options.close_blocked,
        "reopen": options.reopen,
        "reopen_blocked": options.reopen_blocked,
        "change_type": list(options.change_types),
        "change_type_needs_customer_agreed": options.needs_consent,
    }
    return body


def transaction_ref(r: Transaction) -> dict:
    return {
        "id": r.id,
        "receipt": r.receipt,
        "type": r.txn_type,
        "occurred_at": iso(r.occurred_at),
        "amount_cents": r.amount_cents,
        "currency": r.currency,
    }


def transaction(r: Transaction, nicknames: dict[int, str]) -> dict:
    return {
        "id": r.id,
        "receipt": r.receipt,
        "sale_receipt": r.sale_receipt,
        "type": r.txn_type,
        "is_test": bool(r.is_test),
        "occurred_at": iso(r.occurred_at),
        "account": account_ref(r.linked_account_id, nicknames),
        "amount_cents": r.amount_cents,
        "shipping_cents": r.shipping_cents,
        "tax_cents": r.tax_cents,
        "currency": r.currency,
        "customer": {
            "first_name": r.customer_first_name,
            "last_name": r.customer_last_name,
            "email": r.customer_email,
            "country": r.customer_country,
        },
        "product": {"sku": r.sku, "title": r.product_title, "recurring": bool(r.recurring)},
        "quantity": r.quantity,
        "affiliate": r.affiliate,
        "payment_method": r.payment_method,
        "url": url_for("api.transaction", ref=r.id),
    }


def transaction_detail(r: Transaction, nicknames, *, rows, tickets, subscription) -> dict:
    body = transaction(r, nicknames)
    body["line_items"] = [
        {
            "sku": i.sku,
            "title": i.title,
            "quantity": i.quantity,
            "amount_cents": i.amount_cents,
            "recurring": bool(i.recurring),
            "type": i.line_type,
        }
        for i in r.items
    ]
    body["order"] = [transaction_ref(row) for row in rows]
    body["tickets"] = [
        {"number": t.id, "type": t.ticket_type, "status": t.status,
         "url": url_for("api.ticket", number=t.id)}
        for t in tickets
    ]
    body["subscription"] = (
        None
        if subscription is None
        else {
            "status": subscription.status,
            "next_bill_at": iso(subscription.next_bill_at),
            "rebill_cents": subscription.rebill_cents,
            "currency": subscription.currency,
            "interval_days": subscription.interval_days,
            "processed_payments": subscription.processed_payments,
        }
    )
    return body
