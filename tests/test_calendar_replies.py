"""A decline in a calendar is not lost: with CALENDAR_REPLY_ADDRESS, invitations name it as their ORGANIZER, the mail
provider posts the REPLY that Gmail or Outlook sends there to `register`, and the person is asked by mail, at their
own address, whether to cancel (the cancel link); a decline cancels nothing by itself, whoever sent it. Replies are
built here as Gmail and Outlook build them."""

from __future__ import annotations

import base64
import io
import textwrap
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from pathlib import Path
from typing import Any

import icalendar
import pytest
from google.cloud import firestore
from hypothesis import given, settings
from hypothesis import strategies as st
from signup.http import inbound
from signup.keys import KeyRing
from signup.ledger.mailkeys import Template
from signup.ledger.session import parse_session
from signup.mail.compose import calendar
from signup.mail.events import Change
from signup.organisers import cli
from signup.service import build_notifier
from signup.settings import Settings
from signup.tokens import RegistrationRef

from dev.mailbox import Mailbox
from tests.conftest import PUBLIC_BASE_URL, SIGNING_KEY, current_generation, session_fields
from tests.mail_samples import compose
from tests.support import JAN, SUMMER, calendar_of, cancel, parts, sign_up, token_in
from tests.test_calendar import read_with_icaljs
from tests.test_changes import edit

REPLIES = "antwoord@example.nl"
SECRET = inbound.url_secret(KeyRing.parse(SIGNING_KEY))
# Posts of one decline that arrive together (a provider that retries while the first post is still running).
AT_ONCE = 6


