"""argon2id for passwords, PINs, security answers and recovery codes (t=2, m=19 MiB, p=1).

The library default (t=3, m=64 MiB, p=4) costs ~217 ms a check on this machine; these
parameters (the OWASP/ASVS minimum) cost ~28 ms (SECURITY.md §0.2).
"""
from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

# A real hash to verify against when the user does not exist, so the time spent is the same.
_DUMMY_HASH = HASHER.hash("not-a-real-password")


def hash_secret(secret: str) -> str:
    return HASHER.hash(secret)


def verify_secret(stored: str | None, candidate: str) -> bool:
    """True if ``candidate`` matches ``stored``. Always spends one hash verification."""
    try:
        return HASHER.verify(stored or _DUMMY_HASH, candidate) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return HASHER.check_needs_rehash(stored)


def upgraded(stored: str, secret: str) -> str:
    """``stored``, or a new hash of ``secret`` when ``stored`` was made with other parameters.
    Call right after ``secret`` was verified against ``stored`` (passwords at login, the PIN and
    passwords at a re-check, security answers in recovery: SECURITY.md §0.2)."""
    return hash_secret(secret) if needs_rehash(stored) else stored


def normalise_password(password: str) -> str:
    """Unicode NFKC so the same password typed on different keyboards matches."""
    return unicodedata.normalize("NFKC", password)


def normalise_answer(answer: str) -> str:
    """Security answers compare case- and space-insensitively."""
    return " ".join(unicodedata.normalize("NFKC", answer).casefold().split())
