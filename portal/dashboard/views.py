"""Dashboard views: the owner's sales summary per linked account and in total."""

from flask import request, url_for
from sqlalchemy import select

from portal.accounts.models import AccountStatus, LinkedAccount
from portal.authz.permissions import Action
from portal.authz.scope import current_principal
from portal.dashboard import bp, periods, services
from portal.extensions import db
from portal.types import utcnow
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, render
from portal.web.templating import viewer_zone


def linked_accounts(principal) -> list[LinkedAccount]:
    """The Master Account's linked accounts (removed and pending ones have no place here)."""
    if not principal.account_ids:
        return []
    return list(
        db.session.scalars(
            select(LinkedAccount)
            .where(
                LinkedAccount.master_account_id == principal.master_account_id,
                LinkedAccount.id.in_(principal.account_ids),
                LinkedAccount.status == AccountStatus.LINKED,
            )
            .order_by(LinkedAccount.nickname)
        )
    )


@bp.get("/")
@require(Action.TAB_DASHBOARD)
def index():
    """Period presets and a custom range; htmx period changes get only the dashboard body.
    A preset ends at each account's own local today (see ``periods``)."""
    now = utcnow()
    zone = viewer_zone()
    period = periods.parse(request.args, _today(zone, now))
    accounts = linked_accounts(current_principal())
    summary = services.summarise(accounts, period, now=now)
    return render(
        "dashboard/index.html",
        block="dashboard_body",
        summary=summary,
        period=period,
        presets=periods.PRESETS,
        # The latest date any account (or the viewer) is on: a custom range may start there.
        today=max([_today(zone, now)] + [services.local_today(a, now) for a in accounts]),
        max_days=periods.MAX_DAYS,
    )


def _today(zone, now):
    """The viewer's date: only the nominal days of a preset and the default for custom ranges;
    each account's period ends at its own local today (``services.summarise``)."""
    return now.astimezone(zone).date()


@bp.get("/daily")
@require(Action.TAB_DASHBOARD)
def daily():
    """The chart's numbers per day and account, as tables (opened on demand). Each currency's
    table shows the metric its chart shows: the Dashboard sends its chart switches along as
    ``metric_<currency>`` (and asks again when one changes); the page on its own offers links."""
    now = utcnow()
    period = periods.parse(request.args, _today(viewer_zone(), now))
    summary = services.summarise(
        linked_accounts(current_principal()), period, now=now, compare=False
    )
    chart = summary.chart()
    metrics = {
        block["currency"]: chosen_metric(request.args, block["currency"])
        for block in chart["currencies"]
    }
    return render(
        "dashboard/daily.html",
        block="daily_tables",
        chart=chart,
        period=period,
        metrics=metrics,
        metric_names=METRIC_NAMES,
        standalone=not is_fragment_request(),
        metric_url=lambda currency, key: url_for(
            "dashboard.daily",
            **period.query(),
            **{f"metric_{c}": (key if c == currency else m) for c, m in metrics.items()},
        ),
    )


# What each chart metric is called above its table (same words as the chart's switch).
METRIC_NAMES = {
    "gross": "Gross sales",
    "net": "Net",
    "charges": "Sales + rebills (count)",
    "refunds": "Refunds (count)",
}


def chosen_metric(args, currency: str) -> str:
    """The metric asked for one currency's table (``metric_USD=net``, else ``metric=net``);
    anything unknown falls back to gross sales, the chart's default."""
    value = args.get(f"metric_{currency}") or args.get("metric") or "gross"
    return value if value in services.METRICS else "gross"
