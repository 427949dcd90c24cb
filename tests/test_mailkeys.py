"""The registry of mail keys: every kind of mail has its templates, its place in the order and its cap rule."""

from __future__ import annotations

import pytest
from signup.ledger import mailkeys
from signup.ledger.mailkeys import LOOKS, REGISTRY, Template
from signup.ledger.status import Status
from signup.texts import LANGUAGES

from tests.conftest import ROOT

MAIL_TEMPLATES = ROOT / "templates" / "mail"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_is_written_in_every_language_and_every_file_is_a_template(language: str) -> None:
    files = {path.stem for path in (MAIL_TEMPLATES / language).glob("*.txt") if not path.stem.startswith("_")}

    assert files == {template.value for template in Template}


@pytest.mark.parametrize("kind", REGISTRY, ids=lambda kind: kind.key)
def test_every_kind_of_mail_has_templates_a_place_in_the_order_and_a_cap_rule(kind: mailkeys.MailKind) -> None:
    assert kind.templates
    assert all(template in LOOKS for template in kind.templates.values())
    assert isinstance(kind.order, int)
    assert kind.capped is not kind.to_organiser  # the organiser's own mails are not capped; everyone else's are
    assert all(status is None or status in Status for status in kind.templates)


def test_every_template_is_the_mail_of_some_kind() -> None:
    used = {template for kind in REGISTRY for template in kind.templates.values()}

    assert used == set(Template)


@pytest.mark.parametrize(
    ("key", "status", "template"),
    [
        ("confirmation", "confirmed", Template.CONFIRMED),
        ("confirmation", "waitlisted", Template.WAITLISTED),
        ("confirmation", "cancelled", None),
        ("confirm_address", "unconfirmed", Template.CONFIRM_ADDRESS),
        ("confirm_address", "confirmed", None),
        ("promotion", "confirmed", Template.PROMOTED),
        ("promotion", "cancelled", None),
        ("reminder_24h", "confirmed", Template.REMINDER),
        ("reminder_90m", "waitlisted", None),
        ("message_0123abcd", "waitlisted", Template.MESSAGE),
        ("message_0123abcd", "cancelled", None),
        ("change", "confirmed", Template.CHANGED),
        ("session_cancelled", "waitlisted", Template.SESSION_CANCELLED),
        ("session_cancelled", "unconfirmed", None),
        ("cancellation", "cancelled", Template.CANCELLED),
        ("cancellation", "confirmed", None),
        ("decline", "confirmed", Template.DECLINED),
        ("decline", "waitlisted", Template.DECLINED),
        ("decline", "cancelled", None),  # cancelled since the decline: nothing left to ask
        ("decline", "unconfirmed", None),
        ("organiser_created", "cancelled", Template.ORGANISER_CREATED),
        ("organiser_cancelled", "cancelled", Template.ORGANISER_CANCELLED),
        ("organiser_digest", None, Template.ORGANISER_DIGEST),
        ("reminder_", "confirmed", None),  # a family's prefix alone is no key
        ("no_such_mail", "confirmed", None),
        ("confirmation", "no such status", None),
    ],
)
def test_a_queued_mail_becomes_its_template_only_while_the_status_fits(
    key: str, status: str | None, template: Template | None
) -> None:
    assert mailkeys.template(key, status) == template


def test_a_registrations_mails_go_confirm_first_and_cancellation_last() -> None:
    keys = ["cancellation", "reminder_24h", "promotion", "confirmation", "confirm_address", "change"]

    assert sorted(keys, key=mailkeys.order) == [
        "confirm_address",
        "confirmation",
        "promotion",
        "change",
        "reminder_24h",
        "cancellation",
    ]


@pytest.mark.parametrize(
    ("key", "capped", "after_cancelling"),
    [
        ("confirmation", True, False),
        ("reminder_24h", True, False),
        ("session_cancelled", True, True),
        ("cancellation", True, True),
        ("decline", True, False),  # a forged decline costs the person at most their daily cap
        ("organiser_digest", False, False),
        ("organiser_created", False, False),
    ],
)
def test_who_counts_against_the_cap_and_what_still_goes_once_a_session_is_called_off(
    key: str, capped: bool, after_cancelling: bool
) -> None:
    assert (mailkeys.capped(key), mailkeys.after_cancelling(key)) == (capped, after_cancelling)
