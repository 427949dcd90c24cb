"""Validation of sign-up fields, as pure logic (no database)."""

from __future__ import annotations

from typing import Any

import pytest
from signup.errors import ValidationError
from signup.validation import SignUp, is_bot, validate

GOOD: dict[str, list[Any]] = {
    "first_name": ["Jan"],
    "infix": ["van der"],
    "last_name": ["Berg"],
    "email": ["Jan@Example.nl"],
}


def check(fields: dict[str, list[Any]], *, consent_required: bool = False, language: str = "nl") -> SignUp:
    return validate(fields, language=language, consent_required=consent_required, check_deliverability=False)


def test_a_good_sign_up_is_cleaned() -> None:
    signup = check({**GOOD, "organisation": [" Gemeente  Amsterdam "]})

    assert signup == SignUp(
        organisation="Gemeente Amsterdam",
        first_name="Jan",
        infix="van der",
        last_name="Berg",
        email="Jan@example.nl",
        consent=False,
    )
    assert signup.email_key == "jan@example.nl"


def test_all_mistakes_are_reported_at_once_in_the_sessions_language() -> None:
    with pytest.raises(ValidationError) as raised:
        check({"email": ["nope"]}, language="en")

    assert raised.value.errors == {
        "first_name": "Please fill in this field.",
        "last_name": "Please fill in this field.",
        "email": "This is not a valid email address.",
    }


@pytest.mark.parametrize(
    ("value", "consented"),
    [(["on"], True), (["true"], True), ([True], True), (["ja"], True), ([""], False), ([False], False), ([], False)],
)
def test_consent_is_read_from_checkbox_and_json_values(value: list[Any], consented: bool) -> None:
    assert check({**GOOD, "consent": value}).consent is consented


def test_consent_is_demanded_only_where_required() -> None:
    with pytest.raises(ValidationError) as raised:
        check(GOOD, consent_required=True)

    assert list(raised.value.errors) == ["consent"]


@pytest.mark.parametrize(
    ("fields", "bot"),
    [({}, False), ({"website": [""]}, False), ({"website": ["x"]}, True), ({"website": [None, "y"]}, True)],
)
def test_a_filled_honeypot_marks_a_bot(fields: dict[str, list[Any]], bot: bool) -> None:
    assert is_bot(fields) is bot
