"""Template helpers: ``can()``, the tab bar, money and time formatting."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app
from flask_login import current_user

from portal.authz.permissions import TABS
from portal.authz.policy import can as policy_can
from portal.authz.scope import current_principal
from portal.types import utcnow

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "JPY": "¥"}
ZERO_DECIMAL = {"JPY"}

LABELS = {
    "tech_support": "Tech support",
    "refund": "Refund",
    "cancel": "Cancellation",
    "open": "Open",
    "reopened": "Reopened",
    "closed": "Closed",
    "requested": "Requested",
    "processing": "Processing",
    "finalized": "Finalized",
    "withdrawn": "Withdrawn",
    "customer": "Customer",
    "vendor": "Vendor",
    "clerk": "Clerk",
    "phone": "ClickBank phone support",
    "api": "API",
    "standard": "Standard",
    "recurring": "Recurring",
    "sandbox": "Sandbox",
    "clickbank": "ClickBank",
    "pending": "Pending confirmation",
    "linked": "Linked",
    "removed": "Removed",
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
    "process": "Refund processed",
    "settle": "Refund completes",
    "warn": "Inactivity warning",
    "close": "Closes automatically",
    "label_sent": "Return label sent",
    "in_transit": "In transit",
    "received": "Received at warehouse",
}


def label(value) -> str:
    if value is None:
        return ""
    key = str(value)
    return LABELS.get(key, key.replace("_", " ").capitalize())


def money(cents: int | None, currency: str = "USD") -> str:
    if cents is None:
        return ""
    currency = (currency or "USD").upper()
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    if currency in ZERO_DECIMAL:
        number = f"{cents:,}"
    else:
        number = f"{cents // 100:,}.{cents % 100:02d}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def viewer_zone() -> ZoneInfo:
    return zone(getattr(current_user, "timezone", None) if current_user else None)


def local(moment: datetime | None, tz: str | ZoneInfo | None = None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """Format ``moment`` in ``tz`` (default: the viewer's zone)."""
    if moment is None:
        return ""
    tzinfo = tz if isinstance(tz, ZoneInfo) else (zone(tz) if tz else viewer_zone())
    return moment.astimezone(tzinfo).strftime(fmt)


def time_left(moment: datetime | None, now: datetime | None = None) -> str:
    """"3d 4h", "2h 05m", "overdue" — the queue's expiration column."""
    if moment is None:
        return ""
    seconds = int((moment - (now or utcnow())).total_seconds())
    if seconds <= 0:
        return "due now"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def iso(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else ""


def visible_tabs() -> list[dict]:
    principal = current_principal()
    if principal is None:
        return []
    return [
        {"action": action, "title": title, "endpoint": endpoint}
        for action, title, endpoint in TABS
        if policy_can(principal, action)
    ]


def has_endpoint(name: str) -> bool:
    return name in current_app.view_functions


def can(action, obj=None) -> bool:
    return policy_can(current_principal(), action, obj)


def feature_assets(static_folder: str) -> dict[str, list[str]]:
    """Every feature's CSS and JS under static/css and static/js (besides app.*).

    base.html loads them all on every page: htmx's boosted navigation swaps <body> only, so an
    asset a page put in its <head> would be missing after arriving from another tab. Feature
    scripts therefore initialise through ``htmx.onLoad`` and check for their own elements."""
    from pathlib import Path

    root = Path(static_folder)
    found = {}
    for kind in ("css", "js"):
        files = sorted(p.name for p in (root / kind).glob(f"*.{kind}") if p.stem != "app")
        found[kind] = [f"{kind}/{name}" for name in files]
    return found


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(money=money, local=local, time_left=time_left, label=label, iso=iso)
    app.jinja_env.globals.update(
        can=can, visible_tabs=visible_tabs, label=label, now=utcnow, has_endpoint=has_endpoint,
        feature_assets=feature_assets(app.static_folder),
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def _globals():
        return {"principal": current_principal()}



