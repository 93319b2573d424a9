"""Transactions tab: search, receipts, vendor refunds, subscriptions, the refund hand-off."""

from flask import Blueprint, Flask

bp = Blueprint("transactions", __name__, url_prefix="/transactions")


def init_app(app: Flask) -> None:
    from portal.transactions import handoff, views  # noqa: F401
    from portal.transactions.views import search

    app.register_blueprint(bp)
    # The account-scoped search lives under the account's URL, so several accounts can be open
    # in several windows at once (DOMAIN.md §4); the Accounts tab links to it.
    app.add_url_rule(
        "/accounts/<nickname>/transactions",
        endpoint="transactions.account_search",
        view_func=search.account_search,
    )
    app.add_url_rule(
        "/accounts/<nickname>/transactions/export.csv",
        endpoint="transactions.account_export",
        view_func=search.account_export,
    )
    app.jinja_env.globals["handoff_panel"] = handoff.panel_for
    app.jinja_env.globals["ticket_home"] = handoff.ticket_home
    app.jinja_env.globals["user_may_view_ticket"] = handoff.user_may_view_ticket
    app.jinja_env.filters["tx_ago"] = handoff.ago
