"""What each ticket event counts for (pure rules)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from portal.reports.metrics import Event, History, actor_key, derive, gap_class, reply_band

T0 = datetime(2026, 11, 10, 12, tzinfo=timezone.utc)
_ids = iter(range(1, 10_000))


def ev(kind, actor_kind, *, user=None, minutes=0, ticket_type="refund", frm=None, to=None):
    return Event(next(_ids), 7, 1, T0 + timedelta(minutes=minutes), kind, actor_kind, user, ticket_type, frm, to)


def metrics(facts):
    return sorted(f.metric for f in facts)


def test_actor_keys_group_users_and_name_the_others():
    assert actor_key("clerk", 12) == "u12" and actor_key("api", 12) == "u12"
    assert actor_key("customer", None) == "customer" and actor_key("system", None) == "system"


def test_a_customer_request_answered_saved_and_closed():
    h = History()
    assert metrics(derive(ev("opened", "customer"), h)) == ["opened"]
    reply = derive(ev("commented", "clerk", user=3, minutes=90), h)
    assert metrics(reply) == ["commented", "first_reply", "reply:1to24h", "touch", "work_first"]
    assert next(f for f in reply if f.metric == "first_reply").seconds == 5400
    again = derive(ev("commented", "clerk", user=3, minutes=100), h)
    assert metrics(again) == ["commented", "touch", "work:0"]  # only the first reply is timed
    touch = next(f for f in again if f.metric == "touch")
    assert touch.prev_at == T0 + timedelta(minutes=90) and touch.gap_class == 0
    change = derive(ev("type_changed", "clerk", user=4, minutes=120, ticket_type="tech_support",
                       frm="refund", to="tech_support"), h)
    assert metrics(change) == ["saved", "tc:refund>tech_support", "touch", "work:0"]
    assert next(f for f in change if f.metric == "touch").prev_at is None  # user 4's first
    # ...but not the ticket's: the per-ticket fact remembers user 3's touch 20 minutes earlier
    assert next(f for f in change if f.metric == "work:0").prev_at == T0 + timedelta(minutes=100)
    close = derive(ev("closed", "clerk", user=4, minutes=180, ticket_type="tech_support"), h)
    assert metrics(close) == ["closed", "touch", "work:0"]  # a tech-support close saves nothing
    assert next(f for f in close if f.metric == "closed").seconds == 180 * 60


def test_reopening_restarts_the_time_to_close():
    h = History()
    derive(ev("opened", "customer", ticket_type="tech_support"), h)
    derive(ev("closed", "customer", minutes=10, ticket_type="tech_support"), h)
    derive(ev("reopened", "clerk", user=3, minutes=600, ticket_type="tech_support"), h)
    closed = derive(ev("auto_closed", "system", minutes=660, ticket_type="tech_support"), h)
    assert [(f.metric, f.seconds, f.actor) for f in closed] == [("auto_closed", 3600, "system")]


def test_vendor_opened_tickets_have_no_first_reply_and_signed_links_count():
    h = History()
    assert metrics(derive(ev("opened", "clerk", user=3), h)) == ["opened", "touch", "work_first"]
    assert metrics(derive(ev("commented", "clerk", user=5, minutes=5), h)) == ["commented", "touch", "work:0"]
    link = derive(ev("closed", "vendor_link", minutes=9), h)
    assert metrics(link) == ["closed", "saved", "touch", "work:0"]  # a refund request withdrawn
    assert {f.actor for f in link} == {"vendor_link"}


def test_what_is_not_counted():
    h = History()
    for kind in ("warning", "processing", "receipt_emailed"):
        assert derive(ev(kind, "system"), h) == []
    assert metrics(derive(ev("commented", "customer"), h)) == ["commented"]  # no touch
    # The timers close a refund request whose charge was refunded meanwhile: nobody saved it.
    assert "saved" not in metrics(derive(ev("closed", "system"), History()))
    assert "saved" in metrics(derive(ev("closed", "clerk", user=3), History()))


@pytest.mark.parametrize("hours, cls", [(0, 0), (1.9, 0), (2, 1), (3.9, 1), (4, 2), (125, 6), (24 * 365, 13)])
def test_gap_classes(hours, cls):
    assert gap_class(T0, T0 + timedelta(hours=hours)) == cls
    assert gap_class(None, T0) is None


@pytest.mark.parametrize("seconds, band", [(0, "reply:lt1h"), (3599, "reply:lt1h"), (3600, "reply:1to24h"),
                                           (86399, "reply:1to24h"), (86400, "reply:gt24h")])
def test_reply_bands(seconds, band):
    assert reply_band(seconds) == band


def test_per_ticket_work_gap_is_since_anyone_touched_the_ticket():
    """Two clerks on one ticket: each has their own first touch, the ticket only one first work;
    the later work fact's gap class is from the other clerk's touch, not the actor's own."""
    h = History()
    derive(ev("opened", "customer"), h)
    first = derive(ev("commented", "clerk", user=3, minutes=60), h)
    second = derive(ev("commented", "clerk", user=4, minutes=60 + 5 * 60), h)  # 5 h later
    third = derive(ev("commented", "clerk", user=3, minutes=60 + 5 * 60 + 30), h)
    assert [f.metric for f in first if f.metric.startswith("work")] == ["work_first"]
    assert [(f.metric, f.prev_at) for f in second if f.metric.startswith("work")] == [
        ("work:2", T0 + timedelta(minutes=60))]  # 5 h: class 2; user 4's own touch is their first
    assert next(f for f in second if f.metric == "touch").prev_at is None
    assert [f.metric for f in third if f.metric.startswith("work")] == ["work:0"]  # 30 min after user 4
    assert next(f for f in third if f.metric == "touch").gap_class == 2  # user 3's own gap: 5.5 h
    assert [f.aggregate_metrics() for f in first + second if f.metric.startswith("work")] == [
        ("work_first",), ()]  # only a ticket's first work is counted in the hourly/daily rows
