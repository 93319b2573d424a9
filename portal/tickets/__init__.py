"""Tickets tab: the cross-account queue and working a ticket."""
from flask import Blueprint, Flask

bp = Blueprint("tickets", __name__, url_prefix="/tickets")


def init_app(app: Flask) -> None:
    from portal.tickets import views  # noqa: F401

    app.register_blueprint(bp)