def mime(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


def uid(session_id: str, registration_id: str) -> str:
    return f"{registration_id}.{current_generation(session_id, registration_id)}.{session_id}@example.nl"


def gmail_reply(event_uid: str, attendee: str = "jan@example.nl", partstat: str = "DECLINED") -> bytes:
    """What Gmail sends when Jan clicks "No" under the invitation: the REPLY as the third alternative (7bit) and
    again as invite.ics."""
    ics = textwrap.dedent(f"""\
        BEGIN:VCALENDAR
        PRODID:-//Google Inc//Google Calendar 70.9054//EN
        VERSION:2.0
        CALSCALE:GREGORIAN
        METHOD:REPLY
        BEGIN:VEVENT
        DTSTART:20360610T140000Z
        DTEND:20360610T160000Z
        DTSTAMP:20360601T090000Z
        ORGANIZER;CN=Anna de Vries:mailto:{REPLIES}
        UID:{event_uid}
        ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};CN=Jan van der Berg;X-NUM-GUESTS=0:
         mailto:{attendee}
        CREATED:20360601T080000Z
        LAST-MODIFIED:20360601T090000Z
        LOCATION:Grand Café Genieten
        SEQUENCE:0
        STATUS:CONFIRMED
        SUMMARY:Strategiesessie
        TRANSP:OPAQUE
        END:VEVENT
        END:VCALENDAR
        """).replace("\n", "\r\n")
    attached = base64.encodebytes(ics.encode()).decode()
    return mime(
        "MIME-Version: 1.0",
        "Date: Sun, 1 Jun 2036 11:00:00 +0200",
        "Message-ID: <CAF=abc123@mail.gmail.com>",
        "Subject: Declined: Strategiesessie @ Tue Jun 10, 2036 4pm - 6pm (CEST) (Jan van der Berg)",
        f"From: Jan van der Berg <{attendee}>",
        f"To: {REPLIES}",
        'Content-Type: multipart/mixed; boundary="000000000000a1b2"',
        "",
        "--000000000000a1b2",
        'Content-Type: multipart/alternative; boundary="000000000000a1b1"',
        "",
        "--000000000000a1b1",
        'Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes',
        "",
        "Jan van der Berg has declined this invitation.",
        "",
        "--000000000000a1b1",
        'Content-Type: text/html; charset="UTF-8"',
        "",
        "<p>Jan van der Berg has declined this invitation.</p>",
        "",
        "--000000000000a1b1",
        'Content-Type: text/calendar; charset="UTF-8"; method=REPLY',
        "Content-Transfer-Encoding: 7bit",
        "",
        ics,
        "--000000000000a1b1--",
        "",
        "--000000000000a1b2",
        'Content-Type: application/ics; name="invite.ics"',
        'Content-Disposition: attachment; filename="invite.ics"',
        "Content-Transfer-Encoding: base64",
        "",
        attached,
        "--000000000000a1b2--",
    )


def outlook_reply(event_uid: str, attendee: str = "jan@example.nl") -> bytes:
    """What Outlook sends for "Decline" with "Send the response now": text, HTML and the REPLY (base64, in Windows'
    own zone, MAILTO in capitals, a COMMENT, no ORGANIZER) as alternatives."""
    ics = textwrap.dedent(f"""\
        BEGIN:VCALENDAR
        METHOD:REPLY
        PRODID:Microsoft Exchange Server 2010
        VERSION:2.0
        BEGIN:VTIMEZONE
        TZID:W. Europe Standard Time
        BEGIN:STANDARD
        DTSTART:16010101T030000
        TZOFFSETFROM:+0200
        TZOFFSETTO:+0100
        RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
        END:STANDARD
        BEGIN:DAYLIGHT
        DTSTART:16010101T020000
        TZOFFSETFROM:+0100
        TZOFFSETTO:+0200
        RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
        END:DAYLIGHT
        END:VTIMEZONE
        BEGIN:VEVENT
        ATTENDEE;PARTSTAT=DECLINED;CN=Jan van der Berg:MAILTO:{attendee.upper()}
        COMMENT;LANGUAGE=nl-NL:Ik kan helaas niet.\\n
        SUMMARY;LANGUAGE=nl-NL:Geweigerd: Strategiesessie
        DTSTART;TZID=W. Europe Standard Time:20360610T160000
        DTEND;TZID=W. Europe Standard Time:20360610T180000
        UID:{event_uid}
        CLASS:PUBLIC
        PRIORITY:5
        DTSTAMP:20360601T090000Z
        TRANSP:OPAQUE
        STATUS:CONFIRMED
        SEQUENCE:0
        LOCATION;LANGUAGE=nl-NL:Grand Café Genieten
        X-MICROSOFT-CDO-APPT-SEQUENCE:0
        X-MICROSOFT-CDO-BUSYSTATUS:FREE
        X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY
        X-MICROSOFT-CDO-ALLDAYEVENT:FALSE
        X-MICROSOFT-DISALLOW-COUNTER:FALSE
        END:VEVENT
        END:VCALENDAR
        """).replace("\n", "\r\n")
    encoded = base64.encodebytes(ics.encode()).decode()
    return mime(
        f"From: Jan van der Berg <{attendee}>",
        f"To: Anna de Vries <{REPLIES}>",
        "Subject: Geweigerd: Strategiesessie",
        "Thread-Topic: Strategiesessie",
        "Date: Sun, 1 Jun 2036 09:00:00 +0000",
        "Message-ID: <AM0PR01MB1234ABCD@AM0PR01MB1234.eurprd01.prod.exchangelabs.com>",
        "Content-Language: nl-NL",
        'Content-Type: multipart/alternative; boundary="_000_AM0PR01MB1234_"',
        "MIME-Version: 1.0",
        "",
        "--_000_AM0PR01MB1234_",
        'Content-Type: text/plain; charset="us-ascii"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Ik kan helaas niet.",
        "",
        "--_000_AM0PR01MB1234_",
        'Content-Type: text/html; charset="us-ascii"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<html><body><p>Ik kan helaas niet.</p></body></html>",
        "",
        "--_000_AM0PR01MB1234_",
        'Content-Type: text/calendar; charset="utf-8"; method=REPLY',
        "Content-Transfer-Encoding: base64",
        "",
        encoded,
        "--_000_AM0PR01MB1234_--",
    )


def deliver(client: Any, raw: bytes, secret: str = SECRET, **options: Any) -> Any:
    """The mail provider's post of one mail that arrived at the reply address: raw MIME."""
    return client.post(f"/inbound/{secret}", data=raw, content_type="message/rfc822", **options)


def stored(db: Any, session_id: str, registration_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (
        db.collection("sessions", session_id, "registrations").document(registration_id).get().to_dict()
    )
    return data


@pytest.fixture
def seated(client: Any, make_session: Callable[..., str]) -> dict[str, str]:
    """Jan with the one seat, Piet waiting for it."""
    session_id = make_session(capacity=1, starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
    jan = sign_up(client, session_id)
    piet = sign_up(client, session_id, first_name="Piet", infix="", last_name="Jansen", email="piet@example.nl")
    return {"session": session_id, "jan": jan["id"], "piet": piet["id"]}


class TestTheInvitation:
    def test_names_our_reply_address_as_organizer_for_the_organiser_and_asks_for_a_reply(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str], tmp_path: Path
    ) -> None:
        settings = replace(Settings.from_env(), calendar_reply_address=REPLIES)
        session_id = make_session()
        jan = sign_up(client, session_id)

        build_notifier(settings, client=db).registration_written(session_id, jan["id"])

        [message] = [r.message for r in inbox.received]
        [read] = read_with_icaljs(tmp_path, [calendar_of(message)])
        assert (read["organizer"], read["organizer_cn"]) == (f"mailto:{REPLIES}", "Anna de Vries")
        assert read["sent_by"] == "mailto:sessies@example.nl"
        assert (read["partstat"], read["rsvp"]) == ("ACCEPTED", "TRUE")
        assert str(message["Reply-To"]) == "Anna de Vries <anna@example.nl>"  # a written reply still reaches her

    def test_without_a_reply_address_asks_for_no_reply_that_nobody_would_act_on(self, tmp_path: Path) -> None:
        calendar = calendar_of(compose(Template.CONFIRMED, "nl"))

        [read] = read_with_icaljs(tmp_path, [calendar])
        assert (read["organizer"], read["rsvp"]) == ("mailto:anna@example.nl", "FALSE")


@pytest.mark.parametrize(
    ("replies", "organizer"),
    [
        (None, ("mailto:anna@example.nl", "Anna de Vries", "mailto:sessies@example.nl")),
        (REPLIES, (f"mailto:{REPLIES}", "Anna de Vries", "mailto:sessies@example.nl")),
        ("sessies@example.nl", ("mailto:sessies@example.nl", "Anna de Vries", None)),  # replies to our own sender
    ],
)
def test_the_organizer_is_named_for_the_organiser_whichever_address_takes_the_replies(
    replies: str | None, organizer: tuple[str, str, str | None]
) -> None:
    session = parse_session("s1", session_fields())
    made = calendar.ics(
        session,
        uid="r1.1.s1@example.nl",
        attendee=Address("Jan van der Berg", addr_spec="jan@example.nl"),
        sender=Address("Sessies", addr_spec="sessies@example.nl"),
        stamp=SUMMER,
        replies=Address(addr_spec=replies) if replies else None,
    )

    [event] = icalendar.Calendar.from_ical(made).walk("VEVENT")
    named = event["ORGANIZER"]
    assert (str(named), str(named.params["CN"]), named.params.get("SENT-BY")) == organizer
    assert str(event["ATTENDEE"].params["RSVP"]) == ("TRUE" if replies else "FALSE")


def asked(db: Any, session_id: str, registration_id: str) -> dict[str, Any] | None:
    """The mail that asks whether to cancel, as queued on the registration (None: none)."""
    mail: dict[str, Any] | None = (stored(db, session_id, registration_id).get("emails") or {}).get("decline")
    return mail


def unchanged(answer: Any, db: Any, seated: dict[str, str], what: str = "") -> None:
    """The post was answered, and Jan was neither cancelled nor asked anything."""
    assert answer.status_code == 200, what
    assert answer.get_json()["asked"] == 0, what
    assert stored(db, seated["session"], seated["jan"])["status"] == "confirmed", what
    assert asked(db, seated["session"], seated["jan"]) is None, what


def invited(notifier: Any, inbox: Mailbox, seated: dict[str, str]) -> None:
    """Jan's confirmation, with its invitation, goes out (and leaves the inbox empty for what follows)."""
    notifier.registration_written(seated["session"], seated["jan"])
    assert [r.recipients for r in inbox.received] == [["jan@example.nl"]]
    inbox.clear()


class TestADecline:
    @pytest.mark.parametrize("reply", [gmail_reply, outlook_reply], ids=["gmail", "outlook"])
    def test_asks_the_person_at_their_own_address_whether_to_cancel_and_their_answer_cancels(
        self,
        reply: Callable[[str], bytes],
        seated: dict[str, str],
        client: Any,
        db: Any,
        notifier: Any,
        inbox: Mailbox,
    ) -> None:
        session_id, jan = seated["session"], seated["jan"]
        invited(notifier, inbox, seated)

        answer = deliver(client, reply(uid(session_id, jan)))
        notifier.registration_written(session_id, jan)

        assert answer.status_code == 200
        assert answer.get_json() == {"declined": 1, "asked": 1}
        assert stored(db, session_id, jan)["status"] == "confirmed"  # the decline itself cancels nothing
        [mail] = inbox.received
        assert mail.recipients == ["jan@example.nl"]
        assert mail.message["Subject"] == "Afgewezen in je agenda: Strategiesessie"
        text, html = parts(mail.message)
        assert "Je hebt de uitnodiging voor “Strategiesessie” in je agenda afgewezen." in text
        assert "Wil je je aanmelding annuleren?" in text
        link = f"/cancel/{token_in(inbox, 'jan@example.nl')}"
        assert f"Annuleer mijn aanmelding:\n{PUBLIC_BASE_URL}{link}" in text
        assert f'href="{PUBLIC_BASE_URL}{link}"' in html
        page = client.get(link)  # the link's page asks; its button posts
        assert page.status_code == 200
        assert "Ja, annuleer mijn aanmelding" in page.get_data(as_text=True)
        assert stored(db, session_id, jan)["status"] == "confirmed"
        assert client.post(link).status_code == 200
        assert stored(db, session_id, jan)["status"] == "cancelled"
        assert stored(db, session_id, seated["piet"])["status"] == "confirmed"  # promoted to the freed seat

    def test_asks_once_for_a_sign_up_however_often_it_is_declined(
        self, seated: dict[str, str], client: Any, db: Any, notifier: Any, inbox: Mailbox
    ) -> None:
        session_id, jan = seated["session"], seated["jan"]
        invited(notifier, inbox, seated)
        first = deliver(client, gmail_reply(uid(session_id, jan)))
        notifier.registration_written(session_id, jan)

        again = [deliver(client, reply(uid(session_id, jan))) for reply in (gmail_reply, outlook_reply, gmail_reply)]
        notifier.registration_written(session_id, jan)

        assert first.get_json() == {"declined": 1, "asked": 1}
        assert [answer.get_json() for answer in again] == [{"declined": 1, "asked": 0}] * 3
        assert [r.recipients for r in inbox.received] == [["jan@example.nl"]]
        mail = asked(db, session_id, jan) or {}
        assert (mail["state"], mail["attempts"]) == ("sent", 1)

    def test_declines_at_the_same_moment_ask_once(
        self, seated: dict[str, str], app: Any, db: Any, notifier: Any, inbox: Mailbox
    ) -> None:
        session_id, jan = seated["session"], seated["jan"]
        raw = gmail_reply(uid(session_id, jan))
        together = threading.Barrier(AT_ONCE)

        def one(_: int) -> int:
            poster = app.test_client()
            together.wait()
            answer: int = deliver(poster, raw).get_json()["asked"]
            return answer

        with ThreadPoolExecutor(AT_ONCE) as pool:
            answers = list(pool.map(one, range(AT_ONCE)))
        notifier.registration_written(session_id, jan)

        assert sum(answers) == 1
        assert [r.message["Subject"] for r in inbox.received].count("Afgewezen in je agenda: Strategiesessie") == 1

    @pytest.mark.parametrize("field", ["email", "body-mime"], ids=["sendgrid", "mailgun"])
    def test_arrives_as_well_in_the_form_field_where_a_provider_puts_the_raw_mail(
        self, field: str, seated: dict[str, str], client: Any, db: Any
    ) -> None:
        raw = gmail_reply(uid(seated["session"], seated["jan"])).decode()

        answer = client.post(f"/inbound/{SECRET}", data={field: raw, "to": REPLIES})

        assert answer.get_json() == {"declined": 1, "asked": 1}
        assert (asked(db, seated["session"], seated["jan"]) or {}).get("state") == "pending"
        assert stored(db, seated["session"], seated["jan"])["status"] == "confirmed"

    @pytest.mark.parametrize(
        ("what", "reply"),
        [
            ("an acceptance", lambda u: gmail_reply(u, partstat="ACCEPTED")),
            ("a tentative yes", lambda u: gmail_reply(u, partstat="TENTATIVE")),
            ("another address's decline", lambda u: gmail_reply(u, attendee="piet@example.nl")),
            ("a decline of an earlier sign-up", lambda u: gmail_reply(u.replace(".", ".1", 1))),
            ("a decline of another session's invitation", lambda u: gmail_reply(u.replace("@", "x@", 1))),
            ("a mail that is no calendar reply", lambda u: b"Subject: hallo\r\n\r\nGewoon een mail.\r\n"),
            (
                "a calendar that cannot be read",
                lambda u: (
                    gmail_reply(u).split(b"--000000000000a1b2\r\nContent-Type: app")[0].replace(b"END:VEVENT", b"")
                ),
            ),
        ],
    )
    def test_nothing_else_asks_anything(
        self, what: str, reply: Callable[[str], bytes], seated: dict[str, str], client: Any, db: Any
    ) -> None:
        answer = deliver(client, reply(uid(seated["session"], seated["jan"])))

        unchanged(answer, db, seated, what)

    def test_a_post_to_any_other_url_is_not_found_and_asks_nothing(
        self, seated: dict[str, str], client: Any, db: Any
    ) -> None:
        answer = deliver(client, gmail_reply(uid(seated["session"], seated["jan"])), secret="a" * 32)

        assert answer.status_code == 404
        assert asked(db, seated["session"], seated["jan"]) is None

    def test_of_a_registration_cancelled_already_asks_nothing(
        self, seated: dict[str, str], client: Any, db: Any
    ) -> None:
        session_id, jan = seated["session"], seated["jan"]
        event_uid = uid(session_id, jan)
        cancel(client, session_id, jan)

        answer = deliver(client, gmail_reply(event_uid))

        assert answer.get_json() == {"declined": 1, "asked": 0}
        assert asked(db, session_id, jan) is None

    def test_of_a_session_called_off_asks_nothing(self, seated: dict[str, str], client: Any, db: Any) -> None:
        session_id, jan = seated["session"], seated["jan"]
        db.collection("sessions").document(session_id).update({"status": "cancelled", "cancellation_message": ""})

        answer = deliver(client, gmail_reply(uid(session_id, jan)))

        assert answer.get_json() == {"declined": 1, "asked": 0}
        assert asked(db, session_id, jan) is None

    def test_after_the_session_has_ended_asks_nothing(
        self, client: Any, db: Any, make_session: Callable[..., str]
    ) -> None:
        past = datetime.now(UTC) - timedelta(days=1)
        session_id = make_session(starts_at=past - timedelta(hours=2), ends_at=past)
        db.collection("sessions", session_id, "registrations").document("r-1").set(
            {"first_name": "Jan", "last_name": "Berg", "email": "jan@example.nl", "status": "confirmed"}
        )

        answer = deliver(client, gmail_reply(f"r-1.0.{session_id}@example.nl"))

        assert answer.get_json() == {"declined": 1, "asked": 0}
        assert stored(db, session_id, "r-1")["status"] == "confirmed"
        assert asked(db, session_id, "r-1") is None


class TestAForgedDecline:
    """Anyone can write any From, and a UID is no secret: the registration part is in the JSON API's answer for the
    person's address, and calendar entries are shared and forwarded. A forged decline cancels nobody."""

    def test_from_a_strangers_own_address_with_the_id_the_json_api_hands_out_cancels_nobody(
        self, seated: dict[str, str], client: Any, db: Any, notifier: Any, inbox: Mailbox
    ) -> None:
        session_id = seated["session"]
        invited(notifier, inbox, seated)
        # Anyone who types Jan's address into the JSON API is told the id his invitation's UID starts with.
        learned = client.post(f"/sessions/{session_id}/registrations", json=JAN).get_json()["id"]
        forged = gmail_reply(uid(session_id, learned)).replace(
            b"From: Jan van der Berg <jan@example.nl>", b"From: Mallory <mallory@evil.example>"
        )

        answers = [deliver(client, forged) for _ in range(3)]
        notifier.registration_written(session_id, seated["jan"])

        assert learned == seated["jan"]
        assert [answer.get_json() for answer in answers] == [{"declined": 1, "asked": 1}] + [
            {"declined": 1, "asked": 0}
        ] * 2
        assert stored(db, session_id, seated["jan"])["status"] == "confirmed"
        assert stored(db, session_id, seated["piet"])["status"] == "waitlisted"
        # The worst it does: one mail to Jan himself, which asks; nothing reaches the stranger.
        assert [(r.recipients, r.message["Subject"]) for r in inbox.received] == [
            (["jan@example.nl"], "Afgewezen in je agenda: Strategiesessie")
        ]


def nested(depth: int) -> bytes:
    """A mail of multiparts inside multiparts, `depth` deep."""
    opening = "".join(f"Content-Type: multipart/mixed; boundary=b{n}\r\n\r\n--b{n}\r\n" for n in range(depth))
    closing = "".join(f"--b{n}--\r\n" for n in reversed(range(depth)))
    return (opening + "Content-Type: text/plain\r\n\r\nhallo\r\n" + closing).encode()


def broken_timezone(event_uid: str) -> bytes:
    """A REPLY whose VTIMEZONE lost a letter of its BEGIN line, as a mangled mail can have it."""
    return (
        gmail_reply(event_uid)
        .replace(b"METHOD:REPLY\r\n", b"METHOD:REPLY\r\nBGIN:VTIMEZONE\r\nTZID:X\r\nEND:VTIMEZONE\r\n", 1)
        .replace(b"DTSTART:20360610T140000Z", b"DTSTART;TZID=X:2036061UT160000")
    )


class TestWhatAStrangerMails:
    """Anyone can mail the reply address: whatever the provider posts of it gets a 200 and does nothing."""

    @pytest.mark.parametrize(
        ("what", "reply"),
        [
            ("a generation of 5,000 digits", lambda s, r: gmail_reply(f"{r}.{'9' * 5000}.{s}@example.nl")),
            ("a registration id with a slash", lambda s, r: gmail_reply(f"{r}/x.1.{s}@example.nl")),
            ("a registration id Firestore reserves", lambda s, r: gmail_reply(f"__{r}__.1.{s}@example.nl")),
            ("multiparts 1,200 deep", lambda s, r: nested(1200)),
            ("a Content-Type of nested comments", lambda s, r: mime(f"Content-Type: text/plain {'(' * 2000}", "")),
            ("a calendar icalendar trips over", lambda s, r: broken_timezone(f"{r}.1.{s}@example.nl")),
        ],
    )
    def test_is_answered_and_changes_nothing(
        self, what: str, reply: Callable[[str, str], bytes], seated: dict[str, str], client: Any, db: Any
    ) -> None:
        answer = deliver(client, reply(seated["session"], seated["jan"]))

        unchanged(answer, db, seated, what)

    def test_a_mail_of_many_guessed_uids_has_only_its_first_few_tried(
        self, seated: dict[str, str], client: Any, db: Any
    ) -> None:
        session_id, jan = seated["session"], seated["jan"]
        guesses = [f"{jan}.{generation}.{session_id}@example.nl" for generation in range(1000)]
        real = uid(session_id, jan)
        events = "".join(
            f"BEGIN:VEVENT\r\nUID:{each}\r\nATTENDEE;PARTSTAT=DECLINED:mailto:jan@example.nl\r\nEND:VEVENT\r\n"
            for each in [*guesses, real]
        )
        calendar = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REPLY\r\n{events}END:VCALENDAR"

        answer = deliver(client, mime("Content-Type: text/calendar; method=REPLY", "", calendar))

        unchanged(answer, db, seated)
        assert answer.get_json()["declined"] == inbound.MAX_DECLINES


def test_a_decline_of_an_invitation_to_an_internationalised_domain_asks(
    client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
) -> None:
    settings = replace(Settings.from_env(), calendar_reply_address=REPLIES)
    session_id = make_session(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
    jan = sign_up(client, session_id, email="jan@bücher.example")
    build_notifier(settings, client=db).registration_written(session_id, jan["id"])
    [message] = [r.message for r in inbox.received]
    [event] = calendar_of(message).walk("VEVENT")
    invited = str(event["ATTENDEE"]).removeprefix("mailto:")  # the domain in punycode, as the mail went

    answer = deliver(client, gmail_reply(str(event["UID"]), attendee=invited))

    assert invited == "jan@xn--bcher-kva.example"
    assert answer.get_json() == {"declined": 1, "asked": 1}
    assert (asked(db, session_id, jan["id"]) or {}).get("state") == "pending"


def organizer_of(message: Any) -> tuple[str, str, str, int]:
    """The ORGANIZER an invitation names, whether it asks for a reply, its UID and SEQUENCE."""
    [event] = calendar_of(message).walk("VEVENT")
    return (
        str(event["ORGANIZER"]),
        str(event["ATTENDEE"].params["RSVP"]),
        str(event["UID"]),
        int(str(event["SEQUENCE"])),
    )


def mails_to(inbox: Mailbox, address: str) -> list[Any]:
    return [r.message for r in inbox.received if r.recipients == [address]]


# Within the sweep's horizon, where it catches up with changes whose event was lost.
SOON = datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0) + timedelta(days=10)


def notify_with(db: Any, reply_address: str | None) -> Any:
    """`notify` as deployed with CALENDAR_REPLY_ADDRESS set to `reply_address` (None: unset)."""
    return build_notifier(replace(Settings.from_env(), calendar_reply_address=reply_address), client=db)


def jan_invited(client: Any, make_session: Callable[..., str], notifier: Any) -> tuple[str, str]:
    """A session within the sweep's horizon, and Jan signed up and invited by `notifier`: their ids."""
    session_id = make_session(starts_at=SOON, ends_at=SOON + timedelta(hours=2))
    notifier.session_written(session_id, Change())  # its creation: what attendees will be told is noted
    jan: str = sign_up(client, session_id)["id"]
    notifier.registration_written(session_id, jan)
    return session_id, jan


class TestAnEntrysOrganizer:
    """RFC 6638 has CalDAV servers refuse an update that changes an entry's ORGANIZER, and Gmail and Outlook may file
    it as an entry of its own: an entry keeps the ORGANIZER it was first sent with."""

    def test_stays_the_organiser_when_calendar_replies_are_turned_on_after_the_invitation_went(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id, jan = jan_invited(client, make_session, notify_with(db, None))
        [invitation] = mails_to(inbox, "jan@example.nl")
        with_replies = notify_with(db, REPLIES)

        moved = SOON + timedelta(days=1)
        edit(db, None, session_id, {"starts_at": moved, "ends_at": moved + timedelta(hours=2)})
        with_replies.sweep(datetime.now(UTC) + timedelta(seconds=5))
        piet = sign_up(client, session_id, first_name="Piet", infix="", last_name="Jansen", email="piet@example.nl")
        with_replies.registration_written(session_id, piet["id"])

        [_, change] = mails_to(inbox, "jan@example.nl")
        [piets] = mails_to(inbox, "piet@example.nl")
        first, update = organizer_of(invitation), organizer_of(change)
        assert first[:3] == ("mailto:anna@example.nl", "FALSE", update[2])
        assert update == ("mailto:anna@example.nl", "FALSE", first[2], 2)  # no reply asked: it would reach Anna
        assert organizer_of(piets)[:2] == (f"mailto:{REPLIES}", "TRUE")  # a new entry gets what is set now
        assert stored(db, session_id, jan)["calendar_organizer"] == "anna@example.nl"
        assert stored(db, session_id, piet["id"])["calendar_organizer"] == REPLIES

    def test_stays_our_reply_address_when_the_organiser_changes_and_the_setting_is_turned_off(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id, _ = jan_invited(client, make_session, notify_with(db, REPLIES))

        edit(db, None, session_id, {"organiser.email": "bert@example.nl", "location.name": "Zaal 2"})
        notify_with(db, None).sweep(datetime.now(UTC) + timedelta(seconds=5))

        [invitation, change] = mails_to(inbox, "jan@example.nl")
        assert organizer_of(invitation)[0] == organizer_of(change)[0] == f"mailto:{REPLIES}"
        assert str(change["Reply-To"]) == "Anna de Vries <bert@example.nl>"  # a written reply goes where it is now

    def test_stays_the_organiser_in_the_cancellation_when_calendar_replies_were_turned_on_since(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id, jan = jan_invited(client, make_session, notify_with(db, None))

        cancel(client, session_id, jan)
        notify_with(db, REPLIES).registration_written(session_id, jan)

        [invitation, cancellation] = mails_to(inbox, "jan@example.nl")
        [event] = calendar_of(cancellation).walk("VEVENT")
        assert str(calendar_of(cancellation)["METHOD"]) == "CANCEL"
        assert organizer_of(invitation)[0] == str(event["ORGANIZER"]) == "mailto:anna@example.nl"

    @pytest.mark.parametrize(
        "recorded",
        [firestore.DELETE_FIELD, "anna@example.nl\r\nX-Evil: 1", {"typed": "in"}],
        ids=["sent-by-0.1.0", "broken-line", "not-text"],
    )
    def test_of_an_entry_with_no_readable_record_is_the_organiser_it_was_sent_with_and_is_recorded_again(
        self, recorded: Any, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id, jan = jan_invited(client, make_session, notify_with(db, None))
        ref = db.collection("sessions", session_id, "registrations").document(jan)
        ref.update({"calendar_organizer": recorded})  # as 0.1.0 left it, or as someone typed it in the console

        edit(db, None, session_id, {"location.name": "Zaal 2"})
        notify_with(db, REPLIES).sweep(datetime.now(UTC) + timedelta(seconds=5))

        [_, change] = mails_to(inbox, "jan@example.nl")
        assert organizer_of(change)[:2] == ("mailto:anna@example.nl", "FALSE")
        assert stored(db, session_id, jan)["calendar_organizer"] == "anna@example.nl"
        assert stored(db, session_id, jan)["emails"]["change"]["state"] == "sent"

    def test_of_a_sign_up_made_again_after_cancelling_is_what_is_set_now(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id, jan = jan_invited(client, make_session, notify_with(db, None))
        cancel(client, session_id, jan)
        again = sign_up(client, session_id)

        notify_with(db, REPLIES).sweep(datetime.now(UTC) + timedelta(seconds=5))

        *_, new = mails_to(inbox, "jan@example.nl")
        assert again["id"] == jan
        assert organizer_of(new)[:2] == (f"mailto:{REPLIES}", "TRUE")  # a new UID: a new entry
        assert stored(db, session_id, jan)["calendar_organizer"] == REPLIES


FIRESTORE_ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", fullmatch=True)


@settings(max_examples=300, derandomize=True)
@given(
    session_id=FIRESTORE_ID,
    registration_id=FIRESTORE_ID,
    generation=st.integers(min_value=0, max_value=10**20 - 1),
    domain=st.sampled_from(["example.nl", "bücher.example", "mail.example.co.uk"]),
)
def test_a_uid_of_ours_is_read_back_as_the_registration_generation_it_was_made_for(
    session_id: str, registration_id: str, generation: int, domain: str
) -> None:
    made = calendar.uid(session_id, registration_id, generation, domain)

    assert calendar.registration_of(made) == RegistrationRef(session_id, registration_id, generation)


@pytest.mark.parametrize(
    "foreign",
    ["", "040000008200E00074C5B7101A82E008@outlook.com", "r-1.7.s-1", "r/1.7.s-1@example.nl", "r-1.x.s-1@example.nl"],
)
def test_a_uid_that_is_not_ours_names_no_registration(foreign: str) -> None:
    assert calendar.registration_of(foreign) is None


def test_the_command_line_prints_the_url_to_give_the_mail_provider() -> None:
    out = io.StringIO()

    assert cli.main(["calendar-replies"], out) == 0

    assert out.getvalue() == f"http://signup.test/inbound/{SECRET}\n"
