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
    def affiliate_exact(self) -> bool:
        """``"john"`` in quotes: that nickname only, not every one starting with it."""
        a = self.affiliate
        return len(a) > 2 and a[0] == a[-1] == '"'

    @property
    def affiliate_value(self) -> str:
        """The nickname (or its start) to look for, without the quotes."""
        return self.affiliate[1:-1] if self.affiliate_exact else self.affiliate

    @property
    def tests_included(self) -> bool:
        return self.include_test or any(t.startswith("TEST_") for t in self.types)


@dataclass(frozen=True)
class TextMatch:
    """How the search box was read: ``kind`` is receipt, email, name or receipt_or_name.

    A name with ``first`` set ("Maria Garcia", "Garcia, Maria") needs both: a last name starting
    with ``value`` and a first name starting with ``first``. A name without ``first`` (one word,
    "Maria" or "Garcia") is either: a first *or* a last name starting with ``value``."""

    kind: str
    value: str
    first: str = ""  # first-name prefix for "first last" / "last, first"

    @property
    def description(self) -> str:
        if self.kind == "name" and self.first:
            return f"customers named {self.first} {self.value}…"
        return {
            "receipt": f"receipts starting with {self.value}",
            "email": f"customer emails starting with {self.value}",
            "name": f"customers whose first or last name starts with {self.value}",
            "receipt_or_name": f"receipts or customer names starting with {self.value}",
        }[self.kind]


def interpret(q: str, field: str = "auto") -> TextMatch | None:
    """Read the search box: an @ (or a dot, underscore or plus in one word) means an email,
    digits or a dash a receipt, words a name: "Maria" (a first or a last name), "Maria Garcia"
    (first then last), "Garcia, Maria" (last, then first after the comma)."""
    q = " ".join((q or "").split())[:120]
    if not q:
        return None
    if field == "email" or (field == "auto" and " " not in q and any(c in q for c in "@._+")):
        return TextMatch("email", q.lower().replace(" ", ""))
    if field == "receipt":
        return TextMatch("receipt", q.upper().replace(" ", ""))
    if "," in q and field in ("auto", "name"):
        last, _, first = (part.strip().lower() for part in q.partition(","))
        first = " ".join(first.replace(",", " ").split())
        if last:
            return TextMatch("name", last, first)
        q = first  # ", Maria": just a name
        if not q:
            return None
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
