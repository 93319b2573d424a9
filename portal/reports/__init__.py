"""Reports tab: clerk activity and ticket reports, affiliate performance, response times.

Everything is computed from the append-only ticket event log (and, for affiliates, the
transactions) through the derived tables in ``models.py``, kept in step by ``aggregate.py``.
"""
from flask import Blueprint, Flask

bp = Blueprint("reports", __name__, url_prefix="/reports")


def init_app(app: Flask) -> None:
    from portal.reports import aggregate, cli, models, views  # noqa: F401

    from portal.reports.build import fmt_duration, fmt_percent

    aggregate.install()
    app.jinja_env.filters.update(report_duration=fmt_duration, report_percent=fmt_percent)
    app.register_blueprint(bp)
