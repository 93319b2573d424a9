"""Transactions tab: search, receipts, vendor refunds, subscriptions."""
from flask import Blueprint, Flask

bp = Blueprint("transactions", __name__, url_prefix="/transactions")


def init_app(app: Flask) -> None:
    from portal.transactions import views  # noqa: F401

    app.register_blueprint(bp)
