"""Sandbox billing: due subscriptions are charged once per period, through ``record`` (daily
totals), dated when due, with the receipt mail in the customer's language — and never twice,
however many workers run or how often."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.tickets.services import Actor
from portal.transactions import billing, queries, subscriptions
from portal.transactions.models import (
    DailySales,
    Subscription,
    SubscriptionEvent,
    Transaction,
)
from tests.concurrency import run_at_once

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 6, 3, 14, 0, tzinfo=timezone.utc)  # a Wednesday, 10:00 in New York (EDT)
D = timedelta(days=1)
MIN = timedelta(minutes=1)


@pytest.fixture
def shop(make):
    owner = make.owner(email="owner@billing.test")
    account = make.account(owner, "ketovital", cs_email="help@ketovital.test")
    return owner, account


def subscribe(make, account, *, at=T0, **kw):
    sale = make.sale(account, at=at, recurring=True, **kw)
    return sale, queries.subscription_for(sale)


def bills(sale=None) -> list[Transaction]:
    query = select(Transaction).where(Transaction.txn_type.in_(("BILL", "TEST_BILL")))
    if sale is not None:
        query = query.where(Transaction.sale_receipt == sale.receipt)
    return list(db.session.scalars(query.order_by(Transaction.occurred_at, Transaction.id)))


def fresh(sub: Subscription) -> Subscription:
    return db.session.get(Subscription, sub.id, populate_existing=True)


def receipt_mails() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "receipt")))


# --- one period ----------------------------------------------------------------------------------


def test_a_due_subscription_is_billed_once_like_the_sale(make, shop):
    _, account = shop
    sale, sub = subscribe(make, account, email="Kunde@Example.de", affiliate="topaff")
    due = sub.next_bill_at
    assert due == T0 + 30 * D
    assert billing.bill_due(due - MIN) == {}  # not yet
    assert billing.bill_due(due + 5 * MIN) == {"billed": 1}

    [bill] = bills()
    assert bill.txn_type == "BILL" and bill.receipt == f"{sale.receipt}-1"
    assert bill.sale_receipt == sale.receipt and bill.subscription_id == sub.id
    assert bill.occurred_at == due  # dated when it was due, not when the worker ran
    assert (bill.amount_cents, bill.currency) == (sub.rebill_cents, sub.currency)
    assert (bill.product_id, bill.sku, bill.affiliate) == (sale.product_id, sale.sku, "topaff")
    assert bill.customer_email == "kunde@example.de" and bill.recurring
    sub = fresh(sub)
    assert sub.processed_payments == 2 and sub.status == "active"
    assert sub.next_bill_at == due + 30 * D and sub.version == 2
    daily = db.session.scalar(select(DailySales).where(DailySales.day == due.astimezone(NY).date()))
    assert (daily.rebill_count, daily.rebill_cents) == (1, sub.rebill_cents)
    [mail] = receipt_mails()
    assert mail.recipient == "kunde@example.de" and bill.receipt in mail.subject
    assert "subscription payment" in mail.subject
    next_day = sub.next_bill_at.astimezone(NY)
    assert f"the next payment of $47.00 is on {next_day:%b} {next_day.day}" in mail.payload["text"]

    assert billing.bill_due(due + 10 * MIN) == {}  # run twice: nothing more
    assert len(bills()) == 1 and len(receipt_mails()) == 1


def test_the_rebill_uses_the_subscription_price_and_the_order_s_current_email(make, shop):
    """The customer keeps the price they signed up for; a changed email address is used."""
    _, account = shop
    sale, sub = subscribe(make, account, amount_cents=4700)
    sub.rebill_cents = 2900
    sale.product.price_cents = 9900  # the vendor raised the price for new customers
    db.session.execute(
        Transaction.__table__.update()
        .where(Transaction.sale_receipt == sale.receipt)
        .values(customer_email="new@example.com")
    )
    db.session.commit()
    billing.bill_due(sub.next_bill_at)
    [bill] = bills()
    assert bill.amount_cents == 2900 and bill.customer_email == "new@example.com"


def test_the_receipt_mail_of_a_german_order_is_german(make, shop):
    _, account = shop
    sale, sub = subscribe(make, account, locale="de", currency="EUR")
    billing.bill_due(sub.next_bill_at)
    [mail] = receipt_mails()
    text = mail.payload["text"]
    assert mail.subject.startswith("Beleg (Abonnementzahlung) von ketovital")
    assert "Belegnummer" in text and "Gesamt" in text and "47,00\u00a0€" in text
    assert "Die nächste Zahlung über 47,00\u00a0€ ist am" in text
    assert "Receipt number" not in text and 'lang="de"' in mail.payload["html"]


def test_test_orders_get_test_rebills_outside_the_daily_totals(make, shop):
    _, account = shop
    sale, sub = subscribe(make, account, txn_type="TEST_SALE")
    billing.bill_due(sub.next_bill_at)
    [bill] = bills()
    assert bill.txn_type == "TEST_BILL" and bill.is_test
    assert db.session.scalar(select(func.sum(DailySales.rebill_count))) in (None, 0)


def test_the_bill_keeps_its_local_clock_time_across_daylight_saving(make, shop):
    _, account = shop
    start = datetime(2027, 1, 30, 15, 0, tzinfo=timezone.utc)  # 10:00 EST
    sale, sub = subscribe(make, account, at=start)
    sub.next_bill_at = datetime(2027, 3, 1, 15, 0, tzinfo=timezone.utc)  # 10:00 EST
    db.session.commit()
    billing.bill_due(sub.next_bill_at)
    following = fresh(sub).next_bill_at
    assert following.astimezone(NY).date().isoformat() == "2027-03-31"
    assert following.astimezone(NY).hour == 10 and following.hour == 14  # 10:00 EDT


# --- who is billed -------------------------------------------------------------------------------


def test_only_active_subscriptions_of_linked_sandbox_accounts_are_billed(make, shop):
    owner, account = shop
    clickbank = make.account(owner, "cbvendor", source="clickbank")
    removed = make.account(owner, "gone", status="removed")
    _, cb_sub = subscribe(make, clickbank)
    _, removed_sub = subscribe(make, removed)
    _, cancelled = subscribe(make, account)
    cancelled.status, cancelled.cancelled_at, keep = "cancelled", T0 + D, cancelled.next_bill_at
    cancelled.next_bill_at = keep  # even with a date left over, a cancelled plan never bills
    _, completed = subscribe(make, account)
    completed.status = "completed"
    db.session.commit()
    assert billing.bill_due(T0 + 40 * D) == {}
    assert bills() == []
    assert fresh(cb_sub).next_bill_at == T0 + 30 * D  # ClickBank bills it, and reports it


def test_a_pause_skips_billing_until_its_restart_date_then_resumes(make, shop):
    _, account = shop
    sale, sub = subscribe(make, account)
    restart = T0 + 45 * D
    sub.status, sub.paused_at, sub.resume_at, sub.next_bill_at = "paused", T0 + 20 * D, restart, restart
    db.session.commit()
    assert billing.bill_due(T0 + 44 * D) == {}
    assert billing.bill_due(restart + MIN) == {"billed": 1, "resumed": 1}
    [bill] = bills()
    assert bill.occurred_at == restart
    sub = fresh(sub)
    assert (sub.status, sub.paused_at, sub.resume_at) == ("active", None, None)
    assert sub.next_bill_at == restart + 30 * D
    event = db.session.scalar(select(SubscriptionEvent))
    assert (event.kind, event.actor_kind, event.actor_label) == ("resumed", "system", "System")
    assert event.at == restart and "pause ended" in event.comment


def test_a_fixed_plan_ends_as_completed_after_its_last_payment(make, shop):
    _, account = shop
    sale, sub = subscribe(make, account)
    sub.total_payments = 3  # the sale and two rebills
    db.session.commit()
    assert billing.bill_due(T0 + 200 * D) == {"billed": 2, "completed": 1}
    assert [b.receipt for b in bills()] == [f"{sale.receipt}-1", f"{sale.receipt}-2"]
    sub = fresh(sub)
    assert (sub.status, sub.next_bill_at, sub.processed_payments) == ("completed", None, 3)
    assert sub.payments_left == 0
    kinds = [e.kind for e in db.session.scalars(select(SubscriptionEvent))]
    assert kinds == ["completed"]
    last_mail = receipt_mails()[-1]
    assert "This was the last payment of your plan" in last_mail.payload["text"]


# --- catching up, exactly once --------------------------------------------------------------------


def test_after_downtime_each_missed_period_is_billed_dated_when_due(make, shop):
    _, account = shop
    sale, sub = subscribe(make, account)
    later = T0 + 95 * D  # the worker was down for three periods
    assert billing.bill_due(later) == {"billed": 3}
    got = bills()
    assert [b.receipt for b in got] == [f"{sale.receipt}-{n}" for n in (1, 2, 3)]
    assert [b.occurred_at.astimezone(NY).date() for b in got] == [
        (T0 + n * 30 * D).astimezone(NY).date() for n in (1, 2, 3)
    ]
    assert all(b.occurred_at.astimezone(NY).hour == 10 for b in got)
    sub = fresh(sub)
    assert sub.processed_payments == 4 and sub.next_bill_at > later
    assert sub.next_bill_at.astimezone(NY).date() == (T0 + 120 * D).astimezone(NY).date()
    assert len(receipt_mails()) == 3
    assert billing.bill_due(later) == {}


def test_a_run_that_read_the_row_before_another_billed_it_does_nothing(make, shop):
    """Interleaved: worker B reads the due period, worker A bills it, then B tries."""
    _, account = shop
    sale, sub = subscribe(make, account)
    now = sub.next_bill_at + MIN
    seen_by_b = billing.next_due(sub.id, now)
    assert seen_by_b is not None
    assert billing.bill_due(now) == {"billed": 1}  # worker A
    assert billing.charge(seen_by_b, now) is None  # worker B: the claim matches no row
    assert len(bills()) == 1 and fresh(sub).processed_payments == 2


def test_a_clerk_s_change_in_between_wins_over_a_stale_billing_read(make, shop):
    """B read the period; a clerk moves the date; B's claim fails, nothing is billed."""
    owner, account = shop
    sale, sub = subscribe(make, account)
    now = sub.next_bill_at + MIN
    seen = billing.next_due(sub.id, now)
    sub.next_bill_at = now + 5 * D
    db.session.commit()
    assert billing.charge(seen, now) is None
    assert bills() == []


