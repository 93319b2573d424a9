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


def daily_number(value, currency: str, money: bool) -> str:
    """A cell of the per-day table: amounts in major units with the currency's decimals
    (none for JPY), counts as whole numbers."""
    if not money:
        return str(int(value))
    from portal.dashboard.services import ZERO_DECIMAL

    return f"{value:.0f}" if currency in ZERO_DECIMAL else f"{value:.2f}"


def init_app(app: Flask) -> None:
    from portal.dashboard import views  # noqa: F401

    app.jinja_env.filters.update(
        percent=percent, signed_percent=signed_percent, daily_number=daily_number
    )
    app.register_blueprint(bp)
