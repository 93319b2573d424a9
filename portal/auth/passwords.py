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
PRODUCT_WORDS = frozenset({"clickbank", "master", "account", "masteraccount", "portal", "vendor",
                           "clickbankportal", "accountportal", "masterportal"})

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_L = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
                         "!": "i", "|": "l", "+": "t"})


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


def _cores(lowered: str) -> set[str]:
    """The words an attacker's variant may be built from: ``lowered`` without a prefix and a
    suffix of digits and symbols (any split), with l33t undone — ``dragon`` for
    ``DRagon2024!!``, ``!!Dragon12``, ``Dr@g0n12!!``; ``abacus`` for ``AB@cu$1987!@``."""
    letters = [i for i, ch in enumerate(lowered) if ch.isalpha()]
    cores = {lowered, lowered.translate(_LEET), lowered.translate(_LEET_L)}
    if not letters:
        return cores
    first, last = letters[0], letters[-1]
    for i in range(0, first + 1):
        for j in range(last + 1, len(lowered) + 1):
            core = lowered[i:j]
            cores.update((core, core.translate(_LEET), core.translate(_LEET_L)))
    return cores


def is_common(password: str) -> bool:
    """In the common list, case-insensitively — also with digits/symbols added at the ends and
    l33t substitutions undone (``P@ssw0rd12!!``, ``AB@cu$1987!@``)."""
    words = common_passwords()
    return any(
        len(c) >= 4 and (c in words or c in PRODUCT_WORDS)
        for c in _cores(normalise(password).casefold())
    )


def context_words(email: str | None, names: Iterable[str | None] = ()) -> list[str]:
    """The person's own words a password must not contain: email local part and names."""
    words = []
    local = (email or "").split("@", 1)[0]
    for word in (local, *names):
        word = normalise(word or "").casefold().strip()
        if len(word) >= MIN_CONTEXT_WORD and word not in words:
            words.append(word)
    return words


STRENGTH_WINDOW = 32  # zxcvbn's cost explodes with length (64 random characters: up to 2.5 s)


def _windows(password: str) -> list[str]:
    if len(password) <= STRENGTH_WINDOW:
        return [password]
    pieces = [password[i : i + STRENGTH_WINDOW] for i in range(0, len(password), STRENGTH_WINDOW)]
    if len(pieces[-1]) < STRENGTH_WINDOW:
        pieces[-1] = password[-STRENGTH_WINDOW:]
    return pieces


def strength(password: str, user_inputs: Iterable[str] = ()) -> tuple[int, str]:
    """zxcvbn score (0–4) and its advice; passwords over the maximum are not scored.

    A long password is scored in 32-character pieces and gets the best piece's score: it is at
    least as hard to guess as its hardest part, and this keeps the check under ~100 ms (it runs
    as the user types) where zxcvbn on the whole would take seconds.
    """
    if not password or len(password) > MAX_LENGTH:
        return 0, ""
    inputs = list(user_inputs)
    best, advice = -1, ""
    for piece in _windows(password):
        result = zxcvbn(piece, user_inputs=inputs, max_length=STRENGTH_WINDOW)
        score = int(result["score"])
        if score > best:
            feedback = result.get("feedback") or {}
            best = score
            advice = feedback.get("warning") or " ".join(feedback.get("suggestions") or [])
        if best >= MIN_SCORE:
            break
    return best, advice


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
    spellings = {folded, folded.translate(_LEET), folded.translate(_LEET_L)}  # "0l1v1a" too
    contains_own = any(word in spelling for word in own for spelling in spellings)
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