def test_the_receipt_key_is_the_backstop_for_an_existing_rebill(make, shop):
    """A rebill already recorded (e.g. imported) is not recorded again under the same receipt."""
    _, account = shop
    sale, sub = subscribe(make, account)
    make.rebill(sale, at=sub.next_bill_at - D, n=1)  # recorded, but the schedule did not move
    billing.bill_due(sub.next_bill_at)
    receipts = [b.receipt for b in bills()]
    assert receipts == [f"{sale.receipt}-1", f"{sale.receipt}-2"]


def _run_in_threads(app, n: int, now: datetime) -> list[dict]:
    return run_at_once(app, n, lambda: billing.bill_due(now, limit=3))


def test_two_workers_at_once_bill_each_period_exactly_once(app, make, shop):
    """Two billing runs in two threads with their own sessions (SQLite file, and PostgreSQL with
    PORTAL_TEST_PG=1): every rebill and receipt mail exists once."""
    _, account = shop
    sales = [subscribe(make, account)[0] for _ in range(8)]
    db.session.commit()
    results = _run_in_threads(app, 2, T0 + 65 * D)  # two periods each
    db.session.expire_all()
    total = Counter()
    for result in results:
        total.update(result)
    assert dict(total) == {"billed": 16}
    got = bills()
    assert len(got) == 16 and len({(b.receipt, b.txn_type) for b in got}) == 16
    assert Counter(b.sale_receipt for b in got) == {s.receipt: 2 for s in sales}
    assert len(receipt_mails()) == 16
    assert db.session.scalar(select(func.sum(DailySales.rebill_count))) == 16


