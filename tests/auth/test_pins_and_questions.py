"""PIN rules (auth/pins.py) and security-question rules (auth/questions.py): pure, no app."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.auth import pins
from portal.auth.questions import QUESTIONS, Entry, problems


@pytest.mark.parametrize("pin", ["2468", "1357", "482913", "90210", "1243", "0192"])
def test_good_pins_are_accepted(pin):
    assert pins.problems(pin) == []


@pytest.mark.parametrize("pin", ["", "123", "1234567", "12a4", "12 34", "١٢٣٤", "-123"])
def test_a_pin_is_four_to_six_ascii_digits(pin):
    assert pins.problems(pin) == ["The PIN must be 4 to 6 digits (0–9 only)."]


@pytest.mark.parametrize("pin", ["0000", "1111", "77777", "999999"])
def test_one_repeated_digit_is_refused_with_the_reason(pin):
    assert pins.problems(pin) == [f"A PIN of one repeated digit (like {pin[0] * 4}) is too easy to guess."]


@pytest.mark.parametrize("pin", ["1234", "2345", "0123", "456789", "4321", "987654", "3210", "56789"])
def test_straight_runs_up_or_down_are_refused_with_the_reason(pin):
    assert pins.problems(pin) == [
        "A straight run of digits (like 1234 or 987654) is too easy to guess."
    ]


def test_runs_do_not_wrap_around():
    assert pins.problems("8901") == [] and pins.problems("1098") == []


@settings(max_examples=2000)
@given(st.text(alphabet="0123456789", min_size=4, max_size=6))
def test_property_a_digit_string_is_refused_exactly_when_repeated_or_straight(pin):
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:])}
    bad = len(set(pin)) == 1 or steps in ({1}, {-1})
    assert pins.is_acceptable(pin) is not bad


# --- security questions ---------------------------------------------------------------------------


def test_there_are_at_least_eight_questions():
    assert len(QUESTIONS) >= 8


def entries(q1="first_pet", a1="Rex", h1="A dog", q2="birth_city", a2="Lyon", h2="Silk town"):
    return [Entry(q1, a1, h1), Entry(q2, a2, h2)]


def test_two_different_questions_with_answers_and_hints_are_fine():
    assert problems(entries()) == {}


def test_the_same_question_twice_is_refused():
    assert problems(entries(q2="first_pet")) == {(1, "question"): "Please choose two different questions."}


def test_an_unknown_or_missing_question_is_refused():
    assert problems(entries(q1="favourite_colour"))[(0, "question")] == "Please choose a question from the list."
    assert (1, "question") in problems(entries(q2=None))


def test_answers_and_hints_are_required():
    errors = problems(entries(a1=" ", h2=""))
    assert errors[(0, "answer")].startswith("Please give an answer")
    assert errors[(1, "hint")].startswith("Please give a hint")


@pytest.mark.parametrize("hint", ["rex", "It is REX", "r e x", "my dog  Rex!", "RexRex"])
def test_a_hint_that_contains_its_answer_is_refused(hint):
    assert problems(entries(h1=hint)) == {(0, "hint"): "The hint must not contain the answer."}


def test_a_multi_word_answer_is_found_in_a_hint_without_its_spaces():
    assert (1, "hint") in problems(entries(a2="New York", h2="newyork, of course"))


def test_a_hint_is_measured_and_stored_with_its_spaces_collapsed():
    from portal.auth.questions import MAX_HINT, Entry, clean_hint, problems

    padded = Entry("first_pet", "Rex", "A dog," + " " * 150 + "three letters")
    assert not problems([padded])
    assert clean_hint(padded.hint) == "A dog, three letters"
    assert clean_hint("  two\n lines\tand　ideographic space ") == "two lines and ideographic space"
    too_long = Entry("first_pet", "Rex", "word " * 25)
    assert len(clean_hint(too_long.hint)) > MAX_HINT
    assert problems([too_long]) == {(0, "hint"): f"Please keep the hint under {MAX_HINT} characters."}
