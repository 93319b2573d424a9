"""Sales summary for the Dashboard, read only from ``DailySales`` (never from transactions).

``DailySales`` holds one row per account, local day and currency, kept in step with the
transactions by ``portal.transactions.services.record``. Amounts are summed per currency and
never across currencies: every total is a ``{currency: Totals}`` mapping.
"""
from __future__ import annotations

import colorsys
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import date

from sqlalchemy import func, select

from portal.accounts.models import LinkedAccount
from portal.dashboard.periods import Period
from portal.extensions import db
from portal.transactions.models import DailySales

COUNTERS = (
    "sales_count",
    "sales_cents",
    "rebill_count",
    "rebill_cents",
    "refund_count",
    "refund_cents",
    "chargeback_count",
    "chargeback_cents",
    "fee_cents",
)


@dataclass
class Totals:
    """Sums of one currency. Derived figures are properties, so they cannot drift."""

    sales_count: int = 0
    sales_cents: int = 0
    rebill_count: int = 0
    rebill_cents: int = 0
    refund_count: int = 0
    refund_cents: int = 0
    chargeback_count: int = 0
    chargeback_cents: int = 0
    fee_cents: int = 0

    def add(self, other) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + (getattr(other, name) or 0))

    @property
    def gross_cents(self) -> int:
        """Money taken: first sales plus rebills."""
        return self.sales_cents + self.rebill_cents

    @property
    def net_cents(self) -> int:
        """Gross minus refunds and chargebacks."""
        return self.gross_cents - self.refund_cents - self.chargeback_cents

    @property
    def charges(self) -> int:
        return self.sales_count + self.rebill_count

    @property
    def refund_rate(self) -> float | None:
        """Refunds per charge (sales + rebills), by count; None when nothing was charged."""
        return self.refund_count / self.charges if self.charges else None

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))


@dataclass
class AccountSummary:
    account: LinkedAccount
    colour: str  # the colour used for this account on the chart (its own unless taken)
    by_currency: dict[str, Totals] = field(default_factory=dict)


@dataclass
class Summary:
    period: Period
    accounts: list[AccountSummary]
    totals: dict[str, Totals]  # per currency, over all accounts
    previous: dict[str, Totals]  # per currency, the period just before (for comparisons)
    daily: dict[str, dict[int, dict[date, Totals]]]  # currency -> account id -> day -> totals

    @property
    def currencies(self) -> list[str]:
        return sorted(self.totals)

    def accounts_in(self, currency: str) -> int:
        """How many accounts had activity in ``currency`` during the period."""
        return sum(1 for item in self.accounts if currency in item.by_currency)

    def change(self, currency: str, attribute: str) -> float | None:
        """Relative change of ``attribute`` against the previous period (None: nothing to compare)."""
        before = getattr(self.previous.get(currency, Totals()), attribute)
        now = getattr(self.totals.get(currency, Totals()), attribute)
        if not before:
            return None
        return (now - before) / abs(before)

    def chart(self) -> dict:
        """What static/js/dashboard.js draws: one stacked chart per currency, a dataset per
        account, values per day for each metric (amounts in major units)."""
        days = self.period.days_list()
        out = {"days": [d.isoformat() for d in days], "currencies": []}
        for currency in self.currencies:
            per_account = self.daily.get(currency, {})
            datasets = []
            for item in self.accounts:
                series = per_account.get(item.account.id)
                if series is None:
                    continue
                datasets.append({
                    "label": item.account.nickname,
                    "colour": item.colour,
                    "gross": [_major(series.get(d, Totals()).gross_cents, currency) for d in days],
                    "net": [_major(series.get(d, Totals()).net_cents, currency) for d in days],
                    "charges": [series.get(d, Totals()).charges for d in days],
                    "refunds": [series.get(d, Totals()).refund_count for d in days],
                })
            out["currencies"].append({"currency": currency, "datasets": datasets})
        return out


ZERO_DECIMAL = {"JPY"}


def _major(cents: int, currency: str) -> float:
    return cents if currency in ZERO_DECIMAL else round(cents / 100, 2)


def _rows(account_ids: list[int], start: date, end: date):
    if not account_ids:
        return []
    return db.session.execute(
        select(DailySales.linked_account_id, DailySales.day, DailySales.currency,
               *(getattr(DailySales, c) for c in COUNTERS))
        .where(DailySales.linked_account_id.in_(account_ids), DailySales.day.between(start, end))
    ).all()


def _previous_totals(account_ids: list[int], period: Period) -> dict[str, Totals]:
    prev = period.previous()
    if not account_ids:
        return {}
    rows = db.session.execute(
        select(DailySales.currency, *(func.sum(getattr(DailySales, c)) for c in COUNTERS))
        .where(DailySales.linked_account_id.in_(account_ids), DailySales.day.between(prev.start, prev.end))
        .group_by(DailySales.currency)
    ).all()
    return {row[0]: Totals(**{c: int(v or 0) for c, v in zip(COUNTERS, row[1:])}) for row in rows}


def summarise(accounts: list[LinkedAccount], period: Period, *, compare: bool = True) -> Summary:
    """Per account and in total, per currency, for ``period``: two indexed queries on DailySales."""
    ids = [a.id for a in accounts]
    colours = distinct_colours(accounts)
    items = {a.id: AccountSummary(a, colours[a.id]) for a in accounts}
    totals: dict[str, Totals] = defaultdict(Totals)
    daily: dict = defaultdict(lambda: defaultdict(dict))
    for row in _rows(ids, period.start, period.end):
        account_id, day, currency = row[0], row[1], row[2]
        values = Totals(**dict(zip(COUNTERS, row[3:])))
        items[account_id].by_currency.setdefault(currency, Totals()).add(values)
        totals[currency].add(values)
        daily[currency][account_id][day] = values
    for item in items.values():
        item.by_currency = dict(sorted(item.by_currency.items()))
    return Summary(
        period=period,
        accounts=[items[i] for i in ids],
        totals=dict(sorted(totals.items())),
        previous=_previous_totals(ids, period) if compare else {},
        daily={c: dict(v) for c, v in daily.items()},
    )


def distinct_colours(accounts: list[LinkedAccount]) -> dict[int, str]:
    """Each account keeps its own colour unless an earlier account already has it; then it gets
    a shade nobody uses, so no two accounts share a colour on the chart."""
    used: set[str] = set()
    out = {}
    for index, account in enumerate(accounts):
        colour = (account.colour or "").lower()
        if not colour or colour in used:
            colour = _spare_colour(index, used)
        used.add(colour)
        out[account.id] = colour
    return out


def _spare_colour(seed: int, used: set[str]) -> str:
    golden = 0.61803398875
    for attempt in range(seed, seed + 400):
        hue = (attempt * golden) % 1.0
        lightness = (0.42, 0.55, 0.33, 0.65)[(attempt // 7) % 4]
        r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.7)
        colour = "#{:02x}{:02x}{:02x}".format(int(r * 255), int(g * 255), int(b * 255))
        if colour not in used:
            return colour
    return "#777777"
