"""Mail that keeps up with the session: every mail within seconds of a write, an organiser's change or cancellation
told to everyone once, and the tick as the safety net."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.cloud import firestore
from signup import dates
from signup.ledger import mailkeys, session
from signup.ledger.session import ANNOUNCED_REVISION, REVISION_FINGERPRINT
from signup.ledger.writes import Read
from signup.mail import changes, reminders
from signup.organisers import cli
from signup.store.sessions import SessionStore

from dev.mailbox import Mailbox, Received
from tests import events
from tests.conftest import STACK_PROJECT, Stack, cancel_token, session_fields
from tests.support import on_a_terminal

SUMMER = datetime(2036, 6, 10, 14, 0, tzinfo=UTC)  # dinsdag 10 juni 2036, 16:00 in Amsterdam
LATER = SUMMER + timedelta(days=1, hours=2)  # woensdag 11 juni 2036, 18:00


# --- helpers -------------------------------------------------------------------------------------------------


def arrived(inbox: Mailbox, count: int, quiet: float = 1.5) -> dict[str, Received]:
    """Exactly `count` mails, by recipient: waits for them, then a moment longer for any that should not come."""
    inbox.wait_for(count, timeout=30)
    time.sleep(quiet)
    received = list(inbox.received)
    assert len(received) == count, [(r.recipients, r.message["Subject"]) for r in received]
    by_address = {r.recipients[0]: r for r in received}
    assert len(by_address) == count, "one mail per person"
    return by_address


def calendars(message: EmailMessage) -> list[icalendar.Calendar]:
    """The invitations a mail carries (its text/calendar alternative, which clients act on)."""
    inline = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    return [icalendar.Calendar.from_ical(part.get_content()) for part in inline]


def invitation(message: EmailMessage) -> tuple[str, Any]:
    """The calendar attachment's METHOD and its one VEVENT."""
    [calendar] = calendars(message)
    [event] = calendar.walk("VEVENT")
    return str(calendar["METHOD"]), event


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def token(session_id: str, registration_id: str, db: Any = None) -> str:
    return cancel_token(session_id, registration_id, db=db)


def session_doc(db: Any, session_id: str) -> dict[str, Any]:
    data: dict[str, Any] = db.collection("sessions").document(session_id).get().to_dict()
    return data


def registration_docs(db: Any, session_id: str) -> dict[str, dict[str, Any]]:
    docs = db.collection("sessions").document(session_id).collection("registrations").stream()
    return {doc.get("email"): doc.to_dict() for doc in docs}


@pytest.fixture
def live(stack: Stack, inbox: Mailbox) -> Iterator[Stack]:
    """The stack as `make dev` runs it, emptied; nobody ticks `notify` during the test, only triggers start it."""
    stack.firestore.wipe()
    yield stack
    stack.events.copies = 1


