"""Ticket mail (DOMAIN.md §7, seed 004): every change notifies both the customer and the vendor.

One layout for every kind (``templates/email/ticket.txt`` and ``.html``): a notice at the top saying
why the mail was sent, the newest comments, a link to the ticket, ticket details, order details, and
the whole history at the bottom. This module decides the words; the templates only lay them out.

* The **customer's** copy is in the ticket's locale (en, de, es; ``portal.support.i18n``) and links
  to the customer's view of the ticket (reply, turn tech support into a refund, close). Vendor staff
  appear as "<shop> support", and internal steps (hand-off to the refund authority, escalation)
  are left out. An inactivity warning highlights that the ticket can be turned into a refund.
* Refund/cancel requests: ``refund_processed`` goes out when the sweep processes the request (the
  RFND is made and billing stops then); finalization after the settle delay sends
  ``ticket_closed`` saying the request is complete and the ticket closed, not the refund news again.
* On ClickBank accounts ClickBank mails the customer itself, so only the vendor's copy is sent.
* The **vendor's** copy is in English, goes to the account's customer-service email (else the
  account email) and carries the no-login link that opens this one ticket for reply or close
  (while the ticket is open), plus a link into the portal.

Mail kinds: ``ticket_opened``, ``ticket_reply``, ``ticket_changed``, ``ticket_closed``,
``ticket_warning``, ``refund_processed``. All of it goes through the outbox (``queue_email``), in
the caller's transaction; ``payload["dedupe"]`` names ``<kind>:<event id>:<side>``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.notifications.mail import external_url, queue_email
from portal.support import i18n, links
from portal.tickets.lifecycle import Party, TicketType, allowed_type_changes
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions.models import Transaction

KINDS = ("ticket_opened", "ticket_reply", "ticket_changed", "ticket_closed", "ticket_warning",
         "refund_processed")

# Events the customer sees in their copy and on their ticket page; hand-offs and escalations are
# the vendor's internal business.
CUSTOMER_VISIBLE = frozenset({
    "opened", "commented", "type_changed", "closed", "reopened", "email_changed", "warning",
    "processing", "finalized", "auto_closed", "receipt_emailed", "return_label_sent",
    "return_in_transit", "return_received", "refund_approved",
})
NEWEST = 3  # comments shown under the notice

SUBJECTS = {
    "en": {
        "ticket_opened": "Ticket #{id} opened: {type}",
        "ticket_reply": "New reply on ticket #{id}",
        "ticket_changed": "Ticket #{id} changed",
        "ticket_closed": "Ticket #{id} closed",
        "ticket_warning": "Ticket #{id}: no activity, please reply or close it",
        "refund_processed": "Ticket #{id}: your {type} was processed",
    },
    "de": {
        "ticket_opened": "Ticket #{id} eröffnet: {type}",
        "ticket_reply": "Neue Antwort zu Ticket #{id}",
        "ticket_changed": "Ticket #{id} wurde geändert",
        "ticket_closed": "Ticket #{id} wurde geschlossen",
        "ticket_warning": "Ticket #{id}: keine Aktivität, bitte antworten oder schließen",
        "refund_processed": "Ticket #{id}: Ihre {type} wurde ausgeführt",
    },
    "es": {
        "ticket_opened": "Ticket #{id} abierto: {type}",
        "ticket_reply": "Nueva respuesta en el ticket #{id}",
        "ticket_changed": "El ticket #{id} ha cambiado",
        "ticket_closed": "Ticket #{id} cerrado",
        "ticket_warning": "Ticket #{id}: sin actividad, responda o ciérrelo",
        "refund_processed": "Ticket #{id}: su {type} se ha procesado",
    },
}
VENDOR_SUBJECTS = {
    "ticket_opened": "Ticket #{id} opened: {type}",
    "ticket_reply": "New reply on ticket #{id}",
    "ticket_changed": "Ticket #{id} changed",
    "ticket_closed": "Ticket #{id} closed",
    "ticket_warning": "Ticket #{id}: no activity, please reply or close it",
    "refund_processed": "Ticket #{id}: {type} processed",
}


def subject(kind: str, locale: str, ticket: Ticket) -> str:
    t = i18n.translator(locale)
    table = SUBJECTS[t.locale]
    return table[kind].format(id=ticket.id, type=t.type_lower(ticket.ticket_type))


def ticket_mail(ticket: Ticket, kind: str, event: TicketEvent, *, now: datetime) -> None:
    """Queue the customer's and the vendor's copy of one ticket notification."""
    if kind not in KINDS:
        raise ValueError(f"unknown ticket mail kind {kind!r}")
    history = list(db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ))
    account = ticket.linked_account
    where = {"linked_account_id": account.id, "master_account_id": account.master_account_id,
             "ticket_id": ticket.id}
    if account.is_sandbox and event.kind in CUSTOMER_VISIBLE:
        # On a ClickBank account ClickBank itself mails the customer (and its ticket links lead
        # to ClickBank); a second mail from the portal would only confuse them. A step the
        # customer cannot see (escalation, hand-off) would reach them as an empty "your ticket
        # was updated" mail: only the vendor hears of it.
        customer = _customer_copy(ticket, kind, event, history, now)
        queue_email("ticket", to=ticket.customer_email, subject=subject(kind, ticket.locale, ticket),
                    context=customer, now=now, dedupe=f"{kind}:{event.id}:customer", **where)
    vendor = _vendor_copy(ticket, kind, event, history, now)
    queue_email(
        "ticket", to=account.notification_email,
        subject=f"[{account.nickname}] " + VENDOR_SUBJECTS[kind].format(
            id=ticket.id, type=i18n.gettext("en", f"typel.{ticket.ticket_type}")),
        context=vendor, now=now, dedupe=f"{kind}:{event.id}:vendor", **where,
    )


# ---------------------------------------------------------------------------------------------
# The customer's copy


def _customer_copy(ticket: Ticket, kind: str, event: TicketEvent, history: list[TicketEvent],
                   now: datetime) -> dict:
    t = i18n.translator(ticket.locale)
    account = ticket.linked_account
    tz = account.timezone
    vendor = account.nickname
    visible = [e for e in history if e.kind in CUSTOMER_VISIBLE]
    reason, details = _customer_reason(t, ticket, kind, event, history)
    highlight = None
    link = links.customer_url(ticket, now=now)
    if kind == "ticket_warning" and _customer_may_turn_into_refund(ticket, event.at):
        highlight = {"text": t("mail.highlight"), "button": t("mail.highlight_button"),
                     "link": link + "#change"}
    name = ticket.customer_first_name.strip()
    full = ticket.customer_name.strip()
    return {
        "side": "customer",
        "lang": t.locale,
        "t": t,
        "greeting": t("mail.greeting", name=name, full=full) if name else t("mail.greeting_anon"),
        "reason": reason,
        "details": details,
        "highlight": highlight,
        "headings": _headings(t),
        "newest": _newest(visible, lambda e: t.actor(e, vendor), lambda m: t.datetime(m, tz)),
        "link": link,
        "link_label": t("mail.link_closed") if ticket.is_closed else t("mail.link"),
        "link_note": t("mail.link_note"),
        "extra_link": None,
        "ticket_rows": _ticket_rows(t, ticket, tz, vendor_side=False),
        "order_rows": _order_rows(t, ticket, tz, vendor_side=False),
        "history": [
            {"at": t.datetime(e.at, tz), "who": t.actor(e, vendor), "what": t.event(e), "comment": e.comment}
            for e in visible
        ],
        "footer": t("mail.footer", receipt=ticket.receipt, vendor=vendor),
    }


def _customer_may_turn_into_refund(ticket: Ticket, at: datetime) -> bool:
    from portal.tickets.services import rules_for, state_of

    if ticket.ticket_type != TicketType.TECH_SUPPORT or ticket.is_closed:
        return False
    return TicketType.REFUND in allowed_type_changes(
        state_of(ticket), by=Party.CUSTOMER, now=at, rules=rules_for(ticket.linked_account))


def _next_sentence(t: i18n.Translator, ticket: Ticket, tz: str) -> str | None:
    if ticket.is_closed:
        return None
    if ticket.next_action_at is None:
        return t("next.held") if ticket.return_status else None
    when = t.datetime(ticket.next_action_at, tz, weekday=True)
    money_kind = "cancel" if ticket.ticket_type == TicketType.CANCEL else "refund"
    if ticket.next_action in ("process", "settle"):
        return t(f"next.{ticket.next_action}.{money_kind}", when=when)
    return t(f"next.{ticket.next_action}", when=when)


def _customer_reason(t, ticket, kind, event, history) -> tuple[str, list[str]]:
    tz = ticket.linked_account.timezone
    ids = {"id": ticket.id, "receipt": ticket.receipt}
    next_line = _next_sentence(t, ticket, tz)
    details: list[str] = []
    if kind == "ticket_opened":
        if event.actor_kind in ("customer", "phone"):
            reason = t("mail.reason.opened", type=t.type_lower(ticket.ticket_type), **ids)
        else:
            reason = t("mail.reason.opened_by_vendor", vendor=ticket.linked_account.nickname,
                       type=t.type_lower(ticket.ticket_type), **ids)
        when = t.datetime(ticket.next_action_at, tz, weekday=True) if ticket.next_action_at else ""
        if ticket.ticket_type == TicketType.REFUND and when:
            details.append(t("mail.detail.refund_pending", when=when))
        elif ticket.ticket_type == TicketType.CANCEL and when:
            details.append(t("mail.detail.cancel_pending", when=when))
        elif ticket.ticket_type == TicketType.TECH_SUPPORT:
            details.append(t("mail.detail.tech_open"))
        return reason, details
    if kind == "ticket_reply":
        return t("mail.reason.reply", **ids), [next_line] if next_line else []
    if kind == "ticket_warning":
        details.append(t("mail.detail.warning"))
        if next_line:
            details.append(next_line)
        return t("mail.reason.warning", **ids), details
    if kind == "ticket_closed":
        if event.kind == "finalized":  # the refund news went out at processing; this only closes
            money_kind = "cancel" if ticket.ticket_type == TicketType.CANCEL else "refund"
            return t(f"mail.reason.finalized.{money_kind}", **ids), []
        key = "mail.reason.auto_closed" if event.kind == "auto_closed" else "mail.reason.closed"
        return t(key, **ids), []  # a request closed as moot says why in its comment (newest)
    if kind == "refund_processed":
        if ticket.ticket_type == TicketType.CANCEL:
            return t("mail.reason.processed.cancel", **ids), [t("mail.detail.cancel_done")]
        amount = _refunded_amount(t, ticket, history)
        sub = ticket.product_type == "recurring"
        detail = t("mail.detail.refund_done_sub" if sub else "mail.detail.refund_done", amount=amount)
        return t("mail.reason.processed.refund", **ids), [detail]
    # ticket_changed: say what changed
    if event.kind == "type_changed":
        reason = t("mail.reason.type_changed", **{"from": t.type_lower(event.from_value or ""),
                                                  "to": t.type_lower(event.to_value or "")}, **ids)
    elif event.kind == "reopened":
        reason = t("mail.reason.reopened", **ids)
    elif event.kind == "email_changed":
        reason = t("mail.reason.email_changed", to=event.to_value or "", **ids)
    elif event.kind == "refund_approved":
        reason = t("mail.reason.refund_approved", **ids)
    else:
        reason = t("mail.reason.changed", **ids)
    return reason, [next_line] if next_line else []


# ---------------------------------------------------------------------------------------------
# The vendor's copy (English)


def _vendor_copy(ticket: Ticket, kind: str, event: TicketEvent, history: list[TicketEvent],
                 now: datetime) -> dict:
    t = i18n.translator("en")
    account = ticket.linked_account
    tz = account.timezone
    reason, details = _vendor_reason(t, ticket, kind, event, history)
    link = None if ticket.is_closed else links.vendor_url(ticket, now=now)
    return {
        "side": "vendor",
        "lang": "en",
        "t": t,
        "greeting": None,
        "reason": reason,
        "details": details,
        "highlight": None,
        "headings": _headings(t),
        "newest": _newest(history, _staff_label, lambda m: t.datetime(m, tz)),
        "link": link,
        "link_label": "Reply or close without logging in",
        "link_note": (
            "This link opens only this ticket, for a reply or to close it. It works for 14 days or "
            "until the ticket closes, and every use is recorded. Do not forward it."
            if link else "The ticket is closed; open it in the portal to see it or reopen it."
        ),
        "extra_link": {"label": "Open in the portal", "url": external_url("tickets.show", ticket_id=ticket.id)},
        "ticket_rows": _ticket_rows(t, ticket, tz, vendor_side=True),
        "order_rows": _order_rows(t, ticket, tz, vendor_side=True),
        "history": [
            {"at": t.datetime(e.at, tz), "who": _staff_label(e), "what": t.event(e), "comment": e.comment}
            for e in history
        ],
        "footer": f"Ticket mail for {account.nickname}. Sent to the account's customer-service address.",
    }


def _staff_label(event: TicketEvent) -> str:
    if event.actor_kind == "customer":
        return f"Customer ({event.actor_label})" if event.actor_label else "Customer"
    return event.actor_label or event.actor_kind.replace("_", " ").capitalize()


def _vendor_reason(t, ticket, kind, event, history) -> tuple[str, list[str]]:
    tz = ticket.linked_account.timezone
    type_words = t.type_lower(ticket.ticket_type)
    when = t.datetime(ticket.next_action_at, tz, weekday=True) if ticket.next_action_at else None
    who = _staff_label(event)
    details: list[str] = []
    if kind == "ticket_opened":
        if event.actor_kind == "customer":
            reason = f"The customer opened a {type_words} ticket (#{ticket.id})."
        elif event.actor_kind == "phone":
            reason = f"ClickBank phone support opened a {type_words} ticket (#{ticket.id}) for the customer."
        else:
            reason = f"{who} opened a {type_words} ticket (#{ticket.id})."
        if ticket.ticket_type != TicketType.TECH_SUPPORT and when:
            if ticket.vendor_initiated:
                details.append(f"It is processed on {when}; until then you can still change or close it.")
            else:
                details.append(
                    f"It is processed automatically on {when}. Until then you can help the customer "
                    "and save the sale: close the ticket or turn it into tech support, but only with "
                    "the customer's consent.")
        elif ticket.ticket_type == TicketType.TECH_SUPPORT and ticket.last_party == "customer" and when:
            details.append(f"Please reply before {when}; otherwise both of you get an inactivity warning.")
        return reason, details
    if kind == "ticket_reply":
        reason = (f"The customer replied on ticket #{ticket.id}." if event.actor_kind == "customer"
                  else f"{who} replied on ticket #{ticket.id}.")
        return reason, _vendor_next(t, ticket, tz)
    if kind == "ticket_warning":
        since = t.datetime(ticket.timer_started_at, tz) if ticket.timer_started_at else ""
        if ticket.last_party == "customer":
            reason = f"No reply to the customer on ticket #{ticket.id} since {since}."
        else:
            reason = f"The customer has not answered your last reply on ticket #{ticket.id} since {since}."
        details.append("Please reply, or close the ticket if no more help is needed. The customer "
                       "was reminded that they can turn the ticket into a refund.")
        return reason, details + _vendor_next(t, ticket, tz)
    if kind == "ticket_closed":
        moot = _moot(event)
        if moot:
            charge = (event.data or {}).get("charge_receipt") or ticket.receipt
            why = {
                "already_refunded": f"the last charge ({charge}) had already been refunded",
                "charged_back": f"the customer had charged the last payment ({charge}) back",
                "no_active_subscription": "the subscription was no longer active",
            }.get(moot, "the order had changed")
            return (f"Ticket #{ticket.id} was closed when its {type_words} request was due, because "
                    f"{why}. Nothing was refunded or cancelled by this request."), []
        if event.kind == "auto_closed":
            return f"Ticket #{ticket.id} was closed automatically after a period without activity.", []
        if event.kind == "finalized":
            return (f"The {type_words} on ticket #{ticket.id} is complete and the ticket was closed "
                    "by the system. Nothing more happens on this order for this ticket."), []
        reason = f"{who} closed ticket #{ticket.id}."
        if ticket.refund_state == "withdrawn":
            details.append(f"The {type_words} request was withdrawn; nothing is refunded or cancelled.")
        return reason, details
    if kind == "refund_processed":
        if ticket.ticket_type == TicketType.CANCEL:
            return (f"The subscription of order {ticket.receipt} was cancelled (ticket #{ticket.id}). "
                    "No money was returned."), []
        amount = _refunded_amount(t, ticket, history)
        if ticket.product_type == "recurring":
            return (f"The last charge of order {ticket.receipt} ({amount}) was refunded and the "
                    f"subscription cancelled (ticket #{ticket.id})."), []
        return f"The refund of {amount} for order {ticket.receipt} was processed (ticket #{ticket.id}).", []
    if event.kind == "type_changed":
        reason = (f"{who} changed ticket #{ticket.id} from {t.type_lower(event.from_value or '')} to "
                  f"{t.type_lower(event.to_value or '')}.")
        if event.customer_agreed:
            details.append("Marked as agreed with the customer.")
    elif event.kind == "reopened":
        reason = f"{who} reopened ticket #{ticket.id}."
    elif event.kind == "email_changed":
        reason = f"{who} changed the customer's email from {event.from_value} to {event.to_value}."
    elif event.kind == "escalated":
        reason = f"{who} escalated ticket #{ticket.id}: a refund is allowed past the vendor window."
    elif event.kind == "refund_approved":
        reason = f"{who} approved the refund on ticket #{ticket.id}."
    else:
        reason = f"{who}: {t.event(event).lower()} on ticket #{ticket.id}."
    return reason, details + _vendor_next(t, ticket, tz)


def _moot(event: TicketEvent) -> str | None:
    """The reason code when the system closed a due request without carrying it out."""
    if event.kind != "closed" or event.actor_kind != "system" or not event.data:
        return None
    return event.data.get("moot")


def _vendor_next(t, ticket: Ticket, tz: str) -> list[str]:
    if ticket.is_closed or ticket.next_action_at is None:
        return []
    when = t.datetime(ticket.next_action_at, tz, weekday=True)
    words = {"process": f"The {t.type_lower(ticket.ticket_type)} is processed on {when}.",
             "settle": f"The {t.type_lower(ticket.ticket_type)} completes on {when}.",
             "warn": f"Without activity, an inactivity warning goes out on {when}.",
             "close": f"Without activity, the ticket closes automatically on {when}."}
    return [words.get(ticket.next_action, "")] if ticket.next_action in words else []


# ---------------------------------------------------------------------------------------------
# Shared parts


def _headings(t: i18n.Translator) -> dict:
    return {"newest": t("mail.newest"), "ticket": t("mail.ticket_details"),
            "order": t("mail.order_details"), "history": t("mail.history")}


def _newest(events, who, when) -> list[dict]:
    comments = [e for e in events if e.comment]
    return [{"at": when(e.at), "who": who(e), "text": e.comment} for e in reversed(comments[-NEWEST:])]


def _ticket_rows(t, ticket: Ticket, tz: str, *, vendor_side: bool) -> list[tuple[str, str]]:
    rows = [
        (t("field.ticket"), f"#{ticket.id}"),
        (t("field.type"), t.type(ticket.ticket_type)),
        (t("field.status"), t.status(ticket)),
        (t("field.opened"), t.datetime(ticket.opened_at, tz)),
    ]
    next_line = " ".join(_vendor_next(t, ticket, tz)) if vendor_side else _next_sentence(t, ticket, tz)
    if next_line:
        rows.append((t("field.next_step"), next_line))
    if vendor_side:
        rows.append(("Source", ticket.source.replace("_", " ").capitalize()))
        rows.append(("Language", i18n.LANGUAGE_NAMES.get(ticket.locale, ticket.locale)))
    return rows


def _order_rows(t, ticket: Ticket, tz: str, *, vendor_side: bool) -> list[tuple[str, str]]:
    order = ticket.transaction
    product = order.product_title or order.sku or ""
    if vendor_side and order.sku:
        product = f"{product} ({order.sku})"
    rows = [
        (t("field.receipt"), ticket.receipt),
        (t("field.product"), product),
        (t("field.amount"), t.money(order.amount_cents, order.currency)),
        (t("field.date"), t.date(order.occurred_at, tz)),
        (t("field.payment"), order.payment_method or ""),
        (t("field.vendor"), ticket.linked_account.nickname),
        (t("field.customer"), ticket.customer_name or ""),
        (t("field.email"), ticket.customer_email),
    ]
    return [(label, value) for label, value in rows if value]


def _refunded_amount(t: i18n.Translator, ticket: Ticket, history: list[TicketEvent]) -> str:
    """The amount of the refund this ticket caused (the sale, or the last charge)."""
    receipts = [e.data.get("refund_receipt") for e in history if e.kind == "processing" and e.data]
    receipts = [r for r in receipts if r]
    if receipts:
        refund = db.session.scalar(
            select(Transaction).where(
                Transaction.linked_account_id == ticket.linked_account_id,
                Transaction.receipt == receipts[-1],
                Transaction.txn_type.in_(["RFND", "TEST_RFND"]),
            )
        )
        if refund is not None:
            return t.money(refund.amount_cents, refund.currency)
    return t.money(ticket.amount_cents, ticket.currency)
