"""Sessions with `confirm_email`: a sign-up holds nothing until the person confirms their address by mail."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from signup.organisers import cli

from dev.mailbox import Mailbox
from tests.conftest import PUBLIC_BASE_URL, cancel_token, confirm_token
from tests.support import JAN, calendar_of, parts

Registrations = Callable[[str], list[dict[str, Any]]]
JSON = {"Accept": "application/json"}
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
LINK = re.compile(re.escape(PUBLIC_BASE_URL) + r"(/confirm/[A-Za-z0-9_.-]+)")


def post(client: Any, session_id: str, email: str, first_name: str = "Jan") -> Any:
    return client.post(f"/sessions/{session_id}/registrations", json={**JAN, "first_name": first_name, "email": email})


def stored(registrations: Registrations, session_id: str) -> dict[str, dict[str, Any]]:
    return {doc["email"]: doc for doc in registrations(session_id)}


def seats(db: Any, session_id: str) -> dict[str, str]:
    docs = db.collection("sessions").document(session_id).collection("seats").stream()
    return {doc.id: doc.to_dict()["registration_id"] for doc in docs}


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=5)


def confirm_mail(inbox: Mailbox, address: str) -> EmailMessage:
    [message] = [r.message for r in inbox.received if r.recipients == [address]]
    return message


def link_in(message: EmailMessage) -> str:
    """The confirm link's path, as the plain-text part carries it (the HTML part must carry the same)."""
    text, html = parts(message)
    [path] = LINK.findall(text)
    assert f'href="{PUBLIC_BASE_URL}{path}"' in html
    return str(path)


def sign_up_and_get_link(client: Any, notifier: Any, inbox: Mailbox, session_id: str, email: str, name: str) -> str:
    assert post(client, session_id, email, first_name=name).status_code == 201
    notifier.sweep(soon())
    link = link_in(confirm_mail(inbox, email))
    inbox.clear()
    return link


def move_deadline_to_the_past(db: Any, session_id: str, registration_id: str) -> None:
    """What the passing of `confirm_within_hours` does to a registration: its `confirm_by` is behind us."""
    ref = db.collection("sessions").document(session_id).collection("registrations").document(registration_id)
    ref.update({"confirm_by": datetime.now(UTC) - timedelta(minutes=1)})


@pytest.fixture
def session(make_session: Callable[..., str]) -> str:
    return make_session(capacity=2, confirm_email=True)


class TestOffByDefault:
    def test_a_session_without_confirm_email_seats_on_the_first_post_and_sends_the_confirmation(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Any, registrations: Registrations
    ) -> None:
        session_id = make_session(capacity=2)

        answer = post(client, session_id, "jan@example.nl")
        notifier.sweep(soon())

        [doc] = registrations(session_id)
        assert answer.get_json()["status"] == "confirmed"
        assert doc["status"] == "confirmed"
        assert "confirm_by" not in doc
        assert seats(db, session_id) == {str(doc["seat"]): doc["id"]}
        assert confirm_mail(inbox, "jan@example.nl")["Subject"].startswith("Bevestiging")


