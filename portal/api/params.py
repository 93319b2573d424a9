"""Reading query strings and JSON bodies strictly: a value that is not on offer is a 422 naming
the field (an API client wants to hear about its typo, not get silently broader results);
integers are range-checked before they reach the database; unknown members are ignored."""
from __future__ import annotations

from datetime import date

from flask import request

from portal.api.errors import ApiError

MAX_INT = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL)


class Problems(dict):
    """Field -> message; ``check()`` raises one 422 listing them all."""

    def check(self) -> None:
        if self:
            raise ApiError(
                422, "invalid", "Some values are not valid: see fields.", fields=dict(self)
            )


def values(name: str) -> list[str]:
    """Every value of a query parameter, repeated (``?status=open&status=closed``) or
    comma-separated (``?status=open,closed``)."""
    out: list[str] = []
    for raw in request.args.getlist(name):
        out.extend(part.strip() for part in raw.split(",") if part.strip())
    return out


def one_of(name: str, allowed, problems: Problems, *, default=None):
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if raw not in allowed:
        problems[name] = f"Must be one of: {', '.join(sorted(allowed))}."
        return default
    return raw


def integer(name: str, problems: Problems, *, low: int, high: int, default=None):
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 12:
        problems[name] = f"Must be a whole number from {low} to {high}."
        return default
    number = int(raw)
    if not low <= number <= high:
        problems[name] = f"Must be a whole number from {low} to {high}."
        return default
    return number


def day(name: str, problems: Problems):
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        problems[name] = "Must be a date like 2026-11-18."
        return None
    if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
        problems[name] = "Must be a date between 2000-01-01 and 2100-12-31."
        return None
    return value


def boolean(name: str, problems: Problems, *, default=False) -> bool:
    raw = request.args.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    problems[name] = "Must be true or false."
    return default


def text(name: str, problems: Problems, *, max_length: int) -> str:
    raw = request.args.get(name, "").strip()
    if len(raw) > max_length:
        problems[name] = f"At most {max_length} characters."
        return ""
    return raw


# ---------------------------------------------------------------------------------------------
# JSON bodies


def json_body() -> dict:
    """The request's JSON object (415 when it is not JSON, 400 when it is not an object)."""
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "Send a JSON object with Content-Type: application/json."
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "The body must be a JSON object.")
    return body


def body_text(
    body: dict, name: str, problems: Problems, *, max_length: int, required=True
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            problems[name] = "Required."
        return None
    if not isinstance(value, str):
        problems[name] = "Must be a string."
        return None
    if len(value) > max_length:
        problems[name] = f"At most {max_length} characters."
        return None
    return value


def body_bool(body: dict, name: str, problems: Problems) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        problems[name] = "Must be true or false."
        return False
    return value


def body_int(body: dict, name: str, problems: Problems, *, low=1, high=MAX_INT, required=False):
    value = body.get(name)
    if value is None:
        if required:
            problems[name] = "Required."
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems[name] = f"Must be a whole number from {low} to {high}."
        return None
    return value
