"""Turning counts into what a report shows: tables (with drill-down links), a chart, totals.

A :class:`Table` is exactly what the page shows and what its CSV contains; the view renders it
and the CSV writer walks the same rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode
from datetime import date, datetime

from sqlalchemy import select

from portal.accounts.models import LinkedAccount
from portal.auth.models import User
from portal.extensions import db
from portal.reports import engine
from portal.reports.catalog import (
    ACTOR_LABELS,
    CATEGORIES,
    OTHERS_COLOUR,
    SERIES_PALETTE,
    TOP_ACTORS,
    TYPE_COLOURS,
    TYPE_LABELS,
    Report,
    category,
    metrics_of_category,
)
from portal.reports.engine import Scope
from portal.reports.metrics import (
    CLOSING,
    NON_USER_ACTORS,
    REPLY_BANDS,
    TICKET_TYPES,
    VENDOR_SIDE,
    user_id_of,
)
from portal.reports.periods import Period
from portal.tickets.models import TicketEvent

VENDOR_ACTOR_KINDS = sorted(VENDOR_SIDE)


# ---------------------------------------------------------------------------------------------
# Shapes


@dataclass
class Column:
    key: str
    label: str
    fmt: str = "int"  # int | duration | percent | money | decimal | text
    drill: bool = False
    colour: str | None = None
    help: str = ""
    currency: str | None = None
    # "drill": the number links to the tickets behind it; "report": to this report narrowed by
    # the row's parameters (e.g. one clerk's comments)
    link: str = "drill"

    @cached_property
    def qs(self) -> str:
        return urlencode({"col": self.key}) if self.link == "drill" else ""


@dataclass
class Row:
    key: str
    label: str
    cells: dict[str, object]
    drill: dict[str, str] = field(default_factory=dict)
    note: str = ""  # shown after the label: "(deleted)", "API", "removed"
    swatch: str | None = None  # account colour

    @cached_property
    def qs(self) -> str:
        """The row's drill-down parameters, URL-encoded once (a page has over a thousand links)."""
        return urlencode(self.drill)


@dataclass
class Table:
    id: str
    title: str
    head: str
    columns: list[Column]
    rows: list[Row]
    total: Row | None = None
    empty: str = "Nothing happened in this period."
    caption: str = ""


@dataclass
class Chart:
    labels: list[str]
    datasets: list[dict]
    y_title: str = "Count"
    stacked: bool = True
    kind: str = "bar"
    y2_title: str | None = None

    @property
    def empty(self) -> bool:
        return not any(v for d in self.datasets for v in d["data"] if isinstance(v, (int, float)))

    def as_json(self) -> dict:
        return {"kind": self.kind, "labels": self.labels, "datasets": self.datasets,
                "yTitle": self.y_title, "y2Title": self.y2_title, "stacked": self.stacked}


@dataclass
class Outcome:
    tables: list[Table]
    chart: Chart | None
    stats: list[tuple[str, str]] = field(default_factory=list)
    comments: "CommentPage | None" = None


@dataclass
class Context:
    report: Report
    period: Period
    scope: Scope
    clerk: str | None
    people: "People"
    accounts: dict[int, LinkedAccount]
    page: int = 1


# ---------------------------------------------------------------------------------------------
# Names