class TestSigningUp:
    def test_holds_no_seat_and_answers_check_your_mail(
        self, client: Any, db: Any, session: str, registrations: Registrations
    ) -> None:
        before = datetime.now(UTC)

        answer = post(client, session, "jan@example.nl")

        [doc] = registrations(session)
        assert answer.status_code == 201
        assert answer.get_json() == {"id": doc["id"], "status": "check_email"}
        assert doc["status"] == "unconfirmed"
        assert "created_at" not in doc
        assert "seat" not in doc
        assert "confirmed_at" not in doc
        assert before + timedelta(hours=24) <= doc["confirm_by"] <= datetime.now(UTC) + timedelta(hours=24)
        assert before <= doc["requested_at"] <= datetime.now(UTC)
        assert set(doc["emails"]) == {"confirm_address"}
        assert seats(db, session) == {}

    def test_a_form_post_goes_to_a_thank_you_page_that_asks_to_check_the_mail(self, client: Any, session: str) -> None:
        response = client.post(f"/sessions/{session}/registrations", data={**JAN})
        page = client.get(response.headers["Location"].removeprefix(PUBLIC_BASE_URL))

        assert response.status_code == 303
        assert response.headers["Location"].endswith("/thanks?status=check_email")
        assert "Kijk in je mailbox" in page.get_data(as_text=True)

    def test_a_repeat_is_answered_as_a_newcomer_whether_unconfirmed_or_holding_a_seat(
        self, client: Any, notifier: Any, inbox: Mailbox, session: str
    ) -> None:
        link = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")
        client.post(link)
        post(client, session, "piet@example.nl")

        answers = [post(client, session, email) for email in ("jan@example.nl", "piet@example.nl", "nieuw@example.nl")]

        assert {(a.status_code, a.get_json()["status"]) for a in answers} == {(201, "check_email")}


class TestTheMailWithTheLink:
    def test_arrives_in_the_sessions_language_with_a_link_and_no_seat_or_cancel_link(
        self, client: Any, notifier: Any, inbox: Mailbox, make_session: Any, registrations: Registrations
    ) -> None:
        for language, subject in (("nl", "Bevestig je aanmelding"), ("en", "Confirm your registration")):
            session_id = make_session(confirm_email=True, language=language, confirm_within_hours=2)
            post(client, session_id, f"{language}@example.nl")
            notifier.sweep(soon())

            message = confirm_mail(inbox, f"{language}@example.nl")
            text, _ = parts(message)
            assert message["Subject"].startswith(subject)
            assert link_in(message).startswith("/confirm/")
            assert "/cancel/" not in text
            assert not [a for a in message.iter_attachments() if a.get_content_type() == "text/calendar"]
            [doc] = registrations(session_id)
            assert doc["confirm_by"].astimezone(AMSTERDAM).strftime(", %H:%M") in text

    def test_a_double_click_sends_it_once(self, client: Any, notifier: Any, inbox: Mailbox, session: str) -> None:
        post(client, session, "jan@example.nl")
        post(client, session, "jan@example.nl")  # the double click: the first is still on its way
        notifier.sweep(soon())

        [mail] = inbox.received
        assert mail.message["Subject"].startswith("Bevestig je aanmelding")

    def test_the_organiser_can_resend_it_from_the_command_line(
        self, client: Any, notifier: Any, inbox: Mailbox, session: str, registrations: Registrations
    ) -> None:
        first = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")
        out = io.StringIO()

        code = cli.main(["resend", session, stored(registrations, session)["jan@example.nl"]["id"]], out=out)
        notifier.sweep(soon())

        assert (code, out.getvalue()) == (0, "confirm mail queued; it goes out within seconds\n")
        assert link_in(confirm_mail(inbox, "jan@example.nl")) == first


