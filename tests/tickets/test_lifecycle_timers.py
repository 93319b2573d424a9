"""Timer rules of DOMAIN.md §6 beyond the basics: the weekend in the account's zone, chained
warnings, catching up after downtime, and random histories checked against every rule.

Pure: explicit clocks, no app, no database, no sleeping.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.tickets import lifecycle as lc
from portal.tickets.lifecycle import (
    Action,
    EventKind,
    Party,
    RefundState,
    Refused,
    Status,
    TicketType,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LA = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")
SYDNEY = ZoneInfo("Australia/Sydney")


def local(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


def open_(kind, *, by=Party.CUSTOMER, at, tz, recurring=True, sale_age=timedelta(days=2)):
    return lc.open_ticket(kind, by=by, sale_at=at - sale_age, recurring=recurring, now=at,
                          rules=lc.Rules(tz=tz))


def punctual(state, until, tz):
    """The sweep running every minute: each step happens exactly when it is due."""
    steps = []
    while state.next_action_at is not None and state.next_action_at <= until:
        step = lc.advance(state, state.next_action_at, lc.Rules(tz=tz))
        assert step is not None, "a due step must be carried out when the sweep runs on time"
        steps.append(step)
        state = step.state
    return state, steps


# --- Friday evening: the account's weekend decides ----------------------------------------------

def test_friday_evening_customer_refund_in_berlin_and_in_los_angeles():
    """Friday 19:00 in each shop's own zone: 24 h later is Saturday, so both wait for Monday at
    19:00 of their own clock — three days apart in real time from two different instants."""
    berlin = open_(TicketType.REFUND, at=local(BERLIN, 2026, 11, 20, 19, 0), tz=BERLIN)
    la = open_(TicketType.REFUND, at=local(LA, 2026, 11, 20, 19, 0), tz=LA)
    assert berlin.next_action_at == local(BERLIN, 2026, 11, 23, 19, 0)
    assert la.next_action_at == local(LA, 2026, 11, 23, 19, 0)
    assert la.next_action_at - berlin.next_action_at == timedelta(hours=9)


def test_the_same_friday_evening_instant_is_already_the_weekend_in_berlin():
    """Friday 17:00 in Los Angeles is Saturday 02:00 in Berlin. A vendor's 5-minute refund opened
    at that instant runs on Friday in Los Angeles but waits for Monday in Berlin."""
    instant = local(LA, 2026, 11, 20, 17, 0)
    la = open_(TicketType.REFUND, by=Party.VENDOR, at=instant, tz=LA)
    berlin = open_(TicketType.REFUND, by=Party.VENDOR, at=instant, tz=BERLIN)
    assert la.next_action_at == local(LA, 2026, 11, 20, 17, 5)  # still Friday there
    assert berlin.next_action_at == local(BERLIN, 2026, 11, 23, 2, 5)  # Saturday 02:05 → Monday
    # Customer requests at that instant: Saturday 17:00 LA → Monday; Sunday 02:00 Berlin → Monday.
    assert open_(TicketType.REFUND, at=instant, tz=LA).next_action_at == local(LA, 2026, 11, 23, 17, 0)
    assert open_(TicketType.REFUND, at=instant, tz=BERLIN).next_action_at == local(BERLIN, 2026, 11, 23, 2, 0)


def test_friday_tech_request_in_berlin_and_los_angeles_warns_on_monday_and_then_chains():
    for tz in (BERLIN, LA):
        state = open_(TicketType.TECH_SUPPORT, at=local(tz, 2026, 11, 20, 18, 0), tz=tz)
        _, steps = punctual(state, local(tz, 2026, 12, 31, 0, 0), tz)
        assert [(s.event, s.due_at) for s in steps] == [
            (EventKind.WARNING, local(tz, 2026, 11, 23, 18, 0)),  # Sunday 18:00 → Monday
            (EventKind.WARNING, local(tz, 2026, 11, 25, 18, 0)),  # two more days: Wednesday
            (EventKind.AUTO_CLOSED, local(tz, 2026, 11, 27, 18, 0)),  # two more days: Friday
        ]


def test_chained_warnings_keep_two_days_between_steps_after_a_thursday_request():
    """Fixed offsets would put both warnings on Monday (Sat 09:00 and Mon 09:00); the chain
    gives Monday, Wednesday, Friday (the reading documented in lifecycle.py)."""
    state = open_(TicketType.TECH_SUPPORT, at=local(NY, 2026, 11, 19, 9, 0), tz=NY)  # Thursday
    _, steps = punctual(state, local(NY, 2026, 12, 31, 0, 0), NY)
    assert [s.due_at.astimezone(NY).strftime("%a %d %H:%M") for s in steps] == [
        "Mon 23 09:00", "Wed 25 09:00", "Fri 27 09:00"]


def test_customer_silent_after_a_saturday_reply_counts_business_days():
    state = open_(TicketType.TECH_SUPPORT, at=local(NY, 2026, 11, 16, 9, 0), tz=NY)
    replied = lc.comment(state, by=Party.VENDOR, now=local(NY, 2026, 11, 21, 11, 0), rules=lc.Rules(tz=NY))
    _, steps = punctual(replied, local(NY, 2027, 1, 31, 0, 0), NY)
    assert [(s.event, s.due_at) for s in steps] == [
        (EventKind.WARNING, local(NY, 2026, 12, 1, 11, 0)),  # 7 business days after Sat: Tue
        (EventKind.AUTO_CLOSED, local(NY, 2026, 12, 10, 11, 0)),  # 14 business days: Thu
    ]


def test_settle_that_would_fall_on_saturday_moves_to_monday():
    state = open_(TicketType.REFUND, at=local(NY, 2026, 11, 18, 15, 0), tz=NY)  # Wed → Thu 15:00
    final, steps = punctual(state, local(NY, 2026, 12, 31, 0, 0), NY)
    assert [s.due_at for s in steps] == [local(NY, 2026, 11, 19, 15, 0), local(NY, 2026, 11, 20, 15, 0)]
    late = open_(TicketType.REFUND, at=local(NY, 2026, 11, 19, 15, 0), tz=NY)  # Thu → Fri → Sat
    _, steps = punctual(late, local(NY, 2026, 12, 31, 0, 0), NY)
    assert [s.due_at for s in steps] == [local(NY, 2026, 11, 20, 15, 0), local(NY, 2026, 11, 23, 15, 0)]
    assert final.refund_state is RefundState.FINALIZED and final.status is Status.CLOSED


def test_tech_turned_into_refund_on_friday_restarts_the_24_hours_and_waits_for_monday():
    rules = lc.Rules(tz=NY)
    state = open_(TicketType.TECH_SUPPORT, at=local(NY, 2026, 11, 16, 9, 0), tz=NY)
    refund = lc.change_type(state, TicketType.REFUND, by=Party.CUSTOMER, now=local(NY, 2026, 11, 20, 10, 0),
                            rules=rules)
    assert refund.next_action is Action.PROCESS
    assert refund.next_action_at == local(NY, 2026, 11, 23, 10, 0)
    assert refund.warnings_sent == 0 and refund.timer_started_at == local(NY, 2026, 11, 20, 10, 0)


# --- catching up after downtime -------------------------------------------------------------------

def test_a_late_sweep_on_a_weekend_waits_for_monday_then_catches_up_in_order():
    rules = lc.Rules(tz=NY)
    state = open_(TicketType.REFUND, at=local(NY, 2026, 11, 19, 16, 0), tz=NY)  # due Fri 16:00
    assert lc.advance(state, local(NY, 2026, 11, 21, 12, 0), rules) is None  # Saturday: wait
    assert lc.advance(state, local(NY, 2026, 11, 22, 23, 59), rules) is None  # Sunday: wait
    step = lc.advance(state, local(NY, 2026, 11, 23, 0, 1), rules)  # Monday just after midnight
    assert step.event is EventKind.PROCESSING and step.due_at == local(NY, 2026, 11, 20, 16, 0)
    # Settle is due Sat 16:00 → Monday 16:00 (counted from the due time, not the late sweep).
    assert step.state.next_action_at == local(NY, 2026, 11, 23, 16, 0)


def test_catch_up_after_a_week_of_downtime_replays_the_whole_timeline():
    rules = lc.Rules(tz=NY)
    state = open_(TicketType.TECH_SUPPORT, at=local(NY, 2026, 11, 2, 9, 0), tz=NY)
    steps = []
    while (step := lc.advance(state, local(NY, 2026, 11, 12, 12, 0), rules)) is not None:
        steps.append(step)
        state = step.state
    assert [s.event for s in steps] == [EventKind.WARNING, EventKind.WARNING, EventKind.AUTO_CLOSED]
    on_time, punctual_steps = punctual(open_(TicketType.TECH_SUPPORT, at=local(NY, 2026, 11, 2, 9, 0), tz=NY),
                                       local(NY, 2026, 11, 12, 12, 0), NY)
    assert [s.due_at for s in steps] == [s.due_at for s in punctual_steps]
    assert state == on_time


def test_process_now_on_a_saturday_runs_at_once():
    """The refund authority's explicit decision is not an automatic action."""
    state = open_(TicketType.REFUND, at=local(NY, 2026, 11, 19, 16, 0), tz=NY)
    saturday = local(NY, 2026, 11, 21, 10, 0)
    now_state = lc.process_now(state, now=saturday)
    step = lc.advance(now_state, saturday, lc.Rules(tz=NY))
    assert step is not None and step.event is EventKind.PROCESSING


