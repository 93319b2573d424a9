"""The owner's Dashboard: sales per linked account and in total."""

from flask import Blueprint, Flask

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


def percent(value: float | None, digits: int = 1) -> str:
    """0.0423 -> "4.2%"; None -> "—" (nothing to divide by)."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def signed_percent(value: float | None) -> str:
    """A change against the previous period: "+12.5%", "−3.0%"; "" when nothing to compare."""
    if value is None:
        return ""
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{abs(value) * 100:.1f}%"


def init_app(app: Flask) -> None:
    from portal.dashboard import views  # noqa: F401

    app.jinja_env.filters.update(percent=percent, signed_percent=signed_percent)
    app.register_blueprint(bp)
