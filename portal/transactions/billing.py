"""Sandbox billing: the rebills ClickBank would charge, charged by the portal itself.

A sandbox account plays ClickBank's part (DESIGN.md, "Sources of account data"), so when a
subscription's ``next_bill_at`` passes, somebody has to charge it. The worker runs
:func:`bill_due` every minute (``portal.tasks.bill_subscriptions``, under a lease) and
``flask --app portal bill --now …`` runs it by hand.

* **What a rebill is.** A ``BILL`` (``TEST_BILL`` for a test order) with the receipt
  ``<sale receipt>-<n>`` (n = 1 for the first rebill), the subscription's rebill price and
  currency (what the customer signed up for, even if the product's price changed since), the
  product, affiliate (who earns the rebill commission), payment method and locale of the sale and
  the customer as the order knows them now (a changed email address included). It goes through
  :func:`portal.transactions.services.record`, so the Dashboard's daily totals count it. The
  customer gets the usual receipt mail (``templates/email/receipt.*``) in their language, with a
  line about the next payment.
* **The schedule.** The next bill date moves on by the plan's period (``interval_days``, copied
  from the product at sign-up), on the same local clock time in the account's time zone, so
  summer time does not shift it by an hour. A plan with a number of payments
  (``total_payments``) ends as *completed* after its last payment.
* **Pauses.** A paused subscription is never billed before its restart date; on that date it
  becomes active again (a "resumed" event by the system) and the bill due on it is charged.
* **Catching up.** After downtime, each missed period is billed on its own, dated when it was
  due: the sandbox shows the same history ClickBank's biller (which never goes down) would, and
  the refund windows, daily totals and affiliate reports stay true. One bill per run of the loop,
  each in its own transaction; a customer who cancelled meanwhile is not charged for the periods
  after the cancellation, because cancelling clears ``next_bill_at``.
* **Exactly once.** Each period is claimed with one conditional UPDATE of the subscription
  (same version, same ``next_bill_at``, still billable) that moves the schedule on and bumps the
  version, in the same transaction as the rebill row. A second worker, or a run that read the
  row before the first committed, matches no row and does nothing; the (account, receipt,
  type) unique key of the transactions table is the backstop. A clerk's form that read the
  subscription before the bill gets "this subscription changed" (the version moved).
* **Sandbox only.** ClickBank accounts are billed by ClickBank (their rebills arrive through the
  API and Instant Notifications); removed accounts are left alone.
* **One bad subscription never stops the rest**: it is logged and retried on the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import AccountSource, AccountStatus, LinkedAccount
from portal.db_setup import walk_in_pages
from portal.extensions import db
from portal.tickets.lifecycle import ActorKind
from portal.transactions import receipts
from portal.transactions import services as txn_services
from portal.transactions import subscription_rules as rules
from portal.transactions.models import (
    Subscription,
    SubscriptionEvent,
    SubscriptionEventKind,
    SubscriptionStatus,
    Transaction,
    TxnType,
)

log = logging.getLogger(__name__)

BATCH = 200
BILLABLE = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.PAUSED.value)


@dataclass(frozen=True)
class Due:
    """A period to bill, as read from the row: the claim succeeds only if the row still says so."""

    subscription_id: int
    version: int
    due_at: datetime
    status: str


def _billable(now: datetime, *, by_time: bool = False):
    # ``linked_account_id + 0`` keeps the walk on the (status, next_bill_at) index: only a few
    # subscriptions are due at any minute (the same trick as the timers sweep).
    account = Subscription.linked_account_id + 0 if by_time else Subscription.linked_account_id
    return and_(
        Subscription.next_bill_at <= now,
        Subscription.status.in_(BILLABLE),
        or_(
            Subscription.status == SubscriptionStatus.ACTIVE.value,
            Subscription.resume_at <= now,  # a pause bills again on its restart date
        ),
        account.in_(
            select(LinkedAccount.id).where(
                LinkedAccount.source == AccountSource.SANDBOX,
                LinkedAccount.status == AccountStatus.LINKED,
            )
        ),
    )


def due_subscriptions(
    now: datetime, *, after: tuple[datetime, int] | None = None, limit: int = BATCH
) -> list[tuple[datetime, int]]:
    """(next bill time, id) of up to ``limit`` subscriptions due at ``now``, oldest first."""
    query = select(Subscription.next_bill_at, Subscription.id).where(_billable(now, by_time=True))
    if after is not None:
        at, sub_id = after
        query = query.where(
            or_(
                Subscription.next_bill_at > at,
                and_(Subscription.next_bill_at == at, Subscription.id > sub_id),
            )
        )
    query = query.order_by(Subscription.next_bill_at, Subscription.id).limit(limit)
    rows = db.session.execute(query).all()
    db.session.commit()
    return [(row[0], row[1]) for row in rows]


def next_due(subscription_id: int, now: datetime) -> Due | None:
    """The period of this subscription due at ``now``, if any (read only)."""
    row = db.session.execute(
        select(Subscription.version, Subscription.next_bill_at, Subscription.status).where(
            Subscription.id == subscription_id, _billable(now)
        )
    ).first()
    db.session.commit()
    if row is None:
        return None
    return Due(subscription_id, row.version, row.next_bill_at, row.status)


def following_bill(sub: Subscription, due_at: datetime, tz: ZoneInfo) -> datetime:
    """One period after ``due_at``, at the same clock time in the account's zone."""
    day = rules.local_day(due_at, tz) + timedelta(days=sub.interval_days or 30)
    return rules.bill_time_on(day, due_at, tz)