# --- what pages may offer ------------------------------------------------------------------------

def test_allowed_type_changes_follow_the_rules():
    rules = lc.Rules(tz=NY)
    at = local(NY, 2026, 11, 16, 9, 0)
    tech = open_(TicketType.TECH_SUPPORT, at=at, tz=NY, recurring=False)
    assert lc.allowed_type_changes(tech, by=Party.CUSTOMER, now=at, rules=rules) == [TicketType.REFUND]
    refund = open_(TicketType.REFUND, at=at, tz=NY, recurring=True)
    assert lc.allowed_type_changes(refund, by=Party.CUSTOMER, now=at, rules=rules) == [
        TicketType.TECH_SUPPORT, TicketType.CANCEL]
    assert lc.allowed_type_changes(refund, by=Party.VENDOR, now=at, rules=rules) == []
    assert lc.allowed_type_changes(refund, by=Party.VENDOR, now=at, rules=rules, customer_agreed=True) == [
        TicketType.TECH_SUPPORT, TicketType.CANCEL]
    old = open_(TicketType.TECH_SUPPORT, at=at, tz=NY, sale_age=timedelta(days=61))
    assert lc.allowed_type_changes(old, by=Party.CUSTOMER, now=at, rules=rules) == []
    assert lc.may_close(refund, by=Party.CUSTOMER, now=at)
    assert not lc.may_close(refund, by=Party.VENDOR, now=at)