class People:
    """Current names of the actors a report shows (DOMAIN: a renamed clerk shows the new name; a
    deleted one keeps theirs, marked "(deleted)")."""

    def __init__(self, master_id: int):
        self.master_id = master_id
        self.users = {
            u.id: u for u in db.session.scalars(select(User).where(User.master_account_id == master_id))
        }
        self._remembered: dict[int, str] = {}

    def label(self, actor: str) -> str:
        uid = user_id_of(actor)
        if uid is None:
            return ACTOR_LABELS.get(actor, actor)
        user = self.users.get(uid)
        if user is not None:
            return user.full_name or user.email
        # Not a user of this Master Account any more: the name the event log remembers.
        if uid not in self._remembered:
            label = db.session.scalar(
                select(TicketEvent.actor_label).where(TicketEvent.actor_user_id == uid)
                .order_by(TicketEvent.id.desc()).limit(1)
            )
            self._remembered[uid] = label or f"User #{uid}"
        return self._remembered[uid]

    def note(self, actor: str) -> str:
        uid = user_id_of(actor)
        if uid is None:
            return ""
        user = self.users.get(uid)
        if user is None:
            return "(deleted)"
        notes = []
        if user.is_owner:
            notes.append("Owner")
        if user.is_api_only:
            notes.append("API")
        if user.deleted_at is not None:
            notes.append("(deleted)")
        return " ".join(notes)

    def full(self, actor: str) -> str:
        note = self.note(actor)
        return f"{self.label(actor)} {note}".strip() if note else self.label(actor)

    def choices(self, vendor_side_only: bool = False) -> list[tuple[str, str]]:
        """(actor key, label) for the clerk filter: people first (by name), then the others."""
        people = sorted(
            ((f"u{u.id}", self.full(f"u{u.id}")) for u in self.users.values()),
            key=lambda c: c[1].lower(),
        )
        # vendor side: the email links, and API calls made without a user
        kinds = ["vendor_link", "api"] if vendor_side_only else list(NON_USER_ACTORS)
        return people + [(k, ACTOR_LABELS[k]) for k in kinds]


def day_label(day: date) -> str:
    return day.strftime("%a %d %b %Y")


def chart_label(day: date) -> str:
    return day.strftime("%d %b")


def _n(counts, key) -> int:
    v = counts.get(key)
    return int(v[0]) if v else 0


def _s(counts, key) -> int:
    v = counts.get(key)
    return int(v[1]) if v else 0


def series_for(report: Report) -> list[tuple[str, str, str]]:
    """(key, label, colour) of the columns a report splits its counts into."""
    if report.group == "category":
        return list(CATEGORIES)
    return [(t, TYPE_LABELS[t], TYPE_COLOURS[t]) for t in TICKET_TYPES]


def _fold(report: Report, counts: engine.Counts, key_len: int) -> engine.Counts:
    """Counts keyed by metric → keyed by the report's category."""
    if report.group != "category":
        return counts
    out: engine.Counts = {}
    for key, (n, s) in counts.items():
        new = (*key[:key_len - 1], category(key[key_len - 1]))
        cell = out.setdefault(new, [0, 0])
        cell[0] += n
        cell[1] += s
    return out


def _group(report: Report) -> str:
    return "metric" if report.group == "category" else "type"


def _series_columns(report: Report) -> list[Column]:
    cols = [Column(k, label, drill=True, colour=colour) for k, label, colour in series_for(report)]
    return cols + [Column("total", "Total", drill=True)]


def _series_row(key, label, counts, series, lookup, drill, **kw) -> Row:
    cells = {k: _n(counts, lookup(k)) for k, _, _ in series}
    cells["total"] = sum(cells.values())
    return Row(key, label, cells, drill, **kw)


def _sum_rows(rows: list[Row], columns: list[Column], label="Total") -> Row:
    cells = {c.key: sum(int(r.cells.get(c.key) or 0) for r in rows) for c in columns}
    return Row("total", label, cells, {})


def _stack(days: list[date], series, counts, lookup) -> list[dict]:
    return [
        {"label": label, "backgroundColor": colour, "data": [_n(counts, lookup(d, k)) for d in days]}
        for k, label, colour in series
    ]


# ---------------------------------------------------------------------------------------------
# 1, 2: per day, all accounts and per account


def daily_report(ctx: Context) -> Outcome:
    report, period, scope = ctx.report, ctx.period, ctx.scope
    series = series_for(report)
    metrics = list(report.metrics)
    counts = _fold(report, engine.daily(scope, period, metrics, _group(report)), 2)
    columns = _series_columns(report)
    rows = [
        _series_row(d.isoformat(), day_label(d), counts, series, lambda k, d=d: (d, k), {"day": d.isoformat()})
        for d in period.days
    ]
    total = _sum_rows(rows, columns)
    main = Table("days", "Per day", "Date", columns, rows, total)
    per_account = _fold(report, engine.totals(scope, period, metrics, _group(report), by="account"), 2)
    account_rows = []
    for account_id in sorted(scope.accounts, key=lambda a: ctx.accounts[a].nickname.lower()):
        account = ctx.accounts[account_id]
        account_rows.append(_series_row(
            str(account_id), account.nickname, per_account, series, lambda k, a=account_id: (a, k),
            {"acct": str(account_id)}, swatch=account.colour,
            note="removed" if account.status == "removed" else "",
        ))
    accounts = Table("accounts", "Per account", "Account", columns, account_rows,
                     _sum_rows(account_rows, columns))
    chart = Chart([chart_label(d) for d in period.days], _stack(period.days, series, counts, lambda d, k: (d, k)),
                  y_title="Tickets" if report.slug == "creation" else "Changes")
    stats = [("Total", f"{total.cells['total']:,}")] + [
        (label, f"{total.cells[k]:,}") for k, label, _ in series if total.cells[k]
    ]
    return Outcome([main, accounts], chart, stats)


