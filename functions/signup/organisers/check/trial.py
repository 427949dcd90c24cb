"""A test sign-up end to end, as a visitor makes one: into a session of the check's own, marked as such (never
counted, exported or reminded), followed in Firestore until its confirmation is sent; then everything it made goes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from signup.ledger import fields, mailkeys
from signup.ledger.outbox import MailState
from signup.ledger.session import CHECK_SESSION, STARTS_AT
from signup.mail.transport.mailcap import MailCap
from signup.organisers.check.live import Answer, Http
from signup.organisers.check.report import Result, Status

STORED, MAIL = "sign_up.stored", "sign_up.mail"
# A person of the check's own: who it is, and what it is called in mails.
FIRST_NAME, LAST_NAME = "signup", "check"
POLL_SECONDS = 0.5


@contextmanager
def check_session(client: Any, now: datetime | None = None) -> Iterator[str]:
    """A session for the check's sign-up, a month ahead, open to nobody's website; removed with all it holds."""
    session_id = f"signup-check-{secrets.token_hex(6)}"
    starts = (now or datetime.now(UTC)).replace(microsecond=0) + timedelta(days=30)
    client.collection(fields.SESSIONS).document(session_id).create(
        {
            "title": "signup check",
            STARTS_AT: starts,
            "ends_at": starts + timedelta(hours=1),
            "reminder_hours": [],
            CHECK_SESSION: True,
        }
    )
    try:
        yield session_id
    finally:
        remove(client, session_id)


def remove(client: Any, session_id: str) -> None:
    """The session and what is filed under it: its registrations and seats."""
    session = client.collection(fields.SESSIONS).document(session_id)
    batch = client.batch()
    for group in (fields.REGISTRATIONS, fields.SEATS):
        for snapshot in session.collection(group).select([]).stream():
            batch.delete(snapshot.reference)
    batch.delete(session)
    batch.commit()


def check_sign_up(
    http: Http,
    client: Any,
    cap: MailCap,
    session_id: str,
    address: str,
    *,
    timeout: float,
    progress: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
) -> list[Result]:
    """Sign up `address`, then wait for its confirmation's state to settle; the mail it sent is uncounted again."""
    person = {fields.FIRST_NAME: FIRST_NAME, fields.LAST_NAME: LAST_NAME, fields.EMAIL: address}
    answer = http.ask("POST", f"/sessions/{session_id}/registrations", body=person)
    if answer.status != 201:
        return [_refused(answer)]
    registration_id = str(answer.json()["id"])
    stored = Result(
        STORED,
        Status.PASS,
        f"sign-up: stored and answered {answer.json()[fields.STATUS]}",
        seconds=answer.seconds,
        details={"registration": registration_id},
    )
    ref = client.collection(fields.SESSIONS, session_id, fields.REGISTRATIONS).document(registration_id)
    started = clock()
    mail: dict[str, Any] = {}
    while clock() - started < timeout:
        snapshot = ref.get()
        mail = ((snapshot.to_dict() or {}).get(fields.EMAILS) or {}).get(mailkeys.CONFIRMATION) or {}
        waited = clock() - started
        state, error = mail.get(fields.STATE, "not queued"), mail.get(fields.LAST_ERROR)
        progress(f"the confirmation to {address}: {state} after {waited:.0f} s" + (f" ({error})" if error else ""))
        if state == MailState.SENT:
            cap.take_back(address, 1, mail.get(fields.SENT_AT) or datetime.now(UTC))
            return [stored, _sent(mail, waited, address)]
        if state in (MailState.FAILED, MailState.SKIPPED):
            return [stored, _not_sent(mail, state)]
        time.sleep(POLL_SECONDS)
    return [stored, _waiting(mail, timeout)]


def _refused(answer: Answer) -> Result:
    said = answer.json() or {}
    reasons = [
        str(said.get("error", "no JSON")),
        *(f"{name}: {text}" for name, text in (said.get("errors") or {}).items()),
    ]
    summary = f"sign-up: answered {answer.status or answer.error} ({'; '.join(reasons)})"
    return Result(STORED, Status.FAIL, summary, "See the function's log (Cloud Logging, `register`).", answer.seconds)


def _sent(mail: dict[str, Any], waited: float, address: str) -> Result:
    return Result(
        MAIL,
        Status.PASS,
        f"mail: the confirmation went to {address} {waited:.1f} s after the sign-up; look for it in that inbox",
        seconds=waited,
        details={"message-id": mail.get(fields.MESSAGE_ID)},
    )


def _not_sent(mail: dict[str, Any], state: str) -> Result:
    return Result(
        MAIL,
        Status.FAIL,
        f"mail: the confirmation {state}: {mail.get(fields.LAST_ERROR) or 'no reason given'}",
        "The reason is the mail server's answer, or why notify did not send it: fix that and run the check again.",
        details={fields.STATE: state},
    )


def _waiting(mail: dict[str, Any], timeout: float) -> Result:
    state = mail.get(fields.STATE, "not queued")
    error = mail.get(fields.LAST_ERROR)
    return Result(
        MAIL,
        Status.FAIL,
        f"mail: the confirmation is still {state} after {timeout:.0f} s" + (f": {error}" if error else ""),
        "Is notify deployed with its trigger on registrations (infra/functions.tf)? Its log says what it did.",
        details={fields.STATE: state},
    )