# --- properties over random histories ------------------------------------------------------------

ZONES = st.sampled_from([NY, BERLIN, LA, TOKYO, SYDNEY])
STARTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1),
                      timezones=st.just(timezone.utc))
OPS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5 * 24 * 60),  # minutes until the next thing happens
        st.sampled_from(["comment", "refund", "cancel", "tech_support", "close", "reopen", "downtime"]),
        st.sampled_from(list(Party)),
        st.booleans(),  # the customer agreed (vendor changes of a customer's request)
    ),
    max_size=14,
)


@dataclass
class Done:
    before: lc.TicketState
    step: lc.Step
    at: datetime  # when the sweep actually did it


def _sweep(state, until, rules, log, *, late: bool):
    """Punctual: the sweep acts at each due time. Late: it only runs at ``until`` (downtime)."""
    while True:
        if state.next_action_at is None or state.next_action_at > until:
            return state
        at = until if late else state.next_action_at
        step = lc.advance(state, at, rules)
        if step is None:
            assert late and lc.is_weekend(at, rules.tz), "only a weekend may hold back a due step"
            return state
        log.append(Done(state, step, at))
        state = step.state


def _check_state(state: lc.TicketState):
    if state.is_closed:
        assert state.next_action is None and state.next_action_at is None
        return
    assert state.next_action is not None and state.next_action_at is not None
    if state.ticket_type.is_money:
        expected = {RefundState.REQUESTED: Action.PROCESS, RefundState.PROCESSING: Action.SETTLE}
        assert state.next_action is expected[state.refund_state]
    else:
        assert state.refund_state is None and state.next_action in (Action.WARN, Action.CLOSE)
        assert 0 <= state.warnings_sent <= 2


def _check_step(done: Done, rules: lc.Rules):
    tz, before, step = rules.tz, done.before, done.step
    assert not lc.is_weekend(step.due_at, tz), "no deadline ever falls on a weekend"
    assert not lc.is_weekend(done.at, tz), "no automatic action ever happens on a weekend"
    assert done.at >= step.due_at, "never earlier than it was due"
    start = before.timer_started_at
    if step.action is Action.PROCESS:
        earliest = timedelta(minutes=5) if before.vendor_initiated else timedelta(hours=24)
        assert step.due_at >= start + earliest
        assert before.refund_state is RefundState.REQUESTED
    elif step.action is Action.SETTLE:
        assert before.refund_state is RefundState.PROCESSING
        assert step.state.refund_state is RefundState.FINALIZED and step.state.is_closed
    elif step.action is Action.WARN:
        if before.last_party is Party.CUSTOMER:  # the vendor is silent
            assert step.due_at >= start + timedelta(hours=48) * (before.warnings_sent + 1)
        else:
            assert step.due_at >= lc.add_business_days(start, 7, tz) and before.warnings_sent == 0
    elif step.action is Action.CLOSE:
        if before.last_party is Party.CUSTOMER:
            assert step.due_at >= start + timedelta(days=6) and before.warnings_sent == 2
        else:
            assert step.due_at >= lc.add_business_days(start, 14, tz) and before.warnings_sent == 1


