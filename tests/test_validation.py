"""Validation of sign-up fields, as pure logic (no database)."""

from __future__ import annotations

from typing import Any

import pytest
from signup.errors import ValidationError
from signup.http import validation
from signup.http.validation import is_bot, validate
from signup.ledger.registration import SignUp
from signup.texts import text

GOOD: dict[str, list[Any]] = {
    "first_name": ["Jan"],
    "infix": ["van der"],
    "last_name": ["Berg"],
    "email": ["Jan@Example.nl"],
}


def check(
    fields: dict[str, list[Any]], *, consent_required: bool = False, language: str = "nl", smtputf8: bool = False
) -> SignUp:
    return validate(
        fields, language=language, consent_required=consent_required, smtputf8=smtputf8, deliverability=None
    )


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


NAMES = ["organisation", "first_name", "infix", "last_name"]

WEB_ADDRESSES = [
    "Prijs: https://evil.example/claim",
    "http://localhost",
    "hxxps://evil.example",
    "mailto://jan@evil.example",
    "www.evil.example",
    "Kijk op WWW.EVIL.EXAMPLE",
    "evil.example",
    "Klik op evil.example nu",
    "evil.example.",
    "prijs@evil.example",
    "bit.ly",
    "t.co/claim",
    "evil.example:8080",
    "bücher.example",
    "xn--bcher-kva.example",
    "пример.рф",
    "ｗｗｗ．evil．example",  # full-width letters and dots
    "evil。example",  # the ideographic full stop, a dot in host names
    "Jan 93.184.216.34",
]
ORDINARY_NAMES = [
    "Jan",
    "Anne-Marie",
    "O'Brien",
    "d’Artagnan",
    "van 't",
    "van der",
    "Zoë Ørsted-Łukasiewicz",
    "José Núñez",
    "Nguyễn Thị Minh Khai",
    "山田 太郎",
    "Мария Иванова",
    "محمد",
    "J.P.",
    "J.Th.",
    "A.B.C. de Vries",
    "M.Sc.",
    "Ph.D.",
    "Dr. Jansen",
    "St. John",
    "Gemeente Amsterdam",
    "Stichting Web 2.0",
    "Wwwoekie",
]


@pytest.mark.parametrize("field", NAMES)
@pytest.mark.parametrize("value", WEB_ADDRESSES)
def test_a_web_address_in_a_name_is_refused_so_our_mail_carries_no_spam(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        check({**GOOD, field: [value]}, language="en")

    assert raised.value.errors == {field: text("en", "error.web_address")}
    assert text("en", "error.web_address").startswith("A web address (such as www.… or example.com) cannot go here")


@pytest.mark.parametrize("field", NAMES)
@pytest.mark.parametrize("value", ORDINARY_NAMES)
def test_ordinary_names_pass(field: str, value: str) -> None:
    assert getattr(check({**GOOD, field: [value]}), field) == value


def test_the_web_address_message_is_dutch_on_a_dutch_form() -> None:
    with pytest.raises(ValidationError) as raised:
        check({**GOOD, "first_name": ["www.evil.example"]})

    assert raised.value.errors["first_name"].startswith("Een webadres (zoals www.… of voorbeeld.nl) kan hier niet")


@pytest.mark.parametrize(
    ("address", "smtputf8", "stored"),
    [
        ("jan@example.nl", False, "jan@example.nl"),
        ("info@bücher.example", False, "info@bücher.example"),  # the domain goes out as punycode (see mails.py)
        ("info@xn--bcher-kva.example", False, "info@bücher.example"),
        ("jöran@example.nl", True, "jöran@example.nl"),
    ],
)
def test_addresses_that_our_mail_can_reach_are_accepted(address: str, smtputf8: bool, stored: str) -> None:
    assert check({**GOOD, "email": [address]}, smtputf8=smtputf8).email == stored


@pytest.mark.parametrize(
    ("language", "message"),
    [("nl", "Naar dit e-mailadres kunnen we niet mailen"), ("en", "We cannot send mail to this address")],
)
@pytest.mark.parametrize("address", ["jöran@example.nl", "山田@example.jp", "jöran@bücher.example"])
def test_a_non_ascii_local_part_is_refused_unless_the_relay_speaks_smtputf8(
    address: str, language: str, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        check({**GOOD, "email": [address]}, language=language)

    assert list(raised.value.errors) == ["email"]
    assert raised.value.errors["email"].startswith(message)


def test_every_character_refused_in_a_field_is_also_unprintable() -> None:
    # Fields that are all printable skip the look at each character: that holds only while this does.
    refused = [chr(code) for code in range(0x110000) if validation._forbidden(chr(code))]

    assert len(refused) > 2000  # controls, surrogates, private use, line and paragraph separators, bidi controls
    assert [ch for ch in refused if ch.isprintable()] == []


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\u2028", "\u202e", "\u061c", "\ue000", "\ud800"])
def test_one_refused_character_among_printable_ones_is_refused(character: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check({**GOOD, "last_name": [f"Berg{character}man"]})

    assert refused.value.errors == {"last_name": text("nl", "error.control")}