class TestConfirming:
    def test_get_shows_a_button_and_changes_nothing(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, session: str, registrations: Registrations
    ) -> None:
        link = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")

        response = client.get(link)

        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert 'method="post"' in page
        assert "Ja, bevestig mijn aanmelding" in page
        assert stored(registrations, session)["jan@example.nl"]["status"] == "unconfirmed"
        assert seats(db, session) == {}

    def test_post_takes_a_seat_and_the_confirmation_follows(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, session: str, registrations: Registrations
    ) -> None:
        link = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")

        response = client.post(link)
        notifier.sweep(soon())

        doc = stored(registrations, session)["jan@example.nl"]
        assert response.status_code == 200
        assert "Je e-mailadres is bevestigd en je bent aangemeld" in response.get_data(as_text=True)
        assert doc["status"] == "confirmed"
        assert "confirm_by" not in doc
        assert doc["created_at"] is not None
        assert doc["confirmed_at"] is not None
        assert seats(db, session) == {str(doc["seat"]): doc["id"]}
        message = confirm_mail(inbox, "jan@example.nl")
        assert message["Subject"].startswith("Bevestiging")
        assert calendar_of(message)["METHOD"] == "REQUEST"
        assert doc["emails"]["confirm_address"]["state"] == "sent"

    def test_twice_is_harmless(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, session: str, registrations: Registrations
    ) -> None:
        link = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")

        first = client.post(link, headers=JSON)
        second = client.post(link, headers=JSON)
        notifier.sweep(soon())

        assert first.status_code == second.status_code == 200
        assert first.get_json()["status"] == second.get_json()["status"] == "confirmed"
        assert "al bevestigd" in second.get_json()["message"]
        assert len(seats(db, session)) == 1
        assert len(inbox.received) == 1

    def test_a_full_session_fills_in_the_order_of_confirming(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Any, registrations: Registrations
    ) -> None:
        session_id = make_session(capacity=1, confirm_email=True)
        links = {
            name: sign_up_and_get_link(client, notifier, inbox, session_id, f"{name}@example.nl", name.title())
            for name in ("ann", "bob", "cor")
        }

        answers = {name: client.post(links[name], headers=JSON).get_json()["status"] for name in ("cor", "bob", "ann")}
        cor = stored(registrations, session_id)["cor@example.nl"]
        client.post(f"/cancel/{cancel_token(session_id, cor['id'])}")

        after = {doc["first_name"]: doc["status"] for doc in registrations(session_id)}
        assert answers == {"cor": "confirmed", "bob": "waitlisted", "ann": "waitlisted"}
        assert after == {"Cor": "cancelled", "Bob": "confirmed", "Ann": "waitlisted"}
        notifier.sweep(soon())
        subjects = {r.recipients[0]: r.message["Subject"] for r in inbox.received}
        assert subjects["bob@example.nl"].startswith("Er is een plek vrij")
        assert subjects["ann@example.nl"].startswith("Je staat op de wachtlijst")

    def test_the_organiser_hears_of_it_when_it_is_confirmed_not_before(
        self, client: Any, notifier: Any, inbox: Mailbox, make_session: Any
    ) -> None:
        session_id = make_session(confirm_email=True, organiser_notifications="each")
        link = sign_up_and_get_link(client, notifier, inbox, session_id, "jan@example.nl", "Jan")
        assert inbox.received == []  # nothing went to the organiser with the confirm mail either

        client.post(link)
        notifier.sweep(soon())

        assert sorted(r.recipients[0] for r in inbox.received) == ["anna@example.nl", "jan@example.nl"]

    def test_only_who_confirmed_gets_a_reminder(
        self, client: Any, notifier: Any, inbox: Mailbox, make_session: Any, registrations: Registrations
    ) -> None:
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=48)
        session_id = make_session(
            confirm_email=True, confirm_within_hours=48, starts_at=starts, ends_at=starts + timedelta(hours=2)
        )
        client.post(sign_up_and_get_link(client, notifier, inbox, session_id, "ann@example.nl", "Ann"))
        sign_up_and_get_link(client, notifier, inbox, session_id, "bob@example.nl", "Bob")
        notifier.sweep(soon())  # Ann's confirmation
        inbox.clear()

        report = notifier.sweep(starts - timedelta(hours=23))

        assert report.reminders_queued == 1
        assert [(r.recipients, r.message["Subject"].split(":")[0]) for r in inbox.received] == [
            (["ann@example.nl"], "Herinnering")
        ]
        assert stored(registrations, session_id)["bob@example.nl"]["status"] == "unconfirmed"


