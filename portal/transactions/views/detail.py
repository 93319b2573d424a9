"""The transaction page, its receipt (page, PDF, email) and opening a ticket for the sale."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, request, url_for
from flask_login import current_user

from portal.authz.permissions import Action
from portal.authz.policy import can
from portal.authz.scope import current_principal
from portal.extensions import db, limiter
from portal.tickets import lifecycle
from portal.tickets import services as ticket_services
from portal.tickets.lifecycle import Refused, Status, TicketType
from portal.transactions import bp, queries, receipts, subscriptions
from portal.transactions import services as txn_services
from portal.transactions.forms import (
    CancelSubscriptionForm,
    ChangeBillDateForm,
    EmailReceiptForm,
    OpenTicketForm,
    PauseSubscriptionForm,
    ResumeSubscriptionForm,
)
from portal.transactions.models import TxnType
from portal.transactions.subscription_rules import suggested_resume_day
from portal.types import utcnow
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, redirect_to, render


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _user_key() -> str:
    return f"user:{getattr(current_user, 'id', None) or request.remote_addr}"


def outside_vendor_window(sale, now) -> bool:
    """The tickets' own rule: older than the account's vendor window (from the last charge)."""
    last = txn_services.last_charge(sale)
    rules = ticket_services.rules_for(sale.linked_account)
    return not lifecycle.vendor_may_refund(last.occurred_at, now, rules, escalated=False)


NEEDS = {
    "work": "needs Orders/Tickets",
    "refund": "needs Refund authority",
}


def ticket_choices(sale, now, *, can_work: bool, can_refund: bool, outside_window: bool) -> dict:
    """Per ticket type of the "T" form: why it cannot be opened now (None: it can). The same
    rule the server applies when the form is posted (``tickets.services.check_request``), dry-run
    for the vendor side; past the vendor window a money request counts as escalated, because the
    form offers the Escalate box for it (the server still refuses it unticked)."""
    reasons = {}
    for kind in TicketType:
        if kind.is_money and not can_refund:
            reasons[kind.value] = NEEDS["refund"]
            continue
        if not kind.is_money and not can_work:
            reasons[kind.value] = NEEDS["work"]
            continue
        try:
            ticket_services.check_request(
                sale, kind, by=lifecycle.Party.VENDOR, now=now,
                escalated=kind.is_money and outside_window,
            )
        except Refused as refused:
            reasons[kind.value] = refused.message
        else:
            reasons[kind.value] = None
    return reasons


def next_bill_note(sub, status: str, now, *, sandbox: bool) -> str | None:
    """What to say beside a next bill date that has passed (instead of "in due now")."""
    if status not in ("active", "paused") or sub.next_bill_at is None or sub.next_bill_at > now:
        return None
    if not sandbox:
        return "due; ClickBank reports the payment once it has charged it"
    return "due now; the sandbox biller charges it within a minute"


def order_state(rows) -> dict:
    """Per charge: the refund or chargeback that reversed it (same receipt), if any."""
    reversed_by = {}
    for row in rows:
        if row.base_type in (TxnType.RFND, TxnType.CGBK):
            reversed_by[row.receipt] = row
    return reversed_by


def detail_context(txn, access, **forms) -> dict:
    """Everything the transaction page shows (forms may be passed in with their errors)."""
    principal = current_principal()
    now = utcnow()
    account = txn.linked_account
    sale = queries.sale_of(txn)
    rows = queries.related(txn)
    tickets = queries.tickets_of(txn)
    sub = queries.subscription_for(txn)
    last = txn_services.last_charge(sale)
    reversed_by = order_state(rows)
    age_days = (now - last.occurred_at).days
    open_money = next(
        (t for t in tickets if TicketType(t.ticket_type).is_money and t.status != Status.CLOSED),
        None,
    )
    zone = ZoneInfo(account.timezone)
    sub_ctx = {}
    if sub is not None:
        status = subscriptions.current_status(sub, now)
        sub_ctx = dict(
            sub=sub,
            sub_status=status,
            sub_history=subscriptions.history(sub),
            sub_may={
                k.value: subscriptions.may(principal, k, access) for k in subscriptions.ACTIONS
            },
            sub_due_note=next_bill_note(sub, status, now, sandbox=account.is_sandbox),
            sub_sandbox=account.is_sandbox,
            resume_suggestion=suggested_resume_day(subscriptions.skipped_bill_at(sub), now, zone),
            today=now.astimezone(zone).date(),
            pause_latest=now.astimezone(zone).date() + timedelta(days=60),
        )
    forms.setdefault("ticket_form", OpenTicketForm(formdata=None))
    forms.setdefault("email_form", EmailReceiptForm(formdata=None))
    forms.setdefault("cancel_form", CancelSubscriptionForm(formdata=None))
    forms.setdefault("pause_form", PauseSubscriptionForm(formdata=None))
    forms.setdefault("resume_form", ResumeSubscriptionForm(formdata=None))
    forms.setdefault("date_form", ChangeBillDateForm(formdata=None))
    can_work = can(principal, Action.TICKET_WORK, access)
    can_refund = can(principal, Action.TICKET_REFUND, access)
    outside_window = outside_vendor_window(sale, now)
    refusals = ticket_choices(
        sale, now, can_work=can_work, can_refund=can_refund, outside_window=outside_window
    )
    return dict(
        txn=txn,
        access=access,
        account=account,
        sale=sale,
        rows=rows,
        tickets=tickets,
        last_charge=last,
        reversed_by=reversed_by,
        last_reversed=reversed_by.get(last.receipt),
        age_days=age_days,
        outside_window=outside_window,
        open_money=open_money,
        type_labels=queries.TYPE_LABELS,
        can_work=can_work,
        can_refund=can_refund,
        ticket_refusals=refusals,
        ticket_offered=[kind for kind, reason in refusals.items() if reason is None],
        can_email=txn.linked_account_id in principal.active_account_ids,
        now=now,
        **sub_ctx,
        **forms,
    )


@bp.get("/<int:txn_id>")
@require(Action.TRANSACTION_VIEW)
def show(txn_id: int):
    """Order details, line items, customer, related rows, subscription and tickets."""
    txn, access = queries.load_transaction(txn_id)
    return render("transactions/show.html", **detail_context(txn, access))


@bp.post("/<int:txn_id>/tickets")
@require(Action.TRANSACTION_VIEW)
def open_ticket(txn_id: int):
    """The "T" action: a ticket for this sale. Refund and cancellation need Refund authority
    and run as vendor-initiated requests (processed after 5 minutes, changeable until then)."""
    txn, access = queries.load_transaction(txn_id)
    principal = current_principal()
    form = OpenTicketForm()
    error = None
    if form.validate_on_submit():
        kind = TicketType(form.ticket_type.data)
        if not can(
            principal, Action.TICKET_REFUND if kind.is_money else Action.TICKET_WORK, access
        ):
            abort(403)
        sale = queries.sale_of(txn)
        try:
            old = outside_vendor_window(sale, utcnow())
            ticket = ticket_services.open_ticket(
                ticket_services.Actor.for_user(current_user, principal),
                sale,
                kind,
                comment=form.comment.data,
                now=utcnow(),
                escalated=bool(form.escalate.data and old),
            )
        except Refused as exc:
            db.session.rollback()
            error = exc.message
        except ticket_services.NotAllowed:
            abort(403)
        else:
            flash(f"Ticket #{ticket.id} opened ({kind.value.replace('_', ' ')}).", "success")
            if can(principal, Action.TICKET_VIEW, ticket):
                return redirect_to(url_for("tickets.show", ticket_id=ticket.id))
            # Search Orders without Orders/Tickets may open a ticket but not look at it (DOMAIN.md
            # §11): back to the order, which lists the new ticket, instead of a 403.
            return redirect_to(url_for("transactions.show", txn_id=txn.id))
    return render(
        "transactions/show.html",
        block="open_ticket",
        **detail_context(txn, access, ticket_form=form),
        ticket_error=error,
    )


# ---------------------------------------------------------------------------------------------
# Receipt


@bp.get("/<int:txn_id>/receipt")
@require(Action.TRANSACTION_VIEW)
def receipt(txn_id: int):
    """The receipt as a page, with a print stylesheet."""
    txn, access = queries.load_transaction(txn_id)
    return render(
        "transactions/receipt.html",
        txn=txn,
        receipt=receipts.build(txn, locale="en"),  # the vendor's page; PDF and mail: customer's
        can_email=txn.linked_account_id in current_principal().active_account_ids,
        email_form=EmailReceiptForm(formdata=None),
    )


@bp.get("/<int:txn_id>/receipt.pdf")
@require(Action.TRANSACTION_VIEW)
def receipt_pdf(txn_id: int):
    """The receipt as a PDF download."""
    txn, _ = queries.load_transaction(txn_id)
    data = receipts.build(txn)
    return Response(
        receipts.render_pdf(data),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{data.filename}"'},
    )


@bp.post("/<int:txn_id>/email-receipt")
@require(Action.TRANSACTION_VIEW)
@limiter.limit("30 per hour", key_func=_user_key)
def email_receipt(txn_id: int):
    """Email the receipt to the customer (through the outbox). A ticket sends it with its own
    action (``tickets.email_receipt``), which records it in the ticket's history."""
    txn, access = queries.load_transaction(txn_id)
    if txn.linked_account_id not in current_principal().active_account_ids:
        abort(403)  # a removed account is read only
    form = EmailReceiptForm()
    back = safe_next(form.next.data) or url_for("transactions.show", txn_id=txn.id)
    if form.validate_on_submit():
        to = receipts.email_receipt(current_user, txn, now=utcnow())
        message = f"Receipt {txn.receipt} emailed to {to}."
        if is_fragment_request():
            return render(
                "transactions/show.html",
                block="email_receipt",
                **detail_context(txn, access),
                email_message=message,
            )
        flash(message, "success")
        return redirect_to(back)
    return render(
        "transactions/show.html",
        block="email_receipt",
        **detail_context(txn, access, email_form=form),
        email_error="Please check the form.",
    )
