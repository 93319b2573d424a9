"""PIN rules (DOMAIN.md §1): 4 to 6 digits, not one repeated digit, not a straight run.

Pure: no Flask, no database. The PIN is a step-up secret only (never a login on its own); it is
hashed with argon2id after a server-side pepper (``crypto.pepper``), see auth/README.md.
"""
from __future__ import annotations

MIN_DIGITS = 4
MAX_DIGITS = 6
DIGITS = "0123456789"


def problems(pin: str | None) -> list[str]:
    """Why ``pin`` is refused (empty list: acceptable). Messages say why, in plain words."""
    pin = (pin or "").strip()
    if not (MIN_DIGITS <= len(pin) <= MAX_DIGITS) or any(c not in DIGITS for c in pin):
        return [f"The PIN must be {MIN_DIGITS} to {MAX_DIGITS} digits (0–9 only)."]
    if len(set(pin)) == 1:
        return [f"A PIN of one repeated digit (like {pin[0] * 4}) is too easy to guess."]
    if is_straight_run(pin):
        return ["A straight run of digits (like 1234 or 987654) is too easy to guess."]
    return []


def is_straight_run(pin: str) -> bool:
    """Every digit one more (or every digit one less) than the one before: 1234, 3456, 987654."""
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:])}
    return steps in ({1}, {-1})


def is_acceptable(pin: str | None) -> bool:
    return not problems(pin)
