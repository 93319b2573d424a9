"""Sales summary for the Dashboard, read only from ``DailySales`` (never from transactions).

``DailySales`` holds one row per account, local day and currency, kept in step with the
transactions by ``portal.transactions.services.record``. Amounts are summed per currency and
never across currencies: every total is a ``{currency: Totals}`` mapping.

Days are each account's local days. Given ``now``, a preset period ends at each account's own
local today (an account in Berlin is a day ahead of one in New York every evening), so every
account has its own window of days; the accounts sharing a window are read with one primary-key
range of ``daily_sales``.
"""

from __future__ import annotations

import colorsys
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import String, and_, func, or_, select, type_coerce

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

    def add(self, other: Totals) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

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
    window: Period  # this account's days: a preset ends at the account's own local today
    by_currency: dict[str, Totals] = field(default_factory=dict)


METRICS = ("gross", "net", "charges", "refunds")  # per-day series the chart can show


@dataclass
class Summary:
    period: Period
    accounts: list[AccountSummary]
    totals: dict[str, Totals]  # per currency, over all accounts
    previous: dict[str, Totals]  # per currency, the period just before (for comparisons)
    # currency -> account id -> metric -> one value per day of the period (cents or counts)
    series: dict[str, dict[int, dict[str, list[int]]]]

    @property
    def windows(self) -> dict[int, Period]:
        return {item.account.id: item.window for item in self.accounts}

    @property
    def start(self) -> date:
        """The first day of any account's window (the chart's first day)."""
        return min((item.window.start for item in self.accounts), default=self.period.start)

    @property
    def end(self) -> date:
        """The last day of any account's window (the chart's last day)."""
        return max((item.window.end for item in self.accounts), default=self.period.end)

    @property
    def uniform(self) -> bool:
        """Every account has the same days (a custom range, or all accounts on the same today)."""
        return len({(item.window.start, item.window.end) for item in self.accounts}) <= 1

    @property
    def todays(self) -> list[date]:
        """The distinct last days of the accounts' windows, in order."""
        return sorted({item.window.end for item in self.accounts}) or [self.period.end]

    def days_list(self) -> list[date]:
        """Every calendar day of any account's window: the chart's days."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def currencies(self) -> list[str]:
        return sorted(self.totals)

    def accounts_in(self, currency: str) -> int:
        """How many accounts had activity in ``currency`` during the period."""
        return sum(1 for item in self.accounts if currency in item.by_currency)

    def change(self, currency: str, attribute: str) -> float | None:
        """Relative change of ``attribute`` against the previous period (None: nothing to
        compare with)."""
        before = getattr(self.previous.get(currency, Totals()), attribute)
        now = getattr(self.totals.get(currency, Totals()), attribute)
        if not before:
            return None
        return (now - before) / abs(before)

    def chart(self) -> dict:
        """What static/js/dashboard.js draws: one stacked chart per currency, a dataset per
        account, values per day for each metric (amounts in major units)."""
        out = {"days": [d.isoformat() for d in self.days_list()], "currencies": []}
        for currency in self.currencies:
            per_account = self.series.get(currency, {})
            divide = 1 if currency in ZERO_DECIMAL else 100
            datasets = []
            for item in self.accounts:
                series = per_account.get(item.account.id)
                if series is None:
                    continue
                datasets.append(
                    {
                        "label": item.account.nickname,
                        "colour": item.colour,
                        "gross": [v / divide for v in series["gross"]],
                        "net": [v / divide for v in series["net"]],
                        "charges": series["charges"],
                        "refunds": series["refunds"],
                    }
                )
            out["currencies"].append({"currency": currency, "datasets": datasets})
        return out


ZERO_DECIMAL = {"JPY"}


def _execute(stmt):
    """Plain Core execution: these are column tuples, the ORM's row machinery only costs time."""
    return db.session.connection().execute(stmt).all()


