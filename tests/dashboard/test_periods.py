"""Dashboard periods: presets end today and include it; custom ranges are checked."""

from __future__ import annotations

from datetime import date

import pytest

from portal.dashboard import periods

TODAY = date(2026, 11, 18)


@pytest.mark.parametrize(
    "key, start, days",
    [
        ("today", date(2026, 11, 18), 1),
        ("7d", date(2026, 11, 12), 7),
        ("30d", date(2026, 10, 20), 30),
        ("90d", date(2026, 8, 21), 90),
    ],
)
def test_presets_end_today_and_count_today(key, start, days):
    period = periods.parse({"period": key}, TODAY)
    assert (period.key, period.start, period.end, period.days, period.error) == (
        key,
        start,
        TODAY,
        days,
        None,
    )


def test_the_default_is_thirty_days_and_unknown_keys_fall_back_to_it():
    assert periods.parse({}, TODAY).key == "30d"
    assert periods.parse({"period": "<script>"}, TODAY).key == "30d"


def test_a_custom_range_includes_both_ends():
    period = periods.parse({"period": "custom", "from": "2026-01-01", "to": "2026-01-31"}, TODAY)
    assert (period.key, period.days, period.label) == ("custom", 31, "2026-01-01 – 2026-01-31")
    assert period.query() == {"period": "custom", "from": "2026-01-01", "to": "2026-01-31"}


@pytest.mark.parametrize(
    "args, error",
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "start date is after the end date"),
        ({"from": "2026-01-01"}, "Enter both dates"),
        ({"from": "yesterday", "to": "2026-01-01"}, "Enter both dates"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "at most 731 days"),
        ({"from": "1066-10-14", "to": "1066-10-14"}, "out of range"),
    ],
)
def test_a_bad_custom_range_says_why_and_shows_the_default(args, error):
    period = periods.parse({"period": "custom", **args}, TODAY)
    assert period.key == "30d" and error in period.error


def test_the_previous_period_is_as_long_and_just_before():
    period = periods.parse({"period": "7d"}, TODAY)
    previous = period.previous()
    assert (previous.start, previous.end, previous.days) == (
        date(2026, 11, 5),
        date(2026, 11, 11),
        7,
    )


def test_a_preset_ends_at_each_accounts_own_today_and_a_custom_range_stays_as_typed():
    seven = periods.parse({"period": "7d"}, TODAY)
    berlin = seven.ending(date(2026, 11, 19))  # Berlin is already on tomorrow
    assert (berlin.key, berlin.start, berlin.end, berlin.days) == (
        "7d",
        date(2026, 11, 13),
        date(2026, 11, 19),
        7,
    )
    custom = periods.parse({"period": "custom", "from": "2026-11-01", "to": "2026-11-18"}, TODAY)
    assert custom.ending(date(2026, 11, 19)) == custom
    previous = berlin.previous()
    assert previous.ending(date(2026, 11, 30)) == previous  # a comparison window is fixed
