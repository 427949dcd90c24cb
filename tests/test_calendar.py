"""Calendars that stay right: invitations, updates and cancellations as RFC 5545/5546 and ical.js read them."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
from signup.errors import MisconfiguredError
from signup.ledger.mailkeys import Template
from signup.ledger.session import parse_session
from signup.mail.compose.calendar import ics
from signup.mail.compose.mails import Recipient
from signup.organisers import cli

from dev.mailbox import Mailbox
from tests.conftest import ROOT, cancel_token, current_generation, session_fields
from tests.mail_samples import MAILS, NOW, STARTS, VARIANTS, compose, composer, session
from tests.support import SUMMER, calendar_of, parts, sign_up

ICALJS = ROOT / "tests/icaljs"
NODE = shutil.which("node") or "/usr/bin/node"
SENDER = "sessies@example.nl"  # MAIL_FROM's address in the tests


def calendars(inbox: Mailbox, address: str = "jan@example.nl") -> list[tuple[EmailMessage, icalendar.Calendar]]:
    """The mails to `address` that carry an invitation, in the order they arrived, with it parsed."""
    messages = [r.message for r in inbox.received if r.recipients == [address]]
    return [(m, calendar_of(m)) for m in messages if any(p.get_content_type() == "text/calendar" for p in m.walk())]


def event_of(calendar: icalendar.Calendar) -> Any:
    [event] = calendar.walk("VEVENT")
    return event


def read_with_icaljs(tmp_path: Path, calendars: list[icalendar.Calendar]) -> list[dict[str, Any]]:
    """What Mozilla's ical.js (Thunderbird's parser) makes of each calendar; `make install` installs it."""
    assert (ICALJS / "node_modules/ical.js").is_dir(), "run `make install`: it installs ical.js into tests/icaljs"
    files = []
    for number, calendar in enumerate(calendars):
        files.append(tmp_path / f"{number}.ics")
        files[-1].write_bytes(calendar.to_ical())
    done = subprocess.run(
        [NODE, "read.mjs", *map(str, files)], cwd=ICALJS, capture_output=True, text=True, check=True, timeout=60
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


class TestTheWholeChain:
    def test_invite_change_cancel_and_sign_up_again_only_ever_raise_the_sequence_of_a_uid(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str], tmp_path: Path
    ) -> None:
        session_id = make_session(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
        session_ref = db.collection("sessions").document(session_id)
        first = sign_up(client, session_id)
        later = datetime.now(UTC) + timedelta(seconds=5)
        notifier.registration_written(session_id, first["id"])
        # The organiser moves the session an hour on: the session's revision goes up, the invitation goes again.
        session_ref.update({"starts_at": SUMMER + timedelta(hours=1), "revision": 1})
        assert cli.main(["resend", session_id, first["id"]], out=io.StringIO()) == 0
        notifier.sweep(later)
        client.post(f"/cancel/{cancel_token(session_id, first['id'])}")
        notifier.sweep(later)
        first_generation = current_generation(session_id, first["id"])
        again = sign_up(client, session_id)  # replaces the cancelled registration, a generation on
        notifier.registration_written(session_id, again["id"])

        mails = calendars(inbox)
        seen = [(cal["METHOD"], str(event_of(cal)["UID"]), int(event_of(cal)["SEQUENCE"])) for _, cal in mails]
        old = f"{first['id']}.{first_generation}.{session_id}@example.nl"
        new = f"{first['id']}.{current_generation(session_id, first['id'])}.{session_id}@example.nl"
        assert again["id"] == first["id"]
        assert seen == [("REQUEST", old, 0), ("REQUEST", old, 2), ("CANCEL", old, 3), ("REQUEST", new, 2)]
        assert event_of(mails[1][1]).decoded("DTSTART") == SUMMER + timedelta(hours=1)
        assert event_of(mails[2][1])["STATUS"] == "CANCELLED"
        read = read_with_icaljs(tmp_path, [cal for _, cal in mails])
        assert [(r["method"], r["uid"], r["sequence"]) for r in read] == seen
        assert read[1]["start"] == "2036-06-10T15:00:00.000Z"
        assert [r["status"] for r in read] == ["CONFIRMED", "CONFIRMED", "CANCELLED", "CONFIRMED"]


class TestTheInvitation:
    def test_names_the_organiser_sent_by_our_sender_the_attendee_by_name_and_no_cancel_link(
        self, client: Any, notifier: Any, inbox: Mailbox, make_session: Callable[..., str], tmp_path: Path
    ) -> None:
        session_id = make_session(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
        answer = sign_up(client, session_id)

        notifier.registration_written(session_id, answer["id"])

        [(message, calendar)] = calendars(inbox)
        event = event_of(calendar)
        text, html = parts(message)
        description = str(event["DESCRIPTION"])
        page = f"http://signup.test/sessions/{session_id}"
        assert str(event["ORGANIZER"]) == "mailto:anna@example.nl"
        assert event["ORGANIZER"].params["CN"] == "Anna de Vries"
        assert event["ORGANIZER"].params["SENT-BY"] == "mailto:sessies@example.nl"
        assert str(event["ATTENDEE"]) == "mailto:jan@example.nl"
        assert event["ATTENDEE"].params["CN"] == "Jan van der Berg"
        assert str(event["UID"]).endswith("@example.nl")
        assert description.startswith("Je bent aangemeld voor deze sessie.")
        assert description.endswith(f"Over de sessie: {page}")
        assert "/cancel/" not in description
        [google] = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Zet in je Google Agenda")]
        details = parse_qs(urlsplit(google).query)["details"]
        assert details == [description]
        assert "/cancel/" in text  # the mail itself still has the cancel link, where only the person sees it
        assert "/cancel/" in html
        [read] = read_with_icaljs(tmp_path, [calendar])
        assert read["organizer"] == "mailto:anna@example.nl"
        assert read["sent_by"] == "mailto:sessies@example.nl"
        assert (read["attendee"], read["attendee_cn"], read["partstat"]) == (
            "mailto:jan@example.nl",
            "Jan van der Berg",
            "ACCEPTED",
        )
        assert read["description"] == description

    @pytest.mark.parametrize(
        ("organiser", "expected", "sent_by"),
        [
            (None, ("mailto:sessies@example.nl", "Strategiesessies"), None),
            ({"name": "Sessies", "email": "Sessies@Example.nl"}, ("mailto:sessies@example.nl", "Sessies"), None),
            (
                {"name": "Anna", "email": "anna@example.nl"},
                ("mailto:anna@example.nl", "Anna"),
                "mailto:sessies@example.nl",
            ),
        ],
    )
    def test_has_an_organizer_and_declares_sent_by_only_when_another_address_sends(
        self,
        client: Any,
        notifier: Any,
        inbox: Mailbox,
        make_session: Callable[..., str],
        organiser: dict[str, str] | None,
        expected: tuple[str, str],
        sent_by: str | None,
    ) -> None:
        session_id = make_session(organiser=organiser)
        answer = sign_up(client, session_id)

        notifier.registration_written(session_id, answer["id"])

        [(_, calendar)] = calendars(inbox)
        organizer = event_of(calendar)["ORGANIZER"]
        assert (str(organizer).lower(), organizer.params["CN"]) == expected
        assert organizer.params.get("SENT-BY") == sent_by


@pytest.mark.parametrize("revision", ["2", -1, 1.5, True])
def test_a_session_revision_that_cannot_work_names_itself(revision: object) -> None:
    with pytest.raises(MisconfiguredError, match="revision"):
        parse_session("s1", session_fields(revision=revision))


def shape(part: Any) -> Any:
    """What a mail is made of, as a mail client walks it: each part's type (and a calendar's method, an
    attachment's file name), multiparts with their parts."""
    if part.is_multipart():
        return (part.get_content_type(), [shape(each) for each in part.iter_parts()])
    name = part.get_content_type()
    if part.get_param("method"):
        name += f"; method={part.get_param('method')}"
    if part.get_content_disposition() == "attachment":
        name += f"; {part.get_filename()}"
    return name


