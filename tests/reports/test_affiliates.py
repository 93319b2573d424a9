"""Affiliate performance from transactions written the normal way (record, refunds, rebills,
cancelled subscriptions), against hand-worked answers, in two time zones."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.reports import aggregate
from portal.reports.affiliates import affiliates_report
from portal.transactions import services as txn
from portal.transactions.models import Transaction
from tests.reports.conftest import NOV
from tests.reports.test_known_answers import _snapshot, context, table

UTC = timezone.utc


def T(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def sales(make):
    owner = make.owner()
    k = make.account(owner, "ketovital", timezone_name="America/New_York")
    s1 = make.sale(k, at=T(10, 3), affiliate="alpha", amount_cents=4000)  # New York: Nov 9
    s2 = make.sale(k, at=T(10, 12), affiliate="alpha", amount_cents=2000, recurring=True)
    make.rebill(s2, at=T(10, 12) + timedelta(days=30), n=1)
    make.rebill(s2, at=T(10, 12) + timedelta(days=60), n=2)
    txn.cancel_subscription(txn.subscription_of(s2), now=T(20, 12) + timedelta(days=60))
    s3 = make.sale(k, at=T(11, 12), affiliate="alpha", amount_cents=6000)
    txn.refund_charge(s3, k, now=T(15, 12))
    s4 = make.sale(k, at=T(11, 13), affiliate="beta", amount_cents=3000, currency="EUR", recurring=True)
    rebill = make.rebill(s4, at=T(11, 13) + timedelta(days=30))
    txn.refund_charge(rebill, k, now=T(11, 13) + timedelta(days=31))  # refund on a subscription:
    txn.cancel_subscription(txn.subscription_of(s4), now=T(11, 13) + timedelta(days=31))  # it stops
    s5 = make.sale(k, at=T(12, 20), amount_cents=1000)  # no affiliate
    txn.record(Transaction(receipt=s5.receipt, sale_receipt=s5.receipt, txn_type="CGBK", occurred_at=T(25, 9),
                           amount_cents=1000, currency="USD", customer_email=s5.customer_email), k)
    make.sale(k, at=T(13, 4, 30), affiliate="beta", amount_cents=5000)  # New York: Nov 12 23:30
    make.sale(k, at=T(11, 9), affiliate="alpha", amount_cents=9999, txn_type="TEST_SALE")
    db.session.commit()
    return owner, k


def _world(owner):
    class W:
        pass

    w = W()
    w.owner = owner
    return w


def test_affiliate_cohorts_in_new_york(sales):
    owner, k = sales
    out = affiliates_report(context(_world(owner), "affiliates", NOV[10], NOV[12]))
    rows = table(out)
    alpha, beta, direct, total = rows["alpha"], rows["beta"], rows["(no affiliate)"], rows["Total"]
    assert (alpha["orders"], alpha["avg:USD"], alpha["subscriptions"], alpha["avg_payments"]) == (2, 4000, 1, 3)
    assert (alpha["refunded"], alpha["refund_rate"], alpha["cancelled"], alpha["cancel_rate"]) == (1, 0.5, 1, 1.0)
    assert alpha["avg:EUR"] is None
    assert (beta["orders"], beta["avg:USD"], beta["avg:EUR"], beta["avg_payments"]) == (2, 5000, 3000, 2)
    assert (beta["refunded"], beta["refund_rate"], beta["cancel_rate"]) == (1, 0.5, 1.0)
    assert (direct["orders"], direct["charged_back"], direct["chargeback_rate"]) == (1, 1, 1.0)
    assert (total["orders"], total["refunded"], total["refund_rate"]) == (5, 2, 0.4)
    assert [c.label for c in out.tables[0].columns][:3] == ["Orders", "Avg. order (USD)", "Avg. order (EUR)"]
    assert list(rows)[:2] == ["alpha", "beta"]


def test_affiliate_cohorts_in_utc(sales):
    owner, k = sales
    rows = table(affiliates_report(context(_world(owner), "affiliates", NOV[10], NOV[12], tz="UTC")))
    assert (rows["alpha"]["orders"], rows["alpha"]["avg:USD"]) == (3, 4000)
    assert rows["beta"]["orders"] == 1 and rows["beta"]["avg:USD"] is None


def test_affiliate_table_rebuilds_identically(sales):
    live = _snapshot()["affiliates"]
    assert live
    db.session.commit()
    aggregate.rebuild(db.session.connection())
    db.session.commit()
    assert _snapshot()["affiliates"] == live


def test_test_sales_are_not_orders(sales):
    owner, k = sales
    assert db.session.scalar(select(Transaction.id).where(Transaction.txn_type == "TEST_SALE"))
    rows = table(affiliates_report(context(_world(owner), "affiliates", NOV[11], NOV[11], tz="UTC")))
    assert rows["alpha"]["orders"] == 1  # s3 only; the test sale that day is not an order
