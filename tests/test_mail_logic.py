"""Pure logic of the mail workflow: SMTP settings, events, which mail applies, when a mail is due."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from signup.errors import MisconfiguredError
from signup.ledger import outbox
from signup.ledger.mailkeys import hours_of, reminder_key
from signup.mail import events
from signup.mail.compose.mails import parse_sender
from signup.mail.transport.smtp import SmtpServer
from signup.names import full_name

from tests import events as sample_events

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "password", "expected"),
    [
        ("smtp://mail.example.nl", None, SmtpServer("mail.example.nl", 25, False, None, None)),
        ("smtp://user@mail.example.nl:587", "secret", SmtpServer("mail.example.nl", 587, False, "user", "secret")),
        ("smtps://user:p%40ss@mail.example.nl", None, SmtpServer("mail.example.nl", 465, True, "user", "p@ss")),
        ("smtps://user:url@mail.example.nl:2465", "env", SmtpServer("mail.example.nl", 2465, True, "user", "env")),
    ],
)
def test_smtp_url_is_read_with_the_password_from_the_url_or_the_environment(
    url: str, password: str | None, expected: SmtpServer
) -> None:
    assert SmtpServer.from_url(url, password) == expected


@pytest.mark.parametrize("url", ["http://mail.example.nl", "mail.example.nl:25", "smtp://", "smtp://host:notaport"])
def test_a_malformed_smtp_url_names_itself(url: str) -> None:
    with pytest.raises(MisconfiguredError, match="SMTP_URL"):
        SmtpServer.from_url(url)


@pytest.mark.parametrize("mail_from", ["", "no address", "Name <>"])
def test_a_malformed_sender_names_itself(mail_from: str) -> None:
    with pytest.raises(MisconfiguredError, match="MAIL_FROM"):
        parse_sender(mail_from)


@pytest.mark.parametrize(
    ("parts", "written"),
    [
        (("Jan", "van der", "Berg"), "Jan van der Berg"),
        (("Anna", "", "Jansen"), "Anna Jansen"),
        (("Kees", "van 't", "Hoff"), "Kees van 't Hoff"),
    ],
)
def test_names_are_written_the_dutch_way(parts: tuple[str, str, str], written: str) -> None:
    assert full_name(*parts) == written


def test_a_created_event_without_a_readable_body_names_the_registration_for_notify_to_read() -> None:
    headers, _ = sample_events.created("s1", "r1")
    event = {"type": headers["ce-type"], "subject": headers["ce-subject"], "document": headers["ce-document"]}

    assert events.read(event) == events.RegistrationWritten("s1", "r1", events.Change())


class _Event(dict[str, Any]):
    """A CloudEvent as functions-framework hands it over: attributes by key, the body as `data`."""

    def __init__(self, headers_and_body: tuple[dict[str, str], bytes]) -> None:
        headers, self.data = headers_and_body
        super().__init__(type=headers["ce-type"], subject=headers["ce-subject"])


def test_a_written_event_carries_the_document_before_and_after() -> None:
    before = {"title": "Oud", "starts_at": NOW, "location": {"name": "Zaal 1"}, "tags": ["a", 2], "gone": None}
    after = {"title": "Nieuw", "capacity": 12, "ratio": 0.5, "open": True}

    read = events.read(_Event(sample_events.written("sessions/s1", before, after)))

    assert read == events.SessionWritten("s1", events.Change(old=before, new=after, known=True))


def test_a_deleted_registration_is_known_to_be_gone() -> None:
    read = events.read(_Event(sample_events.written("sessions/s1/registrations/r1", {"status": "confirmed"}, None)))

    assert read == events.RegistrationWritten("s1", "r1", events.Change(old={"status": "confirmed"}, known=True))


def test_a_body_that_is_not_protobuf_leaves_the_document_unknown() -> None:
    assert events.change(b"\xff\xff not protobuf") == events.Change()
    assert events.change(base64.b64encode(b"anything")) == events.Change()


def test_a_tick_carries_its_own_time() -> None:
    assert events.read({"type": events.TICK, "time": "2026-06-01T12:00:00Z"}) == events.Tick(NOW)


@pytest.mark.parametrize(
    "event",
    [
        {"type": events.CREATED, "subject": "documents/sessions/s1/seats/3"},
        {"type": events.CREATED, "subject": "documents/other/x/registrations/y"},
        {"type": "google.cloud.storage.object.v1.finalized"},
    ],
)
def test_events_that_are_not_ours_are_ignored(event: dict[str, Any]) -> None:
    assert events.read(event) is None


@pytest.mark.parametrize(("hours", "key"), [(24, "reminder_24h"), (2.0, "reminder_2h"), (1.5, "reminder_90m")])
def test_reminder_keys_are_field_names_and_read_back(hours: float, key: str) -> None:
    assert reminder_key(hours) == key
    assert hours_of(key) == hours


@pytest.mark.parametrize(
    ("mail", "due"),
    [
        ({"state": "pending", "attempts": 0, "next_attempt_at": NOW + timedelta(hours=1)}, True),
        ({"state": "pending", "attempts": 2, "next_attempt_at": NOW + timedelta(minutes=1)}, False),
        ({"state": "pending", "attempts": 2, "next_attempt_at": NOW - timedelta(minutes=1)}, True),
        ({"state": "sending", "lease_until": NOW + timedelta(seconds=1)}, False),
        ({"state": "sending", "lease_until": NOW - timedelta(seconds=1)}, True),
        ({"state": "sent"}, False),
        ({"state": "failed"}, False),
        ({"state": "skipped"}, False),
    ],
)
def test_a_mail_is_due_when_pending_and_its_time_has_come_or_its_lease_ran_out(mail: dict[str, Any], due: bool) -> None:
    assert outbox.is_due(mail, NOW) is due


@pytest.mark.parametrize(
    ("mail", "clock", "due"),
    [
        ({"state": "sending", "lease_until": NOW - timedelta(hours=1)}, NOW - timedelta(hours=2), False),
        ({"state": "sending", "lease_until": NOW - timedelta(hours=1)}, NOW, True),
        ({"state": "pending", "attempts": 2, "next_attempt_at": NOW}, NOW - timedelta(hours=2), True),
    ],
)
def test_a_lease_runs_out_by_the_clock_whatever_moment_a_tick_stands_for(
    mail: dict[str, Any], clock: datetime, due: bool
) -> None:
    assert outbox.is_due(mail, NOW, clock) is due


def test_the_registration_is_next_due_at_its_earliest_mail() -> None:
    emails: dict[str, dict[str, Any]] = {
        "confirmation": {"state": "sent"},
        "reminder_24h": {"state": "pending", "next_attempt_at": NOW + timedelta(hours=2)},
        "promotion": {"state": "sending", "lease_until": NOW + timedelta(minutes=1)},
    }

    assert outbox.next_due(emails, NOW) == NOW + timedelta(minutes=1)
    assert outbox.next_due({"confirmation": {"state": "sent"}}, NOW) is None


SEATED = NOW - timedelta(days=2)
SENT = {"state": "sent", "sent_at": SEATED + timedelta(seconds=3)}


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ("anna@example.nl", "anna@example.nl"),
        (" mailto:antwoord@example.nl ", "antwoord@example.nl"),
        ("MAILTO:antwoord@example.nl", "antwoord@example.nl"),
        (None, None),
        ("", None),
        ({"a": 1}, None),
        (12, None),
        ("anna", None),
        ("anna@example.nl\r\nX-Evil: 1", None),
        ("anna @example.nl", None),
    ],
)
def test_the_recorded_organizer_is_read_where_it_is_an_address(stored: Any, read: str | None) -> None:
    assert outbox.organizer_of({"calendar_organizer": stored}) == read


@pytest.mark.parametrize(
    ("registration", "unrecorded"),
    [
        ({"confirmed_at": SEATED, "emails": {"confirmation": SENT}}, True),
        ({"confirmed_at": SEATED, "emails": {"promotion": SENT}}, True),
        ({"confirmed_at": SEATED, "emails": {"confirmation": SENT}, "calendar_organizer": "a@example.nl"}, False),
        ({"confirmed_at": SEATED, "emails": {"confirmation": {**SENT, "sent_at": SEATED - timedelta(days=1)}}}, False),
        ({"confirmed_at": SEATED, "emails": {"confirmation": {"state": "pending"}}}, False),
        ({"confirmed_at": None, "emails": {"confirmation": SENT}}, False),
        ({"confirmed_at": "gisteren", "emails": {"confirmation": SENT}}, False),
        ({"confirmed_at": SEATED, "emails": {"reminder_24h": SENT}}, False),
    ],
    ids=[
        "confirmed",
        "promoted",
        "recorded",
        "told-of-the-waiting-list-only",
        "not-sent",
        "never-seated",
        "typed-in-time",
        "reminder-only",
    ],
)
def test_an_entry_sent_before_organizers_were_recorded_is_known_by_its_invitation_sent_with_a_seat(
    registration: dict[str, Any], unrecorded: bool
) -> None:
    assert outbox.invited_unrecorded(registration) is unrecorded


@pytest.mark.parametrize(
    ("registration", "outcomes", "written"),
    [
        ({}, [outbox.Outcome(outbox.MailState.SENT, organizer="a@example.nl")], {"calendar_organizer": "a@example.nl"}),
        ({}, [outbox.Outcome(outbox.MailState.SENT)], {}),
        ({}, [outbox.Outcome(outbox.MailState.PENDING, "421", organizer="a@example.nl")], {}),
        ({}, [outbox.Outcome(outbox.MailState.FAILED, "550", organizer="a@example.nl")], {}),
        ({"calendar_organizer": "b@example.nl"}, [outbox.Outcome(outbox.MailState.SENT, organizer="a@example.nl")], {}),
        (
            {"calendar_organizer": {"typed": "in"}},
            [outbox.Outcome(outbox.MailState.SENT, organizer="a@example.nl")],
            {"calendar_organizer": "a@example.nl"},
        ),
    ],
    ids=["sent", "no-entry", "pending", "failed", "kept-already", "unreadable-replaced"],
)
def test_the_organizer_of_the_first_entry_that_went_is_kept(
    registration: dict[str, Any], outcomes: list[outbox.Outcome], written: dict[str, Any]
) -> None:
    assert outbox.kept_organizer(registration, outcomes) == written
