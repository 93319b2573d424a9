"""The ticket rules of DOMAIN.md §6, pure: explicit clocks, no app, no database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.tickets import lifecycle as lc
from portal.tickets.lifecycle import Action, EventKind, Party, RefundState, Refused, Status, TicketType

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LA = ZoneInfo("America/Los_Angeles")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def local(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


def rules(tz=NY, **kw) -> lc.Rules:
    return lc.Rules(tz=tz, **kw)


def opened(ticket_type=TicketType.REFUND, by=Party.CUSTOMER, at=None, tz=NY, sale_age=timedelta(days=3),
           recurring=True):
    at = at or local(tz, 2026, 11, 17, 10, 0)  # a Tuesday
    return lc.open_ticket(ticket_type, by=by, sale_at=at - sale_age, recurring=recurring, now=at,
                          rules=rules(tz))


def run_until(state, now, tz=NY):
    steps = []
    while (step := lc.advance(state, now, rules(tz))) is not None:
        steps.append(step)
        state = step.state
    return state, steps


# --- refund and cancel requests -----------------------------------------------------------------

def test_customer_refund_is_processed_24_hours_after_opening():
    state = opened()
    assert state.next_action is Action.PROCESS
    assert state.next_action_at == local(NY, 2026, 11, 18, 10, 0)
    assert lc.advance(state, local(NY, 2026, 11, 18, 9, 59), rules()) is None
    step = lc.advance(state, local(NY, 2026, 11, 18, 10, 0), rules())
    assert step.event is EventKind.PROCESSING and step.state.refund_state is RefundState.PROCESSING


def test_refund_processing_settles_after_a_day_and_closes_the_ticket():
    state, steps = run_until(opened(), local(NY, 2026, 11, 20, 12, 0))
    assert [s.event for s in steps] == [EventKind.PROCESSING, EventKind.FINALIZED]
    assert state.status is Status.CLOSED and state.refund_state is RefundState.FINALIZED
    assert state.next_action is None


def test_friday_request_is_processed_on_monday_at_the_same_local_time():
    state = opened(at=local(NY, 2026, 11, 20, 16, 30))  # Friday afternoon in New York
    assert state.next_action_at == local(NY, 2026, 11, 23, 16, 30)  # Monday


def test_friday_evening_in_berlin_and_los_angeles_differ():
    """The same instant is Saturday morning in Berlin and Friday afternoon in Los Angeles."""
    instant = utc(2026, 11, 20, 23, 30)
    berlin = lc.open_ticket(TicketType.REFUND, by=Party.CUSTOMER, sale_at=instant - timedelta(days=2),
                            recurring=False, now=instant, rules=rules(BERLIN))
    la = lc.open_ticket(TicketType.REFUND, by=Party.CUSTOMER, sale_at=instant - timedelta(days=2),
                        recurring=False, now=instant, rules=rules(LA))
    assert berlin.next_action_at == local(BERLIN, 2026, 11, 23, 0, 30)  # Sat 00:30 +24h = Sun → Mon
    assert la.next_action_at == local(LA, 2026, 11, 23, 15, 30)  # Fri 15:30 +24h = Sat → Mon
    assert berlin.next_action_at != la.next_action_at


def test_vendor_refund_is_processed_after_five_minutes_and_may_be_closed_before():
    at = local(NY, 2026, 11, 17, 10, 0)
    state = opened(by=Party.VENDOR, at=at)
    assert state.vendor_initiated and state.next_action_at == at + timedelta(minutes=5)
    closed = lc.close(state, by=Party.VENDOR, now=at + timedelta(minutes=3))
    assert closed.status is Status.CLOSED and closed.refund_state is RefundState.WITHDRAWN


def test_the_vendor_changing_its_own_request_keeps_it_the_vendors():
    """Refund → cancellation within the 5 minutes: still the vendor's request, processed 5
    minutes after the change and still editable (no "customer agreed" needed to close it)."""
    at = local(NY, 2026, 11, 17, 10, 0)
    state = opened(by=Party.VENDOR, at=at)
    changed = lc.change_type(state, TicketType.CANCEL, by=Party.VENDOR, now=at + timedelta(minutes=2),
                             rules=rules())
    assert changed.ticket_type is TicketType.CANCEL and changed.vendor_initiated
    assert changed.next_action_at == at + timedelta(minutes=7)
    closed = lc.close(changed, by=Party.VENDOR, now=at + timedelta(minutes=3))
    assert closed.refund_state is RefundState.WITHDRAWN
    # The customer turning the vendor's request around makes it the customer's (24 h).
    theirs = lc.change_type(state, TicketType.CANCEL, by=Party.CUSTOMER, now=at + timedelta(minutes=2),
                            rules=rules())
    assert not theirs.vendor_initiated and theirs.next_action_at == at + timedelta(hours=24, minutes=2)


def test_vendor_needs_customer_consent_to_close_or_change_a_customer_request():
    state = opened()
    with pytest.raises(Refused) as err:
        lc.close(state, by=Party.VENDOR, now=state.opened_at + timedelta(hours=1))
    assert err.value.code == "customer_consent_required"
    with pytest.raises(Refused):
        lc.change_type(state, TicketType.TECH_SUPPORT, by=Party.VENDOR, now=state.opened_at,
                       rules=rules())
    saved = lc.change_type(state, TicketType.TECH_SUPPORT, by=Party.VENDOR, now=state.opened_at,
                           rules=rules(), customer_agreed=True)
    assert saved.ticket_type is TicketType.TECH_SUPPORT and saved.refund_state is None
    assert saved.next_action is Action.WARN


def test_customer_may_close_own_request_without_consent_box():
    state = opened()
    assert lc.close(state, by=Party.CUSTOMER, now=state.opened_at).status is Status.CLOSED


def test_processing_refund_cannot_be_closed_or_changed():
    state, _ = run_until(opened(), local(NY, 2026, 11, 18, 11, 0))
    assert state.refund_state is RefundState.PROCESSING
    for attempt in (
        lambda: lc.close(state, by=Party.CUSTOMER, now=state.opened_at + timedelta(days=1)),
        lambda: lc.change_type(state, TicketType.TECH_SUPPORT, by=Party.VENDOR, customer_agreed=True,
                               now=state.opened_at + timedelta(days=1), rules=rules()),
    ):
        with pytest.raises(Refused) as err:
            attempt()
        assert err.value.code == "refund_processing"


def test_cancellation_only_for_recurring_products():
    with pytest.raises(Refused) as err:
        opened(TicketType.CANCEL, recurring=False)
    assert err.value.code == "cancel_needs_recurring"
    assert opened(TicketType.CANCEL, recurring=True).next_action is Action.PROCESS


@pytest.mark.parametrize(
    "by, age, allowed",
    [(Party.CUSTOMER, 60, True), (Party.CUSTOMER, 61, False), (Party.VENDOR, 90, True), (Party.VENDOR, 91, False)],
)
def test_refund_windows(by, age, allowed):
    if allowed:
        assert opened(by=by, sale_age=timedelta(days=age)).refund_state is RefundState.REQUESTED
    else:
        with pytest.raises(Refused):
            opened(by=by, sale_age=timedelta(days=age))


def test_escalated_vendor_refund_past_90_days():
    at = local(NY, 2026, 11, 17, 10, 0)
    state = lc.open_ticket(TicketType.REFUND, by=Party.VENDOR, sale_at=at - timedelta(days=120),
                           recurring=False, now=at, rules=rules(), escalated=True)
    assert state.refund_state is RefundState.REQUESTED


def test_escalate_only_for_sales_older_than_90_days():
    young = opened(TicketType.TECH_SUPPORT, sale_age=timedelta(days=30))
    with pytest.raises(Refused):
        lc.escalate(young, now=young.opened_at, rules=rules())
    old = opened(TicketType.TECH_SUPPORT, sale_age=timedelta(days=100))
    assert lc.escalate(old, now=old.opened_at, rules=rules()).escalated


def test_per_account_windows_are_settings():
    at = local(NY, 2026, 11, 17, 10, 0)
    state = lc.open_ticket(TicketType.REFUND, by=Party.CUSTOMER, sale_at=at - timedelta(days=80),
                           recurring=False, now=at, rules=rules(customer_refund_days=90))
    assert state.refund_state is RefundState.REQUESTED


# --- tech support ---------------------------------------------------------------------------------

def test_vendor_silent_tech_ticket_warns_twice_then_closes_after_six_days():
    state = opened(TicketType.TECH_SUPPORT, at=local(NY, 2026, 11, 2, 9, 0))  # Monday
    final, steps = run_until(state, local(NY, 2026, 11, 30, 0, 0))
    assert [(s.event, s.due_at) for s in steps] == [
        (EventKind.WARNING, local(NY, 2026, 11, 4, 9, 0)),  # +48 h, Wednesday
        (EventKind.WARNING, local(NY, 2026, 11, 6, 9, 0)),  # +96 h, Friday
        (EventKind.AUTO_CLOSED, local(NY, 2026, 11, 9, 9, 0)),  # +6 days is Sunday → Monday
    ]
    assert final.status is Status.CLOSED


def test_customer_silent_tech_ticket_warns_after_7_and_closes_after_14_business_days():
    state = opened(TicketType.TECH_SUPPORT, by=Party.VENDOR, at=local(NY, 2026, 11, 2, 9, 0))  # Monday
    final, steps = run_until(state, local(NY, 2026, 12, 31, 0, 0))
    assert [(s.event, s.due_at) for s in steps] == [
        (EventKind.WARNING, local(NY, 2026, 11, 11, 9, 0)),  # 7 business days later: Wednesday
        (EventKind.AUTO_CLOSED, local(NY, 2026, 11, 20, 9, 0)),  # 14 business days: Friday
    ]
    assert final.status is Status.CLOSED


def test_a_reply_restarts_the_timers_for_the_other_side():
    state = opened(TicketType.TECH_SUPPORT, at=local(NY, 2026, 11, 2, 9, 0))
    answered = lc.comment(state, by=Party.VENDOR, now=local(NY, 2026, 11, 3, 9, 0), rules=rules())
    assert answered.last_party is Party.VENDOR
    assert answered.next_action_at == local(NY, 2026, 11, 12, 9, 0)  # 7 business days after Tue
    back = lc.comment(answered, by=Party.CUSTOMER, now=local(NY, 2026, 11, 4, 9, 0), rules=rules())
    assert back.next_action_at == local(NY, 2026, 11, 6, 9, 0)


def test_customer_turns_tech_support_into_refund_processed_24h_later():
    state = opened(TicketType.TECH_SUPPORT)
    at = local(NY, 2026, 11, 18, 8, 0)
    refund = lc.change_type(state, TicketType.REFUND, by=Party.CUSTOMER, now=at, rules=rules())
    assert refund.refund_state is RefundState.REQUESTED and refund.next_action_at == at + timedelta(hours=24)


def test_reopen_restarts_timers_but_not_after_a_completed_refund():
    state = opened(TicketType.TECH_SUPPORT)
    closed = lc.close(state, by=Party.CUSTOMER, now=state.opened_at + timedelta(hours=2))
    assert closed.next_action is None
    reopened = lc.reopen(closed, by=Party.CUSTOMER, now=state.opened_at + timedelta(days=1), rules=rules())
    assert reopened.status is Status.REOPENED and reopened.next_action is Action.WARN
    finalized, _ = run_until(opened(), local(NY, 2026, 11, 25, 0, 0))
    with pytest.raises(Refused):
        lc.reopen(finalized, by=Party.CUSTOMER, now=local(NY, 2026, 11, 25, 0, 0), rules=rules())


def test_short_comments_are_refused():
    with pytest.raises(Refused):
        lc.check_comment("  ok   ")
    assert lc.check_comment("  thanks!  ") == "thanks!"


def test_weekend_rule_keeps_the_local_clock_across_daylight_saving_change():
    # Saturday 2026-10-31 10:00 in New York (EDT) → Monday 2026-11-02 10:00 (EST).
    moved = lc.weekend_adjusted(local(NY, 2026, 10, 31, 10, 0), NY)
    assert moved.astimezone(NY).hour == 10 and moved.astimezone(NY).weekday() == 0


# --- properties -----------------------------------------------------------------------------------

ZONES = st.sampled_from([NY, BERLIN, LA, ZoneInfo("Asia/Tokyo"), ZoneInfo("Australia/Sydney")])
MOMENTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1),
                       timezones=st.just(timezone.utc))
KINDS = st.sampled_from(list(TicketType))
PARTIES = st.sampled_from(list(Party))


@settings(max_examples=300, deadline=None)
@given(tz=ZONES, at=MOMENTS, kind=KINDS, by=PARTIES, horizon=st.integers(min_value=0, max_value=40))
def test_no_automatic_action_ever_happens_on_a_weekend(tz, at, kind, by, horizon):
    state = lc.open_ticket(kind, by=by, sale_at=at - timedelta(days=1), recurring=True, now=at,
                           rules=rules(tz))
    _, steps = run_until(state, at + timedelta(days=horizon), tz)
    assert all(not lc.is_weekend(s.due_at, tz) for s in steps)


@settings(max_examples=300, deadline=None)
@given(tz=ZONES, at=MOMENTS, by=PARTIES)
def test_a_refund_is_never_processed_before_its_rule_allows(tz, at, by):
    state = lc.open_ticket(TicketType.REFUND, by=by, sale_at=at - timedelta(days=1), recurring=False, now=at,
                           rules=rules(tz))
    earliest = timedelta(minutes=5) if by is Party.VENDOR else timedelta(hours=24)
    assert state.next_action_at >= at + earliest
    assert lc.advance(state, state.next_action_at - timedelta(seconds=1), rules(tz)) is None


@settings(max_examples=200, deadline=None)
@given(tz=ZONES, at=MOMENTS, kind=KINDS, by=PARTIES, later=st.integers(min_value=0, max_value=60))
def test_a_closed_ticket_never_gets_a_timer(tz, at, kind, by, later):
    state = lc.open_ticket(kind, by=by, sale_at=at - timedelta(days=1), recurring=True, now=at,
                           rules=rules(tz))
    final, _ = run_until(state, at + timedelta(days=later), tz)
    if final.is_closed:
        assert final.next_action is None and final.next_action_at is None
        assert lc.advance(final, at + timedelta(days=400), rules(tz)) is None
