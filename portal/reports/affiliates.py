"""Affiliate performance (seed 000): per affiliate, the orders placed in the period and what
became of them — average order size, average subscription length (payments so far), refund,
chargeback and cancellation rates.

Orders are counted by the sale's time (a cohort). Whole UTC days come from
``report_affiliate_daily``; the partial days at the ends of a local-time period are read from the
transactions themselves, so any time zone's period is exact.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import func, select

from portal.extensions import db
from portal.reports.aggregate import OrderRow, add_order
from portal.reports.build import Chart, Column, Context, Outcome, Row, Table, fmt_percent
from portal.reports.catalog import SERIES_PALETTE
from portal.reports.models import AffiliateDaily
from portal.reports.periods import day_plan, epoch, from_epoch
from portal.transactions.models import Subscription, Transaction

COUNTERS = ("orders", "order_cents", "subscriptions", "payments", "refunded", "charged_back", "cancelled")
NO_AFFILIATE = ""
NO_AFFILIATE_LABEL = "(no affiliate)"


def cohorts(ctx: Context) -> dict[tuple[str, str], dict[str, int]]:
    """{(affiliate, currency): counters} over the period for the scope's accounts."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    scope = ctx.scope
    if not scope.accounts:
        return out
    plan = day_plan(epoch(ctx.period.start), epoch(ctx.period.end))
    if scope.everything:
        parts = [([0], 1)]
    elif scope.subtract:
        parts = [([0], 1), (sorted(scope.left_out), -1)]
    else:
        parts = [(sorted(scope.accounts), 1)]
    a = AffiliateDaily
    if plan.end_day > plan.first_day:
        for accounts, sign in parts:
            rows = db.session.execute(
                select(a.affiliate, a.currency, *[func.sum(getattr(a, c)) for c in COUNTERS])
                .where(a.master_id == scope.master_id, a.account_id.in_(accounts),
                       a.day >= plan.first_day, a.day < plan.end_day)
                .group_by(a.affiliate, a.currency)
            )
            for affiliate, currency, *values in rows:
                cell = out[(affiliate, currency)]
                for c, v in zip(COUNTERS, values):
                    cell[c] += sign * int(v or 0)
    for lo, hi in plan.raw_slices:
        for row in _orders(sorted(scope.accounts), lo, hi):
            add_order(out[((row.affiliate or "")[:32], row.currency)], row)
    return out


def _orders(accounts: list[int], lo: int, hi: int) -> list[OrderRow]:
    """Sales in [lo, hi) with their payments, refunds, chargebacks and subscription status."""
    t = Transaction.__table__
    later = t.alias("later")

    def count(kind):
        return (select(func.count()).select_from(later)
                .where(later.c.linked_account_id == t.c.linked_account_id,
                       later.c.sale_receipt == t.c.sale_receipt, later.c.txn_type == kind)
                .scalar_subquery())

    status = select(Subscription.status).where(Subscription.sale_transaction_id == t.c.id).scalar_subquery()
    rows = db.session.execute(
        select(t.c.amount_cents, t.c.recurring, count("BILL"), count("RFND"), count("CGBK"), status,
               t.c.affiliate, t.c.currency)
        .where(t.c.linked_account_id.in_(accounts), t.c.txn_type == "SALE",
               t.c.occurred_at >= from_epoch(lo), t.c.occurred_at < from_epoch(hi))
    )
    return [OrderRow(*row) for row in rows]


