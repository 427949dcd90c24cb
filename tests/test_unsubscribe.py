"""One-click unsubscribe (RFC 8058) from the organiser's messages: the headers Gmail's and Yahoo's bulk-sender rules
expect on `signup mail`'s mails and on no others, the link served by `register`, and what stops and what still goes."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from signup.organisers import cli

from dev.mailbox import Mailbox
from tests.conftest import cancel_token, unsubscribe_token
from tests.support import SUMMER, parts, sign_up

SUBJECT = "Het programma"
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}  # as a mail provider's server posts it


def write(session_id: str, body: Path, subject: str = SUBJECT) -> str:
    out = io.StringIO()
    code = cli.main(["mail", session_id, "--subject", subject, "--body-file", str(body), "--to", "all", "--yes"], out)
    assert code == 0
    return out.getvalue()


def sweep(notifier: Any) -> None:
    notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))


def to(inbox: Mailbox, address: str) -> list[Any]:
    return [r.message for r in inbox.received if r.recipients == [address]]


def stored(db: Any, session_id: str, registration_id: str) -> dict[str, Any]:
    ref = db.collection("sessions", session_id, "registrations").document(registration_id)
    data: dict[str, Any] = ref.get().to_dict()
    return data


@pytest.fixture
def body(tmp_path: Path) -> Path:
    path = tmp_path / "bericht.txt"
    path.write_text("We beginnen om 16:00 stipt.\n", encoding="utf-8")
    return path


@pytest.fixture
def people(client: Any, make_session: Callable[..., str], notifier: Any, inbox: Mailbox) -> dict[str, Any]:
    """Jan and Piet signed up, their confirmations sent."""
    session_id = make_session(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2), reminder_hours=[24])
    notifier.session_written(session_id, _unknown())  # its creation's event: what attendees will be told is noted
    jan = sign_up(client, session_id)
    piet = sign_up(client, session_id, first_name="Piet", infix="", last_name="Jansen", email="piet@example.nl")
    sweep(notifier)
    inbox.clear()
    return {"session": session_id, "jan": jan["id"], "piet": piet["id"]}


class TestTheHeaders:
    def test_an_organisers_message_offers_one_click_unsubscribe_with_a_link_of_the_persons_own(
        self, people: dict[str, Any], body: Path, notifier: Any, inbox: Mailbox
    ) -> None:
        write(people["session"], body)
        sweep(notifier)

        [message] = to(inbox, "jan@example.nl")
        [link] = re.fullmatch(r"<(\S+)>", str(message["List-Unsubscribe"])).groups()  # type: ignore[union-attr]
        assert link == f"http://signup.test/unsubscribe/{unsubscribe_token(people['session'], people['jan'])}"
        assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        text, html = parts(message)
        assert link in text  # and a link in the body too, as the bulk-sender rules ask
        assert f'href="{link}"' in html

    def test_transactional_mail_offers_none(
        self, people: dict[str, Any], notifier: Any, inbox: Mailbox, db: Any
    ) -> None:
        session_ref = db.collection("sessions").document(people["session"])
        session_ref.update({"starts_at": SUMMER + timedelta(hours=1)})  # a change: the change mail
        notifier.session_written(people["session"], _unknown())
        sweep(notifier)

        mails = to(inbox, "jan@example.nl")
        assert [m["Subject"].split(":")[0] for m in mails] == ["Gewijzigd"]
        assert all(m["List-Unsubscribe"] is None and m["List-Unsubscribe-Post"] is None for m in mails)
        assert "/unsubscribe/" not in parts(mails[0])[0]


def _unknown() -> Any:
    from signup.mail.events import Change

    return Change()


class TestTheLink:
    def test_a_one_click_post_from_the_mail_provider_unsubscribes_without_a_page(
        self, people: dict[str, Any], client: Any, db: Any
    ) -> None:
        token = unsubscribe_token(people["session"], people["jan"])

        answer = client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click", headers=ONE_CLICK)
        again = client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click", headers=ONE_CLICK)

        assert (answer.status_code, again.status_code) == (200, 200)
        assert isinstance(stored(db, people["session"], people["jan"])["unsubscribed_at"], datetime)
        assert "unsubscribed_at" not in stored(db, people["session"], people["piet"])
        assert stored(db, people["session"], people["jan"])["status"] == "confirmed"  # still signed up

    def test_get_shows_a_page_with_a_button_and_changes_nothing(
        self, people: dict[str, Any], client: Any, db: Any
    ) -> None:
        token = unsubscribe_token(people["session"], people["jan"])

        page = client.get(f"/unsubscribe/{token}", headers={"Accept": "text/html"})

        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert f'<form method="post" action="http://signup.test/unsubscribe/{token}">' in html
        assert "Ja, stuur me geen berichten meer" in html
        assert "unsubscribed_at" not in stored(db, people["session"], people["jan"])
        assert page.headers["Content-Security-Policy"] == "frame-ancestors 'none'"

    @pytest.mark.parametrize(
        ("headers", "unsubscribes"),
        [
            ({}, True),  # a mail provider's server: no Origin, no Sec-Fetch-Site
            ({"Origin": "http://signup.test", "Sec-Fetch-Site": "same-origin"}, True),  # our own page's button
            ({"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, False),
            ({"Sec-Fetch-Site": "cross-site"}, False),
        ],
    )
    def test_a_post_is_refused_from_another_sites_page_as_cancelling_is(
        self, people: dict[str, Any], client: Any, db: Any, headers: dict[str, str], unsubscribes: bool
    ) -> None:
        token = unsubscribe_token(people["session"], people["jan"])

        answer = client.post(f"/unsubscribe/{token}", headers={"Accept": "application/json", **headers})

        assert answer.status_code == (200 if unsubscribes else 403)
        if unsubscribes:
            assert answer.get_json()["status"] == "unsubscribed"
        else:
            assert answer.get_json()["error"] == "cross_site"
        assert ("unsubscribed_at" in stored(db, people["session"], people["jan"])) is unsubscribes

    def test_a_forged_token_or_a_cancel_link_is_not_an_unsubscribe_link(
        self, people: dict[str, Any], client: Any, db: Any
    ) -> None:
        token = unsubscribe_token(people["session"], people["jan"])
        cancelling = cancel_token(people["session"], people["jan"])

        forged = client.post(f"/unsubscribe/{token[:-2]}xx", headers={"Accept": "application/json"})
        crossed = client.post(f"/unsubscribe/{cancelling}", headers={"Accept": "application/json"})

        assert (forged.status_code, crossed.status_code) == (404, 404)
        assert "unsubscribed_at" not in stored(db, people["session"], people["jan"])

    def test_a_link_of_an_earlier_sign_up_does_not_touch_the_next(
        self, people: dict[str, Any], client: Any, db: Any
    ) -> None:
        old = unsubscribe_token(people["session"], people["jan"])
        client.post(f"/cancel/{cancel_token(people['session'], people['jan'])}")
        sign_up(client, people["session"])  # Jan again: a fresh registration, a generation on

        answer = client.post(f"/unsubscribe/{old}", headers={"Accept": "application/json"})

        assert answer.status_code == 410
        assert answer.get_json()["error"] == "link_superseded"
        assert "unsubscribed_at" not in stored(db, people["session"], people["jan"])

    def test_a_link_of_an_earlier_sign_up_says_so_in_an_unsubscribe_pages_own_words(
        self, people: dict[str, Any], client: Any
    ) -> None:
        old = unsubscribe_token(people["session"], people["jan"])
        client.post(f"/cancel/{cancel_token(people['session'], people['jan'])}")
        sign_up(client, people["session"])

        page = client.get(f"/unsubscribe/{old}", headers={"Accept": "text/html"}).get_data(as_text=True)

        assert "<title>Geen berichten meer</title>" in page
        assert "annuleren" not in page.lower()  # not the cancel link's page
        assert "bevestigingsmail" not in page


class TestWhatFollows:
    def test_no_more_messages_but_changes_reminders_and_the_called_off_notice_still_come(
        self, people: dict[str, Any], body: Path, client: Any, notifier: Any, inbox: Mailbox, db: Any, tmp_path: Path
    ) -> None:
        session_id = people["session"]
        write(session_id, body, "Eerste bericht")  # queued for Jan before he unsubscribes, not yet sent
        client.post(f"/unsubscribe/{unsubscribe_token(session_id, people['jan'])}")
        said = write(session_id, body, "Tweede bericht")
        sweep(notifier)
        db.collection("sessions").document(session_id).update({"starts_at": SUMMER + timedelta(minutes=30)})
        notifier.session_written(session_id, _unknown())
        sweep(notifier)
        notifier.sweep(SUMMER + timedelta(minutes=30) - timedelta(hours=23))  # the reminder's day
        assert cli.main(["sessions", "cancel", session_id, "--message", "Ziek.", "--yes"], io.StringIO()) == 0
        notifier.session_written(session_id, _unknown())
        sweep(notifier)

        jan = [m["Subject"].split(":")[0] for m in to(inbox, "jan@example.nl")]
        piet = [m["Subject"].split(" (")[0].split(":")[0] for m in to(inbox, "piet@example.nl")]
        assert jan == ["Gewijzigd", "Herinnering", "Gaat niet door"]
        assert sorted(piet) == ["Eerste bericht", "Gaat niet door", "Gewijzigd", "Herinnering", "Tweede bericht"]
        assert "left out, unsubscribed from your messages (1):\n  Jan van der Berg <jan@example.nl>\n" in said
        assert "queued 1 mails" in said
        first = next(key for key in stored(db, session_id, people["jan"])["emails"] if key.startswith("message_"))
        skipped = stored(db, session_id, people["jan"])["emails"][first]
        assert (skipped["state"], skipped["last_error"]) == (
            "skipped",
            "the person unsubscribed from the organiser's messages",
        )

    def test_the_export_shows_who_unsubscribed_and_when(
        self, people: dict[str, Any], client: Any, tmp_path: Path
    ) -> None:
        client.post(f"/unsubscribe/{unsubscribe_token(people['session'], people['jan'])}")
        output = tmp_path / "aanmeldingen.csv"

        assert cli.main(["export", people["session"], "--output", str(output)], io.StringIO()) == 0

        rows = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig")), delimiter=";"))
        column = rows[0].index("Geen berichten sinds")
        by_name = {row[2]: row for row in rows[1:]}
        assert datetime.strptime(by_name["Jan"][column], "%d-%m-%Y %H:%M")
        assert by_name["Piet"][column] == ""


@pytest.mark.parametrize(
    ("left", "unsubscribed"),
    [
        (None, False),  # cleared in the console, to let Jan back in
        ("", False),
        (False, False),
        (datetime(2036, 5, 1, 10, 0, tzinfo=UTC), True),  # as the link writes it
        ("ja", True),  # typed in the console
    ],
    ids=["null", "empty", "false", "a moment", "text"],
)
def test_what_the_console_may_leave_in_unsubscribed_at_means_the_same_to_the_link_the_mail_and_the_export(
    left: object,
    unsubscribed: bool,
    people: dict[str, Any],
    body: Path,
    client: Any,
    db: Any,
    notifier: Any,
    inbox: Mailbox,
    tmp_path: Path,
) -> None:
    session_id = people["session"]
    db.collection("sessions", session_id, "registrations").document(people["jan"]).update({"unsubscribed_at": left})
    output = tmp_path / "aanmeldingen.csv"

    page = client.get(
        f"/unsubscribe/{unsubscribe_token(session_id, people['jan'])}", headers={"Accept": "application/json"}
    )
    said = write(session_id, body)
    sweep(notifier)
    exported = cli.main(["export", session_id, "--output", str(output)], io.StringIO())

    assert page.get_json()["status"] == ("unsubscribed" if unsubscribed else None)
    assert ("left out, unsubscribed from your messages (1)" in said) is unsubscribed
    assert [m["Subject"] for m in to(inbox, "jan@example.nl")] == (
        [] if unsubscribed else [f"{SUBJECT} (Strategiesessie)"]
    )
    assert exported == 0
    rows = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig")), delimiter=";"))
    column = rows[0].index("Geen berichten sinds")
    assert ({row[2]: row for row in rows[1:]}["Jan"][column] != "") is unsubscribed