class TestLapsing:
    def test_the_sweep_marks_it_expired_and_frees_nothing_for_nothing_was_held(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Any, registrations: Registrations
    ) -> None:
        session_id = make_session(capacity=1, confirm_email=True, confirm_within_hours=1)
        taken = sign_up_and_get_link(client, notifier, inbox, session_id, "ann@example.nl", "Ann")
        client.post(taken)
        waiting = sign_up_and_get_link(client, notifier, inbox, session_id, "bob@example.nl", "Bob")

        report = notifier.sweep(datetime.now(UTC) + timedelta(hours=1, minutes=1))
        again = notifier.sweep(datetime.now(UTC) + timedelta(hours=1, minutes=2))
        late = client.post(waiting, headers=JSON)
        page = client.get(waiting)

        docs = stored(registrations, session_id)
        assert (report.lapsed, again.lapsed) == (1, 0)
        assert docs["bob@example.nl"]["status"] == "expired"
        assert docs["ann@example.nl"]["status"] == "confirmed"
        assert seats(db, session_id) == {"0": docs["ann@example.nl"]["id"]}
        assert late.status_code == 410
        assert late.get_json()["status"] == "expired"
        assert "verlopen" in late.get_json()["message"]
        assert page.status_code == 410
        assert f'href="{PUBLIC_BASE_URL}/sessions/{session_id}"' in page.get_data(as_text=True)
        assert docs["bob@example.nl"]["emails"]["confirm_address"]["state"] == "sent"

    def test_a_late_click_before_the_sweep_came_by_says_it_lapsed_and_holds_nothing(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, session: str, registrations: Registrations
    ) -> None:
        link = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")
        move_deadline_to_the_past(db, session, stored(registrations, session)["jan@example.nl"]["id"])

        late = client.post(link)

        assert late.status_code == 410
        assert "Meld je opnieuw aan" in late.get_data(as_text=True)
        assert stored(registrations, session)["jan@example.nl"]["status"] == "unconfirmed"
        assert seats(db, session) == {}

    def test_signing_up_again_starts_afresh_and_the_old_link_no_longer_applies(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, session: str, registrations: Registrations
    ) -> None:
        old = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")
        registration_id = stored(registrations, session)["jan@example.nl"]["id"]
        first = stored(registrations, session)["jan@example.nl"]["generation"]
        move_deadline_to_the_past(db, session, registration_id)

        new = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")
        refused = client.post(old, headers=JSON)
        accepted = client.post(new, headers=JSON)

        doc = stored(registrations, session)["jan@example.nl"]
        assert doc["id"] == registration_id
        assert doc["generation"] > first
        assert refused.status_code == 410
        assert refused.get_json()["status"] is None
        assert accepted.get_json()["status"] == "confirmed"
        assert doc["status"] == "confirmed"


class TestFakeSignUps:
    def test_address_variants_fill_no_seat_and_their_mails_stay_within_the_cap(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Any, registrations: Registrations
    ) -> None:
        session_id = make_session(capacity=5, confirm_email=True)
        fakes = [post(client, session_id, f"target+{n}@example.nl") for n in range(20)]
        post(client, session_id, "echt@example.nl", first_name="Echt")
        notifier.sweep(soon())
        reached = sorted(r.recipients[0].split("+")[0] for r in inbox.received)

        seated = client.post(link_in(confirm_mail(inbox, "echt@example.nl")), headers=JSON)
        report = notifier.sweep(datetime.now(UTC) + timedelta(hours=24, minutes=1))

        statuses = [doc["status"] for doc in registrations(session_id)]
        mails = [doc["emails"]["confirm_address"]["state"] for doc in registrations(session_id)]
        assert {fake.get_json()["status"] for fake in fakes} == {"check_email"}
        assert seated.get_json()["status"] == "confirmed"
        assert sorted(statuses) == ["confirmed"] + ["expired"] * 20
        assert len(seats(db, session_id)) == 1
        assert report.lapsed == 20
        assert (mails.count("sent"), mails.count("skipped")) == (11, 10)  # 10 to the target's mailbox, 1 to Echt
        assert reached == ["echt@example.nl"] + ["target"] * 10