def affiliates_report(ctx: Context) -> Outcome:
    data = cohorts(ctx)
    currencies = sorted({cur for _, cur in data}, key=lambda c: (c != "USD", c))
    per_affiliate: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for (affiliate, currency), cell in data.items():
        agg = per_affiliate[affiliate]
        for c in COUNTERS:
            if c != "order_cents":
                agg[c] += cell[c]
        agg[f"orders:{currency}"] += cell["orders"]
        agg[f"cents:{currency}"] += cell["order_cents"]
    columns = [Column("orders", "Orders", drill=True)]
    columns += [Column(f"avg:{cur}", f"Avg. order ({cur})", fmt="money", currency=cur) for cur in currencies]
    columns += [
        Column("subscriptions", "Subscriptions", drill=True),
        Column("avg_payments", "Avg. payments", fmt="decimal",
               help="Average subscription length: payments (months) per subscription so far"),
        Column("refunded", "Refunded", drill=True),
        Column("refund_rate", "Refund rate", fmt="percent", help="Refunded orders / orders"),
        Column("charged_back", "Chargebacks", drill=True),
        Column("chargeback_rate", "Chargeback rate", fmt="percent", help="Charged-back orders / orders"),
        Column("cancelled", "Cancelled", drill=True),
        Column("cancel_rate", "Cancel rate", fmt="percent",
               help="Subscriptions of these orders that are cancelled now / subscriptions"),
    ]

    def cells(agg) -> dict:
        orders, subs = agg["orders"], agg["subscriptions"]
        out = {
            "orders": orders, "subscriptions": subs,
            "avg_payments": agg["payments"] / subs if subs else None,
            "refunded": agg["refunded"], "refund_rate": agg["refunded"] / orders if orders else None,
            "charged_back": agg["charged_back"],
            "chargeback_rate": agg["charged_back"] / orders if orders else None,
            "cancelled": agg["cancelled"], "cancel_rate": agg["cancelled"] / subs if subs else None,
            "_payments": agg["payments"],
        }
        for cur in currencies:
            n = agg.get(f"orders:{cur}", 0)
            out[f"avg:{cur}"] = agg.get(f"cents:{cur}", 0) / n if n else None
            out[f"_n:{cur}"] = n
            out[f"_cents:{cur}"] = agg.get(f"cents:{cur}", 0)
        return out

    rows = [
        Row(aff or "-", aff or NO_AFFILIATE_LABEL, cells(agg), {"affiliate": aff or "-"})
        for aff, agg in per_affiliate.items()
    ]
    rows.sort(key=lambda r: (-r.cells["orders"], r.label))
    grand: dict[str, int] = defaultdict(int)
    for agg in per_affiliate.values():
        for k, v in agg.items():
            grand[k] += v
    total = Row("total", "Total", cells(grand), {})
    table = Table("affiliates", "Per affiliate", "Affiliate", columns, rows, total,
                  empty="No orders in this period.")
    top = rows[:12]
    chart = Chart(
        [r.label for r in top],
        [
            {"label": "Orders", "backgroundColor": SERIES_PALETTE[0], "data": [r.cells["orders"] for r in top],
             "yAxisID": "y", "order": 2},
            {"label": "Refund rate %", "type": "line", "borderColor": "#ef4444", "backgroundColor": "#ef4444",
             "data": [round((r.cells["refund_rate"] or 0) * 100, 1) for r in top], "yAxisID": "y2", "order": 1},
            {"label": "Cancellation rate %", "type": "line", "borderColor": "#f59e0b",
             "backgroundColor": "#f59e0b",
             "data": [round((r.cells["cancel_rate"] or 0) * 100, 1) for r in top], "yAxisID": "y2", "order": 1},
        ],
        y_title="Orders", stacked=False, y2_title="Rate (%)",
    )
    t = total.cells
    stats = [("Orders", f"{t['orders']:,}"), ("Affiliates", f"{sum(1 for r in rows if r.key != '-'):,}"),
             ("Refund rate", fmt_percent(t["refund_rate"])), ("Cancellation rate", fmt_percent(t["cancel_rate"]))]
    return Outcome([table], chart, stats)


DRILL_COLUMNS = {"orders", "subscriptions", "refunded", "charged_back", "cancelled"}


def drill_orders(ctx: Context, *, affiliate: str | None, col: str):
    """The orders behind an affiliate cell (a Transaction query, newest first)."""
    if col not in DRILL_COLUMNS:
        raise ValueError("column")
    t = Transaction
    where = [t.linked_account_id.in_(sorted(ctx.scope.accounts)), t.txn_type == "SALE",
             t.occurred_at >= ctx.period.start, t.occurred_at < ctx.period.end]
    if affiliate is not None:
        where.append(t.affiliate.is_(None) | (t.affiliate == "") if affiliate == "-" else t.affiliate == affiliate)
    later = Transaction.__table__.alias("later")

    def has(kind):
        return select(later.c.id).where(
            later.c.linked_account_id == t.linked_account_id, later.c.sale_receipt == t.sale_receipt,
            later.c.txn_type == kind).exists()

    if col == "subscriptions":
        where.append(t.recurring.is_(True))
    elif col == "refunded":
        where.append(has("RFND"))
    elif col == "charged_back":
        where.append(has("CGBK"))
    elif col == "cancelled":
        where.append(t.recurring.is_(True))
        where.append(select(Subscription.id).where(Subscription.sale_transaction_id == t.id,
                                                   Subscription.status == "cancelled").exists())
    return select(t).where(*where).order_by(t.occurred_at.desc(), t.id.desc())


__all__ = ["affiliates_report", "drill_orders", "cohorts", "date"]