def join(stack: Stack, session_id: str, email: str, first_name: str = "Jan") -> dict[str, Any]:
    response = httpx.post(
        f"{stack.register_url}/sessions/{session_id}/registrations",
        json={"first_name": first_name, "last_name": "Berg", "email": email},
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


# --- through the emulator's own trigger delivery, without a tick -----------------------------------------------


def test_a_cancellation_and_the_promotion_it_frees_are_mailed_within_seconds_without_a_tick(
    live: Stack, inbox: Mailbox
) -> None:
    session_id = live.create_session("wachtlijst", capacity=1)
    anna = join(live, session_id, "anna@example.nl", "Anna")
    bram = join(live, session_id, "bram@example.nl", "Bram")
    arrived(inbox, 2)
    inbox.clear()

    started = time.monotonic()
    cancelled = httpx.post(f"{live.register_url}/cancel/{token(session_id, anna['id'], live.db)}")
    mails = arrived(inbox, 2)

    assert (anna["status"], bram["status"], cancelled.status_code) == ("confirmed", "waitlisted", 200)
    assert time.monotonic() - started < 15
    assert mails["anna@example.nl"].message["Subject"] == "Afgemeld: Strategiesessie"
    assert mails["bram@example.nl"].message["Subject"].startswith("Er is een plek vrij")
    stored = registration_docs(live.db, session_id)
    assert stored["anna@example.nl"]["emails"]["cancellation"]["state"] == "sent"
    assert stored["bram@example.nl"]["emails"]["promotion"]["state"] == "sent"


def test_a_confirmation_after_signing_up_again_arrives_without_a_tick(live: Stack, inbox: Mailbox) -> None:
    session_id = live.create_session("opnieuw")
    first = join(live, session_id, "anna@example.nl", "Anna")
    arrived(inbox, 1)
    inbox.clear()
    httpx.post(f"{live.register_url}/cancel/{token(session_id, first['id'], live.db)}")
    arrived(inbox, 1)
    inbox.clear()

    again = join(live, session_id, "anna@example.nl", "Anna")
    mails = arrived(inbox, 1)

    assert again["id"] == first["id"]
    assert mails["anna@example.nl"].message["Subject"].startswith("Bevestiging: Strategiesessie")
    assert registration_docs(live.db, session_id)["anna@example.nl"]["emails"]["confirmation"]["state"] == "sent"


def test_a_console_edit_of_the_start_reaches_everyone_once_with_an_updated_invitation(
    live: Stack, inbox: Mailbox
) -> None:
    session_id = live.create_session("verzet", capacity=2, starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
    people = {email: join(live, session_id, email) for email in ("a@example.nl", "b@example.nl", "c@example.nl")}
    confirmations = arrived(inbox, 3)
    inbox.clear()

    # What an organiser does in the Firestore console: change two fields of the session document.
    live.db.collection("sessions").document(session_id).update(
        {"starts_at": LATER - timedelta(hours=2), "ends_at": LATER}
    )
    notices = arrived(inbox, 3)

    assert [person["status"] for person in people.values()] == ["confirmed", "confirmed", "waitlisted"]
    for email in ("a@example.nl", "b@example.nl"):
        message = notices[email].message
        assert message["Subject"] == "Gewijzigd: Strategiesessie, woensdag 11 juni 2036, 16:00–18:00"
        # What changed, old and new; then the session as it is now.
        assert (
            "Dit is er veranderd:\n\n"
            "Wanneer: dinsdag 10 juni 2036, 16:00–18:00 → woensdag 11 juni 2036, 16:00–18:00\n\n"
        ) in text_of(message)
        assert "Titel:" not in text_of(message)
        assert "Waar:" not in text_of(message).split("\n\nStrategiesessie\n")[0]
        method, event = invitation(message)
        _, before = invitation(confirmations[email].message)
        assert method == "REQUEST"
        assert event["UID"] == before["UID"]
        assert int(event["SEQUENCE"]) > int(before["SEQUENCE"])
        assert event.decoded("DTSTART") == LATER - timedelta(hours=2)
        assert event.decoded("DTEND") == LATER
    waiting = notices["c@example.nl"].message
    assert waiting["Subject"].startswith("Gewijzigd: ")
    assert "nog op de wachtlijst" in text_of(waiting)
    assert calendars(waiting) == []
    stored = session_doc(live.db, session_id)
    assert (stored["revision"], stored["announced_revision"]) == (1, 1)
    assert {r["told_revision"] for r in registration_docs(live.db, session_id).values()} == {1}


def test_ten_copies_of_every_event_still_send_each_mail_once_and_revise_once(live: Stack, inbox: Mailbox) -> None:
    live.events.copies = 10
    session_id = live.create_session("tienvoud", capacity=1)
    join(live, session_id, "a@example.nl")
    join(live, session_id, "b@example.nl")
    arrived(inbox, 2)
    inbox.clear()

    live.db.collection("sessions").document(session_id).update({"location.name": "Zaal 2"})
    notices = arrived(inbox, 2, quiet=3)

    changed = (
        "Waar: Grand Café Genieten, Oranje-Vrijstaatplein 2, Amsterdam → Zaal 2, Oranje-Vrijstaatplein 2, Amsterdam"
    )
    assert all(changed in text_of(mail.message) for mail in notices.values())
    assert session_doc(live.db, session_id)["revision"] == 1
    assert {r["emails"]["change"]["attempts"] for r in registration_docs(live.db, session_id).values()} == {1}


def test_an_organiser_calls_a_session_off_from_the_command_line_and_everyone_hears_once(
    live: Stack, inbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = live.create_session("afgelast", capacity=1)
    seated = join(live, session_id, "a@example.nl", "Anna")
    join(live, session_id, "b@example.nl", "Bram")
    confirmations = arrived(inbox, 2)
    inbox.clear()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", live.firestore.host)
    message = "De spreker is ziek.\n\nWe plannen een nieuwe datum en laten het je weten."

    out = io.StringIO()
    code = cli.main(
        ["--project", STACK_PROJECT, "sessions", "cancel", session_id, "--message", message, "--yes"], out=out
    )
    notices = arrived(inbox, 2)
    form = httpx.post(
        f"{live.register_url}/sessions/{session_id}/registrations",
        json={"first_name": "Kees", "last_name": "Laat", "email": "kees@example.nl"},
    )

    assert code == 0
    assert "2 people (confirmed or waitlisted)" in out.getvalue()
    for email, notice in notices.items():
        assert notice.message["Subject"].startswith("Gaat niet door: Strategiesessie")
        assert "De spreker is ziek." in text_of(notice.message)
        assert "We plannen een nieuwe datum" in text_of(notice.message)
        assert "/cancel/" not in text_of(notice.message)
        if email == "a@example.nl":
            method, event = invitation(notice.message)
            _, before = invitation(confirmations[email].message)
            assert method == "CANCEL"
            assert event["UID"] == before["UID"]
            assert int(event["SEQUENCE"]) > int(before["SEQUENCE"])
        else:
            assert calendars(notice.message) == []
    assert (form.status_code, form.json()["error"]) == (409, "registration_closed")
    assert form.json()["message"] == "Deze sessie gaat niet door. Aanmelden is niet meer mogelijk."
    stored = session_doc(live.db, session_id)
    assert (stored["status"], stored["cancellation_message"], stored["revision"]) == ("cancelled", message, 1)
    assert seated["status"] == "confirmed"


# --- in this process: the events delivered by hand, and the tick ----------------------------------------------


def deliver(notify_app: Any, headers_and_body: tuple[dict[str, str], bytes]) -> int:
    headers, body = headers_and_body
    return int(notify_app.test_client().post("/", headers=headers, data=body).status_code)


def sign_up(client: Any, session_id: str, email: str) -> dict[str, Any]:
    response = client.post(
        f"/sessions/{session_id}/registrations", json={"first_name": "Jan", "last_name": "Berg", "email": email}
    )
    assert response.status_code == 201, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def created(db: Any, notify_app: Any, session_id: str) -> None:
    """Deliver the event Firestore sends when a session is created (it gets its first digest then)."""
    data = db.collection("sessions").document(session_id).get().to_dict()
    assert deliver(notify_app, events.written(f"sessions/{session_id}", None, data)) == 200


def edit(db: Any, notify_app: Any | None, session_id: str, fields: dict[str, Any]) -> None:
    """Change a session as the console does; with `notify_app`, deliver the event Firestore would send for it."""
    ref = db.collection("sessions").document(session_id)
    old = ref.get().to_dict()
    ref.update(fields)
    if notify_app is not None:
        assert deliver(notify_app, events.written(f"sessions/{session_id}", old, ref.get().to_dict())) == 200


@pytest.fixture
def sent_confirmations(
    client: Any, notify_app: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
) -> Callable[..., tuple[str, list[dict[str, Any]]]]:
    """A session (its created event delivered) with `count` people signed up and confirmed by mail; the inbox
    emptied after."""

    def make(count: int = 2, **fields: Any) -> tuple[str, list[dict[str, Any]]]:
        session_id = make_session(**fields)
        created(db, notify_app, session_id)
        people = [sign_up(client, session_id, f"p{n}@example.nl") for n in range(count)]
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        assert len(inbox.received) == count
        inbox.clear()
        return session_id, people

    return make


def test_an_event_is_judged_by_the_document_it_carries_so_notifys_own_writes_cost_no_read(
    client: Any, db: Any, notify_app: Any, inbox: Mailbox, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    person = sign_up(client, session_id, "a@example.nl")
    path = f"sessions/{session_id}/registrations/{person['id']}"
    stored = db.document(path).get().to_dict()
    claimed = {**stored, "emails": {"confirmation": {"state": "sending", "lease_until": SUMMER, "attempts": 1}}}

    as_claimed = deliver(notify_app, events.written(path, stored, claimed))  # what a claim's own event says
    after_claim = len(inbox.received)
    as_stored = deliver(notify_app, events.written(path, None, stored))

    assert (as_claimed, as_stored) == (200, 200)
    assert after_claim == 0, "the event said nothing was due: the registration was not even read"
    assert [r.recipients[0] for r in inbox.received] == ["a@example.nl"]


def test_a_sign_up_in_the_seconds_after_a_call_off_hears_of_it_once_and_then_the_form_refuses(
    server: str, db: Any, notify_app: Any, notifier: Any, inbox: Mailbox, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    created(db, notify_app, session_id)
    assert httpx.get(f"{server}/sessions/{session_id}").status_code == 200  # register keeps the session 5 s
    edit(db, notify_app, session_id, {"status": "cancelled", "cancellation_message": "De zaal is niet beschikbaar."})

    late = httpx.post(  # the instance still has the session open, and everyone signed up was told
        f"{server}/sessions/{session_id}/registrations",
        json={"first_name": "Kees", "last_name": "Laat", "email": "kees@example.nl"},
    )
    notifier.registration_written(session_id, late.json()["id"])  # its confirmation's event
    notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))  # whatever is due
    notifier.sweep(datetime.now(UTC) + timedelta(minutes=5))
    time.sleep(5)  # past the session's seconds in register's memory
    refused = httpx.post(
        f"{server}/sessions/{session_id}/registrations",
        json={"first_name": "Lies", "last_name": "Laat", "email": "lies@example.nl"},
    )

    assert (late.status_code, late.json()["status"]) == (201, "confirmed")
    [notice] = [r.message for r in inbox.received]
    assert notice["To"].addresses[0].addr_spec == "kees@example.nl"
    assert notice["Subject"].startswith("Gaat niet door: Strategiesessie")
    assert "De zaal is niet beschikbaar." in text_of(notice)
    stored = registration_docs(db, session_id)["kees@example.nl"]
    assert stored["emails"]["confirmation"]["state"] == "skipped"
    assert stored["emails"]["session_cancelled"]["state"] == "sent"
    assert (refused.status_code, refused.json()["error"]) == (409, "registration_closed")


@pytest.mark.parametrize(
    ("fields", "told"),
    [
        ({"capacity": 50}, False),
        ({"allowed_origins": ["https://elders.example.nl"]}, False),
        ({"reminder_hours": [48, 2]}, False),
        ({"privacy_url": "https://www.example.nl/privacy"}, False),
        ({"thank_you_url": "https://www.example.nl/bedankt"}, False),
        ({"retention_days": 30}, False),
        ({"title": "Strategiesessie (nieuwe titel)"}, True),
        ({"starts_at": SUMMER - timedelta(hours=1)}, True),
        ({"ends_at": SUMMER + timedelta(hours=3)}, True),
        ({"location.name": "Zaal 2"}, True),
        ({"location.address": "Damrak 1, Amsterdam"}, True),
    ],
    ids=lambda value: ",".join(value) if isinstance(value, dict) else str(value),
)
def test_only_a_change_that_concerns_attendees_is_told_to_them(
    db: Any,
    notify_app: Any,
    notifier: Any,
    inbox: Mailbox,
    sent_confirmations: Callable[..., tuple[str, list[dict[str, Any]]]],
    fields: dict[str, Any],
    told: bool,
) -> None:
    session_id, people = sent_confirmations(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))

    edit(db, notify_app, session_id, fields)
    queued = [r for r in registration_docs(db, session_id).values() if "change" in r["emails"]]
    notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

    assert len(queued) == len(inbox.received) == (len(people) if told else 0)
    assert session_doc(db, session_id).get("revision", 0) == (1 if told else 0)
    assert all(r.message["Subject"].startswith("Gewijzigd: ") for r in inbox.received)


def test_more_seats_go_to_the_waiting_list_at_once_and_are_the_only_mail(
    db: Any, notify_app: Any, inbox: Mailbox, registrations: Any, sent_confirmations: Callable[..., Any]
) -> None:
    session_id, people = sent_confirmations(count=3, capacity=1)

    edit(db, notify_app, session_id, {"capacity": 2})
    queued = {r["email"]: sorted(r["emails"]) for r in registrations(session_id)}

    assert [p["status"] for p in people] == ["confirmed", "waitlisted", "waitlisted"]
    assert queued == {
        "p0@example.nl": ["confirmation"],
        "p1@example.nl": ["confirmation", "promotion"],  # the earliest on the waiting list, now seated
        "p2@example.nl": ["confirmation"],
    }
    assert session_doc(db, session_id).get("revision", 0) == 0


def test_late_events_find_their_work_done(
    db: Any, notify_app: Any, notifier: Any, inbox: Mailbox, sent_confirmations: Callable[..., Any]
) -> None:
    session_id, people = sent_confirmations(count=1)
    ref = db.collection("sessions").document(session_id)
    before = ref.get().to_dict()
    ref.update({"title": "Nieuwe titel"})
    change = events.written(f"sessions/{session_id}", before, ref.get().to_dict())
    assert deliver(notify_app, change) == 200
    path = f"sessions/{session_id}/registrations/{people[0]['id']}"
    queued = db.document(path).get().to_dict()
    notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
    told = len(inbox.received)

    late = [deliver(notify_app, change), deliver(notify_app, events.written(path, None, queued))]  # hours late
    notifier.sweep(datetime.now(UTC) + timedelta(minutes=10))

    assert late == [200, 200]
    assert told == len(inbox.received) == 1
    assert session_doc(db, session_id)["revision"] == 1
    assert db.document(path).get().get("emails.change.attempts") == 1


def test_three_ticks_at_once_tell_everyone_once_of_a_change_whose_event_never_arrived(
    db: Any, notify_app: Any, inbox: Mailbox, sent_confirmations: Callable[..., tuple[str, list[dict[str, Any]]]]
) -> None:
    session_id, _ = sent_confirmations(count=5)
    edit(db, None, session_id, {"location.name": "Zaal 3"})  # its event is lost

    now = datetime.now(UTC) + timedelta(seconds=5)
    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(lambda _: deliver(notify_app, events.tick(now)), range(3)))

    assert statuses == [200] * 3
    assert sorted(r.recipients[0] for r in inbox.received) == [f"p{n}@example.nl" for n in range(5)]
    assert all("Zaal 3" in text_of(r.message) for r in inbox.received)
    stored = session_doc(db, session_id)
    assert (stored["revision"], stored["announced_revision"]) == (1, 1)


def test_a_session_written_before_there_were_revisions_is_judged_by_what_it_was(
    db: Any, notify_app: Any, notifier: Any, inbox: Mailbox, sent_confirmations: Callable[..., Any]
) -> None:
    session_id, _ = sent_confirmations()
    ref = db.collection("sessions").document(session_id)
    ref.update({REVISION_FINGERPRINT: firestore.DELETE_FIELD})  # as it was before there were revisions

    edit(db, notify_app, session_id, {"capacity": 40})
    after_capacity = session_doc(db, session_id)
    edit(db, notify_app, session_id, {"title": "Nieuwe titel"})
    notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

    assert after_capacity.get("revision", 0) == 0
    assert after_capacity[REVISION_FINGERPRINT] == session.fingerprint(after_capacity)
    assert session_doc(db, session_id)["revision"] == 1
    assert len(inbox.received) == 2


class _DiesAfterOnePage(changes.Announcer):
    """A fan-out whose function instance dies after its first commit."""

    def _queue(self, page: list[Read], notice: Any) -> int:
        queued = super()._queue(page, notice)
        raise SystemExit(f"instance stopped after queueing {queued}")


def test_a_large_fan_out_goes_in_commits_of_500_and_resumes_without_a_second_mail_after_dying(
    db: Any, notify_app: Any, notifier: Any, inbox: Mailbox, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    created(db, notify_app, session_id)
    registrations = db.collection("sessions").document(session_id).collection("registrations")
    count = 1200
    for start in range(0, count, 500):
        batch = db.batch()
        for n in range(start, min(start + 500, count)):
            person = {"first_name": f"P{n}", "last_name": "X", "email": f"p{n:04}@example.nl", "status": "confirmed"}
            batch.set(registrations.document(f"r{n:04}"), {**person, "created_at": datetime.now(UTC)})
        batch.commit()
    moved = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)  # within the sweep's horizon
    db.collection("sessions").document(session_id).update({"starts_at": moved, "ends_at": moved + timedelta(hours=1)})

    with pytest.raises(SystemExit):
        _DiesAfterOnePage(db, lambda: datetime.now(UTC), cache_seconds=0).catch_up(session_id)
    told_before = [doc for doc in registration_docs(db, session_id).values() if doc.get("told_revision") == 1]
    first = notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))  # sends what was queued, and resumes
    rest = [notifier.sweep(datetime.now(UTC) + timedelta(seconds=5)) for _ in range(3)]

    assert len(told_before) == 500
    assert first.announced == count - 500
    assert sum(report.announced for report in rest) == 0
    recipients = [r.recipients[0] for r in inbox.received]
    assert len(recipients) == len(set(recipients)) == count
    stored = registration_docs(db, session_id).values()
    assert {(r["told_revision"], r["emails"]["change"]["state"]) for r in stored} == {(1, "sent")}


