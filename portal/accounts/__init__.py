"""Accounts tab: linked ClickBank accounts and their settings."""

from flask import Blueprint, Flask

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


def init_app(app: Flask) -> None:
    from portal.accounts import views  # noqa: F401

    app.register_blueprint(bp)
