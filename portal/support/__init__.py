"""Pages reached without logging in: the customer's order page and signed ticket links."""
from flask import Blueprint, Flask

bp = Blueprint("support", __name__)


def init_app(app: Flask) -> None:
    from portal.support import views  # noqa: F401

    app.register_blueprint(bp)
