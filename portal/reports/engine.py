"""Counting over a period: the query primitives every report is built from.

Each primitive returns exact counts for the local days of a :class:`~portal.reports.periods.Period`
over the accounts of a :class:`Scope`, choosing the cheapest source:

* all accounts of the Master Account: the hourly/daily rows kept for all accounts together;
* a few accounts: the facts of those accounts (indexed by account);
* most but not all accounts: all accounts minus the few that are left out.

The periods module says which hours and days are whole; the slivers around them (partial hours,
hours a local midnight cuts through) are always read from the facts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

from sqlalchemy import Integer, and_, case, func, literal, literal_column, or_, select, true, union_all

from portal.extensions import db
from portal.reports.aggregate import ALL_ACTORS
from portal.reports.metrics import FIRST_TOUCH, MAX_GAP_CLASS, WORK_FIRST, user_id_of, work_again
from portal.reports.models import ReportActorHourly, ReportDaily, ReportFact, ReportHourly
from portal.reports.periods import Period, day_from_number, day_plan, epoch, from_epoch, hour_plan

FACTS = ReportFact.__table__
HOURLY = ReportHourly.__table__
ACTOR_HOURLY = ReportActorHourly.__table__
DAILY = ReportDaily.__table__

Counts = dict[tuple, list[int]]  # key -> [n, seconds]


@dataclass(frozen=True)
class Scope:
    """Which accounts a report counts: the viewer's visible accounts (narrowed by the account
    filter), within one Master Account whose accounts are ``all_accounts``."""

    master_id: int
    accounts: frozenset[int]
    all_accounts: frozenset[int]

    @property
    def everything(self) -> bool:
        return bool(self.all_accounts) and self.accounts >= self.all_accounts

    @property
    def left_out(self) -> frozenset[int]:
        return self.all_accounts - self.accounts

    @property
    def subtract(self) -> bool:
        """Cheaper as everything minus the accounts left out."""
        return not self.everything and len(self.accounts) > len(self.all_accounts) / 2


def _add(target: Counts, key: tuple, n: int, seconds: int | None, sign: int = 1) -> None:
    cell = target.setdefault(key, [0, 0])
    cell[0] += sign * int(n or 0)
    cell[1] += sign * int(seconds or 0)


def _metric_filter(col_metric, col_prev, metrics: Iterable[str]):
    """Metrics as stored in the facts; ``first_touch`` is a touch with no earlier one."""
    metrics = list(metrics)
    plain = [m for m in metrics if m != FIRST_TOUCH]
    parts = []
    if plain:
        parts.append(col_metric.in_(plain))
    if FIRST_TOUCH in metrics:
        parts.append(and_(col_metric == "touch", col_prev.is_(None)))
    return or_(*parts) if parts else literal(False)


def _fact_metric(metrics: Iterable[str]):
    """The metric a fact row counts as: its own, or first_touch when only that is asked for."""
    if list(metrics) == [FIRST_TOUCH]:
        return literal(FIRST_TOUCH)
    return FACTS.c.metric


def _group_col(table, group: str):
    if group == "metric":
        return table.c.metric
    if group == "type":
        return table.c.ticket_type
    if group == "actor_kind":
        return table.c.actor_kind
    if group == "account":
        return table.c.account_id
    if group == "none":
        return literal("")
    raise ValueError(group)


def _local_day(hour_col, segments: tuple[tuple[int, int], ...]):
    """Local day number of an hour that no day boundary cuts: (hour*60 + offset) // 1440, with
    the offset of the hour's segment (numbers we computed, written into the SQL)."""
    def num(x: int):
        return literal_column(str(int(x)), Integer)

    if len(segments) == 1:
        offset = num(segments[0][1])
    else:
        offset = case(
            *[(hour_col < num(segments[i + 1][0]), num(segments[i][1])) for i in range(len(segments) - 1)],
            else_=num(segments[-1][1]),
        )
    return (hour_col * 60 + offset) // 1440


