"""What many tests share: `register` served in-process from a service built their way, a sign-up through it, and
the mails and documents it leads to, read back."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import flask
import icalendar
from signup.http import web
from signup.http.validation import validate
from signup.http.web import Service
from signup.ledger.registration import SignUp

from dev.mailbox import Mailbox

JAN = {
    "organisation": "Gemeente Amsterdam",
    "first_name": "Jan",
    "infix": "van der",
    "last_name": "Berg",
    "email": "jan@example.nl",
}
SUMMER = datetime(2036, 6, 10, 14, 0, tzinfo=UTC)  # dinsdag 10 juni 2036, 16:00 in Amsterdam


def serve(built: Service) -> Any:
    """`register` as a Flask test client, answering every path and method through web.py, from `built`."""
    app = flask.Flask(f"register-{id(built)}")
    app.add_url_rule(
        "/<path:path>",
        "register",
        lambda path: web.handle(flask.request, lambda: built),
        methods=["GET", "POST", "OPTIONS"],
    )
    return app.test_client()


class Clock:
    """A clock the test sets: `register`'s or `notify`'s, passed in as either takes one."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def sign_up(client: Any, session_id: str, **person: str) -> dict[str, Any]:
    """Jan (or whoever `person` makes of him) signs up as a JSON client: the answer, which must be a 201."""
    response = client.post(f"/sessions/{session_id}/registrations", json={**JAN, **person})
    assert response.status_code == 201, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def mail_state(db: Any, session_id: str, registration_id: str, key: str = "confirmation") -> dict[str, Any]:
    """One mail of a registration, as stored."""
    snapshot = db.collection("sessions", session_id, "registrations").document(registration_id).get()
    state: dict[str, Any] = snapshot.to_dict()["emails"][key]
    return state


def parts(message: EmailMessage) -> tuple[str, str]:
    """A mail's plain-text and HTML parts."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    """The invitation a mail carries: its `text/calendar` alternative, the same file as its `.ics` attachment."""
    [inline] = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    [attached] = [part for part in message.iter_attachments() if str(part.get_filename()).endswith(".ics")]
    ics = inline.get_payload(decode=True)
    assert isinstance(ics, bytes)
    assert ics == attached.get_payload(decode=True)
    return icalendar.Calendar.from_ical(ics)


def token_in(inbox: Mailbox, address: str) -> str:
    """The token of the cancel link in the one mail to this address."""
    [mail] = [r.message for r in inbox.received if r.recipients == [address]]
    body = mail.get_body(("plain",))
    assert body is not None
    [link] = [word for word in str(body.get_content()).split() if "/cancel/" in word]
    return link.split("/cancel/", 1)[1]


def cancel(client: Any, session_id: str, registration_id: str) -> Any:
    """The person cancels through the link in their mail."""
    from tests.conftest import cancel_token

    response = client.post(f"/cancel/{cancel_token(session_id, registration_id)}")
    assert response.status_code == 200
    return response


def deliver(notify_app: Any, headers_and_body: tuple[dict[str, str], bytes]) -> int:
    """An event, as Eventarc delivers it, to `notify` in-process: the status it answers with."""
    headers, body = headers_and_body
    response = notify_app.test_client().post("/", headers=headers, data=body)
    return int(response.status_code)


# A registration-id key, for a Registrar made by hand.
KEYS = [b"a-registration-id-key-of-32-bytes"]


def person(first_name: str, email: str) -> SignUp:
    """A sign-up as the form's validation makes it."""
    return validate(
        {"first_name": [first_name], "last_name": ["Visser"], "email": [email]},
        language="nl",
        consent_required=False,
        smtputf8=False,
        deliverability=None,
    )


class Monotonic:
    """The monotonic clock of caches, set by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def register(db: Any, clock: Clock) -> Any:
    """`register` as the test run configures it, on a clock the test sets."""
    from signup import service
    from signup.settings import Settings

    built = service.build(Settings.from_env(), client=db)
    built.clock = clock
    return serve(built)


def token_on(page: str) -> str:
    """The form token a page's form carries."""
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def on_a_terminal(argv: list[str], answer: str) -> tuple[int, str, str]:
    """`signup ARGV` run with a terminal for its standard input, where the organiser types `answer`: its exit code,
    standard output and standard error."""
    from tests.conftest import ROOT

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "signup.organisers.cli", *argv],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "functions")},
    )
    os.close(terminal)
    try:
        os.write(controller, answer.encode())
        out, err = process.communicate(timeout=60)
    finally:
        os.close(controller)
    return process.returncode, out.decode(), err.decode()
