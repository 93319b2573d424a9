"""Reports tab: the list of reports, each report (page, htmx fragment, CSV) and its drill-downs.

Every view is GET and reads only; every query is scoped to the viewer's visible accounts.
"""
from __future__ import annotations

from datetime import date

from flask import Response, abort, make_response, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.accounts.models import AccountStatus, LinkedAccount
from portal.authz.permissions import Action
from portal.authz.policy import can
from portal.authz.scope import current_principal, visible_account_ids
from portal.extensions import db
from portal.reports import bp, build, csvout
from portal.reports.affiliates import affiliates_report, drill_orders
from portal.reports.build import Context, People
from portal.reports.catalog import BY_SLUG, REPORTS, TYPE_LABELS, metric_label
from portal.reports.engine import Scope, count_facts
from portal.reports.metrics import WORK_FIRST, is_work
from portal.reports.forms import ReportFilters
from portal.reports.models import ReportFact
from portal.reports.periods import DEFAULT_PRESET, PRESETS, PeriodError, resolve, zone_names, zone_or_none
from portal.tickets.models import Ticket, TicketEvent
from portal.types import utcnow
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, render

DRILL_PER_PAGE = 50
FILTER_KEYS = ("period", "from", "to", "tz", "account", "clerk")


def _allowed(report) -> bool:
    """Affiliate figures are sales data: the owner, or clerks who may search all orders."""
    principal = current_principal()
    if report.kind == "affiliates":
        return can(principal, Action.TRANSACTION_SEARCH_ALL)
    return True


def _report_or_404(slug: str):
    report = BY_SLUG.get(slug)
    if report is None:
        abort(404)
    if not _allowed(report):
        abort(403)
    return report


def _visible_accounts(principal) -> dict[int, LinkedAccount]:
    ids = sorted(visible_account_ids(principal))
    if not ids:
        return {}
    return {a.id: a for a in db.session.scalars(select(LinkedAccount).where(LinkedAccount.id.in_(ids)))}


def _all_accounts(master_id: int) -> frozenset[int]:
    return frozenset(db.session.scalars(
        select(LinkedAccount.id).where(LinkedAccount.master_account_id == master_id,
                                       LinkedAccount.status != AccountStatus.PENDING)
    ))


def _default_zone() -> str:
    name = getattr(current_user, "timezone", None)
    return name if zone_or_none(name) else "UTC"


class Setup:
    """The filter form, parsed and checked, and (when valid) the report's context."""

    def __init__(self, report):
        principal = current_principal()
        self.report = report
        self.accounts = _visible_accounts(principal)
        self.people = People(principal.master_account_id)
        form = ReportFilters(request.args)
        form.account_choices = [("", "All accounts")] + [
            (str(a.id), a.nickname + (" (removed)" if a.status == AccountStatus.REMOVED else ""))
            for a in sorted(self.accounts.values(), key=lambda a: a.nickname.lower())
        ]
        if report.clerk_filter:
            everyone = "All clerks" if report.vendor_side_only else "Everyone"
            form.clerk_choices = [("", everyone)] + self.people.choices(report.vendor_side_only)
        else:
            form.clerk.data = ""
        if not request.args.get("tz"):
            form.tz.data = _default_zone()
        self.form = form
        self.ctx: Context | None = None
        self.error: str | None = None
        if not form.validate():
            self.error = "Please correct the highlighted filter."
            return
        form.period.data = form.period.data or DEFAULT_PRESET
        tz = zone_or_none(form.tz.data)
        today = utcnow().astimezone(tz).date()
        try:
            period = resolve(form.period.data, form.start.data, form.end.data, tz, today)
        except PeriodError as exc:
            self.error = str(exc)
            form.period.errors = [str(exc)]
            return
        form.start.data, form.end.data = period.first, period.last
        visible = frozenset(self.accounts)
        account = int(form.account.data) if form.account.data else None
        scope = Scope(principal.master_account_id, frozenset({account}) if account else visible,
                      _all_accounts(principal.master_account_id))
        clerk = form.clerk.data or None if report.clerk_filter else None
        page = form.page.data or 1
        self.ctx = Context(report, period, scope, clerk, self.people, self.accounts, page)

    @property
    def params(self) -> dict[str, str]:
        """The filters as query parameters: the URL that reproduces the report."""
        f = self.form
        out = {"period": f.period.data or "", "tz": f.tz.data or "", "account": f.account.data or ""}
        if f.period.data == "custom" or self.ctx is None:
            out["from"] = f.start.data.isoformat() if isinstance(f.start.data, date) else (f.start.raw_data or [""])[0]
            out["to"] = f.end.data.isoformat() if isinstance(f.end.data, date) else (f.end.raw_data or [""])[0]
        if self.report.clerk_filter:
            out["clerk"] = f.clerk.data or ""
        return {k: v for k, v in out.items() if v}