class TestRefused:
    @pytest.mark.parametrize(
        "forge",
        [
            lambda s, r: cancel_token(s, r),  # a cancel link is no confirm link
            lambda s, r: confirm_token(s, r)[:-2] + ("AA" if not confirm_token(s, r).endswith("AA") else "BB"),
            lambda s, r: confirm_token(s, "someone-else"),
            lambda s, r: "not-a-token",
        ],
    )
    def test_a_forged_link_is_not_found_and_changes_nothing(
        self, client: Any, db: Any, session: str, registrations: Registrations, forge: Any
    ) -> None:
        post(client, session, "jan@example.nl")
        forged = forge(session, stored(registrations, session)["jan@example.nl"]["id"])

        answers = {client.get(f"/confirm/{forged}").status_code, client.post(f"/confirm/{forged}").status_code}

        assert answers <= {404, 410}
        assert stored(registrations, session)["jan@example.nl"]["status"] == "unconfirmed"
        assert seats(db, session) == {}

    @pytest.mark.parametrize(
        "headers",
        [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}, {"Origin": "null"}],
    )
    def test_a_post_from_another_site_is_refused_and_changes_nothing(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, session: str, registrations: Registrations,
        headers: dict[str, str],
    ) -> None:  # fmt: skip
        link = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")

        refused = client.post(link, headers=headers)
        ours = client.post(link, headers={"Origin": PUBLIC_BASE_URL, "Sec-Fetch-Site": "same-origin"})

        assert refused.status_code == 403
        assert "Bevestigen kan alleen via de link in je e-mail" in refused.get_data(as_text=True)
        assert ours.status_code == 200

    def test_a_link_stops_working_when_registration_closes(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, session: str, registrations: Registrations
    ) -> None:
        link = sign_up_and_get_link(client, notifier, inbox, session, "jan@example.nl", "Jan")
        closed = datetime.now(UTC) - timedelta(minutes=1)
        db.collection("sessions").document(session).update({"registration_closes_at": closed})

        answers = {client.get(link).status_code, client.post(link).status_code}

        assert answers == {409}
        assert stored(registrations, session)["jan@example.nl"]["status"] == "unconfirmed"
        assert seats(db, session) == {}


class TestTheConsole:
    def test_counts_and_export_show_who_is_unconfirmed_and_who_lapsed(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Any, tmp_path: Path,
        registrations: Registrations,
    ) -> None:  # fmt: skip
        session_id = make_session(capacity=5, confirm_email=True)
        confirmed = sign_up_and_get_link(client, notifier, inbox, session_id, "ann@example.nl", "Ann")
        client.post(confirmed)
        post(client, session_id, "bob@example.nl", first_name="Bob")
        post(client, session_id, "cor@example.nl", first_name="Cor")
        move_deadline_to_the_past(db, session_id, stored(registrations, session_id)["cor@example.nl"]["id"])
        notifier.sweep(soon())
        out = io.StringIO()
        output = tmp_path / "export.csv"

        assert cli.main(["sessions", "list"], out=out) == 0
        assert cli.main(["export", session_id, "--output", str(output)], out=io.StringIO()) == 0

        _, line = out.getvalue().splitlines()
        names = ("confirmed", "waitlisted", "cancelled", "seats_left", "queued", "failed", "unconfirmed", "expired")
        counts = dict(zip(names, line.split()[-8:], strict=True))
        assert {name: counts[name] for name in ("confirmed", "waitlisted", "unconfirmed", "expired")} == {
            "confirmed": "1",
            "waitlisted": "0",
            "unconfirmed": "1",
            "expired": "1",
        }
        assert counts["seats_left"] == "4"
        rows = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig")), delimiter=";"))
        status = {row[2]: (row[5], row[6]) for row in rows[1:]}
        assert {name: state for name, (state, _) in status.items()} == {  # in the session's language
            "Ann": "aangemeld",
            "Bob": "nog niet bevestigd",
            "Cor": "verlopen",
        }
        assert all(re.fullmatch(r"\d\d-\d\d-\d{4} \d\d:\d\d", when) for _, when in status.values())