def _hour_range(f, plan) -> list:
    """Whole hours of the plan, on the facts: by ``at`` too, so the indexes' ``at`` ranges apply."""
    where = [f.at >= from_epoch(plan.first_hour * 3600), f.at < from_epoch(plan.end_hour * 3600),
             f.hour >= plan.first_hour, f.hour < plan.end_hour]
    if plan.irregular:
        where.append(f.hour.not_in(plan.irregular))
    return where


def _slices_filter(col_at, slices) -> object:
    return or_(*[and_(col_at >= from_epoch(lo), col_at < from_epoch(hi)) for lo, hi in slices])


def _account_filter(accounts: Iterable[int]):
    return FACTS.c.account_id.in_(sorted(accounts))


# ---------------------------------------------------------------------------------------------
# Daily counts (no actor detail)


def daily(scope: Scope, period: Period, metrics: list[str], group: str = "type",
          actor_kinds: Iterable[str] | None = None, actors: Iterable[str] | None = None) -> Counts:
    """{(local day, group value): [n, seconds]}. ``actors`` narrows to some actor keys."""
    out: Counts = {}
    if not scope.accounts or not metrics:
        return out
    kinds = sorted(actor_kinds) if actor_kinds is not None else None
    actors = sorted(actors) if actors is not None else None
    plan = hour_plan(period)
    use_hourly = actors is None and group in ("type", "metric", "actor_kind", "none")
    people = actors is not None and all(user_id_of(a) is not None for a in actors)
    if scope.everything and people and kinds is None and group in ("type", "metric", "none"):
        for (d, _actor, gv), v in _person_hours(scope.master_id, plan, metrics, group, actors).items():
            _add(out, (d, gv), *v)
        _fact_days(out, scope, period, plan, metrics, group, kinds, actors, accounts=None)
    elif scope.everything and use_hourly:
        _hourly_days(out, scope.master_id, period, plan, metrics, group, kinds)
        _fact_days(out, scope, period, plan, metrics, group, kinds, actors, accounts=None)
    elif scope.subtract and use_hourly:
        _hourly_days(out, scope.master_id, period, plan, metrics, group, kinds)
        _fact_days(out, scope, period, plan, metrics, group, kinds, actors, accounts=None)
        _fact_days(out, scope, period, plan, metrics, group, kinds, actors, accounts=scope.left_out,
                   whole=True, sign=-1)
    else:
        accounts = None if scope.everything else scope.accounts
        _fact_days(out, scope, period, plan, metrics, group, kinds, actors, accounts=accounts, whole=True)
    return out


def _hourly_days(out: Counts, master_id: int, period: Period, plan, metrics, group, kinds) -> None:
    h = HOURLY.c
    day = _local_day(h.hour, plan.segments).label("d")
    g = _group_col(HOURLY, group).label("g")
    where = [h.master_id == master_id, h.metric.in_(metrics), h.hour >= plan.first_hour,
             h.hour < plan.end_hour]
    if plan.irregular:
        where.append(h.hour.not_in(plan.irregular))
    if kinds is not None:
        where.append(h.actor_kind.in_(kinds))
    rows = db.session.execute(
        select(day, g, func.sum(h.n), func.sum(h.seconds)).where(*where).group_by(day, g)
    )
    for d, gv, n, secs in rows:
        _add(out, (day_from_number(d), gv), n, secs)


def _person_hours(master_id: int, plan, metrics, group, actors) -> Counts:
    """{(local day, actor, group value)} from the per-person hourly rows (whole hours only)."""
    out: Counts = {}
    t = ACTOR_HOURLY.c
    day = _local_day(t.hour, plan.segments).label("d")
    g = _group_col(ACTOR_HOURLY, group).label("g")
    where = [t.master_id == master_id, t.actor.in_(sorted(actors)), t.metric.in_(metrics),
             t.hour >= plan.first_hour, t.hour < plan.end_hour]
    if plan.irregular:
        where.append(t.hour.not_in(plan.irregular))
    for d, actor, gv, n, secs in db.session.execute(
        select(day, t.actor, g, func.sum(t.n), func.sum(t.seconds)).where(*where).group_by(day, t.actor, g)
    ):
        _add(out, (day_from_number(d), actor, gv), n, secs)
    return out


