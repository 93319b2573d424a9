"""The password policy: one pure function, :func:`check`, used by the server-side validation of
every form that sets a password AND by the live checklist beside the field (htmx), so the two can
never disagree. No Flask, no database.

The business rule is DOMAIN.md §1.3 (2 upper, 2 lower, 2 digits, 2 special). On its own that rule
lets ``Password12!!`` through, so the issue adds the compensating controls of SECURITY.md §1.3:
12–128 characters, not containing the email's local part or the person's names, not one of the
10,000 most common passwords (also with digits/symbols tacked on, or in "l33t"), and a zxcvbn
score of at least 3. Any character that is not a letter or a digit counts as special — spaces
included — so passphrases stay possible. The deviation is documented in ``auth/README.md``.
"""
from __future__ import annotations

import gzip
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_EACH = 2  # upper, lower, digits, special
MIN_SCORE = 3  # zxcvbn 0..4
MIN_CONTEXT_WORD = 3  # shorter names ("Al") would forbid too much

# Words an attacker of this portal tries first (ASVS 6.2.11): fed to zxcvbn as user inputs.
PRODUCT_WORDS = ("clickbank", "master", "account", "masteraccount", "portal", "vendor")

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


@dataclass(frozen=True)
class Rule:
    """One line of the checklist: ``ok`` ticks it; ``message`` is what the user reads."""

    key: str
    ok: bool
    message: str
    detail: str = ""


def normalise(password: str) -> str:
    """NFKC, exactly as ``hashing.normalise_password`` does before hashing."""
    return unicodedata.normalize("NFKC", password or "")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords (package data; source cited in the file's header)."""
    data = resources.files("portal.auth").joinpath("data/common-passwords.txt.gz").read_bytes()
    lines = gzip.decompress(data).decode().splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _strip_ends(text: str) -> str:
    """``Dragon2024!!`` -> ``dragon``: what is left without leading/trailing digits and symbols."""
    start, end = 0, len(text)
    while start < end and not text[start].isalpha():
        start += 1
    while end > start and not text[end - 1].isalpha():
        end -= 1
    return text[start:end]


def is_common(password: str) -> bool:
    """In the common list, case-insensitively — also after removing digits/symbols added at the
    ends and undoing l33t substitutions (``P@ssw0rd12!!``)."""
    words = common_passwords()
    lowered = normalise(password).casefold()
    candidates = {lowered, lowered.translate(_LEET)}
    for candidate in list(candidates):
        candidates.add(_strip_ends(candidate))
    candidates.add(_strip_ends(lowered).translate(_LEET))
    return any(len(c) >= 4 and c in words for c in candidates)


def context_words(email: str | None, names: Iterable[str | None] = ()) -> list[str]:
    """The person's own words a password must not contain: email local part and names."""
    words = []
    local = (email or "").split("@", 1)[0]
    for word in (local, *names):
        word = normalise(word or "").casefold().strip()
        if len(word) >= MIN_CONTEXT_WORD and word not in words:
            words.append(word)
    return words


def strength(password: str, user_inputs: Iterable[str] = ()) -> tuple[int, str]:
    """zxcvbn score (0–4) and its advice; passwords over the maximum are not scored."""
    if not password or len(password) > MAX_LENGTH:
        return 0, ""
    result = zxcvbn(password, user_inputs=list(user_inputs), max_length=MAX_LENGTH)
    feedback = result.get("feedback") or {}
    advice = feedback.get("warning") or " ".join(feedback.get("suggestions") or [])
    return int(result["score"]), advice


def check(
    password: str | None,
    *,
    email: str | None = None,
    names: Iterable[str | None] = (),
    confirm: str | None = None,
) -> list[Rule]:
    """Every rule with whether ``password`` meets it, in checklist order.

    ``confirm`` (the "repeat password" field), when given, adds a last rule that both match.
    """
    pw = normalise(password or "")
    n = len(pw)
    upper = sum(1 for c in pw if c.isupper())
    lower = sum(1 for c in pw if c.islower())
    digits = sum(1 for c in pw if c.isdigit())
    special = sum(1 for c in pw if not c.isalnum())
    own = context_words(email, names)
    folded = pw.casefold()
    contains_own = any(word in folded for word in own)
    common = bool(pw) and is_common(pw)
    score, advice = strength(pw, [*own, *PRODUCT_WORDS]) if pw else (0, "")

    rules = [
        Rule("length", MIN_LENGTH <= n <= MAX_LENGTH,
             f"{MIN_LENGTH} to {MAX_LENGTH} characters",
             f"{n} so far" if n < MIN_LENGTH else (f"{n - MAX_LENGTH} too many" if n > MAX_LENGTH else "")),
        Rule("upper", upper >= MIN_EACH, "At least 2 uppercase letters"),
        Rule("lower", lower >= MIN_EACH, "At least 2 lowercase letters"),
        Rule("digits", digits >= MIN_EACH, "At least 2 digits"),
        Rule("special", special >= MIN_EACH,
             "At least 2 special characters (e.g. ! @ # $ % ^ & *, a space counts too)"),
        Rule("personal", bool(pw) and not contains_own,
             "Does not contain your name or the first part of your email address"),
        Rule("common", bool(pw) and not common, "Not a commonly used password"),
        Rule("strength", score >= MIN_SCORE, "Hard to guess (strength 3 of 4 or better)",
             advice if pw and score < MIN_SCORE else ""),
    ]
    if confirm is not None:
        rules.append(Rule("match", bool(pw) and pw == normalise(confirm), "Both entries match"))
    return rules


def all_ok(rules: Iterable[Rule]) -> bool:
    return all(rule.ok for rule in rules)


def problems(
    password: str | None, *, email: str | None = None, names: Iterable[str | None] = ()
) -> list[str]:
    """The messages of the rules ``password`` breaks (empty when it is acceptable)."""
    return [
        rule.message + (f" — {rule.detail}" if rule.detail else "")
        for rule in check(password, email=email, names=names)
        if not rule.ok
    ]


def is_acceptable(password: str | None, *, email: str | None = None, names=()) -> bool:
    return all_ok(check(password, email=email, names=names))