def _apply(state, op, party, agreed, now, rules):
    if op == "comment":
        return lc.comment(state, by=party, now=now, rules=rules)
    if op == "close":
        return lc.close(state, by=party, now=now, customer_agreed=agreed)
    if op == "reopen":
        return lc.reopen(state, by=party, now=now, rules=rules)
    return lc.change_type(state, TicketType(op), by=party, now=now, rules=rules, customer_agreed=agreed)


@settings(max_examples=400, deadline=None)
@given(tz=ZONES, start=STARTS, kind=st.sampled_from(list(TicketType)), opener=st.sampled_from(list(Party)),
       recurring=st.booleans(), ops=OPS)
def test_random_histories_obey_every_timer_rule(tz, start, kind, opener, recurring, ops):
    rules = lc.Rules(tz=tz)
    try:
        state = lc.open_ticket(kind, by=opener, sale_at=start - timedelta(days=1), recurring=recurring,
                               now=start, rules=rules)
    except Refused:
        assert kind is TicketType.CANCEL and not recurring
        return
    log: list[Done] = []
    now = start
    for minutes, op, party, agreed in ops:
        later = now + timedelta(minutes=minutes)
        state = _sweep(state, later, rules, log, late=op == "downtime")
        _check_state(state)
        now = later
        if op == "downtime":
            continue
        before = state
        try:
            state = _apply(state, op, party, agreed, now, rules)
        except Refused:
            assert state == before
            continue
        _check_state(state)
        if state.next_action is Action.PROCESS and before.next_action is not Action.PROCESS:
            assert state.next_action_at >= now + timedelta(hours=24), "requests made later wait 24 h"
    state = _sweep(state, now + timedelta(days=120), rules, log, late=False)
    assert state.is_closed, "every ticket ends closed once its timers have run"
    for done in log:
        _check_step(done, rules)
    processed = [d for d in log if d.step.action is Action.PROCESS]
    settled = [d for d in log if d.step.action is Action.SETTLE]
    assert len(settled) <= len(processed) <= 1, "one request, one refund"
    if state.refund_state is RefundState.FINALIZED:
        assert len(settled) == 1


@settings(max_examples=300, deadline=None)
@given(tz=ZONES, at=STARTS, by=st.sampled_from(list(Party)), down_days=st.integers(min_value=0, max_value=20))
def test_downtime_changes_when_steps_run_but_never_what_they_are(tz, at, by, down_days):
    """A sweep after downtime performs the same steps with the same due times as a punctual one."""
    rules = lc.Rules(tz=tz)
    state = lc.open_ticket(TicketType.TECH_SUPPORT, by=by, sale_at=at, recurring=False, now=at, rules=rules)
    horizon = at + timedelta(days=40)
    on_time, steps = punctual(state, horizon, tz)
    late_log: list[Done] = []
    late = state
    moment = at + timedelta(days=down_days)
    while moment <= horizon + timedelta(days=3):
        late = _sweep(late, moment, rules, late_log, late=True)
        moment += timedelta(hours=7)
    assert [(d.step.event, d.step.due_at) for d in late_log] == [(s.event, s.due_at) for s in steps]
    assert late == on_time


@pytest.mark.parametrize("tz", [NY, BERLIN, LA, TOKYO, SYDNEY])
def test_weekend_adjusted_always_lands_on_a_weekday_at_the_same_clock_time(tz):
    moment = local(tz, 2026, 3, 1, 0, 30)
    for _ in range(24 * 7 * 2):
        moved = lc.weekend_adjusted(moment, tz)
        assert not lc.is_weekend(moved, tz) and moved >= moment
        if lc.is_weekend(moment, tz):
            assert moved.astimezone(tz).weekday() == 0
            assert moved.astimezone(tz).time() == moment.astimezone(tz).time()
        moment += timedelta(hours=1)


def test_vendors_own_request_is_editable_for_five_minutes_then_fixed():
    rules = lc.Rules(tz=NY)
    at = local(NY, 2026, 11, 17, 10, 0)
    state = open_(TicketType.REFUND, by=Party.VENDOR, at=at, tz=NY, recurring=True)
    changed = lc.change_type(state, TicketType.CANCEL, by=Party.VENDOR, now=at + timedelta(minutes=2), rules=rules)
    assert changed.ticket_type is TicketType.CANCEL  # no "customer agreed" needed for its own request
    step = lc.advance(state, at + timedelta(minutes=5), rules)
    assert step.state.refund_state is RefundState.PROCESSING
    with pytest.raises(Refused) as err:
        lc.change_type(step.state, TicketType.TECH_SUPPORT, by=Party.VENDOR, now=at + timedelta(minutes=6),
                       rules=rules)
    assert err.value.code == "refund_processing"
    with pytest.raises(Refused):
        lc.close(step.state, by=Party.VENDOR, now=at + timedelta(minutes=6))
