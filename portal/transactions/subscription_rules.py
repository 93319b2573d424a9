"""Rules for changing a subscription from the portal (REFERENCE.md §8). Pure: no Flask, no
database; time and the account's time zone are passed in.

- cancel: stops future billing (no refund); only an active or paused subscription.
- pause: billing stops until a restart date that is after the next due date and at most 60 days
  ahead; on the restart date billing continues.
- resume: a paused subscription bills again from a date in the future.
- change date: the next bill date moves to a day in the future.

Dates are chosen as days in the account's time zone; the bill keeps the clock time of the
subscription's schedule on that day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from portal.tickets.lifecycle import Refused

MAX_PAUSE_DAYS = 60
MAX_DATE_AHEAD_DAYS = 366  # a guard against typos (2062 for 2026), not a ClickBank rule

ACTIVE = "active"
PAUSED = "paused"
CANCELLED = "cancelled"
COMPLETED = "completed"


def effective_status(status: str, resume_at: datetime | None, now: datetime) -> str:
    """A pause ends by itself on its restart date."""
    if status == PAUSED and resume_at is not None and resume_at <= now:
        return ACTIVE
    return status


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def bill_time_on(day: date, reference: datetime | None, tz: ZoneInfo) -> datetime:
    """The instant on ``day`` (in ``tz``) at the clock time of ``reference`` (else 09:00)."""
    wall = reference.astimezone(tz).time().replace(tzinfo=None) if reference else time(9, 0)
    return datetime.combine(day, wall, tzinfo=tz).astimezone(timezone.utc)


def _check_day(day: date, now: datetime, tz: ZoneInfo, what: str) -> None:
    today = local_day(now, tz)
    if day <= today:
        raise Refused("date_not_in_future", f"The {what} must be a day in the future.")
    if day > today + timedelta(days=MAX_DATE_AHEAD_DAYS):
        raise Refused(
            "date_too_far", f"The {what} can be at most {MAX_DATE_AHEAD_DAYS} days ahead."
        )


def check_cancel(status: str) -> None:
    if status not in (ACTIVE, PAUSED):
        raise Refused(
            "subscription_not_active", "Only an active or paused subscription can be cancelled."
        )


def check_pause(
    status: str, next_bill_at: datetime | None, restart: date, now: datetime, tz: ZoneInfo
) -> None:
    """Pause until ``restart``: after the next due date, at most 60 days ahead."""
    if status != ACTIVE:
        raise Refused("subscription_not_active", "Only an active subscription can be paused.")
    _check_day(restart, now, tz, "restart date")
    today = local_day(now, tz)
    if restart > today + timedelta(days=MAX_PAUSE_DAYS):
        raise Refused(
            "pause_too_long",
            f"A pause can last at most {MAX_PAUSE_DAYS} days: pick a restart date on or before "
            f"{(today + timedelta(days=MAX_PAUSE_DAYS)).isoformat()}.",
        )
    if next_bill_at is not None and restart <= local_day(next_bill_at, tz):
        raise Refused(
            "restart_before_next_bill",
            "The restart date must be after the next bill date "
            f"({local_day(next_bill_at, tz).isoformat()}); otherwise nothing is skipped.",
        )


def check_resume(status: str, next_day: date, now: datetime, tz: ZoneInfo) -> None:
    if status != PAUSED:
        raise Refused("subscription_not_paused", "Only a paused subscription can be resumed.")
    _check_day(next_day, now, tz, "next bill date")


def check_change_date(status: str, new_day: date, now: datetime, tz: ZoneInfo) -> None:
    if status != ACTIVE:
        raise Refused(
            "subscription_not_active",
            "The next bill date can only be changed on an active subscription.",
        )
    _check_day(new_day, now, tz, "next bill date")


def suggested_resume_day(pre_pause_next: datetime | None, now: datetime, tz: ZoneInfo) -> date:
    """When resuming early: the bill date the pause skipped, if still ahead, else tomorrow."""
    tomorrow = local_day(now, tz) + timedelta(days=1)
    if pre_pause_next is not None and local_day(pre_pause_next, tz) >= tomorrow:
        return local_day(pre_pause_next, tz)
    return tomorrow