# ---------------------------------------------------------------------------------------------
# 3, 4, 6: per clerk (or one clerk's days)


def _actor_kinds(report: Report):
    return VENDOR_ACTOR_KINDS if report.vendor_side_only else None


def _keep_actor(report: Report, actor: str) -> bool:
    return not report.vendor_side_only or user_id_of(actor) is not None or actor in VENDOR_SIDE


def _actor_rows(ctx: Context, counts, series, columns) -> list[Row]:
    actors = sorted({k[0] for k in counts if _keep_actor(ctx.report, k[0])})
    rows = [
        _series_row(a, ctx.people.label(a), counts, series, lambda k, a=a: (a, k), {"actor": a},
                    note=ctx.people.note(a))
        for a in actors
    ]
    rows = [r for r in rows if r.cells["total"]]
    rows.sort(key=lambda r: (-r.cells["total"], r.label.lower()))
    return rows


def _top_chart(ctx: Context, rows: list[Row], metrics: list[str], totals_by_day, y_title: str,
               days_counts=None) -> Chart:
    """Daily bars stacked by the busiest actors, the rest as "Others"."""
    period = ctx.period
    top = [r.key for r in rows[:TOP_ACTORS]]
    per_actor = days_counts if days_counts is not None else engine.actor_days(
        ctx.scope, period, top, metrics, group="none")
    datasets = []
    for i, actor in enumerate(top):
        datasets.append({
            "label": ctx.people.label(actor), "backgroundColor": SERIES_PALETTE[i % len(SERIES_PALETTE)],
            "data": [_n(per_actor, (d, actor, "")) for d in period.days],
        })
    if len(rows) > len(top):
        others = [
            _n(totals_by_day, (d, "")) - sum(_n(per_actor, (d, a, "")) for a in top) for d in period.days
        ]
        datasets.append({"label": "Others", "backgroundColor": OTHERS_COLOUR, "data": others})
    return Chart([chart_label(d) for d in period.days], datasets, y_title=y_title)


ACTOR_TOTALS = {  # slug: (stat label, total row label, caption)
    "closed": ("Closings", "Total closings",
               "Counts closings, not distinct tickets: a ticket closed, reopened and closed again "
               "counts each time, under whoever closed it."),
    "opened": ("Tickets opened", "Total tickets opened", "Each ticket is opened once, so this is also "
               "the number of distinct tickets."),
    "clerk-modifications": ("Changes", "Total changes",
                            "Counts changes, not distinct tickets: a ticket changed twice counts twice."),
}


