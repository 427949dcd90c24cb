"""Cancel links: GET asks, POST cancels, the seat goes to the waiting list, and the mails follow."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import itsdangerous
import pytest
from signup.tokens import CancelTokens, RegistrationRef

from dev.mailbox import Mailbox
from tests.conftest import SIGNING_KEY
from tests.test_notify import calendar_of, sign_up

Registrations = Callable[[str], list[dict[str, Any]]]


def token(session_id: str, registration_id: str, key: str = SIGNING_KEY) -> str:
    return CancelTokens(key.encode()).make(RegistrationRef(session_id, registration_id))


def by_email(stored: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["email"]: doc for doc in stored}


def seats(db: Any, session_id: str) -> dict[str, str]:
    docs = db.collection("sessions").document(session_id).collection("seats").stream()
    return {doc.id: doc.to_dict()["registration_id"] for doc in docs}


@pytest.fixture
def full_session(client: Any, make_session: Callable[..., str]) -> tuple[str, dict[str, dict[str, Any]]]:
    """One seat: Ann has it, Bob and Cor wait in that order."""
    session_id = make_session(capacity=1)
    people = {
        name: sign_up(client, session_id, first_name=name.title(), email=f"{name}@example.nl")
        for name in ("ann", "bob", "cor")
    }
    return session_id, people


class TestTheCancelPage:
    def test_get_shows_the_session_and_a_button_and_cancels_nothing(
        self, client: Any, full_session: tuple[str, dict[str, Any]], registrations: Registrations, db: Any
    ) -> None:
        session_id, people = full_session

        response = client.get(f"/cancel/{token(session_id, people['ann']['id'])}")

        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "Strategiesessie" in page
        assert 'method="post"' in page
        assert "Ja, annuleer mijn aanmelding" in page
        assert by_email(registrations(session_id))["ann@example.nl"]["status"] == "confirmed"
        assert seats(db, session_id) == {"0": people["ann"]["id"]}

    @pytest.mark.parametrize(
        "forge",
        [
            lambda s, r: token(s, r, key="another-signing-key-0123456789"),
            lambda s, r: token(s, r)[:-2] + ("AA" if not token(s, r).endswith("AA") else "BB"),
            lambda s, r: itsdangerous.URLSafeSerializer("x" * 32).dumps([s, r]),
            lambda s, r: "not-a-token",
        ],
    )
    def test_a_forged_or_altered_token_is_refused_and_changes_nothing(
        self, client: Any, full_session: tuple[str, dict[str, Any]], registrations: Registrations, forge: Any
    ) -> None:
        session_id, people = full_session
        forged = forge(session_id, people["ann"]["id"])

        looked = client.get(f"/cancel/{forged}")
        posted = client.post(f"/cancel/{forged}")

        assert looked.status_code == posted.status_code == 404
        assert by_email(registrations(session_id))["ann@example.nl"]["status"] == "confirmed"


class TestCancelling:
    def test_frees_the_seat_for_the_first_on_the_waiting_list_and_both_are_told(
        self,
        client: Any,
        notifier: Any,
        inbox: Mailbox,
        db: Any,
        full_session: tuple[str, dict[str, Any]],
        registrations: Registrations,
    ) -> None:
        session_id, people = full_session
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))  # the three confirmations
        [ann_confirmation] = [r.message for r in inbox.received if r.recipients == ["ann@example.nl"]]
        inbox.clear()

        response = client.post(f"/cancel/{token(session_id, people['ann']['id'])}")
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

        stored = by_email(registrations(session_id))
        assert response.status_code == 200
        assert "Je aanmelding is geannuleerd" in response.get_data(as_text=True)
        assert stored["ann@example.nl"]["status"] == "cancelled"
        assert stored["ann@example.nl"]["seat"] is None
        assert stored["bob@example.nl"]["status"] == "confirmed"
        assert stored["cor@example.nl"]["status"] == "waitlisted"
        assert seats(db, session_id) == {"0": people["bob"]["id"]}
        mails = {r.recipients[0]: r.message for r in inbox.received}
        assert sorted(mails) == ["ann@example.nl", "bob@example.nl"]
        assert mails["bob@example.nl"]["Subject"].startswith("Er is een plek vrij")
        assert calendar_of(mails["bob@example.nl"])["METHOD"] == "REQUEST"
        cancel_calendar = calendar_of(mails["ann@example.nl"])
        [cancelled_event] = cancel_calendar.walk("VEVENT")
        [booked_event] = calendar_of(ann_confirmation).walk("VEVENT")
        assert mails["ann@example.nl"]["Subject"].startswith("Afgemeld")
        assert cancel_calendar["METHOD"] == "CANCEL"
        assert cancelled_event["UID"] == booked_event["UID"]
        assert cancelled_event["STATUS"] == "CANCELLED"
        assert cancelled_event.decoded("SEQUENCE") > booked_event.decoded("SEQUENCE")

    def test_twice_is_harmless(
        self,
        client: Any,
        notifier: Any,
        inbox: Mailbox,
        full_session: tuple[str, dict[str, Any]],
        registrations: Registrations,
    ) -> None:
        session_id, people = full_session
        link = f"/cancel/{token(session_id, people['ann']['id'])}"

        first = client.post(link)
        second = client.post(link)
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

        stored = by_email(registrations(session_id))
        assert first.status_code == second.status_code == 200
        assert "al geannuleerd" in second.get_data(as_text=True)
        assert [stored[f"{n}@example.nl"]["status"] for n in ("ann", "bob", "cor")] == [
            "cancelled",
            "confirmed",
            "waitlisted",
        ]
        cancellations = [r for r in inbox.received if r.message["Subject"].startswith("Afgemeld")]
        assert len(cancellations) == 1

    def test_ten_cancels_at_once_cancel_once_and_promote_once(
        self, app: Any, db: Any, full_session: tuple[str, dict[str, Any]], registrations: Registrations
    ) -> None:
        session_id, people = full_session
        link = f"/cancel/{token(session_id, people['ann']['id'])}"

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(lambda _: app.test_client().post(link).status_code, range(10)))

        stored = by_email(registrations(session_id))
        assert statuses == [200] * 10
        assert [stored[f"{n}@example.nl"]["status"] for n in ("ann", "bob", "cor")] == [
            "cancelled",
            "confirmed",
            "waitlisted",
        ]
        assert seats(db, session_id) == {"0": people["bob"]["id"]}

    def test_from_the_waiting_list_sends_a_cancellation_without_a_calendar(
        self,
        client: Any,
        notifier: Any,
        inbox: Mailbox,
        full_session: tuple[str, dict[str, Any]],
        registrations: Registrations,
    ) -> None:
        session_id, people = full_session

        client.post(f"/cancel/{token(session_id, people['cor']['id'])}")
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

        stored = by_email(registrations(session_id))
        [mail] = [
            r.message
            for r in inbox.received
            if r.recipients == ["cor@example.nl"] and r.message["Subject"].startswith("Afgemeld")
        ]
        assert stored["cor@example.nl"]["status"] == "cancelled"
        assert stored["bob@example.nl"]["status"] == "waitlisted"
        assert not [a for a in mail.iter_attachments() if a.get_content_type() == "text/calendar"]

    def test_a_cancelled_registration_gets_no_confirmation_that_was_still_queued(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        client.post(f"/cancel/{token(session_id, answer['id'])}")

        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

        subjects = [r.message["Subject"] for r in inbox.received]
        stored = db.collection("sessions").document(session_id).collection("registrations").document(answer["id"])
        assert [s.split(":")[0] for s in subjects] == ["Afgemeld"]
        assert stored.get().to_dict()["emails"]["confirmation"]["state"] == "skipped"

    def test_after_the_session_is_over_is_refused(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, db: Any
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        past = datetime.now(UTC) - timedelta(days=1)
        db.collection("sessions").document(session_id).update({"starts_at": past, "ends_at": past + timedelta(hours=2)})

        response = client.post(f"/cancel/{token(session_id, answer['id'])}")

        assert response.status_code == 409
        assert registrations(session_id)[0]["status"] == "confirmed"


def test_a_cancel_calendar_is_valid_rfc5545() -> None:
    from email.headerregistry import Address

    from signup.calendar import ics
    from signup.sessions import parse_session

    from tests.conftest import session_fields

    session = parse_session("s1", session_fields())
    data = ics(
        session,
        uid="r1.0.s1@example.nl",
        attendee=Address("Jan van der Berg", addr_spec="jan@example.nl"),
        sender=Address("Strategiesessies", addr_spec="sessies@example.nl"),
        stamp=datetime.now(UTC),
        cancel=True,
    )

    parsed = icalendar.Calendar.from_ical(data)
    assert parsed["METHOD"] == "CANCEL"
    assert data.startswith(b"BEGIN:VCALENDAR\r\n")
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