# --- the clerk's form sees the version move --------------------------------------------------------


def test_a_form_read_before_a_rebill_is_refused_as_stale(make, shop):
    owner, account = shop
    sale, sub = subscribe(make, account)
    seen = sub.version
    billing.bill_due(sub.next_bill_at)
    sub = fresh(sub)
    actor = Actor.for_user(owner, principal_for(owner))
    with pytest.raises(subscriptions.Conflict) as conflict:
        subscriptions.change_date(
            actor, sub, queries.access_of(sale), (sub.next_bill_at + 3 * D).astimezone(NY).date(),
            "Customer asked to move it.", now=sub.next_bill_at - 5 * D, expected_version=seen,
        )
    assert conflict.value.subscription.processed_payments == 2


# --- the worker and the command --------------------------------------------------------------------


def test_the_worker_task_bills_under_a_lease(make, shop, monkeypatch):
    from portal import leases, tasks

    _, account = shop
    sale, sub = subscribe(make, account)
    now = sub.next_bill_at + MIN
    monkeypatch.setattr(tasks, "utcnow", lambda: now)
    assert leases.acquire("billing", "another-host:1", now, timedelta(minutes=5))
    tasks.bill_subscriptions.call_local()
    assert bills() == []  # the other worker holds the lease
    leases.release("billing", "another-host:1")
    tasks.bill_subscriptions.call_local()
    assert len(bills()) == 1


def test_flask_bill_runs_one_billing_pass(app, make, shop):
    _, account = shop
    sale, sub = subscribe(make, account)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["bill", "--now", (T0 + 31 * D).isoformat()])
    assert result.exit_code == 0, result.output
    assert "billed" in result.output and len(bills()) == 1
    again = runner.invoke(args=["bill", "--now", (T0 + 31 * D).isoformat()])
    assert "nothing due" in again.output


def test_right_after_the_demo_nothing_of_its_history_is_billed_again(app):
    """The demo already holds the rebills of its past; billing at the demo's "now" charges
    nothing, and a day later only the subscriptions due that day."""
    from portal.demo import generator

    now = datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc)
    generator.generate("demo", seed=7, now=now)
    before = db.session.scalar(select(func.count(Transaction.id)))
    assert billing.bill_due(now) == {}
    assert db.session.scalar(select(func.count(Transaction.id))) == before
    later = now + D
    due = db.session.scalar(
        select(func.count(Subscription.id)).where(
            Subscription.status == "active", Subscription.next_bill_at <= later
        )
    )
    result = billing.bill_due(later)
    assert result.get("billed", 0) <= due  # sandbox accounts only, one period each
    assert result.get("billed", 0) > 0
    assert db.session.scalar(select(func.count(Transaction.id))) == before + result["billed"]
