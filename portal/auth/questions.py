"""The security questions an owner picks two of at sign-up (DOMAIN.md §1), and their rules.

Answers are hashed (argon2id) after ``hashing.normalise_answer`` (NFKC, case-folded, spaces
collapsed), so "New  York" and "new york" match. Hints are stored as ``clean_hint`` gives them
(spaces collapsed), the length the rules check. A hint must help without giving the answer
away: one that contains its answer is refused. Questions and hints are shown only after the
owner opened an emailed recovery link, never to an anonymous visitor (auth/README.md).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

QUESTIONS = {
    "first_pet": "What was the name of your first pet?",
    "first_school": "What was the name of your first school?",
    "birth_city": "In which city were you born?",
    "mother_maiden": "What is your mother's maiden name?",
    "first_car": "What was the make of your first car?",
    "childhood_friend": "What was the first name of your childhood best friend?",
    "first_job": "What was the name of the company of your first job?",
    "favourite_teacher": "What was the last name of your favourite teacher?",
    "street_grew_up": "What is the name of the street you grew up on?",
    "honeymoon": "Where did you spend your honeymoon?",
}

MIN_ANSWER = 2
MAX_ANSWER = 100
MAX_HINT = 120


@dataclass(frozen=True)
class Entry:
    question: str | None
    answer: str | None
    hint: str | None


def _fold(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def clean_hint(text: str | None) -> str:
    """The hint as stored and shown: NFKC, runs of spaces (and line breaks) collapsed, ends
    trimmed. Its length is what MAX_HINT limits — the raw text may be longer."""
    return " ".join(unicodedata.normalize("NFKC", text or "").split())


def _squash(text: str | None) -> str:
    return "".join(ch for ch in _fold(text) if ch.isalnum())


def problems(entries: list[Entry]) -> dict[tuple[int, str], str]:
    """Field errors keyed by (entry index, "question" | "answer" | "hint")."""
    errors: dict[tuple[int, str], str] = {}
    seen = set()
    for i, entry in enumerate(entries):
        if entry.question not in QUESTIONS:
            errors[(i, "question")] = "Please choose a question from the list."
        elif entry.question in seen:
            errors[(i, "question")] = "Please choose two different questions."
        seen.add(entry.question)
        answer = _fold(entry.answer)
        if len(answer) < MIN_ANSWER:
            errors[(i, "answer")] = f"Please give an answer of at least {MIN_ANSWER} characters."
        elif len(answer) > MAX_ANSWER:
            errors[(i, "answer")] = f"Please keep the answer under {MAX_ANSWER} characters."
        hint = _fold(entry.hint)
        if not hint:
            errors[(i, "hint")] = "Please give a hint that helps you remember the answer."
        elif max(len(hint), len(clean_hint(entry.hint))) > MAX_HINT:
            errors[(i, "hint")] = f"Please keep the hint under {MAX_HINT} characters."
        elif answer and (answer in hint or (_squash(answer) and _squash(answer) in _squash(hint))):
            errors[(i, "hint")] = "The hint must not contain the answer."
    return errors
