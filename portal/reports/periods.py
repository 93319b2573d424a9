"""Report periods as days of a chosen time zone, and how they map onto UTC hours and days.

Pure: no Flask, no database; ``today`` is passed in. A period is a run of whole local days;
its boundaries are the local midnights, as UTC instants (a day may have 23 or 25 hours).

The aggregates are kept per UTC hour and per UTC day. :func:`hour_plan` says which hours add up
to which local day and which slices of time must be read from the detailed facts instead: the
partial hours at the ends of the period and any hour a local midnight or an offset change cuts
through (zones such as UTC+5:30 or UTC+5:45).
"""
from __future__ import annotations

import calendar
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

PRESETS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom dates",
}
DEFAULT_PRESET = "30d"
MAX_DAYS = 366  # a year (a leap year included)
MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)
EPOCH_DAY = date(1970, 1, 1)


class PeriodError(ValueError):
    """The period asked for makes no sense; the message says why, for people."""


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The zone called ``name``, or None for anything that is not an IANA zone name."""
    if not name or len(name) > 64 or name not in _zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = (frozenset(available_timezones()) | {"UTC"}) - {"localtime", "posixrules", "Factory"}
    return _ZONES


def zone_names() -> list[str]:
    return sorted(_zone_names())


@dataclass(frozen=True)
class Period:
    first: date  # first local day
    last: date  # last local day (inclusive)
    tz: ZoneInfo
    preset: str = "custom"

    @cached_property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.n_days)]

    @property
    def n_days(self) -> int:
        return (self.last - self.first).days + 1

    @cached_property
    def bounds(self) -> list[int]:
        """Epoch seconds of each local midnight from ``first`` to the day after ``last``."""
        return [epoch(local_midnight(d, self.tz)) for d in (*self.days, self.last + timedelta(days=1))]

    @property
    def start(self) -> datetime:
        return local_midnight(self.first, self.tz)

    @property
    def end(self) -> datetime:
        """Exclusive: the midnight after the last day."""
        return local_midnight(self.last + timedelta(days=1), self.tz)

    def day_of(self, moment: datetime | int) -> date | None:
        """The local day of the period ``moment`` falls on, or None outside the period."""
        seconds = moment if isinstance(moment, int) else epoch(moment)
        bounds = self.bounds
        i = bisect_right(bounds, seconds) - 1
        if i < 0 or i >= len(bounds) - 1:
            return None
        return self.first + timedelta(days=i)

    def day_range(self, day: date) -> tuple[datetime, datetime]:
        return local_midnight(day, self.tz), local_midnight(day + timedelta(days=1), self.tz)

    @property
    def label(self) -> str:
        if self.first == self.last:
            return self.first.strftime("%a %d %b %Y")
        return f"{self.first:%d %b %Y} – {self.last:%d %b %Y}"


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz``, in UTC. Where midnight does not exist (a DST gap
    at 00:00), Python resolves it with the offset before the gap, which is the gap's start:
    exactly when the day begins."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def epoch(moment: datetime) -> int:
    """Whole seconds since 1970-01-01 UTC (sub-second parts are floored)."""
    return int(moment.timestamp() // 1)


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def resolve(preset: str | None, first: date | None, last: date | None, tz: ZoneInfo, today: date) -> Period:
    """The period for a preset (``today`` is the viewer's today in ``tz``), or custom dates."""
    preset = preset or DEFAULT_PRESET
    if preset not in PRESETS:
        raise PeriodError("Choose one of the listed periods.")
    if preset == "today":
        a = b = today
    elif preset == "yesterday":
        a = b = today - timedelta(days=1)
    elif preset in ("7d", "30d", "90d"):
        n = int(preset[:-1])
        a, b = today - timedelta(days=n - 1), today
    elif preset == "this_month":
        a, b = _month_start(today), today
    elif preset == "last_month":
        b = _month_start(today) - timedelta(days=1)
        a = _month_start(b)
    else:
        if first is None or last is None:
            raise PeriodError("Give both dates of a custom period.")
        a, b = first, last
    if not (MIN_DATE <= a <= MAX_DATE and MIN_DATE <= b <= MAX_DATE):
        raise PeriodError(f"Dates must lie between {MIN_DATE.year} and {MAX_DATE.year}.")
    if b < a:
        raise PeriodError("The period ends before it starts.")
    if (b - a).days + 1 > MAX_DAYS:
        raise PeriodError(f"A period can be at most {MAX_DAYS} days long.")
    return Period(a, b, tz, preset)


def month_length(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


# ---------------------------------------------------------------------------------------------
# Mapping onto UTC hours and days


@dataclass(frozen=True)
class HourPlan:
    """How to add up hourly aggregates into the local days of a period.

    ``first_hour`` ≤ hour < ``end_hour`` are whole hours inside the period; those in
    ``irregular`` are cut by a day boundary or an offset change and must be read from the facts,
    as must the ``partial`` slices at the ends. ``segments`` are (from_hour, offset_minutes):
    from that hour on, local time is UTC + offset, so the local day number of an hour is
    ``(hour * 60 + offset) // 1440``.
    """

    first_hour: int
    end_hour: int
    irregular: tuple[int, ...]
    segments: tuple[tuple[int, int], ...]
    raw_slices: tuple[tuple[int, int], ...]  # [from, to) epoch seconds read from the facts


def _offset_minutes(seconds: int, tz: ZoneInfo) -> int:
    offset = from_epoch(seconds).astimezone(tz).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def _transitions(start: int, end: int, tz: ZoneInfo) -> list[tuple[int, int]]:
    """(instant, new offset in minutes) for each offset change in [start, end), to the second.
    Offsets change at most a few times a year, so six-hour steps cannot miss one."""
    found = []
    t = start
    current = _offset_minutes(start, tz)
    while t < end - 1:
        nxt = min(t + 6 * 3600, end - 1)
        off = _offset_minutes(nxt, tz)
        if off == current:
            t = nxt
            continue
        lo, hi = t, nxt  # the offset at lo is the current one, at hi the new one
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset_minutes(mid, tz) == current:
                lo = mid
            else:
                hi = mid
        current = _offset_minutes(hi, tz)
        found.append((hi, current))
        t = hi
    return found


def hour_plan(period: Period) -> HourPlan:
    bounds = period.bounds
    start, end = bounds[0], bounds[-1]
    first_hour = -(-start // 3600)
    end_hour = end // 3600
    raw: list[tuple[int, int]] = []
    if first_hour * 3600 > start:
        raw.append((start, min(first_hour * 3600, end)))
    if end_hour >= first_hour and end_hour * 3600 < end:
        raw.append((max(end_hour * 3600, start), end))
    if end_hour < first_hour:  # the whole period sits inside one hour (cannot happen for days)
        end_hour = first_hour
    cuts = [b for b in bounds[1:-1] if b % 3600]
    changes = _transitions(start, end, period.tz)
    cuts += [t for t, _ in changes if t % 3600]
    irregular = sorted({c // 3600 for c in cuts if first_hour <= c // 3600 < end_hour})
    raw += [(h * 3600, (h + 1) * 3600) for h in irregular]
    segments = [(first_hour, _offset_minutes(start, period.tz))]
    for t, off in changes:
        segments.append((-(-t // 3600), off))
    return HourPlan(first_hour, end_hour, tuple(irregular), tuple(segments), tuple(sorted(raw)))


@dataclass(frozen=True)
class DayPlan:
    """Whole UTC days ``first_day`` ≤ day < ``end_day`` inside the period, plus the slices at the
    ends (epoch seconds) to read from the facts."""

    first_day: int
    end_day: int
    raw_slices: tuple[tuple[int, int], ...]


def day_plan(start: int, end: int) -> DayPlan:
    first_day = -(-start // 86400)
    end_day = end // 86400
    if end_day <= first_day:
        return DayPlan(first_day, first_day, ((start, end),))
    raw = []
    if first_day * 86400 > start:
        raw.append((start, first_day * 86400))
    if end_day * 86400 < end:
        raw.append((end_day * 86400, end))
    return DayPlan(first_day, end_day, tuple(raw))


def local_day_number(day: date) -> int:
    return (day - EPOCH_DAY).days


def day_from_number(n: int) -> date:
    return EPOCH_DAY + timedelta(days=n)