def test_reminders_already_queued_follow_the_new_time(
    db: Any, notify_app: Any, notifier: Any, inbox: Mailbox, sent_confirmations: Callable[..., Any]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    starts = now + timedelta(hours=30)
    session_id, _ = sent_confirmations(count=1, starts_at=starts, ends_at=starts + timedelta(hours=2))
    due = starts - timedelta(hours=24)
    session = SessionStore(db, ttl=0).get(session_id)
    assert reminders.queue_due(db, session, due + timedelta(minutes=1), 100) == 1  # queued, not sent yet
    week_later = starts + timedelta(days=7)

    edit(db, notify_app, session_id, {"starts_at": week_later, "ends_at": week_later + timedelta(hours=2)})
    at_old_time = notifier.sweep(due + timedelta(minutes=2))
    subjects_then = [r.message["Subject"].split(":")[0] for r in inbox.received]
    at_new_time = notifier.sweep(week_later - timedelta(hours=23))

    assert subjects_then == ["Gewijzigd"]
    assert (at_old_time.reminders_queued, at_new_time.reminders_queued) == (0, 1)
    [reminder] = [r for r in inbox.received if r.message["Subject"].startswith("Herinnering")]
    when = dates.span(week_later, week_later + timedelta(hours=2), ZoneInfo("Europe/Amsterdam"), "nl")
    assert reminder.message["Subject"] == f"Herinnering: Strategiesessie, {when}"


def test_a_session_called_off_takes_no_sign_ups_sends_no_reminders_and_promotes_nobody(
    client: Any,
    db: Any,
    notify_app: Any,
    notifier: Any,
    inbox: Mailbox,
    sent_confirmations: Callable[..., Any],
) -> None:
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=20)
    session_id, people = sent_confirmations(
        capacity=1, starts_at=soon, ends_at=soon + timedelta(hours=1), reminder_hours=[2]
    )
    assert [p["status"] for p in people] == ["confirmed", "waitlisted"]

    edit(db, notify_app, session_id, {"status": "cancelled", "cancellation_message": "Helaas."})
    page = client.get(f"/sessions/{session_id}").get_data(as_text=True)
    refused = client.post(
        f"/sessions/{session_id}/registrations", json={"first_name": "K", "last_name": "L", "email": "k@example.nl"}
    )
    client.post(f"/cancel/{token(session_id, people[0]['id'])}")  # a freed seat goes to nobody
    report = notifier.sweep(soon - timedelta(hours=1))  # when the reminder would be due

    assert "Deze sessie gaat niet door." in page
    assert "<form" not in page
    assert refused.status_code == 409
    assert "gaat niet door" in refused.get_json()["message"]
    assert (report.reminders_queued, report.promoted) == (0, 0)
    subjects = sorted(r.message["Subject"].split(":")[0] for r in inbox.received)
    assert subjects == ["Afgemeld", "Gaat niet door"]  # who cancelled meanwhile is not told the session is off
    assert registration_docs(db, session_id)["p1@example.nl"]["status"] == "waitlisted"