def _outcome(ctx: Context):
    if ctx.report.kind == "affiliates":
        return affiliates_report(ctx)
    return build.BUILDERS[ctx.report.kind](ctx)


def _reports_for_viewer():
    return [r for r in REPORTS if _allowed(r)]


@bp.get("/")
@require(Action.TAB_REPORTS)
def index():
    return render("reports/index.html", reports=_reports_for_viewer(), needs_rebuild=_needs_rebuild())


def _needs_rebuild() -> bool:
    """Tickets have a history but the report tables are empty: data was loaded around the live
    path (or the tables were created after the events). Two single-row look-ups."""
    principal = current_principal()
    master = principal.master_account_id
    if db.session.scalar(select(ReportFact.id).where(ReportFact.master_id == master).limit(1)):
        # Built before the per-ticket work facts existed: touches but no first work.
        return bool(
            db.session.scalar(select(ReportFact.id).where(ReportFact.master_id == master,
                                                          ReportFact.metric == "touch").limit(1))
            and not db.session.scalar(select(ReportFact.id).where(ReportFact.master_id == master,
                                                                  ReportFact.metric == WORK_FIRST).limit(1)))
    visible = sorted(visible_account_ids(principal))
    return bool(visible) and db.session.scalar(
        select(TicketEvent.id).where(TicketEvent.linked_account_id.in_(visible)).limit(1)) is not None


@bp.get("/<slug>")
@require(Action.TAB_REPORTS, Action.REPORTS_VIEW)
def show(slug: str):
    report = _report_or_404(slug)
    setup = Setup(report)
    outcome = _outcome(setup.ctx) if setup.ctx else None
    body = render(
        "reports/report.html", block="report", report=report, reports=_reports_for_viewer(),
        setup=setup, form=setup.form, ctx=setup.ctx, outcome=outcome, params=setup.params,
        presets=PRESETS, zones=zone_names(), suggested_zones=_suggested_zones(setup),
        type_labels=TYPE_LABELS,
    )
    response = make_response(body)
    if is_fragment_request():
        # The address bar shows the tidy URL that reproduces this view (not every form field).
        page = setup.ctx.page if setup.ctx and setup.ctx.page > 1 else None
        response.headers["HX-Push-Url"] = url_for("reports.show", slug=slug, **setup.params,
                                                  **({"page": page} if page else {}))
    return response


def _suggested_zones(setup: Setup) -> list[str]:
    zones = [_default_zone(), "UTC"] + sorted({a.timezone for a in setup.accounts.values()})
    seen, out = set(), []
    for z in zones:
        if z and z not in seen and zone_or_none(z):
            seen.add(z)
            out.append(z)
    return out


# ---------------------------------------------------------------------------------------------
# CSV


