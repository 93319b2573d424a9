"""The owner's Dashboard: sales per linked account and in total."""
from flask import Blueprint, Flask

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


def init_app(app: Flask) -> None:
    from portal.dashboard import views  # noqa: F401

    app.register_blueprint(bp)
