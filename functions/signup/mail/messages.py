"""The organiser's word to everyone: one message document per text, one queued mail per person.

A message is stored once as `sessions/{id}/messages/{digest}`, the digest being of its subject and body; each
recipient's registration gets `emails.message_{digest}` through the outbox, and `notify` sends it like any other
mail. Queueing only ever adds a mail that is not there yet, on condition that the registration did not change since
it was read: a second run of the same text, or a run after an interrupted one, queues only who is still missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.errors import MisconfiguredError, NotFoundError
from signup.ledger.session import SESSIONS, Session
from signup.ledger.writes import CONFLICTS
from signup.mail import outbox
from signup.store.registrations import CONFIRMED, REGISTRATIONS, WAITLISTED

MESSAGES = "messages"
KEY_PREFIX = "message_"
# Who a message goes to, by the status their registration has when it is queued.
AUDIENCES = {"confirmed": (CONFIRMED,), "waitlisted": (WAITLISTED,), "all": (CONFIRMED, WAITLISTED)}
# Firestore takes at most 500 writes in one commit.
BATCH = 500
MAX_SUBJECT = 200
MAX_BODY = 20_000
_BLANK_LINES = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    to: str

    @property
    def digest(self) -> str:
        """Names the text: the same subject and body give the same message, whoever runs the command again."""
        return hashlib.sha256(f"{self.subject}\x00{self.body}".encode()).hexdigest()[:24]

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}{self.digest}"

    def context(self) -> dict[str, Any]:
        """What the mail templates read of it."""
        return {"message_subject": self.subject, "message_body": self.body}


def message(subject: str, body: str, to: str) -> Message:
    """A message as the organiser gave it, checked: one-line subject, a body of paragraphs, a known audience."""
    subject = " ".join(subject.split())
    if not subject:
        raise MisconfiguredError("--subject is empty")
    if len(subject) > MAX_SUBJECT or any(unicodedata.category(ch) == "Cc" for ch in subject):
        raise MisconfiguredError(f"--subject must be one line of at most {MAX_SUBJECT} characters")
    if to not in AUDIENCES:
        raise MisconfiguredError(f"--to must be one of {', '.join(AUDIENCES)}")
    lines = [line.rstrip() for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    paragraphs = [part.strip("\n") for part in _BLANK_LINES.split("\n".join(lines))]
    text = "\n\n".join(part for part in paragraphs if part.strip())
    if not text:
        raise MisconfiguredError("the body file is empty")
    if len(text) > MAX_BODY:
        raise MisconfiguredError(f"the body is too long (at most {MAX_BODY} characters)")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise MisconfiguredError("the body contains control characters; save it as plain UTF-8 text")
    return Message(subject, text, to)


def store(client: Any, session: Session, text: Message, now: datetime) -> None:
    """Keep the message for `notify` to compose from; the same text stored again is left as it was."""
    ref = client.collection(SESSIONS).document(session.id).collection(MESSAGES).document(text.digest)
    document = {
        "subject": text.subject,
        "body": text.body,
        "to": text.to,
        "created_at": now,
        "expires_at": session.expires_at,
    }
    with contextlib.suppress(google_errors.AlreadyExists):  # a second run of the same text: the first's serves
        ref.create(document)


def load(client: Any, session_id: str, key: str) -> Message:
    """The message a queued `message_{digest}` mail is to carry."""
    ref = client.collection(SESSIONS).document(session_id).collection(MESSAGES).document(key.removeprefix(KEY_PREFIX))
    snapshot = ref.get()
    if not snapshot.exists:
        raise NotFoundError(f"message {ref.id}")
    data = snapshot.to_dict() or {}
    return Message(str(data.get("subject", "")), str(data.get("body", "")), str(data.get("to", "")))


def recipients(client: Any, session: Session, text: Message) -> Iterator[Any]:
    """The registrations that are to get the message and do not have it yet, earliest sign-up first."""
    registrations = client.collection(SESSIONS).document(session.id).collection(REGISTRATIONS)
    found = []
    for status in AUDIENCES[text.to]:
        found.extend(registrations.where(filter=FieldFilter("status", "==", status)).stream())
    found.sort(key=_signed_up)
    return (snapshot for snapshot in found if _lacks(snapshot, text))


def _signed_up(snapshot: Any) -> tuple[bool, datetime | None, str]:
    created = (snapshot.to_dict() or {}).get("created_at")
    return created is None, created, snapshot.id


def _lacks(snapshot: Any, text: Message) -> bool:
    if not snapshot.exists:
        return False
    data = snapshot.to_dict() or {}
    return (
        data.get("status") in AUDIENCES[text.to]
        and bool(data.get("email"))
        and text.key not in (data.get("emails") or {})
    )


def queue(client: Any, text: Message, snapshots: Iterable[Any], batch_size: int = BATCH) -> int:
    """Queue the message's mail on each registration that still lacks it, in commits of `batch_size`.

    Each write holds only if the registration did not change since it was read; a commit that one of them spoils
    is done again one by one from a fresh read, so a mail already queued or sent is never reset.
    """
    todo = list(snapshots)
    queued = 0
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        batch = client.batch()
        for snapshot in chunk:
            batch.update(
                snapshot.reference,
                outbox.pending_update(text.key),
                option=client.write_option(last_update_time=snapshot.update_time),
            )
        try:
            batch.commit()
        except (*CONFLICTS, google_errors.NotFound):
            queued += sum(_queue_one(client, text, snapshot) for snapshot in chunk)
        else:
            queued += len(chunk)
    return queued


def _queue_one(client: Any, text: Message, snapshot: Any) -> bool:
    for _ in range(8):
        if not _lacks(snapshot, text):
            return False
        try:
            snapshot.reference.update(
                outbox.pending_update(text.key), option=client.write_option(last_update_time=snapshot.update_time)
            )
        except CONFLICTS:
            snapshot = snapshot.reference.get()
            continue
        except google_errors.NotFound:
            return False
        return True
    raise google_errors.Aborted("a registration kept changing while its message was queued")  # type: ignore[no-untyped-call]