def _csv_response(filename: str, rows) -> Response:
    response = Response(stream_with_context(csvout.lines(rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def table_rows(table: build.Table):
    yield [table.head] + [c.label for c in table.columns]
    for row in [*table.rows, *([table.total] if table.total else [])]:
        label = f"{row.label} {row.note}".strip() if row.note else row.label
        yield [label] + [display(row.cells.get(c.key), c) for c in table.columns]


def display(value, column: build.Column):
    """A cell as the page shows it (numbers stay numbers for the CSV)."""
    if column.fmt == "int":
        return int(value or 0)
    if value is None:
        return "–"
    if column.fmt == "duration":
        return build.fmt_duration(value)
    if column.fmt == "percent":
        return build.fmt_percent(value)
    if column.fmt == "decimal":
        return round(float(value), 2)
    if column.fmt == "money":
        from portal.web.templating import money

        return money(int(round(value)), column.currency or "USD")
    return value


def _filename(ctx: Context, suffix: str = "") -> str:
    name = f"{ctx.report.slug}{suffix}_{ctx.period.first.isoformat()}_{ctx.period.last.isoformat()}.csv"
    return name


@bp.get("/<slug>/export.csv")
@require(Action.TAB_REPORTS, Action.REPORTS_VIEW)
def export(slug: str):
    report = _report_or_404(slug)
    setup = Setup(report)
    if setup.ctx is None:
        abort(400)
    ctx = setup.ctx
    if report.kind == "comments" and request.args.get("table", "comments") == "comments":
        return _csv_response(_filename(ctx), comment_rows(ctx))
    outcome = _outcome(ctx)
    wanted = request.args.get("table") or outcome.tables[0].id
    table = next((t for t in outcome.tables if t.id == wanted), None)
    if table is None:
        abort(404)
    suffix = "" if table is outcome.tables[0] else f"_{table.id}"
    return _csv_response(_filename(ctx, suffix), table_rows(table))


def comment_rows(ctx: Context, batch: int = 2000):
    """Every comment of the period, newest first, read in keyset batches (a year streams)."""
    yield ["Time", "Time zone", "Clerk", "Account", "Ticket", "Type", "Action", "Comment"]
    zone = ctx.period.tz.key
    base = build.comment_query(ctx)
    last = None
    while True:
        q = base
        if last is not None:  # keyset: a range on the index, then the ties at that instant
            q = q.where(ReportFact.at <= last[0], (ReportFact.at < last[0]) | (ReportFact.id < last[1]))
        facts = list(db.session.execute(q.order_by(ReportFact.at.desc(), ReportFact.id.desc()).limit(batch)))
        if not facts:
            return
        for c in build.load_comments(ctx, facts):
            yield [c.at.astimezone(ctx.period.tz).strftime("%Y-%m-%d %H:%M:%S"), zone, c.actor_label,
                   c.account, c.ticket_id, TYPE_LABELS.get(c.ticket_type, c.ticket_type), c.action, c.text]
        last = (facts[-1].at, facts[-1].id)
        db.session.expire_all()


# ---------------------------------------------------------------------------------------------
# Drill-down


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        abort(404)
    if not 0 < value < 2**31:
        abort(404)
    return value


def _day_arg() -> date | None:
    raw = request.args.get("day")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(404)


@bp.get("/<slug>/tickets")
@require(Action.TAB_REPORTS, Action.REPORTS_VIEW)
def drill(slug: str):
    report = _report_or_404(slug)
    setup = Setup(report)
    if setup.ctx is None:
        abort(400)
    ctx = setup.ctx
    col = request.args.get("col", "total")
    page = max(1, min(_int_arg("page") or 1, 1_000_000))
    back = url_for("reports.show", slug=slug, **setup.params)
    account = _int_arg("acct")
    if report.kind == "affiliates":
        affiliate = request.args.get("affiliate") or None
        try:
            query = drill_orders(ctx, affiliate=affiliate, col=col)
        except ValueError:
            abort(404)
        total = count_facts(query)
        rows = list(db.session.scalars(query.limit(DRILL_PER_PAGE).offset((page - 1) * DRILL_PER_PAGE)))
        title = " · ".join(p for p in [report.title, (affiliate if affiliate != "-" else "(no affiliate)")
                                       if affiliate else "", col.replace("_", " "), ctx.period.label] if p)
        return render("reports/drill_orders.html", report=report, title=title, orders=rows, total=total,
                      page=page, pages=max(1, -(-total // DRILL_PER_PAGE)), back=back, ctx=ctx,
                      params=setup.params, accounts=ctx.accounts)
    actor = request.args.get("actor") or None
    if actor is not None and len(actor) > 16:
        abort(404)
    try:
        found = build.drill(ctx, col=col, day=_day_arg(), actor=actor, account=account)
    except ValueError:
        abort(404)
    total = found.count if found.count is not None else count_facts(found.query)
    if found.page is not None:
        facts = found.page(DRILL_PER_PAGE, (page - 1) * DRILL_PER_PAGE)
    else:
        facts = list(db.session.execute(
            found.query.order_by(ReportFact.at.desc(), ReportFact.id.desc())
            .limit(DRILL_PER_PAGE).offset((page - 1) * DRILL_PER_PAGE)
        ))
    items = _drill_items(ctx, facts)
    return render("reports/drill.html", report=report, title=found.title, items=items, total=total,
                  page=page, pages=max(1, -(-total // DRILL_PER_PAGE)), back=back, ctx=ctx,
                  params=setup.params)


def _drill_items(ctx: Context, facts) -> list[dict]:
    ids = [f.event_id for f in facts]
    events = {
        e.id: e for e in db.session.execute(
            select(TicketEvent.id, TicketEvent.kind, TicketEvent.comment, TicketEvent.from_value,
                   TicketEvent.to_value).where(TicketEvent.id.in_(ids))
        )
    } if ids else {}
    tickets = {
        t.id: t for t in db.session.execute(
            select(Ticket.id, Ticket.status, Ticket.ticket_type, Ticket.customer_email)
            .where(Ticket.id.in_({f.ticket_id for f in facts}),
                   Ticket.linked_account_id.in_(sorted(ctx.scope.accounts)))
        )
    } if facts else {}
    items = []
    for f in facts:
        ev = events.get(f.event_id)
        what = metric_label(f.metric)
        by_event = f.metric in ("touch", "saved") or is_work(f.metric)  # the action itself
        if ev is not None and ev.kind == "type_changed" and by_event:
            what = metric_label(f"tc:{ev.from_value}>{ev.to_value}")
        elif ev is not None and by_event:
            what = metric_label(ev.kind)
        account = ctx.accounts.get(f.account_id)
        items.append({
            "at": f.at, "ticket_id": f.ticket_id, "ticket": tickets.get(f.ticket_id),
            "account": account, "ticket_type": f.ticket_type, "what": what,
            "by": ctx.people.full(f.actor), "seconds": f.seconds,
            "comment": (ev.comment or "") if ev is not None else "",
        })
    return items