def invitation(method: str, filename: str) -> Any:
    """An invitation as Google Calendar and Outlook send one: text, HTML and the calendar as alternatives, and the
    same calendar as an attachment."""
    body = ("multipart/alternative", ["text/plain", "text/html", f"text/calendar; method={method}"])
    return ("multipart/mixed", [body, f"application/ics; {filename}"])


PLAIN = ("multipart/alternative", ["text/plain", "text/html"])
CARRIES = {
    (Template.CONFIRMED, "nl"): invitation("REQUEST", "uitnodiging.ics"),
    (Template.CONFIRMED, "en"): invitation("REQUEST", "invitation.ics"),
    (Template.PROMOTED, "nl"): invitation("REQUEST", "uitnodiging.ics"),
    (Template.PROMOTED, "en"): invitation("REQUEST", "invitation.ics"),
    (Template.CHANGED, "nl"): invitation("REQUEST", "uitnodiging.ics"),
    (Template.CHANGED, "en"): invitation("REQUEST", "invitation.ics"),
    (Template.CANCELLED, "nl"): invitation("CANCEL", "annulering.ics"),
    (Template.CANCELLED, "en"): invitation("CANCEL", "cancellation.ics"),
    (Template.SESSION_CANCELLED, "nl"): invitation("CANCEL", "annulering.ics"),
    (Template.SESSION_CANCELLED, "en"): invitation("CANCEL", "cancellation.ics"),
}


