"""`signup mail`: the organiser writes to everyone signed up; each person gets it once, through a real SMTP server."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from signup.keys import KeyRing
from signup.mail import messages
from signup.mail.compose import paragraphs
from signup.organisers import cli
from signup.tokens import CancelTokens

from dev.mailbox import Mailbox
from tests.conftest import SIGNING_KEY
from tests.support import SUMMER, on_a_terminal, parts

BODY = """Beste deelnemers,

We beginnen om 16:00 stipt. Lees vooraf het programma:
https://www.example.nl/programma?dag=1&deel=2.

Parkeren kan bij de achteringang (zie https://www.example.nl/route).
<script>alert("x")</script> & javascript:alert(1)
"""
PEOPLE = [
    ("Jan", "van der", "Berg", "jan@example.nl"),
    ("Piet", "", "Jansen", "piet@example.nl"),
    ("Kees", "", "Hoff", "kees@example.nl"),  # on the waiting list
]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def sign_up(client: Any, session_id: str, first: str, infix: str, last: str, email: str) -> dict[str, Any]:
    response = client.post(
        f"/sessions/{session_id}/registrations",
        json={"first_name": first, "infix": infix, "last_name": last, "email": email},
    )
    assert response.status_code == 201, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


@pytest.fixture
def body(tmp_path: Path) -> Path:
    path = tmp_path / "bericht.txt"
    path.write_text(BODY, encoding="utf-8")
    return path


@pytest.fixture
def session(client: Any, make_session: Callable[..., str]) -> dict[str, Any]:
    """Two people with a seat and one on the waiting list (their confirmations still to be sent)."""
    session_id = make_session(capacity=2, starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
    people = {person[-1]: sign_up(client, session_id, *person) for person in PEOPLE}
    return {"id": session_id, "people": people}


def mail(session_id: str, body: Path, *extra: str, to: str = "all") -> tuple[int, str]:
    return run("mail", session_id, "--subject", "Het programma", "--body-file", str(body), "--to", to, *extra)


def sweep(notifier: Any, inbox: Mailbox) -> list[Any]:
    """Let `notify` send what is due; return the organiser's messages it sent (not the confirmations)."""
    notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
    return [r for r in inbox.received if r.message["Subject"] == "Het programma (Strategiesessie)"]


def registration(db: Any, session_id: str, registration_id: str) -> dict[str, Any]:
    ref = db.collection("sessions").document(session_id).collection("registrations").document(registration_id)
    data: dict[str, Any] = ref.get().to_dict()
    return data


def message_key() -> str:
    return messages.message("Het programma", BODY, "all").key


class TestTheMessage:
    def test_reaches_each_person_once_by_name_with_the_text_the_session_and_their_own_cancel_link(
        self, session: dict[str, Any], body: Path, notifier: Any, inbox: Mailbox, db: Any
    ) -> None:
        code, said = mail(session["id"], body, "--yes")
        received = sweep(notifier, inbox)

        assert code == 0
        assert said.startswith("queued 3 mails")
        assert sorted(r.recipients[0] for r in received) == ["jan@example.nl", "kees@example.nl", "piet@example.nl"]
        [jan] = [r.message for r in received if r.recipients == ["jan@example.nl"]]
        text, html = parts(jan)
        assert str(jan["From"]) == "Strategiesessies <sessies@example.nl>"
        assert str(jan["Reply-To"]) == "Anna de Vries <anna@example.nl>"
        assert str(jan["To"]) == "Jan van der Berg <jan@example.nl>"
        assert not [a for a in jan.iter_attachments() if a.get_content_type() == "text/calendar"]
        assert text.startswith("Beste Jan,\n\nBeste deelnemers,\n\nWe beginnen om 16:00 stipt.")
        assert "https://www.example.nl/programma?dag=1&deel=2." in text
        assert '<script>alert("x")</script> & javascript:alert(1)' in text
        for part in (text, html):
            assert "Strategiesessie" in part
            assert "dinsdag 10 juni 2036, 16:00–18:00" in part
        [cancel_link] = re.findall(r"http://signup\.test/cancel/(\S+)", text)
        named = CancelTokens(KeyRing.parse(SIGNING_KEY)).read(cancel_link)
        assert (named.session_id, named.registration_id) == (session["id"], session["people"]["jan@example.nl"]["id"])
        assert f'href="http://signup.test/cancel/{cancel_link}"' in html
        # Paragraphs as <p>, a line break as <br>, links clickable without the sentence's full stop, the rest escaped.
        link = '<a href="{}" class="mail-link" style="color:#1a5fb4;">'
        assert link.format("https://www.example.nl/programma?dag=1&amp;deel=2") in html
        assert "deel=2</a>." in html
        assert link.format("https://www.example.nl/route") + "https://www.example.nl/route</a>)" in html
        assert "Lees vooraf het programma:<br>\n<a " in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; javascript:alert(1)" in html
        assert "<script>" not in html
        assert 'href="javascript' not in html
        assert html.count('<p style="margin:0 0 16px 0;">') >= 4

    def test_is_stored_once_and_its_mail_is_readable_on_each_registration(
        self, session: dict[str, Any], body: Path, notifier: Any, inbox: Mailbox, db: Any
    ) -> None:
        mail(session["id"], body, "--yes")
        sweep(notifier, inbox)

        key = message_key()
        stored = (
            db.collection("sessions")
            .document(session["id"])
            .collection("messages")
            .document(key.removeprefix("message_"))
        )
        document = stored.get().to_dict()
        assert document["subject"] == "Het programma"
        assert document["body"] == BODY.strip()
        assert document["to"] == "all"
        assert isinstance(document["created_at"], datetime)
        for person in session["people"].values():
            state = registration(db, session["id"], person["id"])["emails"][key]
            assert (state["state"], state["attempts"]) == ("sent", 1)
            assert isinstance(state["sent_at"], datetime)

    @pytest.mark.parametrize(
        ("to", "expected"),
        [
            ("confirmed", ["jan@example.nl", "piet@example.nl"]),
            ("waitlisted", ["kees@example.nl"]),
            ("all", ["jan@example.nl", "kees@example.nl", "piet@example.nl"]),
        ],
    )
    def test_goes_to_whom_it_is_for_and_never_to_who_cancelled(
        self,
        to: str,
        expected: list[str],
        session: dict[str, Any],
        body: Path,
        client: Any,
        notifier: Any,
        inbox: Mailbox,
    ) -> None:
        gone = sign_up(client, session["id"], "Weg", "", "Gegaan", "weg@example.nl")
        run("cancel", session["id"], gone["id"])

        mail(session["id"], body, "--yes", to=to)
        received = sweep(notifier, inbox)

        assert sorted(r.recipients[0] for r in received) == expected


class TestExactlyOnce:
    def test_running_the_command_twice_sends_each_person_one_mail(
        self, session: dict[str, Any], body: Path, notifier: Any, inbox: Mailbox, db: Any
    ) -> None:
        first = mail(session["id"], body, "--yes")
        again_before_sending = mail(session["id"], body, "--yes")
        sweep(notifier, inbox)
        again_after_sending = mail(session["id"], body, "--yes")
        received = sweep(notifier, inbox)

        assert first[1].startswith("queued 3 mails")
        assert again_before_sending[1].startswith("nobody to send it to")
        assert again_after_sending[1].startswith("nobody to send it to")
        assert len(received) == 3
        assert {
            registration(db, session["id"], p["id"])["emails"][message_key()]["attempts"]
            for p in session["people"].values()
        } == {1}

    def test_a_run_that_was_interrupted_is_completed_by_the_next_without_resetting_what_went(
        self, session: dict[str, Any], body: Path, notifier: Any, inbox: Mailbox, db: Any
    ) -> None:
        # The first run stored the message and queued its first batch (of one), which went out; then it died.
        text = messages.message("Het programma", BODY, "all")
        from signup.store.sessions import SessionStore

        stored = SessionStore(db, ttl=0).get(session["id"])
        messages.store(db, stored, text, datetime.now(UTC))
        first = next(iter(messages.recipients(db, stored, text)))
        assert messages.queue(db, text, [first], batch_size=1) == 1
        sent_before = sweep(notifier, inbox)
        state_before = registration(db, session["id"], first.id)["emails"][text.key]

        code, said = mail(session["id"], body, "--yes")
        received = sweep(notifier, inbox)

        assert [r.recipients for r in sent_before] == [[first.get("email")]]
        assert (code, said.split(";")[0]) == (0, "queued 2 mails")
        assert sorted(r.recipients[0] for r in received) == ["jan@example.nl", "kees@example.nl", "piet@example.nl"]
        assert registration(db, session["id"], first.id)["emails"][text.key] == state_before

    def test_a_batch_spoilt_by_a_concurrent_write_is_queued_one_by_one_and_skips_what_is_there(
        self, session: dict[str, Any], db: Any
    ) -> None:
        from signup.store.sessions import SessionStore

        stored = SessionStore(db, ttl=0).get(session["id"])
        text = messages.message("Het programma", BODY, "all")
        snapshots = list(messages.recipients(db, stored, text))
        # Between reading and writing: one registration is changed, another already got the mail queued.
        snapshots[0].reference.update({"origin": "https://www.example.nl"})
        snapshots[1].reference.update({f"emails.{text.key}": {"state": "sent", "attempts": 1}})

        queued = messages.queue(db, text, snapshots, batch_size=2)

        emails = [registration(db, session["id"], s.id)["emails"][text.key] for s in snapshots]
        assert queued == 2
        assert [mail["state"] for mail in emails] == ["pending", "sent", "pending"]
        assert emails[1]["attempts"] == 1


class TestAskingFirst:
    def test_a_dry_run_sends_and_stores_nothing_and_shows_what_the_first_person_would_see(
        self, session: dict[str, Any], body: Path, notifier: Any, inbox: Mailbox, db: Any
    ) -> None:
        code, said = mail(session["id"], body, "--dry-run")
        received = sweep(notifier, inbox)

        assert code == 0
        assert said.startswith("dry run, nothing sent: 3 would get “Het programma”")
        assert "From: Strategiesessies <sessies@example.nl>" in said
        assert "Reply-To: Anna de Vries <anna@example.nl>" in said
        assert "To: Jan van der Berg <jan@example.nl>" in said  # the earliest sign-up
        assert "Beste Jan,\n\nBeste deelnemers," in said
        assert "http://signup.test/cancel/" in said
        assert received == []
        assert list(db.collection("sessions").document(session["id"]).collection("messages").stream()) == []
        assert all(
            message_key() not in registration(db, session["id"], p["id"])["emails"] for p in session["people"].values()
        )

    def test_without_yes_and_without_a_terminal_it_refuses(
        self, session: dict[str, Any], body: Path, db: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, said = mail(session["id"], body)

        assert code == 2
        assert "--yes" in capsys.readouterr().err
        assert said == ""
        assert list(db.collection("sessions").document(session["id"]).collection("messages").stream()) == []

    @pytest.mark.parametrize(("answer", "queued"), [("n\n", False), ("\n", False), ("y\n", True)])
    def test_on_a_terminal_it_asks_and_sends_only_on_yes(
        self, answer: str, queued: bool, session: dict[str, Any], body: Path, db: Any
    ) -> None:
        code, out, err = on_a_terminal(
            ["mail", session["id"], "--subject", "Het programma", "--body-file", str(body), "--to", "all"], answer
        )

        assert code == 0, err
        assert out.startswith(f"Send “Het programma” to 3 people of {session['id']}? [y/N] ")
        assert ("queued 3 mails" in out) is queued
        stored = list(db.collection("sessions").document(session["id"]).collection("messages").stream())
        assert len(stored) == int(queued)


@pytest.mark.parametrize(
    ("argv", "body", "named"),
    [
        (["--subject", "  "], BODY, "--subject"),
        (["--subject", "a\x07b"], BODY, "--subject"),
        (["--subject", "x" * 201], BODY, "--subject"),
        ([], "\n \n\t\n", "body"),
        ([], "x" * 20_001, "too long"),
        ([], "nul\x00byte", "control"),
    ],
)
def test_a_message_that_cannot_be_sent_is_refused_with_a_reason_and_nothing_is_stored(
    argv: list[str],
    body: str,
    named: str,
    session: dict[str, Any],
    tmp_path: Path,
    db: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "bericht.txt"
    path.write_text(body, encoding="utf-8")

    code, _ = run("mail", session["id"], "--subject", "Het programma", "--body-file", str(path), "--to", "all", *argv)

    assert code == 2
    assert named in capsys.readouterr().err
    assert list(db.collection("sessions").document(session["id"]).collection("messages").stream()) == []


def test_a_body_file_that_is_not_utf8_or_missing_is_named(
    session: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Café".encode("latin-1"))

    codes = [mail(session["id"], path, "--yes")[0] for path in (latin, tmp_path / "missing.txt")]

    assert codes == [2, 2]
    err = capsys.readouterr().err
    assert "latin1.txt" in err
    assert "missing.txt" in err


@pytest.mark.parametrize(
    ("typed", "html"),
    [
        (
            "zie https://a.nl/x.",
            'zie <a href="https://a.nl/x" class="mail-link" style="color:#1a5fb4;">https://a.nl/x</a>.',
        ),
        ("(https://a.nl/x)", '(<a href="https://a.nl/x" class="mail-link" style="color:#1a5fb4;">https://a.nl/x</a>)'),
        (
            "https://a.nl/wiki/A_(b)",
            '<a href="https://a.nl/wiki/A_(b)" class="mail-link" style="color:#1a5fb4;">https://a.nl/wiki/A_(b)</a>',
        ),
        ("HTTP://A.nl", '<a href="HTTP://A.nl" class="mail-link" style="color:#1a5fb4;">HTTP://A.nl</a>'),
        ("http://", "http://"),
        ("ftp://a.nl javascript:x data:x", "ftp://a.nl javascript:x data:x"),
        (
            '<a href="https://a.nl">',
            '&lt;a href=&#34;<a href="https://a.nl" class="mail-link" style="color:#1a5fb4;">https://a.nl</a>&#34;&gt;',
        ),
        ("een\ntwee\n\ndrie", "een<br>\ntwee\n\ndrie"),
        ("\nrand\n", "\nrand\n"),
    ],
)
def test_links_are_made_clickable_and_nothing_else_is_html(typed: str, html: str) -> None:
    assert str(paragraphs.linkify(typed)) == html


def test_sessions_list_shows_the_mail_still_queued_and_the_mail_that_failed_per_session(
    client: Any, notifier: Any, inbox: Mailbox, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id, "Jan", "", "Berg", "jan@example.nl")
    inbox.refuse_always("550 5.1.1 Mailbox does not exist")
    notifier.registration_written(session_id, jan["id"])
    inbox.refuse_always(None)
    piet = sign_up(client, session_id, "Piet", "", "Jansen", "piet@example.nl")

    _, while_queued = run("sessions", "list")
    notifier.registration_written(session_id, piet["id"])
    _, once_sent = run("sessions", "list")

    assert while_queued.splitlines()[0].split()[-6:-2] == ["mail", "queued", "mail", "failed"]
    assert while_queued.splitlines()[1].split()[-4:-2] == ["1", "1"]
    assert once_sent.splitlines()[1].split()[-4:-2] == ["0", "1"]


@pytest.mark.parametrize(
    ("to", "expected"),
    [("present", ["jan@example.nl"]), ("not-present", ["piet@example.nl"]), ("confirmed", ["jan@", "piet@"])],
)
def test_after_the_session_a_follow_up_goes_to_who_came_or_to_who_did_not(
    session: dict[str, Any], body: Path, notifier: Any, inbox: Mailbox, db: Any, to: str, expected: list[str]
) -> None:
    jan = session["people"]["jan@example.nl"]["id"]
    db.collection("sessions", session["id"], "registrations").document(jan).update({"checked_in_at": SUMMER})

    code, said = mail(session["id"], body, "--yes", to=to)
    received = sweep(notifier, inbox)

    assert code == 0
    assert said.startswith(f"queued {len(expected)} mail")
    assert sorted(r.recipients[0] for r in received) == sorted(
        address if address.endswith(".nl") else f"{address}example.nl" for address in expected
    )
