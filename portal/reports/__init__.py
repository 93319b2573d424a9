"""Reports tab: clerk activity and ticket reports."""
from flask import Blueprint, Flask

bp = Blueprint("reports", __name__, url_prefix="/reports")


def init_app(app: Flask) -> None:
    from portal.reports import views  # noqa: F401

    app.register_blueprint(bp)