class TestWhatEachMailCarries:
    @pytest.mark.parametrize(("kind", "language"), MAILS)
    def test_an_invitation_or_its_cancellation_as_calendars_expect_it_and_nothing_in_the_other_mails(
        self, kind: Template, language: str
    ) -> None:
        assert shape(compose(kind, language)) == CARRIES.get((kind, language), PLAIN)

    def test_ical_js_reads_every_calendar_part_in_the_sessions_own_zone_with_its_vtimezone(
        self, tmp_path: Path
    ) -> None:
        carried = [(kind, language, calendar_of(compose(kind, language))) for kind, language in CARRIES]

        read = read_with_icaljs(tmp_path, [calendar for _, _, calendar in carried])

        for (kind, _, calendar), seen in zip(carried, read, strict=True):
            method = "CANCEL" if kind in (Template.CANCELLED, Template.SESSION_CANCELLED) else "REQUEST"
            assert (seen["method"], seen["timezones"]) == (method, ["Europe/Amsterdam"])
            assert seen["start_tzid"] == "Europe/Amsterdam"
            assert (seen["start"], seen["end"]) == ("2036-06-10T14:00:00.000Z", "2036-06-10T16:00:00.000Z")
            assert seen["start_local"] == "2036-06-10T16:00:00"
            assert seen["uid"] == "r-1.7.s-1@example.nl"
            assert event_of(calendar).decoded("DTSTART") == STARTS

    def test_a_waiting_list_notice_carries_no_calendar_for_who_holds_no_seat(self) -> None:
        made = composer()
        waiting = Recipient("s-1", "r-1", "Jan", "", "Berg", "jan@example.nl", had_seat=False)
        for kind in (Template.CHANGED, Template.SESSION_CANCELLED, Template.CANCELLED):
            mail = made.compose(kind, session("nl", VARIANTS[0], kind), waiting, message_id="<a.b@example.nl>", now=NOW)
            assert shape(mail) == PLAIN


def invitation_in(zone: str, starts: datetime) -> icalendar.Calendar:
    """The invitation to a two-hour session in `zone` starting at `starts`."""
    fields = session_fields(timezone=zone, starts_at=starts, ends_at=starts + timedelta(hours=2))
    made = ics(
        parse_session("s-1", fields),
        uid="r-1.7.s-1@example.nl",
        attendee=Address("Jan van der Berg", "jan", "example.nl"),
        sender=Address("Strategiesessies", "sessies", "example.nl"),
        stamp=NOW,
    )
    return icalendar.Calendar.from_ical(made)


def rule(observance: Any) -> str | None:
    """An observance's yearly rule as written, if it has one."""
    return bytes(observance["RRULE"].to_ical()).decode() if "RRULE" in observance else None


class TestTheTimeZone:
    def test_is_one_standard_and_one_daylight_rule_a_year_as_outlook_keeps_a_zone(self) -> None:
        [zone] = invitation_in("Europe/Amsterdam", STARTS).walk("VTIMEZONE")

        observances = {
            part.name: (rule(part), part.decoded("TZOFFSETFROM"), part.decoded("TZOFFSETTO"))
            for part in zone.subcomponents
        }
        assert len(zone.subcomponents) == 2
        assert observances == {
            "DAYLIGHT": ("FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3", timedelta(hours=1), timedelta(hours=2)),
            "STANDARD": ("FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10", timedelta(hours=2), timedelta(hours=1)),
        }
        assert [part.get("RDATE") for part in zone.subcomponents] == [None, None]

    @pytest.mark.parametrize(
        ("zone", "rules"),
        [
            ("Asia/Tokyo", [None]),
            ("America/New_York", ["FREQ=YEARLY;BYDAY=2SU;BYMONTH=3", "FREQ=YEARLY;BYDAY=1SU;BYMONTH=11"]),
        ],
    )
    def test_follows_each_zones_own_rule_and_one_without_summer_time_has_none(
        self, zone: str, rules: list[str | None]
    ) -> None:
        [found] = invitation_in(zone, STARTS).walk("VTIMEZONE")

        assert [rule(part) for part in found.subcomponents] == rules

    def test_ical_js_puts_each_session_at_its_moment_in_summer_and_winter_north_and_south(self, tmp_path: Path) -> None:
        zones = ["Europe/Amsterdam", "America/New_York", "Australia/Sydney", "Asia/Tokyo", "Asia/Jerusalem"]
        moments = [datetime(2036, month, day, 14, 0, tzinfo=UTC) for month, day in ((1, 15), (3, 31), (7, 1), (10, 27))]
        cases = [(zone, moment) for zone in zones for moment in moments]

        read = read_with_icaljs(tmp_path, [invitation_in(zone, moment) for zone, moment in cases])

        for (zone, moment), seen in zip(cases, read, strict=True):
            assert seen["start"] == moment.isoformat().replace("+00:00", ".000Z"), zone
            assert seen["start_local"] == moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S"), zone