def local_today(account: LinkedAccount, now: datetime) -> date:
    """The account's calendar date at ``now`` (the day ``record`` files a sale made now under)."""
    try:
        zone = ZoneInfo(account.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def _in_windows(windows: dict[int, Period]):
    """Each account's rows within its own window: one primary-key range per group of accounts
    that share a window (one group for a custom range; two or three for a preset, as local
    dates differ by at most a day or two at any moment)."""
    groups: dict[tuple[date, date], list[int]] = defaultdict(list)
    for account_id, window in windows.items():
        groups[(window.start, window.end)].append(account_id)
    return or_(
        *(
            and_(DailySales.linked_account_id.in_(ids), DailySales.day.between(start, end))
            for (start, end), ids in sorted(groups.items())
        )
    )


def _sums(windows: dict[int, Period]):
    """Summed counters per currency over the accounts' windows, in SQL (the comparison period)."""
    return _execute(
        select(DailySales.currency, *(func.sum(getattr(DailySales, c)) for c in COUNTERS))
        .where(_in_windows(windows))
        .group_by(DailySales.currency)
    )


def _daily(windows: dict[int, Period]):
    """Every DailySales row of the accounts' windows: account, day (as ISO text — thousands of
    rows need only a position, not date objects), currency and the counters in ``COUNTERS``
    order."""
    d = DailySales
    return _execute(
        select(
            d.linked_account_id,
            type_coerce(d.day, String),
            d.currency,
            *(getattr(d, c) for c in COUNTERS),
        ).where(_in_windows(windows))
    )


def summarise(
    accounts: list[LinkedAccount],
    period: Period,
    *,
    now: datetime | None = None,
    compare: bool = True,
) -> Summary:
    """Per account and in total, per currency, for ``period``: one indexed read of DailySales
    for the accounts' windows (sums and the per-day series come from the same rows) and one
    grouped read for the windows before.

    With ``now``, a preset period ends at each account's own local today; without it (or for a
    custom range) every account gets ``period`` as it is."""
    ids = [a.id for a in accounts]
    colours = distinct_colours(accounts)
    windows = {
        a.id: period.ending(local_today(a, now)) if now is not None else period for a in accounts
    }
    items = {a.id: AccountSummary(a, colours[a.id], windows[a.id]) for a in accounts}
    previous: dict[str, Totals] = {}
    series: dict = defaultdict(dict)
    sums: dict[tuple[int, str], list[int]] = {}
    if ids:
        first = min(w.start for w in windows.values())
        last = max(w.end for w in windows.values())
        width = (last - first).days + 1
        index = {(first + timedelta(days=i)).isoformat(): i for i in range(width)}
        for account_id, day, currency, sc, sa, rc, ra, fc, fa, cc, ca, fee in _daily(windows):
            t = sums.get((account_id, currency))
            if t is None:
                t = sums[(account_id, currency)] = [0] * len(COUNTERS)
            t[0] += sc
            t[1] += sa
            t[2] += rc
            t[3] += ra
            t[4] += fc
            t[5] += fa
            t[6] += cc
            t[7] += ca
            t[8] += fee
            metrics = series[currency].get(account_id)
            if metrics is None:
                metrics = series[currency][account_id] = {m: [0] * width for m in METRICS}
            i = index[str(day)[:10]]
            metrics["gross"][i] = sa + ra
            metrics["net"][i] = sa + ra - fa - ca
            metrics["charges"][i] = sc + rc
            metrics["refunds"][i] = fc
        if compare:
            before = {account_id: w.previous() for account_id, w in windows.items()}
            for currency, *values in _sums(before):
                previous[currency] = Totals(*(int(v or 0) for v in values))
    totals: dict[str, Totals] = defaultdict(Totals)
    for (account_id, currency), values in sorted(sums.items(), key=lambda kv: kv[0][1]):
        one = Totals(*values)
        items[account_id].by_currency[currency] = one
        totals[currency].add(one)
    return Summary(
        period=period,
        accounts=[items[i] for i in ids],
        totals=dict(sorted(totals.items())),
        previous=previous,
        series=dict(series),
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
        colour = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
        if colour not in used:
            return colour
    return "#777777"
