"""What a search asks for (:class:`Filters`) and how the search box is read (:func:`interpret`).
Pure: no Flask, no database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, datetime, timezone
from datetime import time as dtime
from zoneinfo import ZoneInfo

RECEIPT_RE = re.compile(r"^[A-Z0-9]{2,20}(-[0-9]{0,6})?$")


@dataclass(frozen=True)
class Filters:
    q: str = ""
    field: str = "auto"  # auto | receipt | email | name
    date_from: date | None = None
    date_to: date | None = None
    types: tuple[str, ...] = ()
    sku: str = ""
    account_ids: tuple[int, ...] = ()  # empty: every visible account
    affiliate: str = ""
    currency: str = ""
    amount_min: int | None = None  # minor units
    amount_max: int | None = None
    include_test: bool = False
    tz: ZoneInfo = dc_field(default_factory=lambda: ZoneInfo("UTC"))

    @property
    def tests_included(self) -> bool:
        return self.include_test or any(t.startswith("TEST_") for t in self.types)


@dataclass(frozen=True)
class TextMatch:
    """How the search box was read: ``kind`` is receipt, email, name or receipt_or_name."""

    kind: str
    value: str
    first: str = ""  # first-name prefix for "first last"

    @property
    def description(self) -> str:
        return {
            "receipt": f"receipts starting with {self.value}",
            "email": f"customer emails starting with {self.value}",
            "name": "customers named " + " ".join(p for p in (self.first, self.value) if p) + "…",
            "receipt_or_name": f"receipts or last names starting with {self.value}",
        }[self.kind]


def interpret(q: str, field: str = "auto") -> TextMatch | None:
    """Read the search box: an @ (or a dot, underscore or plus in one word) means an email,
    digits or a dash a receipt, words a name."""
    q = " ".join((q or "").split())[:120]
    if not q:
        return None
    if field == "email" or (field == "auto" and " " not in q and any(c in q for c in "@._+")):
        return TextMatch("email", q.lower().replace(" ", ""))
    if field == "receipt":
        return TextMatch("receipt", q.upper().replace(" ", ""))
    words = q.split(" ")
    if field == "name" or len(words) > 1:
        last = words[-1].lower()
        first = " ".join(words[:-1]).lower()
        return TextMatch("name", last, first)
    token = q.upper()
    if RECEIPT_RE.match(token) and (any(c.isdigit() for c in token) or "-" in token):
        return TextMatch("receipt", token)
    if RECEIPT_RE.match(token):
        return TextMatch("receipt_or_name", q.lower())
    return TextMatch("name", q.lower())


def day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, dtime(0, 0), tzinfo=tz).astimezone(timezone.utc)