def _fact_days(out: Counts, scope: Scope, period: Period, plan, metrics, group, kinds, actors,
               accounts, whole: bool = False, sign: int = 1) -> None:
    """Facts of ``accounts`` (None: all of the Master Account): the raw slices of ``plan`` and,
    with ``whole``, the whole hours as well (grouped by hour in SQL, mapped to days here)."""
    f = FACTS.c
    g = _group_col(FACTS, group)
    if group == "metric":
        g = _fact_metric(metrics)
    base = [_metric_filter(f.metric, f.prev_at, metrics)]
    if accounts is not None:
        if not accounts:
            return
        base.append(_account_filter(accounts))  # the accounts are the Master Account's
    else:
        base.append(f.master_id == scope.master_id)
    if kinds is not None:
        base.append(f.actor_kind.in_(kinds))
    if actors is not None:
        base.append(f.actor.in_(actors))
    if whole:
        day = _local_day(f.hour, plan.segments).label("d")
        where = [*base, *_hour_range(f, plan)]
        gl = g.label("g")
        for d, gv, n, secs in db.session.execute(
            select(day, gl, func.count(), func.sum(f.seconds)).where(*where).group_by(day, gl)
        ):
            _add(out, (day_from_number(d), gv), n, secs, sign)
    if plan.raw_slices:
        rows = db.session.execute(
            select(f.at, g.label("g"), f.seconds).where(*base, _slices_filter(f.at, plan.raw_slices))
        )
        for at, gv, secs in rows:
            d = period.day_of(at)
            if d is not None:
                _add(out, (d, gv), 1, secs, sign)


# ---------------------------------------------------------------------------------------------
# Per-actor totals over the whole period


def totals(scope: Scope, period: Period, metrics: list[str], group: str = "type",
           by: str = "actor", actors: Iterable[str] | None = None) -> Counts:
    """{(actor or account, group value): [n, seconds]} over the whole period."""
    out: Counts = {}
    if not scope.accounts or not metrics:
        return out
    actors = sorted(actors) if actors is not None else None
    plan = day_plan(epoch(period.start), epoch(period.end))
    if scope.everything and by == "actor":
        _daily_rows(out, scope, plan, metrics, group, by, [0], actors)
        _fact_totals(out, scope, plan, metrics, group, by, None, actors)
    elif scope.subtract and by == "actor":
        _daily_rows(out, scope, plan, metrics, group, by, [0], actors)
        _fact_totals(out, scope, plan, metrics, group, by, None, actors)
        _daily_rows(out, scope, plan, metrics, group, by, sorted(scope.left_out), actors, sign=-1)
        _fact_totals(out, scope, plan, metrics, group, by, scope.left_out, actors, sign=-1)
    else:
        accounts = sorted(scope.accounts)
        _daily_rows(out, scope, plan, metrics, group, by, accounts, actors)
        _fact_totals(out, scope, plan, metrics, group, by, scope.accounts, actors)
    return {k: v for k, v in out.items() if v[0] or v[1]}


def _daily_rows(out: Counts, scope, plan, metrics, group, by, accounts, actors, sign: int = 1) -> None:
    if plan.end_day <= plan.first_day or not accounts:
        return
    t = DAILY.c
    key = (t.actor if by == "actor" else t.account_id).label("k")
    g = _group_col(DAILY, group).label("g")
    where = [t.master_id == scope.master_id, t.account_id.in_(accounts), t.metric.in_(metrics),
             t.day >= plan.first_day, t.day < plan.end_day]
    if actors is not None:
        where.append(t.actor.in_(actors))
    elif by == "actor":
        where.append(t.actor != ALL_ACTORS)
    else:
        where.append(t.actor == ALL_ACTORS)
    for k, gv, n, secs in db.session.execute(
        select(key, g, func.sum(t.n), func.sum(t.seconds)).where(*where).group_by(key, g)
    ):
        _add(out, (k, gv), n, secs, sign)


