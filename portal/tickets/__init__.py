"""Tickets tab: the cross-account queue and working a ticket."""

from flask import Blueprint, Flask

bp = Blueprint("tickets", __name__, url_prefix="/tickets")


def init_app(app: Flask) -> None:
    from portal.tickets import views  # noqa: F401

    app.register_blueprint(bp)
    # One account's queue lives under the account's URL (several account windows side by side);
    # it is the same view, so its endpoint belongs to this blueprint.
    app.add_url_rule(
        "/accounts/<nickname>/tickets",
        endpoint="tickets.account_queue",
        view_func=views.queue.account_queue,
        methods=["GET"],
    )
