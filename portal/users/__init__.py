"""Users tab: clerks, permissions, API keys."""
from flask import Blueprint, Flask

bp = Blueprint("users", __name__, url_prefix="/users")


def init_app(app: Flask) -> None:
    from portal.users import views  # noqa: F401

    app.register_blueprint(bp)
