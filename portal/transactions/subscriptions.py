"""Changing a subscription from the portal: cancel, pause, resume, change the next bill date.

Each change checks the permission and the rule (``subscription_rules``), changes the row,
appends a :class:`SubscriptionEvent` with the comment, and mails the customer in the order's
language — in one transaction. Sandbox accounts only for now: on a ClickBank account the change
belongs to ClickBank's API, which the integration will call through the outbox.

Views pass ``expected_version`` (the version the clerk's form was rendered with): if the
subscription changed since — another clerk, a rebill of the sandbox biller, a refund ticket that
cancelled it — the change raises :class:`Conflict` with the fresh row instead of overwriting.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from portal.accounts.models import AccountSource
from portal.authz.permissions import Action
from portal.authz.policy import can
from portal.extensions import db
from portal.notifications.mail import queue_email
from portal.support import i18n
from portal.tickets.lifecycle import Refused, check_comment
from portal.tickets.services import Actor, NotAllowed
from portal.transactions import services as txn_services
from portal.transactions import subscription_rules as rules
from portal.transactions.models import (
    Subscription,
    SubscriptionEvent,
    SubscriptionEventKind,
    SubscriptionStatus,
)

# Who may do what: stopping the money is for Refund authority; the rest is customer service.
ACTIONS = {
    SubscriptionEventKind.CANCELLED: Action.SUBSCRIPTION_MANAGE,
    SubscriptionEventKind.PAUSED: Action.TICKET_WORK,
    SubscriptionEventKind.RESUMED: Action.TICKET_WORK,
    SubscriptionEventKind.DATE_CHANGED: Action.TICKET_WORK,
}
# The customer's mail: subject key in ``portal.support.i18n`` (the body is the template
# ``templates/email/subscription_<kind>.*``).
SUBJECTS = {kind: f"submail.subject.{kind.value}" for kind in ACTIONS}


class Conflict(Exception):
    """The subscription changed since the actor loaded it. ``subscription`` is the new state."""

    def __init__(self, subscription: Subscription):
        super().__init__("This subscription was changed in the meantime.")
        self.subscription = subscription


def _check_version(sub: Subscription, expected_version) -> None:
    """The actor saw ``expected_version``; if the row moved on since, say so (the form keeps the
    comment). Concurrent writers are also caught at flush by the mapper's version column."""
    if expected_version in (None, ""):
        return
    try:
        expected = int(str(expected_version).strip())
    except (TypeError, ValueError):
        expected = -1
    if expected != sub.version:
        raise Conflict(sub)


def may(principal, kind: SubscriptionEventKind, access) -> bool:
    """For templates and views: may ``principal`` make this change (``access``: TxnAccess)."""
    return can(principal, ACTIONS[kind], access)


def history(sub: Subscription) -> list[SubscriptionEvent]:
    return list(
        db.session.scalars(
            select(SubscriptionEvent)
            .where(SubscriptionEvent.subscription_id == sub.id)
            .order_by(SubscriptionEvent.id.desc())
        )
    )


def current_status(sub: Subscription, now: datetime) -> str:
    return rules.effective_status(sub.status, sub.resume_at, now)


def _tz(sub: Subscription) -> ZoneInfo:
    return ZoneInfo(sub.sale.linked_account.timezone)


def _begin(
    actor: Actor,
    sub: Subscription,
    kind: SubscriptionEventKind,
    access,
    comment: str,
    now: datetime,
    expected_version=None,
) -> str:
    if actor.principal is None or not can(actor.principal, ACTIONS[kind], access):
        raise NotAllowed(kind.value)
    _check_version(sub, expected_version)
    if sub.sale.linked_account.source != AccountSource.SANDBOX:
        raise Refused(
            "clickbank_account",
            "This subscription is billed by ClickBank; change it in ClickBank for now.",
        )
    text = check_comment(comment)
    if current_status(sub, now) == rules.ACTIVE and sub.status == SubscriptionStatus.PAUSED:
        # The pause ended on its restart date; make the row say so before changing it.
        sub.status, sub.paused_at, sub.resume_at = SubscriptionStatus.ACTIVE, None, None
    return text


def _day(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).date().isoformat() if moment else None