# --- the command line and the pure logic ---------------------------------------------------------------------


def test_calling_off_needs_a_message_and_without_yes_a_terminal_to_ask_on(
    db: Any, make_session: Callable[..., str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    session_id = make_session()

    def run(*argv: str) -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # a pipe, not a terminal: a script
        out = io.StringIO()
        return cli.main(["sessions", "cancel", session_id, *argv], out=out), out.getvalue()

    empty = run("--message", "  ", "--yes")
    unasked = run("--message", "Helaas.")
    refusal = capsys.readouterr().err
    after_refusing = session_doc(db, session_id)
    accepted = run("--message", "Helaas.", "--yes")
    again = run("--message", "Anders.", "--yes")

    assert empty[0] == 2
    assert unasked[0] == 2
    assert "not calling it off without --yes: there is no terminal to ask for confirmation" in refusal
    assert "nothing changed" not in unasked[1]
    assert "status" not in after_refusing
    assert accepted[0] == 0
    assert "called off session" in accepted[1]
    assert again == (0, f"session {session_id} was already called off; nobody is mailed again\n")
    stored = session_doc(db, session_id)
    assert (stored["status"], stored["cancellation_message"]) == ("cancelled", "Helaas.")
    assert isinstance(stored["cancelled_at"], datetime)


@pytest.mark.parametrize(("answer", "called_off"), [("n\n", False), ("\x04", False), ("ja\n", True)])
def test_on_a_terminal_calling_off_asks_and_acts_only_on_yes(
    db: Any, make_session: Callable[..., str], answer: str, called_off: bool
) -> None:
    session_id = make_session()

    code, out, err = on_a_terminal(["sessions", "cancel", session_id, "--message", "Helaas."], answer)

    assert code == 0, err
    assert "Call the session off? [y/N] " in out
    if answer == "\x04":  # the input ended (Ctrl-D) without an answer: what follows is on a line of its own
        assert out.endswith("[y/N] \nnothing changed\n")
    assert ("nothing changed" in out) is not called_off
    assert ("status" in session_doc(db, session_id)) is called_off


def test_updating_a_session_from_a_file_keeps_its_revision_and_its_cancellation(db: Any) -> None:
    from signup.organisers import organiser

    session_id = "bewaard"
    fields = session_fields()
    organiser.save_session(db, organiser.SessionFile(session_id, fields, frozenset()))
    db.collection("sessions").document(session_id).update(
        {"revision": 3, "status": "cancelled", "cancellation_message": "Helaas.", "announced_revision": 3}
    )

    organiser.save_session(db, organiser.SessionFile(session_id, {**fields, "capacity": 10}, frozenset()))

    stored = session_doc(db, session_id)
    assert (stored["revision"], stored["announced_revision"], stored["status"]) == (3, 3, "cancelled")


BASE = session_fields(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))


@pytest.mark.parametrize(
    ("change", "concerns_attendees"),
    [
        ({"capacity": 3}, False),
        ({"allowed_origins": []}, False),
        ({"reminder_hours": [1]}, False),
        ({"language": "en"}, False),
        ({"cancellation_message": "typo fixed"}, False),
        ({"starts_at": SUMMER.isoformat()}, False),  # the same moment, typed as text
        ({"title": " Strategiesessie "}, False),
        ({"title": "Andere titel"}, True),
        ({"starts_at": SUMMER + timedelta(minutes=15)}, True),
        ({"location": {"name": "Elders", "address": ""}}, True),
        ({"status": "cancelled"}, True),
        ({"status": "CANCELLED"}, True),
    ],
)
def test_the_fingerprint_holds_exactly_what_attendees_were_told(
    change: dict[str, Any], concerns_attendees: bool
) -> None:
    assert (session.fingerprint({**BASE, **change}) != session.fingerprint(BASE)) is concerns_attendees


PLACE = {"name": "Grand Café Genieten", "address": "Oranje-Vrijstaatplein 2, Amsterdam"}
TOLD = {"title": "Strategiesessie", "starts_at": SUMMER, "ends_at": SUMMER + timedelta(hours=2), "location": PLACE}
AS_TOLD = {**TOLD, "starts_at": SUMMER.astimezone(UTC), "ends_at": (SUMMER + timedelta(hours=2)).astimezone(UTC)}
NOTHING = {"title": "", "starts_at": None, "ends_at": None, "location": {"name": "", "address": ""}}


@pytest.mark.parametrize(
    ("document", "fingerprint", "facts"),
    [
        pytest.param(TOLD, "3ca6cd4bc819f4151cd8", AS_TOLD, id="as typed in the console"),
        pytest.param(
            {**TOLD, "starts_at": DatetimeWithNanoseconds(2036, 6, 10, 14, tzinfo=UTC)},  # type: ignore[no-untyped-call]
            "3ca6cd4bc819f4151cd8",
            AS_TOLD,
            id="as Firestore reads it",
        ),
        pytest.param(
            {**TOLD, "starts_at": datetime(2036, 6, 10, 16, 0, 0, 250, tzinfo=ZoneInfo("Europe/Amsterdam"))},
            "8665f8b125d35baebafd",
            {**AS_TOLD, "starts_at": SUMMER.replace(microsecond=250)},
            id="in another zone, with microseconds",
        ),
        pytest.param(
            {
                **TOLD,
                "title": " Strategiesessie\n",
                "starts_at": "2036-06-10T16:00:00+02:00",
                "ends_at": "2036-06-10T18:00:00+02:00",
            },
            "3ca6cd4bc819f4151cd8",
            AS_TOLD,
            id="times as text",
        ),
        pytest.param({**TOLD, "status": " Cancelled "}, "4ffa93bfd361cb629379", AS_TOLD, id="called off"),
        pytest.param(
            {**TOLD, "starts_at": datetime(2036, 6, 10, 16, 0), "ends_at": "2036-06-10T18:00:00"},
            "df60a7c12fe762ed3461",
            {**AS_TOLD, "starts_at": None, "ends_at": None},
            id="times without a zone",
        ),
        pytest.param(
            {"title": 7, "starts_at": "morgen", "ends_at": 1780000000, "location": ["Zaal 1"], "status": True},
            "1d031fa3166157c53ac3",
            NOTHING,
            id="what cannot be read",
        ),
        pytest.param({}, "8c2d8d56c8d53b2c6986", NOTHING, id="nothing at all"),
    ],
)
def test_the_fingerprint_and_the_facts_of_a_session_are_what_every_stored_revision_was_made_with(
    document: dict[str, Any], fingerprint: str, facts: dict[str, Any]
) -> None:
    """Every session stores its fingerprint: another value for the same document would be a new revision, and a
    change mail to everyone, for every session at once."""
    assert session.fingerprint(document) == fingerprint
    assert session.facts(document) == facts


def test_the_events_its_own_writes_cause_need_nothing_from_the_event_alone() -> None:
    settled = {**BASE, REVISION_FINGERPRINT: session.fingerprint(BASE), "revision": 2, ANNOUNCED_REVISION: 2}

    assert changes.settled(settled)
    assert not changes.settled({**settled, ANNOUNCED_REVISION: 1})
    assert not changes.settled({**settled, "title": "Anders"})
    assert not changes.settled(BASE)


def test_a_notice_is_not_queued_twice_nor_for_who_signed_up_after_the_change() -> None:
    revised = datetime(2030, 1, 1, tzinfo=UTC)
    notice = changes._Notice(2, mailkeys.CHANGE, revised + timedelta(seconds=5), {}, revised)
    person = {"status": "confirmed", "email": "a@example.nl", "created_at": revised - timedelta(days=1)}

    assert notice.update(person) is not None
    assert notice.update({**person, "told_revision": 2}) is None
    assert notice.update({**person, "status": "cancelled"}) is None
    assert notice.update({**person, "created_at": revised + timedelta(seconds=6)}) is None
    assert notice.update({**person, "created_at": revised + timedelta(seconds=1)}) is not None


def before_told(notice: Any, person: dict[str, Any]) -> Any:
    """The facts a change mail queued on this registration compares with."""
    update = notice.update(person)
    assert update is not None
    return update["emails.change"].get("before")


def test_a_change_mail_still_waiting_when_another_change_comes_keeps_what_its_reader_last_knew() -> None:
    revised = datetime(2030, 1, 1, tzinfo=UTC)
    first = {"title": "Strategiesessie", "starts_at": SUMMER, "ends_at": SUMMER + timedelta(hours=2)}
    second = {**first, "starts_at": LATER - timedelta(hours=2), "ends_at": LATER}
    notice = changes._Notice(2, mailkeys.CHANGE, None, {}, revised, before=second)
    person = {"status": "confirmed", "email": "a@example.nl", "told_revision": 1}
    waiting = {"change": {"state": "pending", "revision": 1, "before": first}}
    sent = {"change": {"state": "sent", "revision": 1, "before": first}}

    assert before_told(notice, person) == second
    assert before_told(notice, {**person, "emails": waiting}) == first
    assert before_told(notice, {**person, "emails": sent}) == second
    assert before_told(changes._Notice(2, mailkeys.CHANGE, None, {}, revised), person) is None


class _DiesBeforeTheFanOut(changes.Announcer):
    """A revision whose function instance dies after bumping it, before anyone is told."""

    def _fan_out(self, ref: Any, notice: Any) -> int:
        raise SystemExit("instance stopped before the fan-out")


def test_a_change_mail_after_an_untold_revision_names_every_change_since_what_its_reader_knew(
    db: Any, notify_app: Any, notifier: Any, inbox: Mailbox, sent_confirmations: Callable[..., Any]
) -> None:
    first = datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0) + timedelta(days=10)
    moved = first + timedelta(days=1)
    session_id, _ = sent_confirmations(count=1, starts_at=first, ends_at=first + timedelta(hours=2))
    edit(db, None, session_id, {"starts_at": moved, "ends_at": moved + timedelta(hours=2)})
    with pytest.raises(SystemExit):
        _DiesBeforeTheFanOut(db, lambda: datetime.now(UTC), cache_seconds=0).catch_up(session_id)
    edit(db, None, session_id, {"location.name": "Zaal 2"})  # before the retry came

    notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

    [mail] = arrived(inbox, 1).values()
    zone = ZoneInfo("Europe/Amsterdam")
    when = [dates.span(at, at + timedelta(hours=2), zone, "nl") for at in (first, moved)]
    assert f"Wanneer: {when[0]} → {when[1]}" in text_of(mail.message)
    assert "Waar: Grand Café Genieten, Oranje-Vrijstaatplein 2, Amsterdam → Zaal 2" in text_of(mail.message)
    [person] = registration_docs(db, session_id).values()
    assert person["emails"]["change"]["before"]["starts_at"] == first