def actor_report(ctx: Context) -> Outcome:
    report, period, scope = ctx.report, ctx.period, ctx.scope
    series = series_for(report)
    metrics = list(report.metrics)
    columns = _series_columns(report)
    y_title = {"closed": "Tickets closed", "opened": "Tickets opened"}.get(report.slug, "Changes")
    # What the total counts: events, not distinct tickets. A ticket closed, reopened and closed
    # again was closed twice (by one clerk or by two); a ticket is opened once; every change is
    # one change. So the total is the sum of the rows, and says what it counts.
    what, total_label, caption = ACTOR_TOTALS.get(report.slug, ("Total", "Total", ""))
    if ctx.clerk:
        counts = _fold(report, engine.actor_days(scope, period, [ctx.clerk], metrics, _group(report)), 3)
        rows = [
            _series_row(d.isoformat(), day_label(d), counts, series, lambda k, d=d: (d, ctx.clerk, k),
                        {"day": d.isoformat(), "actor": ctx.clerk})
            for d in period.days
        ]
        total = _sum_rows(rows, columns, label=total_label)
        total.drill = {"actor": ctx.clerk}
        table = Table("days", f"{ctx.people.full(ctx.clerk)}, per day", "Date", columns, rows, total,
                      caption=caption)
        chart = Chart([chart_label(d) for d in period.days],
                      _stack(period.days, series, counts, lambda d, k: (d, ctx.clerk, k)), y_title=y_title)
        return Outcome([table], chart, [(what, f"{total.cells['total']:,}")])
    counts = _fold(report, engine.totals(scope, period, metrics, _group(report)), 2)
    rows = _actor_rows(ctx, counts, series, columns)
    total = _sum_rows(rows, columns, label=total_label)
    table = Table("clerks", "Per clerk", "Clerk", columns, rows, total, caption=caption)
    by_day = engine.daily(scope, period, metrics, "none", actor_kinds=_actor_kinds(report))
    chart = _top_chart(ctx, rows, metrics, by_day, y_title)
    people = sum(1 for r in rows if user_id_of(r.key) is not None)
    return Outcome([table], chart, [(what, f"{total.cells['total']:,}"), ("People", f"{people:,}")])


# ---------------------------------------------------------------------------------------------
# 5: distinct tickets per clerk, by type


TOUCH_TOTAL_CAPTION = (
    "A ticket counts once in the row of each clerk who worked on it, and once in the total: the "
    "total is distinct tickets, so it is less than the sum of the rows when clerks shared tickets."
)


def touch_report(ctx: Context) -> Outcome:
    report, period, scope = ctx.report, ctx.period, ctx.scope
    series = series_for(report)
    columns = [Column(k, label, drill=True, colour=colour) for k, label, colour in series]
    columns.append(Column("total", "Tickets", drill=True))
    if ctx.clerk:
        counts = engine.touch_pairs(scope, period, by="day", actors=[ctx.clerk])
        rows = [
            _series_row(d.isoformat(), day_label(d), counts, series, lambda k, d=d: (d, k),
                        {"day": d.isoformat(), "actor": ctx.clerk})
            for d in period.days
        ]
        total = _sum_rows(rows, columns)  # one clerk: each ticket is on one day only
        total.drill = {"actor": ctx.clerk}
        title = f"{ctx.people.full(ctx.clerk)}, per day (each ticket on the day first worked on)"
        tables = [Table("days", title, "Date", columns, rows, total)]
        stats = [("Tickets worked on", f"{total.cells['total']:,}")]
    else:
        counts = engine.touch_pairs(scope, period, by="actor")
        rows = _actor_rows(ctx, counts, series, columns)
        # All clerks: distinct tickets (a ticket two clerks worked on is in both rows, once here),
        # by the type after the ticket's first vendor-side action in the period.
        counts = engine.distinct_tickets(scope, period)
        by_type: engine.Counts = {}
        for (_day, ticket_type), (n, _s) in counts.items():
            cell = by_type.setdefault(ticket_type, [0, 0])
            cell[0] += n
        total = _series_row("total", "All clerks (distinct tickets)", by_type, series, lambda k: k, {})
        tables = [Table("clerks", "Per clerk", "Clerk", columns, rows, total, caption=TOUCH_TOTAL_CAPTION)]
        pairs = sum(r.cells["total"] for r in rows)
        stats = [("Tickets worked on", f"{total.cells['total']:,}"),
                 ("Clerks", f"{len(rows):,}"),
                 ("Clerk–ticket pairs", f"{pairs:,}")]
    chart = Chart([chart_label(d) for d in period.days],
                  _stack(period.days, series, counts, lambda d, k: (d, k)), y_title="Tickets taken up")
    return Outcome(tables, chart, stats)


# ---------------------------------------------------------------------------------------------
# 7: the comments themselves


COMMENTS_PER_PAGE = 50


@dataclass
class Comment:
    at: datetime
    actor: str
    actor_label: str
    account: str
    account_colour: str
    ticket_id: int
    ticket_type: str
    action: str
    text: str


@dataclass
class CommentPage:
    items: list[Comment]
    total: int
    page: int
    pages: int


