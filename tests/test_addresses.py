"""What the form lets into our mail: no spam in names, addresses that the mail can reach, a cap per inbox.

Against the Firestore emulator and a real SMTP server (aiosmtpd): what was stored, and what arrived.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from signup import service
from signup.settings import Settings

from dev import processes
from dev.mailbox import Mailbox
from tests.conftest import session_fields
from tests.support import calendar_of, mail_state, serve, sign_up

Registrations = Callable[[str], list[dict[str, Any]]]
SPAM = "Win een prijs: https://evil.example/claim"


class OptionsMailbox(Mailbox):
    """The test mailbox, also keeping the options of each MAIL FROM (SMTPUTF8, BODY=8BITMIME)."""

    mail_options: list[list[str]]

    def __init__(self) -> None:
        super().__init__()
        self.mail_options = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.mail_options.append(list(envelope.mail_options))
        return await super().handle_DATA(server, session, envelope)


def relay(smtputf8: bool) -> Iterator[tuple[OptionsMailbox, int]]:
    box, port = OptionsMailbox(), processes.free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8, decode_data=False)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def utf8_relay() -> Iterator[tuple[OptionsMailbox, int]]:
    yield from relay(smtputf8=True)


@pytest.fixture
def ascii_relay() -> Iterator[tuple[OptionsMailbox, int]]:
    yield from relay(smtputf8=False)


def register(db: Any, **settings: Any) -> Any:
    """`register` with settings of the test's choosing."""
    return serve(service.build(replace(Settings.from_env(), **settings), client=db))


def sign_up_through_utf8_relay(db: Any, session_id: str, address: str) -> str:
    """Jöran signs up at a `register` whose relay speaks SMTPUTF8; the registration's id."""
    response = register(db, smtp_utf8=True).post(
        f"/sessions/{session_id}/registrations", json={"first_name": "Jöran", "last_name": "Berg", "email": address}
    )
    assert response.status_code == 201, response.get_json()
    registration_id: str = response.get_json()["id"]
    return registration_id


def notifier(db: Any, port: int, **settings: Any) -> Any:
    return service.build_notifier(
        replace(Settings.from_env(), smtp_url=f"smtp://127.0.0.1:{port}", **settings), client=db
    )


def later_the_same_day(moment: datetime) -> datetime:
    """An hour after `moment`, or halfway to its midnight (UTC, the cap's day) when that comes sooner: a run near
    midnight would otherwise sweep in the next day, under a cap of its own."""
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
    return moment + min(timedelta(hours=1), (midnight - moment) / 2)


@pytest.mark.parametrize(
    ("moment", "later"),
    [
        (datetime(2026, 12, 7, 12, 0, tzinfo=UTC), datetime(2026, 12, 7, 13, 0, tzinfo=UTC)),
        (datetime(2026, 12, 7, 23, 56, tzinfo=UTC), datetime(2026, 12, 7, 23, 58, tzinfo=UTC)),
    ],
)
def test_later_the_same_day_stays_in_the_day(moment: datetime, later: datetime) -> None:
    assert later_the_same_day(moment) == later


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=5)


@pytest.mark.parametrize("field", ["first_name", "last_name", "organisation"])
def test_a_name_that_carries_a_link_is_refused_stores_nothing_and_mails_nothing(
    client: Any,
    notifier: Any,
    inbox: Mailbox,
    make_session: Callable[..., str],
    registrations: Registrations,
    field: str,
) -> None:
    session_id = make_session()

    response = client.post(
        f"/sessions/{session_id}/registrations",
        json={"first_name": "Jan", "last_name": "Berg", "email": "slachtoffer@example.nl", field: SPAM},
    )
    notifier.sweep(soon())

    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        field: "Een webadres (zoals www.… of voorbeeld.nl) kan hier niet: wat je hier invult, komt in onze e-mails."
    }
    assert registrations(session_id) == []
    assert inbox.received == []


def test_a_non_ascii_local_part_is_refused_at_the_form_when_the_relay_speaks_no_smtputf8(
    client: Any, make_session: Callable[..., str], registrations: Registrations
) -> None:
    session_id = make_session()

    response = client.post(
        f"/sessions/{session_id}/registrations",
        json={"first_name": "Jöran", "last_name": "Berg", "email": "jöran@example.nl"},
    )

    assert response.status_code == 422
    assert response.get_json()["errors"]["email"].startswith("Naar dit e-mailadres kunnen we niet mailen")
    assert registrations(session_id) == []


