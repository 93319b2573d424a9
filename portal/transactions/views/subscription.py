"""Changing a subscription from the transaction page: cancel, pause, resume, next bill date."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, flash, request, url_for
from flask_login import current_user

from portal.authz.permissions import Action
from portal.authz.scope import current_principal
from portal.extensions import db
from portal.tickets.lifecycle import Refused
from portal.tickets.services import Actor, NotAllowed
from portal.transactions import bp, queries, subscriptions
from portal.transactions.forms import (
    CancelSubscriptionForm,
    ChangeBillDateForm,
    PauseSubscriptionForm,
    ResumeSubscriptionForm,
)
from portal.transactions.models import SubscriptionEventKind
from portal.transactions.views.detail import detail_context
from portal.types import utcnow
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, redirect_to, render

KINDS = {
    "cancel": SubscriptionEventKind.CANCELLED,
    "pause": SubscriptionEventKind.PAUSED,
    "resume": SubscriptionEventKind.RESUMED,
    "date": SubscriptionEventKind.DATE_CHANGED,
}
DONE = {
    "cancel": "Subscription cancelled; the customer was told by email.",
    "pause": "Subscription paused; the customer was told by email.",
    "resume": "Subscription resumed; the customer was told by email.",
    "date": "Next bill date changed; the customer was told by email.",
}


def conflict_message(sub, now) -> str:
    """"This subscription changed: …" with the state it is in now."""
    tz = ZoneInfo(sub.sale.linked_account.timezone)
    status = subscriptions.current_status(sub, now)
    parts = [f"it is now {status}"]
    if status in ("active", "paused") and sub.next_bill_at is not None:
        parts.append(f"next bill on {sub.next_bill_at.astimezone(tz):%Y-%m-%d}")
    if status == "paused" and sub.resume_at is not None:
        parts.append(f"restarting {sub.resume_at.astimezone(tz):%Y-%m-%d}")
    paid = sub.processed_payments
    parts.append(f"{paid} payment{'' if paid == 1 else 's'} made")
    return (
        f"This subscription changed while you were writing: {', '.join(parts)}. "
        "Nothing was changed by your form; your comment is still in the box — check the new "
        "state and send again if it still applies."
    )


def _change(txn_id: int, what: str, form_cls, form_key: str, call):
    txn, access = queries.load_transaction(txn_id)
    sub = queries.subscription_for(txn)
    if sub is None:
        abort(404)
    if not subscriptions.may(current_principal(), KINDS[what], access):
        abort(403)
    form = form_cls()
    error = None
    if form.validate_on_submit():
        actor = Actor.for_user(current_user, current_principal())
        seen = request.form.get("expected_version", "")[:12]
        try:
            call(actor, sub, access, form, utcnow(), seen)
        except NotAllowed:
            abort(403)
        except subscriptions.Conflict:
            db.session.rollback()
            txn, access = queries.load_transaction(txn_id)
            fresh = queries.subscription_for(txn)
            ctx = detail_context(txn, access, **{form_key: form})
            body = render(
                "transactions/show.html",
                block="subscription",
                **ctx,
                sub_conflict=conflict_message(fresh, utcnow()),
                sub_error_form=what,
            )
            return body, 409
        except Refused as exc:
            db.session.rollback()
            error = exc.message
        else:
            if is_fragment_request():  # the card comes back with the new state and a note
                ctx = detail_context(*queries.load_transaction(txn_id))
                return render(
                    "transactions/show.html", block="subscription", **ctx, sub_message=DONE[what]
                )
            flash(DONE[what], "success")
            return redirect_to(url_for("transactions.show", txn_id=txn.id) + "#subscription")
    ctx = detail_context(txn, access, **{form_key: form})
    # The form comes back with the version the clerk's page showed (as the ticket page does):
    # if the subscription changed meanwhile, the next send is still told so.
    seen = request.form.get("expected_version", "")
    return render(
        "transactions/show.html",
        block="subscription",
        **ctx,
        sub_error=error,
        sub_error_form=what,
        sub_form_version=seen if seen.isdigit() and len(seen) <= 12 else None,
    )


@bp.post("/<int:txn_id>/subscription/cancel")
@require(Action.TRANSACTION_VIEW)
def subscription_cancel(txn_id: int):
    """Stop billing (no refund). Refund authority only."""
    return _change(
        txn_id,
        "cancel",
        CancelSubscriptionForm,
        "cancel_form",
        lambda a, s, acc, f, now, seen: subscriptions.cancel(
            a, s, acc, f.comment.data, now=now, expected_version=seen
        ),
    )


@bp.post("/<int:txn_id>/subscription/pause")
@require(Action.TRANSACTION_VIEW)
def subscription_pause(txn_id: int):
    return _change(
        txn_id,
        "pause",
        PauseSubscriptionForm,
        "pause_form",
        lambda a, s, acc, f, now, seen: subscriptions.pause(
            a, s, acc, f.restart_on.data, f.comment.data, now=now, expected_version=seen
        ),
    )


@bp.post("/<int:txn_id>/subscription/resume")
@require(Action.TRANSACTION_VIEW)
def subscription_resume(txn_id: int):
    return _change(
        txn_id,
        "resume",
        ResumeSubscriptionForm,
        "resume_form",
        lambda a, s, acc, f, now, seen: subscriptions.resume(
            a,
            s,
            acc,
            f.comment.data,
            now=now,
            next_bill_on=f.next_bill_on.data,
            expected_version=seen,
        ),
    )


@bp.post("/<int:txn_id>/subscription/date")
@require(Action.TRANSACTION_VIEW)
def subscription_date(txn_id: int):
    return _change(
        txn_id,
        "date",
        ChangeBillDateForm,
        "date_form",
        lambda a, s, acc, f, now, seen: subscriptions.change_date(
            a, s, acc, f.next_bill_on.data, f.comment.data, now=now, expected_version=seen
        ),
    )