def comment_query(ctx: Context):
    return engine.fact_query(ctx.scope, ctx.period.start, ctx.period.end, ["touch"], actor=ctx.clerk)


def load_comments(ctx: Context, facts) -> list[Comment]:
    """Comments for fact rows (ordered as given), with their events' text and action."""
    from portal.reports.catalog import metric_label

    ids = [f.event_id for f in facts]
    events = {
        e.id: e for e in db.session.execute(
            select(TicketEvent.id, TicketEvent.kind, TicketEvent.comment, TicketEvent.from_value,
                   TicketEvent.to_value).where(TicketEvent.id.in_(ids))
        )
    } if ids else {}
    out = []
    for f in facts:
        ev = events.get(f.event_id)
        if ev is None:
            continue
        if ev.kind == "type_changed":
            action = metric_label(f"tc:{ev.from_value}>{ev.to_value}")
        else:
            action = metric_label(ev.kind)
        account = ctx.accounts.get(f.account_id)
        out.append(Comment(
            f.at, f.actor, ctx.people.full(f.actor), account.nickname if account else "?",
            account.colour if account else "#999", f.ticket_id, f.ticket_type, action, ev.comment or "",
        ))
    return out


def comments_report(ctx: Context) -> Outcome:
    period, scope = ctx.period, ctx.scope
    actors = [ctx.clerk] if ctx.clerk else None
    per_actor = engine.totals(scope, period, ["touch"], "none", actors=actors)
    rows = []
    for (actor, _), (n, _s) in per_actor.items():
        # Each count links to this report showing that clerk's comments (period, account kept).
        rows.append(Row(actor, ctx.people.label(actor), {"total": n}, {"clerk": actor},
                        note=ctx.people.note(actor)))
    rows.sort(key=lambda r: (-r.cells["total"], r.label.lower()))
    columns = [Column("total", "Comments", drill=True, link="report")]
    total_n = sum(r.cells["total"] for r in rows)
    # The total links to everyone's comments (the report without the clerk filter).
    clerks = Table("clerks", "Per clerk", "Clerk", columns, rows,
                   Row("total", "Total", {"total": total_n}, {"clerk": ""}))
    if ctx.clerk:
        counts = engine.actor_days(scope, period, [ctx.clerk], ["touch"], "none")
        chart = Chart([chart_label(d) for d in period.days], [{
            "label": ctx.people.label(ctx.clerk), "backgroundColor": SERIES_PALETTE[0],
            "data": [_n(counts, (d, ctx.clerk, "")) for d in period.days]}], y_title="Comments")
    else:
        by_day = engine.daily(scope, period, ["touch"], "none", actor_kinds=VENDOR_ACTOR_KINDS)
        chart = _top_chart(ctx, rows, ["touch"], by_day, "Comments")
    pages = max(1, -(-total_n // COMMENTS_PER_PAGE))
    page = min(max(ctx.page, 1), pages)
    from portal.reports.models import ReportFact

    q = comment_query(ctx).order_by(ReportFact.at.desc(), ReportFact.id.desc()) \
        .limit(COMMENTS_PER_PAGE).offset((page - 1) * COMMENTS_PER_PAGE)
    facts = list(db.session.execute(q))
    items = load_comments(ctx, facts)
    stats = [("Comments", f"{total_n:,}"), ("Clerks", f"{len(rows):,}")]
    return Outcome([clerks], chart, stats, CommentPage(items, total_n, page, pages))


# ---------------------------------------------------------------------------------------------
# Response times


BAND_LABELS = {"reply:lt1h": "Within 1 h", "reply:1to24h": "1–24 h", "reply:gt24h": "After 24 h"}
BAND_COLOURS = {"reply:lt1h": "#10b981", "reply:1to24h": "#f59e0b", "reply:gt24h": "#ef4444"}
RESPONSE_METRICS = ["first_reply", *BAND_LABELS, *sorted(CLOSING), "saved"]
SAVED_HELP = (
    "Tickets saved: refund or cancellation requests that ended without a refund (withdrawn, or "
    "changed to tech support). Credited to whoever closed or changed the ticket, on that day; "
    "a customer's own withdrawal counts under Customers. Taken back if the ticket is refunded "
    "or cancelled after all; a ticket saved twice counts once, for the last save."
)


def response_columns() -> list[Column]:
    return [
        Column("first_reply", "First replies", drill=True,
               help="Tickets opened by a customer that got their first answer in the period"),
        Column("avg_first_reply", "Avg. time to first reply", fmt="duration"),
        *[Column(b, label, drill=True, colour=BAND_COLOURS[b]) for b, label in BAND_LABELS.items()],
        Column("closed", "Closed", drill=True),
        Column("avg_close", "Avg. time to close", fmt="duration"),
        Column("saved", "Saved", drill=True, help=SAVED_HELP),
    ]


def _response_cells(counts, key) -> dict:
    replies, reply_secs = _n(counts, key("first_reply")), _s(counts, key("first_reply"))
    closes = sum(_n(counts, key(m)) for m in CLOSING)
    close_secs = sum(_s(counts, key(m)) for m in CLOSING)
    return {
        "first_reply": replies, "_reply_secs": reply_secs,
        "avg_first_reply": reply_secs / replies if replies else None,
        **{b: _n(counts, key(b)) for b in BAND_LABELS},
        "closed": closes, "_close_secs": close_secs,
        "avg_close": close_secs / closes if closes else None,
        "saved": _n(counts, key("saved")),
    }


def _response_total(rows: list[Row]) -> Row:
    def total(k):
        return sum(r.cells.get(k) or 0 for r in rows)

    replies, closes = total("first_reply"), total("closed")
    cells = {
        "first_reply": replies, "avg_first_reply": total("_reply_secs") / replies if replies else None,
        **{b: total(b) for b in BAND_LABELS},
        "closed": closes, "avg_close": total("_close_secs") / closes if closes else None,
        "saved": total("saved"), "_reply_secs": total("_reply_secs"), "_close_secs": total("_close_secs"),
    }
    return Row("total", "Total", cells, {})


def response_report(ctx: Context) -> Outcome:
    period, scope = ctx.period, ctx.scope
    columns = response_columns()
    bands = list(BAND_LABELS)
    if ctx.clerk:
        counts = engine.actor_days(scope, period, [ctx.clerk], RESPONSE_METRICS, "metric")
        rows = [
            Row(d.isoformat(), day_label(d), _response_cells(counts, lambda m, d=d: (d, ctx.clerk, m)),
                {"day": d.isoformat(), "actor": ctx.clerk})
            for d in period.days
        ]
        total = _response_total(rows)
        total.drill = {"actor": ctx.clerk}
        table = Table("days", f"{ctx.people.full(ctx.clerk)}, per day", "Date", columns, rows, total)
        band_counts = {(d, m): v for (d, _a, m), v in counts.items()}
    else:
        counts = engine.totals(scope, period, RESPONSE_METRICS, "metric")
        actors = sorted({k[0] for k in counts})
        rows = [
            Row(a, ctx.people.label(a), _response_cells(counts, lambda m, a=a: (a, m)), {"actor": a},
                note=ctx.people.note(a))
            for a in actors
        ]
        rows = [r for r in rows if r.cells["first_reply"] or r.cells["closed"] or r.cells["saved"]]
        rows.sort(key=lambda r: (-(r.cells["first_reply"] + r.cells["closed"] + r.cells["saved"]), r.label.lower()))
        total = _response_total(rows)
        table = Table("clerks", "Per clerk", "Clerk", columns, rows, total)
        band_counts = engine.daily(scope, period, bands, "metric")
    datasets = [
        {"label": f"First reply {BAND_LABELS[b].lower()}", "backgroundColor": BAND_COLOURS[b],
         "data": [_n(band_counts, (d, b)) for d in period.days]}
        for b in bands
    ]
    chart = Chart([chart_label(d) for d in period.days], datasets, y_title="First replies")
    t = total.cells
    within = t["reply:lt1h"] + t["reply:1to24h"]
    stats = [
        ("First replies", f"{t['first_reply']:,}"),
        ("Avg. first reply", fmt_duration(t["avg_first_reply"])),
        ("Answered within 24 h", fmt_percent(within / t["first_reply"]) if t["first_reply"] else "–"),
        ("Avg. time to close", fmt_duration(t["avg_close"])),
        ("Sales saved", f"{t['saved']:,}"),
    ]
    return Outcome([table], chart, stats)


# ---------------------------------------------------------------------------------------------
# Formatting (shared by the page and the CSV)


def fmt_duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def fmt_percent(value) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.1f}%"


BUILDERS = {
    "daily": daily_report,
    "actor": actor_report,
    "touch": touch_report,
    "comments": comments_report,
    "response": response_report,
}


# ---------------------------------------------------------------------------------------------
# Drill-down: which facts are behind a number


@dataclass
class Drill:
    title: str
    query: object
    start: datetime
    end: datetime
    count: int | None = None  # known from the counts (whole-period cells), else count the facts
    page: object = None  # (limit, offset) -> fact rows, when reading ``query`` a page at a time is slow


def drill(ctx: Context, *, col: str, day: date | None, actor: str | None, account: int | None) -> Drill:
    """The facts query behind one cell of a report (raises ValueError for a cell that does not
    exist)."""
    report, period, scope = ctx.report, ctx.period, ctx.scope
    if day is not None and not (period.first <= day <= period.last):
        raise ValueError("day outside the period")
    if account is not None and account not in scope.accounts:
        raise ValueError("account")
    start, end = period.day_range(day) if day else (period.start, period.end)
    actor = actor or ctx.clerk
    ticket_type = None
    metrics: list[str] = list(report.metrics)
    carried_from = None
    what = ""
    if report.kind in ("daily", "actor"):
        keys = {k for k, _, _ in series_for(report)} | {"total"}
        if col not in keys:
            raise ValueError("column")
        if col != "total":
            if report.group == "category":
                metrics = metrics_of_category(col)
            else:
                ticket_type = col
            what = dict((k, label) for k, label, _ in series_for(report))[col]
    elif report.kind == "touch":
        if col not in set(TICKET_TYPES) | {"total"}:
            raise ValueError("column")
        ticket_type = None if col == "total" else col
        what = TYPE_LABELS.get(col, "")
        carried_from = period.start
    elif report.kind == "response":
        if col == "first_reply":
            metrics = ["first_reply"]
        elif col in BAND_LABELS:
            metrics = [col]
        elif col == "closed":
            metrics = sorted(CLOSING)
        elif col == "saved":
            metrics = ["saved"]
        else:
            raise ValueError("column")
        what = {c.key: c.label for c in response_columns()}[col]
    else:
        raise ValueError("report")
    if actor is not None and report.vendor_side_only and not _keep_actor(report, actor):
        raise ValueError("actor")
    per_ticket = carried_from is not None and actor is None  # the distinct-tickets total
    query = engine.fact_query(scope, start, end, metrics, actor=actor, ticket_type=ticket_type,
                              account=account, carried_from=carried_from, per_ticket=per_ticket)
    count = None
    if day is None:  # a whole-period cell: the counts answer without reading every fact
        cell_scope = Scope(scope.master_id, frozenset({account}), scope.all_accounts) if account else scope
        actors = [actor] if actor else None
        if per_ticket:
            counts = engine.distinct_tickets(cell_scope, period)
            count = sum(v[0] for (_d, t), v in counts.items() if ticket_type is None or t == ticket_type)
        elif carried_from is not None:
            counts = engine.touch_pairs(cell_scope, period, by="actor", actors=actors)
            keep = VENDOR_SIDE | {a for a, _ in counts if user_id_of(a) is not None}
            counts = {k: v for k, v in counts.items() if k[0] in keep}
        else:
            counts = engine.totals(cell_scope, period, metrics, "type", actors=actors)
        if not per_ticket:
            count = sum(v[0] for (_a, t), v in counts.items() if ticket_type is None or t == ticket_type)
    parts = [report.title]
    if what:
        parts.append(what)
    if actor:
        parts.append(ctx.people.full(actor))
    elif per_ticket:
        parts.append("All clerks, each ticket once")
    if account is not None:
        parts.append(ctx.accounts[account].nickname)
    parts.append(day_label(day) if day else period.label)
    page = None
    if per_ticket:
        def page(limit: int, offset: int):
            return engine.per_ticket_page(scope, start, end, carried_from, ticket_type=ticket_type,
                                          account=account, limit=limit, offset=offset)
    return Drill(" · ".join(parts), query, start, end, count, page)