def test_an_internationalised_domain_goes_out_in_punycode_in_the_envelope_and_the_headers(
    client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    registration_id = sign_up(client, session_id, email="info@Bücher.example")["id"]

    notifier.sweep(soon())

    [received] = inbox.received
    assert received.recipients == ["info@xn--bcher-kva.example"]
    assert received.message["To"].addresses[0].addr_spec == "info@xn--bcher-kva.example"
    assert received.message["To"].addresses[0].display_name == "Jan van der Berg"
    assert received.raw.isascii()
    [event] = calendar_of(received.message).walk("VEVENT")
    assert str(event["ATTENDEE"]) == "mailto:info@xn--bcher-kva.example"
    stored = db.collection("sessions").document(session_id).collection("registrations").document(registration_id)
    assert stored.get().get("email") == "info@bücher.example"  # stored as typed (normalised), not as sent
    assert mail_state(db, session_id, registration_id)["state"] == "sent"


def test_with_smtp_utf8_a_non_ascii_local_part_is_accepted_and_really_goes_out_with_smtputf8(
    db: Any, make_session: Callable[..., str], utf8_relay: tuple[OptionsMailbox, int]
) -> None:
    box, port = utf8_relay
    session_id = make_session()
    registration_id = sign_up_through_utf8_relay(db, session_id, "jöran@bücher.example")

    notifier(db, port, smtp_utf8=True).sweep(soon())

    [received] = box.received
    assert received.recipients == ["jöran@xn--bcher-kva.example"]
    assert "SMTPUTF8" in box.mail_options[0]
    # An SMTPUTF8 mail's headers are UTF-8 as they stand (RFC 6532), not encoded words.
    headers = email.message_from_string(received.raw.decode("utf-8"), policy=email.policy.default)
    assert headers["To"].addresses[0].addr_spec == "jöran@xn--bcher-kva.example"
    assert headers["To"].addresses[0].display_name == "Jöran Berg"
    assert mail_state(db, session_id, registration_id)["state"] == "sent"


@pytest.mark.parametrize(
    ("notifier_utf8", "reason"),
    [
        (False, "needs a relay that speaks SMTPUTF8"),  # SMTP_UTF8 turned off after the sign-up
        (True, "SMTPUTF8"),  # SMTP_UTF8 says yes, but the relay does not
    ],
)
def test_a_non_ascii_local_part_that_cannot_go_fails_for_good_with_the_reason(
    db: Any,
    make_session: Callable[..., str],
    ascii_relay: tuple[OptionsMailbox, int],
    notifier_utf8: bool,
    reason: str,
) -> None:
    box, port = ascii_relay
    session_id = make_session()
    registration_id = sign_up_through_utf8_relay(db, session_id, "jöran@example.nl")

    report = notifier(db, port, smtp_utf8=notifier_utf8).sweep(soon())

    assert box.received == []
    assert report.outcomes == {"failed": 1}
    mail = mail_state(db, session_id, registration_id)
    assert mail["state"] == "failed"
    assert reason in mail["last_error"]


VARIANTS = ["target+0@example.nl", "Target+1@example.nl", "target@EXAMPLE.NL", "TARGET+nieuwsbrief@example.nl"]


def test_the_daily_cap_counts_the_mailbox_across_subaddresses_and_case(
    client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
) -> None:
    make_session()  # an empty database
    capped = service.build_notifier(replace(Settings.from_env(), mail_cap_per_day=2), client=db)
    signed_up = []
    for n, address in enumerate(VARIANTS):
        session_id = f"s-cap-{n}"
        db.collection("sessions").document(session_id).set(session_fields())
        signed_up.append((session_id, sign_up(client, session_id, email=address)["id"]))
    sign_up(client, "s-cap-0", email="other@example.nl")

    first_at = soon()
    first = capped.sweep(first_at)
    # A day's cap holds across sweeps too: one more variant, an hour later the same day, is still over it.
    db.collection("sessions").document("s-cap-late").set(session_fields())
    late = sign_up(client, "s-cap-late", email="target+later@example.nl")["id"]
    later = capped.sweep(later_the_same_day(first_at))

    recipients = [r.recipients[0] for r in inbox.received]
    assert len([r for r in recipients if r != "other@example.nl"]) == 2
    assert recipients.count("other@example.nl") == 1
    assert first.outcomes == {"sent": 3, "skipped": 2}
    assert later.outcomes == {"skipped": 1}
    assert mail_state(db, "s-cap-late", late)["state"] == "skipped"
    states = sorted(mail_state(db, session_id, registration_id)["state"] for session_id, registration_id in signed_up)
    assert states == ["sent", "sent", "skipped", "skipped"]
    # The cap folds only for counting: each registration keeps the address as it was typed.
    stored = [
        db.collection("sessions").document(s).collection("registrations").document(r).get().get("email")
        for s, r in signed_up
    ]
    assert stored == [
        "target+0@example.nl",
        "Target+1@example.nl",
        "target@example.nl",
        "TARGET+nieuwsbrief@example.nl",
    ]