def _fact_totals(out: Counts, scope, plan, metrics, group, by, accounts, actors, sign: int = 1) -> None:
    if not plan.raw_slices:
        return
    f = FACTS.c
    key = (f.actor if by == "actor" else f.account_id).label("k")
    g = (_fact_metric(metrics) if group == "metric" else _group_col(FACTS, group)).label("g")
    where = [_metric_filter(f.metric, f.prev_at, metrics), _slices_filter(f.at, plan.raw_slices)]
    if accounts is not None:
        where.append(_account_filter(accounts))
    else:
        where.append(f.master_id == scope.master_id)
    if actors is not None:
        where.append(f.actor.in_(actors))
    for k, gv, n, secs in db.session.execute(
        select(key, g, func.count(), func.sum(f.seconds)).where(*where).group_by(key, g)
    ):
        _add(out, (k, gv), n, secs, sign)


# ---------------------------------------------------------------------------------------------
# One or a few actors, day by day


def actor_days(scope: Scope, period: Period, actors: list[str], metrics: list[str],
               group: str = "type") -> Counts:
    """{(local day, actor, group value): [n, seconds]} for the given actors."""
    out: Counts = {}
    users = [a for a in actors if user_id_of(a) is not None]
    others = [a for a in actors if user_id_of(a) is None]
    for actor in others:  # customers, the system...: many events, so from the hourly rows
        for (d, gv), v in daily(scope, period, metrics, group, actor_kinds=[actor]).items():
            _add(out, (d, actor, gv), *v)
    if users:
        plan = hour_plan(period)
        f = FACTS.c
        g = (_fact_metric(metrics) if group == "metric" else _group_col(FACTS, group)).label("g")
        base = [f.master_id == scope.master_id, f.actor.in_(users),
                _metric_filter(f.metric, f.prev_at, metrics)]
        if scope.everything and group in ("type", "metric", "none"):
            for key, v in _person_hours(scope.master_id, plan, metrics, group, users).items():
                _add(out, key, *v)
        else:
            if not scope.everything:
                base.append(_account_filter(scope.accounts))
            day = _local_day(f.hour, plan.segments).label("d")
            where = [*base, *_hour_range(f, plan)]
            for d, actor, gv, n, secs in db.session.execute(
                select(day, f.actor, g, func.count(), func.sum(f.seconds)).where(*where)
                .group_by(day, f.actor, g)
            ):
                _add(out, (day_from_number(d), actor, gv), n, secs)
        if plan.raw_slices:
            for at, actor, gv, secs in db.session.execute(
                select(f.at, f.actor, g, f.seconds).where(*base, _slices_filter(f.at, plan.raw_slices))
            ):
                d = period.day_of(at)
                if d is not None:
                    _add(out, (d, actor, gv), 1, secs)
    return out


def _scope_accounts(scope: Scope) -> list:
    """The account test of a facts read ([] for every account). "+ 0" makes it a plain filter:
    the planner keeps an index in time order (by Master Account or by clerk) rather than merging
    and sorting every account's range first."""
    if scope.everything:
        return []
    return [(FACTS.c.account_id + literal_column("0")).in_(sorted(scope.accounts))]


def _gap_windows(base: datetime, end: datetime):
    """The windows of the carried-over reads, one per gap class c: a fact whose gap to the
    previous touch is in [2^c, 2^(c+1)) hours can only straddle ``base`` if it lies less than
    2^(c+1) hours after it. Yields (classes, window end); the first window that reaches ``end``
    serves its class and every wider one (an IN list, so each class is still an index range)."""
    first = epoch(base)
    for c in range(MAX_GAP_CLASS + 1):
        limit = from_epoch(first + 2 ** (c + 1) * 3600)
        if limit >= end:
            yield list(range(c, MAX_GAP_CLASS + 1)), end
            return
        yield [c], limit


def _one_of(column, values: list):
    return column == values[0] if len(values) == 1 else column.in_(values)


# ---------------------------------------------------------------------------------------------
# "Clerk tickets by type": each (clerk, ticket) once, at the clerk's first touch in the period


