"""Dashboard periods: presets and custom ranges of calendar days. Pure (no Flask, no database).

A period is a range of calendar days, both ends included. Each account's sales are counted on the
account's own calendar days (``DailySales.day``), so a preset ends at each account's own local
today (``Period.ending``): at 23:40 UTC "today" is already tomorrow in Berlin but not yet in New
York. A custom range is the same typed dates for every account.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

PRESETS = {
    "today": ("Today", 1),
    "7d": ("7 days", 7),
    "30d": ("30 days", 30),
    "90d": ("90 days", 90),
}
DEFAULT = "30d"
MAX_DAYS = 731  # two years; longer ranges are refused with a message


@dataclass(frozen=True)
class Period:
    key: str  # a preset key, or "custom"
    start: date
    end: date
    error: str | None = None  # why the asked-for custom range was not used

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.key in PRESETS:
            name = PRESETS[self.key][0]
            return name if self.key == "today" else f"Last {name}"
        return f"{self.start.isoformat()} – {self.end.isoformat()}"

    @property
    def is_relative(self) -> bool:
        """A preset: its days end at whichever day is "today" (each account's own)."""
        return self.key in PRESETS

    def ending(self, today: date) -> Period:
        """This period for an account whose local date is ``today``: a preset's days end at that
        today; a custom range (or a previous period) stays as it is."""
        if not self.is_relative:
            return self
        return replace(self, start=today - timedelta(days=self.days - 1), end=today)

    def previous(self) -> Period:
        """The same number of days just before this period (for comparisons)."""
        end = self.start - timedelta(days=1)
        return Period("previous", end - timedelta(days=self.days - 1), end)

    def days_list(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def query(self) -> dict[str, str]:
        """URL parameters that select this period again."""
        if self.key == "custom":
            return {"period": "custom", "from": self.start.isoformat(), "to": self.end.isoformat()}
        return {"period": self.key}


def _parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def parse(args, today: date) -> Period:
    """The period asked for in ``args`` (a mapping of URL parameters), or the default with an
    ``error`` saying why the custom range could not be used."""
    key = (args.get("period") or DEFAULT).strip()
    if key in PRESETS:
        return preset(key, today)
    if key != "custom":
        return preset(DEFAULT, today)
    start, end = _parse_day(args.get("from")), _parse_day(args.get("to"))
    fallback = preset(DEFAULT, today)
    if start is None or end is None:
        return Period(
            fallback.key, fallback.start, fallback.end, "Enter both dates of the custom period."
        )
    if start > end:
        return Period(
            fallback.key, fallback.start, fallback.end, "The start date is after the end date."
        )
    if (end - start).days + 1 > MAX_DAYS:
        return Period(
            fallback.key, fallback.start, fallback.end, f"A period can be at most {MAX_DAYS} days."
        )
    if start.year < 2000 or end.year > 2100:
        return Period(fallback.key, fallback.start, fallback.end, "Those dates are out of range.")
    return Period("custom", start, end)


def preset(key: str, today: date) -> Period:
    days = PRESETS[key][1]
    return Period(key, today - timedelta(days=days - 1), today)
