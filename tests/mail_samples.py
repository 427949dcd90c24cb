"""Every kind of mail, composed as `notify` composes it, in each language and with and without each optional part:
for the tests that read them (paragraphs, words), check them in mail clients' terms (Can I email, SpamAssassin) and
parse their calendars (ical.js)."""

from __future__ import annotations

import email
import email.policy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from signup.ledger.mailkeys import Template
from signup.ledger.session import Session, parse_session
from signup.ledger.signin import SignIn
from signup.mail.compose.mails import Composer, Recipient
from signup.mail.signins import SignInComposer
from signup.texts import LANGUAGES

from tests.conftest import session_fields

KINDS = tuple(Template)
MAILS = [(kind, language) for kind in KINDS for language in LANGUAGES]
# The organisers' sign-in mail (mail/signins.py), beside the kinds of mail to attendees and organisers.
SIGN_IN = "sign_in"
ALL_MAILS: list[tuple[str, str]] = [*MAILS, *((SIGN_IN, language) for language in LANGUAGES)]
TO_ORGANISER = frozenset({Template.ORGANISER_CREATED, Template.ORGANISER_CANCELLED, Template.ORGANISER_DIGEST})
SENDER = Address("Strategiesessies", "sessies", "example.nl")
NOW = datetime(2036, 5, 1, 10, 0, tzinfo=UTC)
STARTS = datetime(2036, 6, 10, 14, 0, tzinfo=UTC)  # dinsdag 10 juni 2036, 16:00 in Amsterdam
TITLE = "Gratis strategiesessie"
MESSAGE_BODY = "Eerste alinea van het bericht.\n\nTweede alinea, met een link: https://www.example.nl/programma"
CANCELLATION_MESSAGE = "De spreker is ziek.\n\nWe plannen een nieuwe datum."


@dataclass(frozen=True)
class Variant:
    """Which optional parts a mail has: the organiser's own words, an organisation, a tussenvoegsel, and the seats
    left (None: no capacity)."""

    message: bool
    organisation: bool
    infix: bool
    seats_left: int | None

    def __str__(self) -> str:
        parts = [
            "message" if self.message else "no message",
            "organisation" if self.organisation else "no organisation",
            "infix" if self.infix else "no infix",
            f"seats {self.seats_left}",
        ]
        return ", ".join(parts)


BOTH = (True, False)
VARIANTS = [Variant(*parts) for parts in itertools.product(BOTH, BOTH, BOTH, (None, 0, 1, 20))]


def composer() -> Composer:
    return Composer(
        SENDER,
        lambda ref: f"https://signup.example.nl/cancel/{ref.session_id}.{ref.registration_id}",
        session_url=lambda session_id: f"https://signup.example.nl/sessions/{session_id}",
        confirm_url=lambda ref: f"https://signup.example.nl/confirm/{ref.session_id}.{ref.registration_id}",
        unsubscribe_url=lambda ref: f"https://signup.example.nl/unsubscribe/{ref.session_id}.{ref.registration_id}",
    )


def session(language: str, variant: Variant, kind: Template) -> Session:
    fields = session_fields(
        language=language,
        title=TITLE,
        starts_at=STARTS,
        ends_at=STARTS + timedelta(hours=2),
        capacity=None if variant.seats_left is None else 20,
    )
    if kind == Template.SESSION_CANCELLED:
        fields.update(status="cancelled", cancellation_message=CANCELLATION_MESSAGE if variant.message else "")
    if kind == Template.CHANGED:
        fields["revision"] = 1
    return parse_session("s-1", fields)


def person(variant: Variant, status: str = "confirmed") -> dict[str, str]:
    name = "Jan van der Berg" if variant.infix else "Jan Berg"
    return {"name": name, "organisation": "Gemeente Amsterdam" if variant.organisation else "", "status": status}


def extra(kind: Template, language: str, variant: Variant) -> dict[str, Any]:
    """What the notifier adds for the kinds that need more than the session and the person (compose/mailextras.py)."""
    to_organiser = {"to_organiser": True, "show_cancel": False}
    if kind == Template.MESSAGE:
        return {"message_subject": "Het programma", "message_body": MESSAGE_BODY}
    if kind == Template.CHANGED:
        before = {
            "title": "Strategiesessie" if variant.message else TITLE,
            "starts_at": STARTS - timedelta(days=1),
            "ends_at": STARTS - timedelta(days=1) + timedelta(hours=2),
            "location": {"name": "Zaal 1", "address": "Oranje-Vrijstaatplein 2, Amsterdam"},
        }
        return {"before": before}
    if kind in (Template.ORGANISER_CREATED, Template.ORGANISER_CANCELLED):
        return {**to_organiser, "person": person(variant), "seats_left": variant.seats_left}
    if kind == Template.ORGANISER_DIGEST:
        listed = {"people": [person(variant), person(variant, "waitlisted")], "more": 0, "total": 2}
        since, until = "maandag 9 juni 2036, 08:00", "dinsdag 10 juni 2036, 08:00"
        digest = {"since": since, "until": until, "signed_up": listed, "cancelled": listed}
        return {**to_organiser, "digest": {**digest, "seats_left": variant.seats_left}}
    return {}


def recipient(kind: Template, variant: Variant) -> Recipient:
    if kind in TO_ORGANISER:
        return Recipient("s-1", "r-1", "Anna de Vries", "", "", "anna@example.nl", had_seat=False)
    return Recipient(
        "s-1",
        "r-1",
        "Jan",
        "van der" if variant.infix else "",
        "Berg",
        "jan@example.nl",
        had_seat=kind != Template.WAITLISTED,
        generation=7,
        confirm_by=NOW + timedelta(hours=24),
    )


def compose(
    kind: Template, language: str, variant: Variant = VARIANTS[0], made: Composer | None = None
) -> EmailMessage:
    """One mail as it goes over the wire, parsed back as a receiver reads it."""
    message = (made or composer()).compose(
        kind,
        session(language, variant, kind),
        recipient(kind, variant),
        message_id="<20360501100000.4f0c2d9a7b1e4c6d@example.nl>",
        now=NOW,
        hours=24,
        extra=extra(kind, language, variant),
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def sign_in_mail(language: str) -> EmailMessage:
    """An organiser's sign-in mail, as it goes over the wire, parsed back."""
    sign_in = SignIn("0a1b2c", "anna@example.nl", language, NOW + timedelta(minutes=15), NOW + timedelta(days=1))
    message = SignInComposer(SENDER, lambda sign_in_id: f"https://beheer.example.nl/sign-in/{sign_in_id}.x").compose(
        sign_in, Address(addr_spec="anna@example.nl"), message_id="<20360501100000.5e1d@example.nl>", now=NOW
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def any_mail(kind: str, language: str) -> EmailMessage:
    """A mail of any kind in `ALL_MAILS`."""
    return sign_in_mail(language) if kind == SIGN_IN else compose(Template(kind), language)


def every_mail() -> Iterator[tuple[Template, str, Variant, EmailMessage]]:
    made = composer()
    for (kind, language), variant in itertools.product(MAILS, VARIANTS):
        yield kind, language, variant, compose(kind, language, variant, made)


def body_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, subtype
    return str(part.get_content())