def _finish(
    actor: Actor,
    sub: Subscription,
    kind: SubscriptionEventKind,
    text: str,
    now: datetime,
    *,
    before: str | None,
    after: str | None,
    data: dict | None = None,
    previous: datetime | None = None,
) -> SubscriptionEvent:
    try:
        db.session.flush()  # the version column: a concurrent writer makes this fail
    except StaleDataError:
        db.session.rollback()
        raise Conflict(db.session.get(Subscription, sub.id, populate_existing=True)) from None
    account = sub.sale.linked_account
    event = SubscriptionEvent(
        subscription_id=sub.id,
        linked_account_id=account.id,
        at=now,
        kind=kind.value,
        actor_kind=actor.kind.value,
        actor_user_id=actor.user_id,
        actor_label=actor.label[:160],
        from_value=before,
        to_value=after,
        comment=text,
        data=data,
    )
    db.session.add(event)
    sale = sub.sale
    t = i18n.translator(sale.locale)
    title = sale.product_title or t("submail.your_product")
    queue_email(
        f"subscription_{kind.value}",
        to=sale.customer_email,
        subject=t(SUBJECTS[kind], title=title),
        context={
            "sub": sub,
            "sale": sale,
            "account": account,
            "event": event,
            "tz": account.timezone,
            "t": t,
            "lang": t.locale,
            "title": title,
            "previous": previous,
        },
        now=now,
        linked_account_id=account.id,
        master_account_id=account.master_account_id,
    )
    db.session.commit()
    return event


def cancel(
    actor: Actor, sub: Subscription, access, comment: str, *, now: datetime, expected_version=None
) -> SubscriptionEvent:
    """Stop future billing (no refund). Refund authority only."""
    kind = SubscriptionEventKind.CANCELLED
    text = _begin(actor, sub, kind, access, comment, now, expected_version)
    rules.check_cancel(sub.status)
    before = sub.status
    txn_services.cancel_subscription(sub, now=now)
    sub.paused_at = sub.resume_at = None
    return _finish(actor, sub, kind, text, now, before=before, after=sub.status)


def pause(
    actor: Actor,
    sub: Subscription,
    access,
    restart_on: date,
    comment: str,
    *,
    now: datetime,
    expected_version=None,
) -> SubscriptionEvent:
    """Skip billing until ``restart_on`` (after the next bill date, at most 60 days ahead)."""
    kind = SubscriptionEventKind.PAUSED
    text = _begin(actor, sub, kind, access, comment, now, expected_version)
    tz = _tz(sub)
    rules.check_pause(sub.status, sub.next_bill_at, restart_on, now, tz)
    before = sub.next_bill_at
    restart = rules.bill_time_on(restart_on, sub.next_bill_at or sub.started_at, tz)
    sub.status = SubscriptionStatus.PAUSED
    sub.paused_at = now
    sub.resume_at = restart
    sub.next_bill_at = restart
    return _finish(
        actor,
        sub,
        kind,
        text,
        now,
        before=_day(before, tz),
        after=restart_on.isoformat(),
        data={"skipped_bill_at": before.isoformat() if before else None},
    )


def resume(
    actor: Actor,
    sub: Subscription,
    access,
    comment: str,
    *,
    now: datetime,
    next_bill_on: date | None = None,
    expected_version=None,
) -> SubscriptionEvent:
    """End a pause early; billing continues on ``next_bill_on`` (default: the skipped date if
    it is still ahead, else tomorrow)."""
    kind = SubscriptionEventKind.RESUMED
    text = _begin(actor, sub, kind, access, comment, now, expected_version)
    tz = _tz(sub)
    if next_bill_on is None:
        next_bill_on = rules.suggested_resume_day(skipped_bill_at(sub), now, tz)
    rules.check_resume(sub.status, next_bill_on, now, tz)
    before = sub.next_bill_at
    sub.status = SubscriptionStatus.ACTIVE
    sub.paused_at = sub.resume_at = None
    sub.next_bill_at = rules.bill_time_on(next_bill_on, before or sub.started_at, tz)
    return _finish(
        actor, sub, kind, text, now, before=_day(before, tz), after=next_bill_on.isoformat()
    )


def change_date(
    actor: Actor,
    sub: Subscription,
    access,
    next_bill_on: date,
    comment: str,
    *,
    now: datetime,
    expected_version=None,
) -> SubscriptionEvent:
    """Move the next bill to another day in the future."""
    kind = SubscriptionEventKind.DATE_CHANGED
    text = _begin(actor, sub, kind, access, comment, now, expected_version)
    tz = _tz(sub)
    rules.check_change_date(sub.status, next_bill_on, now, tz)
    before = sub.next_bill_at
    if before is not None and before.astimezone(tz).date() == next_bill_on:
        raise Refused("same_date", "That is already the next bill date.")
    sub.next_bill_at = rules.bill_time_on(next_bill_on, before or sub.started_at, tz)
    return _finish(
        actor,
        sub,
        kind,
        text,
        now,
        before=_day(before, tz),
        after=next_bill_on.isoformat(),
        previous=before,
    )


def skipped_bill_at(sub: Subscription) -> datetime | None:
    """The bill date a pause skipped (from the pause event), for resuming early."""
    event = db.session.scalar(
        select(SubscriptionEvent)
        .where(
            SubscriptionEvent.subscription_id == sub.id,
            SubscriptionEvent.kind == SubscriptionEventKind.PAUSED.value,
        )
        .order_by(SubscriptionEvent.id.desc())
        .limit(1)
    )
    raw = (event.data or {}).get("skipped_bill_at") if event else None
    return datetime.fromisoformat(raw) if raw else None