def carried_over(scope: Scope, period: Period, actors: Iterable[str] | None = None) -> Counts:
    """Touches inside the period whose previous touch (same actor, same ticket) lies before it:
    for pairs already worked on before the period, their first touch inside it.
    Returns {(actor, ticket type, local day): [n, 0]}.

    A touch whose gap to the previous one is in [2^c, 2^(c+1)) hours can only straddle the
    period's start if it lies less than 2^(c+1) hours after it, so each gap class is a short
    range of the (small, partial) index of repeated touches. Counted per hour in SQL; hours
    that a local midnight cuts are read touch by touch."""
    out: Counts = {}
    if not scope.accounts:
        return out
    start, end = epoch(period.start), epoch(period.end)
    plan = hour_plan(period)
    cut = set(plan.irregular) | {start // 3600, (end - 1) // 3600}
    # Whole hours: counted in SQL.
    sub = union_all(*_carry_queries(scope, period, actors, cut, grouped=True))
    for actor, ticket_type, hour, n in db.session.execute(sub):
        d = period.day_of(hour * 3600)
        if d is not None:
            _add(out, (actor, ticket_type, d), n, 0)
    for actor, ticket_type, at in db.session.execute(
        union_all(*_carry_queries(scope, period, actors, cut, grouped=False))
    ):
        d = period.day_of(at)
        if d is not None:
            _add(out, (actor, ticket_type, d), 1, 0)
    return out


def _carry_queries(scope: Scope, period: Period, actors, cut: set[int], grouped: bool):
    f = FACTS.c
    queries = []
    for classes, window_end in _gap_windows(period.start, period.end):
        where = [f.master_id == scope.master_id, f.metric == literal_column("'touch'"),
                 f.prev_at.is_not(None), _one_of(f.gap_class, classes), f.at >= period.start,
                 f.at < window_end, f.prev_at < period.start,
                 *_scope_accounts(scope)]  # a filter on the small index of repeated touches
        if actors is not None:
            where.append(f.actor.in_(sorted(actors)))
        if grouped:
            where.append(f.hour.not_in(sorted(cut)))
            queries.append(select(f.actor, f.ticket_type, f.hour, func.count()).where(*where)
                           .group_by(f.actor, f.ticket_type, f.hour))
        else:
            where.append(f.hour.in_(sorted(cut)))
            queries.append(select(f.actor, f.ticket_type, f.at).where(*where))
    return queries


def touch_pairs(scope: Scope, period: Period, by: str = "actor", actors: Iterable[str] | None = None,
                carried: Counts | None = None) -> Counts:
    """{(actor or local day, ticket type): [tickets]} — distinct tickets per actor in the period.
    ``carried``: :func:`carried_over` already computed for the same scope, period and actors."""
    out: Counts = {}
    if carried is None:
        carried = carried_over(scope, period, actors)
    if by == "actor":
        for (k, gv), v in totals(scope, period, [FIRST_TOUCH], "type", actors=actors).items():
            _add(out, (k, gv), *v)
        for (actor, ticket_type, _day), (n, _) in carried.items():
            _add(out, (actor, ticket_type), n, 0)
    else:  # by day
        for key, v in daily(scope, period, [FIRST_TOUCH], "type", actors=actors).items():
            _add(out, key, *v)
        for (_actor, ticket_type, day), (n, _) in carried.items():
            _add(out, (day, ticket_type), n, 0)
    return out


# ---------------------------------------------------------------------------------------------
# "Clerk tickets by type", all clerks together: each ticket once, however many clerks worked on it


def carried_tickets(scope: Scope, period: Period) -> Counts:
    """Tickets worked on before the period and again inside it: their first vendor-side touch
    inside it (a ``work:<c>`` fact whose ticket-level previous touch lies before the start).
    Returns {(local day, ticket type): [n, 0]}. Same gap-class ranges as :func:`carried_over`,
    on the (master, metric, at) index, which covers them (``prev_at`` is in it)."""
    out: Counts = {}
    if not scope.accounts:
        return out
    f = FACTS.c
    queries = [
        select(f.at, f.ticket_type).where(  # covered by the index
            f.master_id == scope.master_id, _one_of(f.metric, [work_again(c) for c in classes]),
            f.at >= period.start, f.at < window_end, f.prev_at < period.start,
            *_scope_accounts(scope))
        for classes, window_end in _gap_windows(period.start, period.end)
    ]
    # Few rows (tickets active across the period's start): read them one by one.
    for at, ticket_type in db.session.execute(union_all(*queries)):
        d = period.day_of(at)
        if d is not None:
            _add(out, (d, ticket_type), 1, 0)
    return out


def distinct_tickets(scope: Scope, period: Period) -> Counts:
    """{(local day, ticket type): [tickets]}: each ticket worked on by the vendor side in the
    period once, on the day of its first vendor-side action in the period, under the type it had
    after that action (whichever clerk it was)."""
    out: Counts = {}
    for key, v in daily(scope, period, [WORK_FIRST], "type").items():
        _add(out, key, *v)
    for key, v in carried_tickets(scope, period).items():
        _add(out, key, *v)
    return out


# ---------------------------------------------------------------------------------------------
# Lists of the facts behind a number


def fact_query(scope: Scope, start: datetime, end: datetime, metrics: list[str], *,
               actor: str | None = None, ticket_type: str | None = None,
               account: int | None = None, metric_equals: str | None = None,
               carried_from: datetime | None = None, per_ticket: bool = False):
    """The facts behind a cell, newest first. ``carried_from``: touches counted once per
    (actor, ticket) — first_touch, or a touch whose previous one lies before that instant; with
    ``per_ticket`` as well, once per ticket whoever the actor (the ``work`` facts)."""
    f = FACTS.c
    where = [f.master_id == scope.master_id, f.at >= start, f.at < end]
    if carried_from is not None and per_ticket:
        where += [or_(f.metric == WORK_FIRST,
                      and_(f.metric.in_([work_again(c) for c in range(MAX_GAP_CLASS + 1)]),
                           f.prev_at < carried_from))]
    elif carried_from is not None:
        where += [f.metric == "touch", or_(f.prev_at.is_(None), f.prev_at < carried_from)]
    else:
        where.append(_metric_filter(f.metric, f.prev_at, metrics))
    if metric_equals:
        where.append(f.metric == metric_equals)
    # Lists are read newest first, a page at a time (see _scope_accounts).
    where += [f.account_id == account] if account is not None else _scope_accounts(scope)
    if actor:
        where.append(f.actor == actor)
    if ticket_type:
        where.append(f.ticket_type == ticket_type)
    return select(FACTS).where(*where)


def per_ticket_page(scope: Scope, start: datetime, end: datetime, carried_from: datetime, *,
                    ticket_type: str | None, account: int | None, limit: int, offset: int) -> list:
    """A page (newest first) of the facts behind a distinct-tickets cell: each ticket's first
    vendor-side touch since ``carried_from``, within [start, end). Read as the tickets' first work
    ever (one metric: an index range already in time order, so a page stops early) merged with
    the few tickets carried over the start (short gap-class ranges, as in :func:`carried_tickets`).
    One query with both would have to sort every fact of the period."""
    f = FACTS.c
    where = [f.master_id == scope.master_id]
    where += [f.account_id == account] if account is not None else _scope_accounts(scope)
    if ticket_type:
        where.append(f.ticket_type == ticket_type)
    # (at, id) only, which the index covers; the page's rows are read at the end.
    firsts = list(db.session.execute(
        select(f.at, f.id).where(*where, f.metric == WORK_FIRST, f.at >= start, f.at < end)
        .order_by(f.at.desc(), f.id.desc()).limit(offset + limit)))
    lo = max(start, carried_from)
    # one upper bound only, so the planner's range is the class's short window
    queries = [
        select(f.at, f.id).where(*where, _one_of(f.metric, [work_again(c) for c in classes]),
                                 f.at >= lo, f.at < window_end, f.prev_at < carried_from)
        for classes, window_end in _gap_windows(carried_from, end)
    ]
    carried = list(db.session.execute(union_all(*queries)))
    ids = [r[1] for r in sorted(firsts + carried, reverse=True)[offset:offset + limit]]
    if not ids:
        return []
    rows = {r.id: r for r in db.session.execute(select(FACTS).where(f.id.in_(ids)))}
    return [rows[i] for i in ids]


def count_facts(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


__all__ = ["Scope", "daily", "totals", "actor_days", "touch_pairs", "carried_over", "fact_query",
           "distinct_tickets", "carried_tickets",
           "count_facts", "true", "date"]
