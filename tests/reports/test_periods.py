"""Report periods (pure): presets, limits, local midnights through DST, and the plan that adds UTC
hours up into local days — checked exhaustively against a second-by-second reading."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.reports.periods import (
    MAX_DAYS,
    Period,
    PeriodError,
    day_from_number,
    day_plan,
    epoch,
    hour_plan,
    local_midnight,
    resolve,
    zone_or_none,
)

NY = ZoneInfo("America/New_York")
WED = date(2026, 11, 18)


@pytest.mark.parametrize("preset, first, last", [
    ("today", WED, WED),
    ("yesterday", date(2026, 11, 17), date(2026, 11, 17)),
    ("7d", date(2026, 11, 12), WED),
    ("30d", date(2026, 10, 20), WED),
    ("90d", date(2026, 8, 21), WED),
    ("this_month", date(2026, 11, 1), WED),
    ("last_month", date(2026, 10, 1), date(2026, 10, 31)),
    (None, date(2026, 10, 20), WED),
])
def test_presets(preset, first, last):
    period = resolve(preset, None, None, NY, WED)
    assert (period.first, period.last) == (first, last)


def test_last_month_in_january_is_december():
    period = resolve("last_month", None, None, NY, date(2027, 1, 3))
    assert (period.first, period.last) == (date(2026, 12, 1), date(2026, 12, 31))


@pytest.mark.parametrize("first, last, message", [
    (date(2026, 11, 5), date(2026, 11, 4), "ends before"),
    (date(2025, 1, 1), date(2026, 1, 2), "at most"),
    (date(1999, 12, 31), date(2000, 1, 2), "between"),
    (None, date(2026, 1, 2), "both dates"),
])
def test_custom_periods_are_checked(first, last, message):
    with pytest.raises(PeriodError, match=message):
        resolve("custom", first, last, NY, WED)
    with pytest.raises(PeriodError):
        resolve("forever", None, None, NY, WED)


def test_a_leap_year_fits():
    period = resolve("custom", date(2028, 1, 1), date(2028, 12, 31), NY, WED)
    assert period.n_days == MAX_DAYS


def test_zone_names_are_checked():
    assert zone_or_none("Asia/Kolkata") == ZoneInfo("Asia/Kolkata")
    for bad in (None, "", "Mars/Olympus", "../../etc/passwd", "America/New_York" * 10, "localtime"):
        assert zone_or_none(bad) is None


def test_new_york_days_through_the_end_of_summer_time():
    period = Period(date(2026, 10, 31), date(2026, 11, 2), NY)
    lengths = [(b - a) / 3600 for a, b in zip(period.bounds, period.bounds[1:])]
    assert lengths == [24, 25, 24]
    assert period.day_of(datetime(2026, 11, 1, 4, 30, tzinfo=timezone.utc)) == date(2026, 11, 1)  # 00:30 EDT
    assert period.day_of(datetime(2026, 11, 2, 4, 30, tzinfo=timezone.utc)) == date(2026, 11, 1)  # 23:30 EST
    assert period.day_of(datetime(2026, 11, 3, 5, 0, tzinfo=timezone.utc)) is None  # after the period
    plan = hour_plan(period)
    assert plan.irregular == () and plan.raw_slices == ()
    assert [off for _, off in plan.segments] == [-240, -300]


def test_a_midnight_that_does_not_exist_starts_the_day_at_the_gap():
    # Santiago skips 00:00-01:00 local time when summer time starts (6 Sep 2026).
    tz = ZoneInfo("America/Santiago")
    start = local_midnight(date(2026, 9, 6), tz)
    assert start.astimezone(tz).hour in (0, 1)
    assert (start - timedelta(seconds=1)).astimezone(tz).date() == date(2026, 9, 5)


def test_half_hour_zones_read_the_cut_hours_from_the_facts():
    plan = hour_plan(Period(date(2026, 11, 10), date(2026, 11, 12), ZoneInfo("Asia/Kolkata")))
    assert len(plan.irregular) == 2  # the two inner midnights at 18:30 UTC
    assert len(plan.raw_slices) == 4  # plus the half hours at both ends


def test_day_plan_uses_whole_utc_days_and_reads_the_ends():
    start = epoch(datetime(2026, 11, 10, 5, tzinfo=timezone.utc))
    end = epoch(datetime(2026, 11, 13, 5, tzinfo=timezone.utc))
    plan = day_plan(start, end)
    assert (day_from_number(plan.first_day), day_from_number(plan.end_day)) == (date(2026, 11, 11), date(2026, 11, 13))
    assert plan.raw_slices == ((start, epoch(datetime(2026, 11, 11, tzinfo=timezone.utc))),
                               (epoch(datetime(2026, 11, 13, tzinfo=timezone.utc)), end))
    same_day = day_plan(start, start + 3600)
    assert same_day.raw_slices == ((start, start + 3600),) and same_day.end_day == same_day.first_day


ZONES = ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe",
         "Pacific/Chatham", "America/St_Johns", "UTC", "Pacific/Kiritimati", "America/Santiago",
         "Asia/Tehran", "Africa/Casablanca"]


@settings(max_examples=120, deadline=None)
@given(zone=st.sampled_from(ZONES), first=st.dates(date(2024, 1, 1), date(2027, 12, 1)),
       n=st.integers(1, 40))
def test_hour_plan_assigns_every_second_to_its_local_day(zone, first, n):
    """Whole hours map to the day of their local start; the rest is read from the facts; the
    two together cover the period exactly once."""
    period = Period(first, first + timedelta(days=n - 1), ZoneInfo(zone))
    plan = hour_plan(period)
    start, end = period.bounds[0], period.bounds[-1]
    covered = 0
    irregular = set(plan.irregular)
    segment_starts = [h for h, _ in plan.segments]
    for hour in range(plan.first_hour, plan.end_hour):
        if hour in irregular:
            continue
        covered += 3600
        offset = plan.segments[max(i for i, h in enumerate(segment_starts) if h <= hour or i == 0)][1]
        day = day_from_number((hour * 60 + offset) // 1440)
        assert period.day_of(hour * 3600) == day == period.day_of(hour * 3600 + 3599), (zone, hour)
    for lo, hi in plan.raw_slices:
        assert start <= lo < hi <= end
        covered += hi - lo
    assert covered == end - start
