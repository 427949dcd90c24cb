"""Cancel links: GET asks, POST cancels, the seat goes to the waiting list, and the mails follow."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import itsdangerous
import pytest
from signup.keys import KeyRing

from dev.mailbox import Mailbox
from tests.conftest import cancel_token as token
from tests.conftest import current_generation
from tests.support import calendar_of, sign_up, token_in

Registrations = Callable[[str], list[dict[str, Any]]]
JSON = {"Accept": "application/json"}
ANOTHER_KEY = KeyRing.parse(b"another key, not ours, 32 bytes long".hex())


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
            lambda s, r: token(s, r, keys=ANOTHER_KEY),
            lambda s, r: ANOTHER_KEY.current.id + token(s, r)[8:],
            lambda s, r: token(s, r)[:-2] + ("AA" if not token(s, r).endswith("AA") else "BB"),
            lambda s, r: itsdangerous.URLSafeSerializer("x" * 32).dumps([s, r]),
            lambda s, r: token(s, r).split(".", 1)[1],
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


class TestAnOldLink:
    def test_does_not_cancel_the_next_sign_up_and_says_it_no_longer_applies(
        self, client: Any, notifier: Any, inbox: Mailbox, make_session: Callable[..., str], db: Any
    ) -> None:
        session_id = make_session(capacity=3)
        answer = sign_up(client, session_id)
        first = current_generation(session_id, answer["id"])
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        old_link = f"/cancel/{token_in(inbox, 'jan@example.nl')}"
        client.post(old_link)
        inbox.clear()
        assert sign_up(client, session_id)["id"] == answer["id"]  # the same person, afresh
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        new_link = f"/cancel/{token_in(inbox, 'jan@example.nl')}"

        looked, posted = client.get(old_link), client.post(old_link)

        stored = db.collection("sessions").document(session_id).collection("registrations").document(answer["id"])
        for response in (looked, posted):
            page = response.get_data(as_text=True)
            assert response.status_code == 410
            assert "Deze link hoort bij een eerdere aanmelding en geldt niet meer" in page
            assert "Strategiesessie" in page  # which session, so that the person knows what it is about
            assert 'method="post"' not in page
        assert stored.get().get("status") == "confirmed"
        assert stored.get().get("generation") > first
        assert list(seats(db, session_id).values()) == [answer["id"]]
        # The link in the newest mail is the one that works.
        assert client.post(new_link).status_code == 200
        assert stored.get().get("status") == "cancelled"

    def test_mailed_before_an_erasure_does_not_cancel_a_sign_up_made_after_it(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, db: Any
    ) -> None:
        from signup.keys import REGISTRATION_IDS
        from signup.settings import Settings
        from signup.store import privacy
        from signup.store.ids import RegistrationIds

        session_id = make_session()
        answer = sign_up(client, session_id)
        old_link = f"/cancel/{token(session_id, answer['id'])}"
        privacy.erase(db, RegistrationIds(db, Settings.from_env().keys.subkeys(REGISTRATION_IDS)), "jan@example.nl")
        again = sign_up(client, session_id)  # the same person, under the same id: nothing recalls the erased one

        response = client.post(old_link)

        assert again["id"] == answer["id"]
        assert response.status_code == 410
        assert by_email(registrations(session_id))["jan@example.nl"]["status"] == "confirmed"

    def test_cannot_cancel_the_next_sign_up_even_when_it_comes_between_reading_and_cancelling(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, db: Any
    ) -> None:
        from signup.errors import SupersededError
        from signup.store.registrations import Registrar
        from signup.store.sessions import SessionStore

        session_id = make_session()
        answer = sign_up(client, session_id)
        first = current_generation(session_id, answer["id"])
        client.post(f"/cancel/{token(session_id, answer['id'])}")
        sign_up(client, session_id)  # afresh: a generation on
        session = SessionStore(db, ttl=0).get(session_id)

        with pytest.raises(SupersededError):
            Registrar(db, id_keys=()).cancel(session, answer["id"], generation=first)

        [stored] = registrations(session_id)
        assert (stored["status"], stored["generation"] > first) == ("confirmed", True)

    def test_asked_for_as_json_says_so_too(self, client: Any, make_session: Callable[..., str]) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)

        later = current_generation(session_id, answer["id"]) + 1
        response = client.post(f"/cancel/{token(session_id, answer['id'], generation=later)}", headers=JSON)

        assert response.status_code == 410
        assert response.get_json()["error"] == "link_superseded"

    def test_for_an_erased_registration_says_it_no_longer_applies(
        self, client: Any, make_session: Callable[..., str], db: Any
    ) -> None:
        from signup.keys import REGISTRATION_IDS
        from signup.settings import Settings
        from signup.store import privacy
        from signup.store.ids import RegistrationIds

        session_id = make_session()
        answer = sign_up(client, session_id)
        privacy.erase(db, RegistrationIds(db, Settings.from_env().keys.subkeys(REGISTRATION_IDS)), "jan@example.nl")

        response = client.get(f"/cancel/{token(session_id, answer['id'])}")

        assert response.status_code == 410
        assert "geldt niet meer" in response.get_data(as_text=True)

    @pytest.mark.parametrize("cancelled", [False, True])
    @pytest.mark.parametrize("method", ["GET", "POST"])
    def test_stops_working_once_the_session_has_ended(
        self, client: Any, make_session: Callable[..., str], db: Any, cancelled: bool, method: str
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        link = f"/cancel/{token(session_id, answer['id'])}"
        if cancelled:
            client.post(link)
        past = datetime.now(UTC) - timedelta(days=1)
        db.collection("sessions").document(session_id).update({"starts_at": past, "ends_at": past + timedelta(hours=2)})

        response = client.open(link, method=method)

        page = response.get_data(as_text=True)
        assert response.status_code == 409
        assert "Deze sessie heeft al plaatsgevonden." in page
        assert "al geannuleerd" not in page
        assert 'method="post"' not in page
        stored = db.collection("sessions").document(session_id).collection("registrations").document(answer["id"])
        assert stored.get().get("status") == ("cancelled" if cancelled else "confirmed")


class TestFromAnotherSite:
    @pytest.mark.parametrize(
        ("headers", "allowed"),
        [
            ({"Origin": "https://evil.example"}, False),
            ({"Origin": "https://www.example.nl"}, False),  # a site the session allows to post sign-ups, not this
            ({"Origin": "null"}, False),  # a sandboxed frame
            ({"Sec-Fetch-Site": "cross-site"}, False),
            ({"Sec-Fetch-Site": "same-site"}, False),  # a neighbouring subdomain is another site's page, too
            ({"Origin": "http://signup.test", "Sec-Fetch-Site": "cross-site"}, False),
            ({"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}, False),
            ({"Origin": "http://signup.test", "Sec-Fetch-Site": "same-origin"}, True),  # our own cancel page
            ({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, True),  # our page, served under no-referrer before
            ({"Origin": "null", "Sec-Fetch-Site": "cross-site"}, False),  # another site's sandboxed frame
            ({"Origin": "http://signup.test"}, True),
            ({"Sec-Fetch-Site": "same-origin"}, True),
            ({"Sec-Fetch-Site": "none"}, True),
            ({}, True),  # curl, a script, an old browser
        ],
    )
    def test_a_post_is_refused_unless_it_comes_from_our_own_page_or_says_nothing(
        self,
        client: Any,
        full_session: tuple[str, dict[str, Any]],
        registrations: Registrations,
        headers: Any,
        allowed: bool,
    ) -> None:
        session_id, people = full_session

        response = client.post(f"/cancel/{token(session_id, people['ann']['id'])}", headers=headers)

        page = response.get_data(as_text=True)
        status = by_email(registrations(session_id))["ann@example.nl"]["status"]
        if allowed:
            assert (response.status_code, status) == (200, "cancelled")
        else:
            assert (response.status_code, status) == (403, "confirmed")
            assert "Annuleren kan alleen via de link in je e-mail" in page

    def test_looking_at_the_page_from_another_site_is_harmless(
        self, client: Any, full_session: tuple[str, dict[str, Any]], registrations: Registrations
    ) -> None:
        session_id, people = full_session

        response = client.get(
            f"/cancel/{token(session_id, people['ann']['id'])}",
            headers={"Sec-Fetch-Site": "cross-site", "Referer": "https://mail.example/inbox"},
        )

        assert response.status_code == 200
        assert 'method="post"' in response.get_data(as_text=True)
        assert by_email(registrations(session_id))["ann@example.nl"]["status"] == "confirmed"


def test_a_cancel_calendar_is_valid_rfc5545() -> None:
    from email.headerregistry import Address

    from signup.ledger.session import parse_session
    from signup.mail.compose.calendar import ics

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
