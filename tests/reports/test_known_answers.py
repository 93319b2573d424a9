"""Every report against the hand-built history in conftest.py, with answers worked out by hand:
time-zone day boundaries (New York, UTC, Kolkata's half hour), a renamed and a deleted clerk,
actions through signed links, the API and the timers."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from portal.accounts.models import LinkedAccount
from portal.authz.scope import principal_for
from portal.extensions import db
from portal.reports import aggregate, build
from portal.reports.build import Context, People
from portal.reports.catalog import BY_SLUG
from portal.reports.engine import Scope
from portal.reports.models import AffiliateDaily, ReportDaily, ReportFact, ReportHourly
from portal.reports.periods import Period
from portal.tickets.models import TicketEvent
from tests.reports.conftest import NOV

NY = "America/New_York"


def context(world, slug, first, last, tz=NY, user=None, clerk=None, account=None, page=1) -> Context:
    principal = principal_for(user or world.owner)
    visible = principal.account_ids
    everything = frozenset(db.session.scalars(select(LinkedAccount.id)))
    scope = Scope(principal.master_account_id, frozenset({account}) if account else visible, everything)
    accounts = {a.id: a for a in db.session.scalars(select(LinkedAccount))}
    period = Period(first, last, ZoneInfo(tz))
    return Context(BY_SLUG[slug], period, scope, clerk, People(principal.master_account_id), accounts, page)


def run(world, slug, first, last, **kw):
    ctx = context(world, slug, first, last, **kw)
    return build.BUILDERS[ctx.report.kind](ctx)


def table(outcome, index=0) -> dict[str, dict]:
    t = outcome.tables[index]
    rows = {(f"{r.label} {r.note}".strip()): r.cells for r in t.rows}
    if t.total is not None:
        rows["Total"] = t.total.cells
    return rows


def nonzero(rows: dict[str, dict]) -> dict[str, dict]:
    return {k: {c: v for c, v in cells.items() if v and not c.startswith("_")}
            for k, cells in rows.items() if cells.get("total")}


# ---------------------------------------------------------------------------------------------
# 1. Ticket creation


def test_creation_counts_each_ticket_on_its_new_york_day(world):
    out = run(world, "creation", NOV[10], NOV[12])
    days = nonzero(table(out))
    assert days == {
        "Tue 10 Nov 2026": {"tech_support": 2, "refund": 1, "cancel": 1, "total": 4},
        "Total": {"tech_support": 2, "refund": 1, "cancel": 1, "total": 4},
    }  # T1 opened at 04:30 UTC: still 9 November in New York
    accounts = nonzero(table(out, 1))
    assert accounts["ketovital"] == {"tech_support": 1, "refund": 1, "total": 2}
    assert accounts["mindshift"] == {"tech_support": 1, "cancel": 1, "total": 2}
    assert out.chart.labels == ["10 Nov", "11 Nov", "12 Nov"]
    refund = next(d for d in out.chart.datasets if d["label"] == "Refund")
    assert refund["data"] == [1, 0, 0]


def test_creation_in_utc_and_in_kolkata_moves_tickets_across_midnight(world):
    utc = nonzero(table(run(world, "creation", NOV[10], NOV[12], tz="UTC")))
    assert utc["Tue 10 Nov 2026"] == {"tech_support": 2, "refund": 2, "cancel": 1, "total": 5}
    assert "Wed 11 Nov 2026" not in utc
    # Kolkata is UTC+5:30: its midnight cuts the UTC hour 18:00–19:00 (T6 at 18:15 before it,
    # T5 at 18:45 after it).
    kolkata = nonzero(table(run(world, "creation", NOV[10], NOV[11], tz="Asia/Kolkata")))
    assert kolkata == {
        "Tue 10 Nov 2026": {"tech_support": 2, "refund": 1, "total": 3},
        "Wed 11 Nov 2026": {"refund": 1, "cancel": 1, "total": 2},
        "Total": {"tech_support": 2, "refund": 2, "cancel": 1, "total": 5},
    }
    berlin = nonzero(table(run(world, "creation", NOV[11], NOV[11], tz="Europe/Berlin")))
    assert berlin["Wed 11 Nov 2026"] == {"cancel": 1, "total": 1}  # T3 at 00:30 in Berlin


def test_creation_for_one_account(world):
    out = run(world, "creation", NOV[10], NOV[12], account=world.m.id)
    assert nonzero(table(out))["Total"] == {"tech_support": 1, "cancel": 1, "total": 2}
    assert list(table(out, 1)) == ["mindshift", "Total"]


# ---------------------------------------------------------------------------------------------
# 2. Ticket modification


def test_modifications_by_day_and_account(world):
    out = run(world, "modifications", NOV[10], NOV[12])
    days = nonzero(table(out))
    assert days == {
        "Tue 10 Nov 2026": {"ts_refund": 1, "refund_ts": 1, "other": 1, "total": 3},
        "Thu 12 Nov 2026": {"reopened": 1, "total": 1},
        "Total": {"ts_refund": 1, "refund_ts": 1, "reopened": 1, "other": 1, "total": 4},
    }
    accounts = nonzero(table(out, 1))
    assert accounts["ketovital"] == {"ts_refund": 1, "refund_ts": 1, "reopened": 1, "total": 3}
    assert accounts["mindshift"] == {"other": 1, "total": 1}  # the escalation


# ---------------------------------------------------------------------------------------------
# 3, 4. Closed and opened by clerk; renamed and deleted clerks


def test_closed_by_clerk_with_current_names(world):
    rows = nonzero(table(run(world, "closed", NOV[10], NOV[12])))
    assert rows == {
        "Alice Baker": {"tech_support": 1, "total": 1},  # renamed after the fact: today's name
        "Bob Brown (deleted)": {"refund": 1, "total": 1},  # deleted: name kept, marked
        "System (timers)": {"cancel": 1, "total": 1},  # finalized at 19:00 New York on the 12th
        "Total": {"tech_support": 1, "refund": 1, "cancel": 1, "total": 3},
    }  # T2's automatic close (Nov 13 01:00 in New York) is outside the period


def test_closed_by_one_clerk_day_by_day(world):
    out = run(world, "closed", NOV[10], NOV[12], clerk=f"u{world.bob.id}")
    days = nonzero(table(out))
    assert days == {"Wed 11 Nov 2026": {"refund": 1, "total": 1}, "Total": {"refund": 1, "total": 1}}
    assert "Bob Brown (deleted)" in out.tables[0].title
    system = nonzero(table(run(world, "closed", NOV[10], NOV[13], clerk="system")))
    assert system["Total"] == {"refund": 1, "cancel": 1, "total": 2}


def test_opened_by_clerk_includes_customers_and_phone(world):
    rows = nonzero(table(run(world, "opened", NOV[10], NOV[12])))
    assert rows == {
        "ClickBank phone support": {"tech_support": 1, "cancel": 1, "total": 2},
        "Bob Brown (deleted)": {"tech_support": 1, "total": 1},
        "Customers": {"refund": 1, "total": 1},
        "Total": {"tech_support": 2, "refund": 1, "cancel": 1, "total": 4},
    }


# ---------------------------------------------------------------------------------------------
# 5. Clerk tickets by type


def test_clerk_tickets_by_type_counts_each_ticket_once_per_clerk(world):
    out = run(world, "clerk-types", NOV[10], NOV[12])
    rows = nonzero(table(out))
    assert rows == {
        # T1 (refund after her first action), T3 (cancel), T4 (worked on before the period too)
        "Alice Baker": {"tech_support": 1, "refund": 1, "cancel": 1, "total": 3},
        "Bob Brown (deleted)": {"tech_support": 1, "total": 1},
        "Ann Api API": {"cancel": 1, "total": 1},
        # T3 was worked on by Ann and Alice: once in each row, once in the total (distinct tickets)
        "Total": {"tech_support": 2, "refund": 1, "cancel": 1, "total": 4},
    }
    assert out.tables[0].total.label == "All clerks (distinct tickets)"
    assert dict(out.stats) == {"Tickets worked on": "4", "Clerks": "3", "Clerk–ticket pairs": "5"}
    by_type = {d["label"]: d["data"] for d in out.chart.datasets}
    assert by_type == {"Tech support": [2, 0, 0], "Refund": [1, 0, 0], "Cancellation": [1, 0, 0]}


@pytest.fixture
def shared(world):
    """Two more clerks on tickets others worked on: Pat (first time on each) takes up T4 on
    Nov 12 12:00 (43 h after Alice's last touch) and T1 on Nov 12 14:00 (23 h after Alice
    closed it); Ann answers on T1 at 15:00. All tech support by then."""
    from tests.reports.conftest import T, add_event

    t1, t4 = world.tickets[1], world.tickets[4]
    add_event(t4, T(12, 12), "commented", actor_kind="clerk", user=world.plain, ticket_type="tech_support")
    add_event(t1, T(12, 14), "commented", actor_kind="clerk", user=world.plain, ticket_type="tech_support")
    add_event(t1, T(12, 15), "commented", actor_kind="api", user=world.ann, ticket_type="tech_support")
    db.session.commit()
    return world


def test_clerk_tickets_by_type_two_clerks_on_one_ticket(shared):
    world = shared
    out = run(world, "clerk-types", NOV[12], NOV[12])
    assert nonzero(table(out)) == {
        "Pat Plain": {"tech_support": 2, "total": 2},  # T4 and T1
        "Ann Api API": {"tech_support": 1, "total": 1},  # T1 as well
        # T1 once: first taken up in the period by Pat (Alice's touches before it are carried
        # over per ticket, whoever made them); T4 once.
        "Total": {"tech_support": 2, "total": 2},
    }
    assert dict(out.stats)["Tickets worked on"] == "2"
    assert {d["label"]: d["data"] for d in out.chart.datasets}["Tech support"] == [2]
    # Over the three days: T1 counts under refund (its type after Alice's first reply, the
    # first action on it in the period), although Pat and Ann found it as tech support.
    wide = nonzero(table(run(world, "clerk-types", NOV[10], NOV[12])))
    assert wide["Total"] == {"tech_support": 2, "refund": 1, "cancel": 1, "total": 4}
    assert sum(r["total"] for k, r in wide.items() if k != "Total") == 8  # pairs: 3 + 1 + 2 + 2
    # One clerk: their own distinct tickets, per day.
    pat = nonzero(table(run(world, "clerk-types", NOV[10], NOV[12], clerk=f"u{world.plain.id}")))
    assert pat == {"Thu 12 Nov 2026": {"tech_support": 2, "total": 2}, "Total": {"tech_support": 2, "total": 2}}


@pytest.mark.parametrize("tz", ["America/New_York", "UTC", "Asia/Kolkata"])
def test_clerk_tickets_by_type_total_is_the_distinct_tickets_of_the_log(shared, tz):
    """The total against a count straight from the event log, for every window of days."""
    world = shared
    zone = ZoneInfo(tz)
    events = db.session.scalars(select(TicketEvent).order_by(TicketEvent.at, TicketEvent.id)).all()
    work = [e for e in events if e.actor_kind in ("clerk", "owner", "api", "vendor_link")
            and e.kind in ("opened", "commented", "closed", "type_changed", "reopened", "escalated")]
    for first in range(4, 14):
        for last in range(first, 14):
            period = Period(NOV[first], NOV[last], zone)
            inside = [e for e in work if period.start <= e.at < period.end]
            first_by_ticket = {}
            for e in inside:
                first_by_ticket.setdefault(e.ticket_id, e)
            expected = {t: 0 for t in ("tech_support", "refund", "cancel")}
            for e in first_by_ticket.values():
                expected[e.ticket_type] += 1
            total = table(run(world, "clerk-types", NOV[first], NOV[last], tz=tz))["Total"]
            assert {k: total[k] for k in expected} == expected, (first, last)
            assert total["total"] == len(first_by_ticket)


def test_clerk_tickets_by_type_carries_over_tickets_worked_before_the_period(world):
    rows = nonzero(table(run(world, "clerk-types", NOV[11], NOV[12])))
    assert rows == {
        "Alice Baker": {"tech_support": 1, "total": 1},  # T1 closed on the 11th
        "Bob Brown (deleted)": {"refund": 1, "total": 1},  # T2 closed on the 11th (New York)
        "Total": {"tech_support": 1, "refund": 1, "total": 2},
    }
    alice = nonzero(table(run(world, "clerk-types", NOV[1], NOV[30], clerk=f"u{world.alice.id}")))
    assert alice["Total"] == {"tech_support": 1, "refund": 1, "cancel": 1, "total": 3}
    assert alice["Thu 05 Nov 2026"] == {"tech_support": 1, "total": 1}  # T4, first worked on the 5th


# ---------------------------------------------------------------------------------------------
# 6. Modifications by clerk


def test_modifications_by_clerk(world):
    rows = nonzero(table(run(world, "clerk-modifications", NOV[10], NOV[12])))
    assert rows == {
        "Alice Baker": {"refund_ts": 1, "other": 1, "total": 2},
        "Customers": {"ts_refund": 1, "reopened": 1, "total": 2},
        "Total": {"ts_refund": 1, "refund_ts": 1, "reopened": 1, "other": 1, "total": 4},
    }


# ---------------------------------------------------------------------------------------------
# 7. Comments


def test_clerk_comments_newest_first_with_links_to_tickets(world):
    out = run(world, "comments", NOV[10], NOV[12])
    assert table(out) == {"Alice Baker": {"total": 6}, "Bob Brown (deleted)": {"total": 2},
                          "Ann Api API": {"total": 1}, "Total": {"total": 9}}
    page = out.comments
    assert page.total == 9 and page.pages == 1
    texts = [c.text for c in page.items]
    assert texts[0] == '=HYPERLINK("http://evil.test")'  # Bob's close, Nov 12 03:00
    assert texts[-1] == "Sorry to hear that. Could you tell me more?"
    assert [c.ticket_id for c in page.items][:2] == [world.tickets[2].id, world.tickets[1].id]
    assert page.items[0].actor_label == "Bob Brown (deleted)"
    assert page.items[-1].action == "Replied"
    one = run(world, "comments", NOV[10], NOV[12], clerk=f"u{world.ann.id}")
    assert [c.text for c in one.comments.items] == ["Received through the helpdesk integration."]


def test_comments_are_paged(world, monkeypatch):
    monkeypatch.setattr(build, "COMMENTS_PER_PAGE", 4)
    first = run(world, "comments", NOV[10], NOV[12]).comments
    third = run(world, "comments", NOV[10], NOV[12], page=3).comments
    assert (first.pages, len(first.items), len(third.items)) == (3, 4, 1)
    assert third.items[0].text == "Sorry to hear that. Could you tell me more?"


# ---------------------------------------------------------------------------------------------
# Response times


def test_response_times(world):
    out = run(world, "response-times", NOV[10], NOV[12])
    rows = table(out)
    alice = rows["Alice Baker"]
    assert (alice["first_reply"], alice["avg_first_reply"], alice["reply:1to24h"]) == (1, 3600, 1)
    assert (alice["closed"], alice["avg_close"], alice["saved"]) == (1, 124200, 1)
    bob = rows["Bob Brown (deleted)"]
    assert (bob["first_reply"], bob["closed"], bob["avg_close"], bob["saved"]) == (0, 1, 140400, 1)
    ann = rows["Ann Api API"]
    assert (ann["first_reply"], ann["avg_first_reply"], ann["reply:lt1h"]) == (1, 2400, 1)
    system = rows["System (timers)"]
    assert (system["closed"], system["avg_close"]) == (1, 174600)  # finalized 48.5 h after opening
    total = rows["Total"]
    assert (total["first_reply"], total["avg_first_reply"], total["closed"], total["saved"]) == (2, 3000, 3, 2)
    assert total["avg_close"] == (124200 + 140400 + 174600) / 3
    assert dict(out.stats)["Answered within 24 h"] == "100.0%"
    assert build.fmt_duration(total["avg_close"]) == "1d 16h"


# ---------------------------------------------------------------------------------------------
# Scoping and the derived tables


def test_a_supervisor_sees_only_their_accounts(world):
    rows = nonzero(table(run(world, "closed", NOV[10], NOV[12], user=world.supervisor)))
    assert rows == {"Alice Baker": {"tech_support": 1, "total": 1},
                    "Bob Brown (deleted)": {"refund": 1, "total": 1},
                    "Total": {"tech_support": 1, "refund": 1, "total": 2}}
    out = run(world, "creation", NOV[10], NOV[12], user=world.supervisor)
    assert list(table(out, 1)) == ["ketovital", "Total"]
    assert table(out)["Total"]["total"] == 2
    comments = run(world, "comments", NOV[10], NOV[12], user=world.supervisor).comments
    assert comments.total == 7 and {c.account for c in comments.items} == {"ketovital"}


def _snapshot():
    out = {}
    for model in (ReportFact, ReportHourly, ReportDaily, AffiliateDaily):
        out[model.__tablename__] = db.session.scalar(select(func.count()).select_from(model))
    out["hourly"] = db.session.execute(text(
        "SELECT master_id, metric, hour, ticket_type, actor_kind, n, seconds FROM report_hourly "
        "ORDER BY 1, 2, 3, 4, 5")).all()
    out["daily"] = db.session.execute(text(
        "SELECT master_id, account_id, metric, day, actor, ticket_type, n, seconds FROM report_daily "
        "ORDER BY 1, 2, 3, 4, 5, 6")).all()
    out["facts"] = db.session.execute(text(
        "SELECT event_id, metric, actor, ticket_type, seconds, gap_class FROM report_facts "
        "ORDER BY 1, 2")).all()
    out["affiliates"] = db.session.execute(text(
        "SELECT * FROM report_affiliate_daily ORDER BY 1, 2, 3, 4")).all()
    return out


def test_rebuilding_from_the_log_gives_what_the_live_path_kept(world):
    live = _snapshot()
    assert live["report_facts"] > 30
    db.session.commit()
    aggregate.rebuild(db.session.connection())
    db.session.commit()
    assert _snapshot() == live


def test_the_facts_name_each_event_and_its_metric(world):
    rows = db.session.execute(
        select(ReportFact.event_id, ReportFact.metric, ReportFact.seconds)
        .where(ReportFact.ticket_id == world.tickets[3].id).order_by(ReportFact.event_id, ReportFact.metric)
    ).all()
    e = world.events
    assert [(r.event_id, r.metric, r.seconds) for r in rows] == [
        (e[11].id, "opened", None),
        (e[12].id, "commented", None), (e[12].id, "first_reply", 2400), (e[12].id, "reply:lt1h", None),
        (e[12].id, "touch", None), (e[12].id, "work_first", None),  # the ticket's first vendor touch
        (e[13].id, "escalated", None), (e[13].id, "touch", None),
        (e[13].id, "work:0", None),  # 50 min after Ann's: Alice's first touch, not the ticket's
        (e[15].id, "finalized", 174600),
    ]


@pytest.mark.parametrize("tz", ["America/New_York", "UTC", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_each_day_adds_up_to_the_period(world, tz):
    """Whatever the zone, the days of a period add up to the period's per-clerk totals."""
    for slug in ("closed", "opened", "clerk-modifications"):
        by_clerk = table(run(world, slug, NOV[1], NOV[20], tz=tz))["Total"]["total"]
        by_day = sum(
            table(run(world, slug, NOV[1], NOV[20], tz=tz, clerk=a))["Total"]["total"]
            for a in ("system", "customer", "phone", f"u{world.alice.id}", f"u{world.bob.id}", f"u{world.ann.id}")
        )
        assert by_clerk == by_day, slug


def test_dates_are_plain_dates():
    assert NOV[10] == date(2026, 11, 10)