def charge(due: Due, now: datetime) -> Transaction | None:
    """Bill one period: claim it, record the rebill, mail the receipt — one transaction.
    Returns None when the claim fails (billed, cancelled, paused or changed meanwhile)."""
    sub = db.session.get(Subscription, due.subscription_id, populate_existing=True)
    if sub is None:
        db.session.rollback()
        return None
    sale = sub.sale
    account = sale.linked_account
    tz = ZoneInfo(account.timezone)
    number = sub.processed_payments + 1  # this payment's number on the plan, the sale being 1
    last = sub.total_payments is not None and number >= sub.total_payments
    if sub.total_payments is not None and sub.processed_payments >= sub.total_payments:
        return _complete_without_bill(sub, due, now)
    following = None if last else following_bill(sub, due.due_at, tz)
    claimed = db.session.execute(
        update(Subscription)
        .where(
            Subscription.id == due.subscription_id,
            Subscription.version == due.version,
            Subscription.next_bill_at == due.due_at,
            Subscription.status == due.status,
        )
        .values(
            version=due.version + 1,
            next_bill_at=following,
            processed_payments=number,
            status=(SubscriptionStatus.COMPLETED if last else SubscriptionStatus.ACTIVE).value,
            paused_at=None,
            resume_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return None
    try:
        bill = _record_bill(sub, sale, account, due.due_at)
    except IntegrityError:  # the receipt exists: another biller got here first after all
        db.session.rollback()
        log.warning("Billing: rebill for subscription %s already recorded", due.subscription_id)
        return None
    if due.status == SubscriptionStatus.PAUSED.value:
        _system_event(
            sub, SubscriptionEventKind.RESUMED, due.due_at, tz,
            "The pause ended on its restart date; billing continues.",
            before="paused", after=rules.local_day(due.due_at, tz).isoformat(),
        )
    if last:
        _system_event(
            sub, SubscriptionEventKind.COMPLETED, due.due_at, tz,
            f"The plan's last payment ({number} of {sub.total_payments}) was billed.",
            before=SubscriptionStatus.ACTIVE.value, after=SubscriptionStatus.COMPLETED.value,
        )
    receipts.queue_receipt(
        bill,
        now=now,
        next_bill_at=following,
        plan_finished=last,
        dedupe=f"rebill:{account.id}:{bill.receipt}",
    )
    db.session.commit()
    return bill


def _complete_without_bill(sub: Subscription, due: Due, now: datetime) -> None:
    """A plan already paid in full that still says "active" (e.g. imported): end it."""
    done = db.session.execute(
        update(Subscription)
        .where(Subscription.id == due.subscription_id, Subscription.version == due.version)
        .values(
            version=due.version + 1,
            status=SubscriptionStatus.COMPLETED.value,
            next_bill_at=None,
            paused_at=None,
            resume_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount == 1:
        tz = ZoneInfo(sub.sale.linked_account.timezone)
        _system_event(sub, SubscriptionEventKind.COMPLETED, now, tz,
                      f"All {sub.total_payments} payments of the plan were made.",
                      before=due.status, after=SubscriptionStatus.COMPLETED.value)
        db.session.commit()
    else:
        db.session.rollback()
    return None


def _record_bill(
    sub: Subscription, sale: Transaction, account: LinkedAccount, at: datetime
) -> Transaction:
    charges = txn_services.charges_of(sale)  # the sale and its rebills, however they came
    customer = charges[-1] if charges else sale  # the order as it is now (a changed email too)
    bill = Transaction(
        # n of ``<sale>-n``: one more than the rebills the order has (the sale counts as one).
        receipt=f"{sale.receipt}-{max(len(charges), 1)}",
        sale_receipt=sale.sale_receipt,
        txn_type=(TxnType.TEST_BILL if sale.is_test else TxnType.BILL).value,
        occurred_at=at,
        amount_cents=sub.rebill_cents,
        currency=sub.currency,
        customer_first_name=customer.customer_first_name,
        customer_last_name=customer.customer_last_name,
        customer_email=customer.customer_email,
        customer_country=sale.customer_country,
        customer_postal_code=sale.customer_postal_code,
        affiliate=sale.affiliate,
        payment_method=sale.payment_method,
        tracking_id=sale.tracking_id,
        product_id=sub.product_id,
        sku=sale.sku,
        product_title=sale.product_title,
        recurring=True,
        quantity=1,
        subscription_id=sub.id,
        locale=sale.locale or "en",
    )
    return txn_services.record(bill, account)


def _system_event(sub, kind, at, tz, comment, *, before=None, after=None) -> None:
    db.session.add(
        SubscriptionEvent(
            subscription_id=sub.id,
            linked_account_id=sub.linked_account_id,
            at=at,
            kind=kind.value,
            actor_kind=ActorKind.SYSTEM.value,
            actor_label="System",
            from_value=before,
            to_value=after,
            comment=comment,
        )
    )


def bill_subscription(subscription_id: int, now: datetime) -> dict[str, int]:
    """Every period of one subscription due at ``now``, oldest first (a catch-up bills each)."""
    counts: dict[str, int] = {}
    guard = 0
    while (due := next_due(subscription_id, now)) is not None and guard < 1000:
        guard += 1
        bill = charge(due, now)
        if bill is None:
            fresh = next_due(subscription_id, now)
            if fresh == due or fresh is None:
                break  # nothing billable, or someone else holds it: leave it to them
            continue
        counts["billed"] = counts.get("billed", 0) + 1
        if due.status == SubscriptionStatus.PAUSED.value:
            counts["resumed"] = counts.get("resumed", 0) + 1
        if db.session.get(Subscription, subscription_id).status == SubscriptionStatus.COMPLETED:
            counts["completed"] = counts.get("completed", 0) + 1
    return counts


def bill_due(now: datetime, *, limit: int = BATCH, between_batches=None) -> dict[str, int]:
    """One billing run over every sandbox subscription due at ``now``. Returns counts, e.g.
    ``{"billed": 3, "resumed": 1}``. ``limit`` is the page size of the walk (keyset order, so
    a subscription another worker holds is passed over, not read again);
    ``between_batches()`` is called before each page after the first (lease renewal)."""
    counts: dict[str, int] = {}
    due = walk_in_pages(lambda after, size: due_subscriptions(now, after=after, limit=size),
                        limit=limit, between_pages=between_batches)
    for _, sub_id in due:
        try:
            result = bill_subscription(sub_id, now)
        except Exception:
            db.session.rollback()
            log.exception("Billing: subscription %s failed; it is retried on the next run", sub_id)
            continue
        for key, value in result.items():
            counts[key] = counts.get(key, 0) + value
    if counts:
        log.info("Billing at %s: %s", now.isoformat(), counts)
    return counts
