"""The organiser's word to everyone: one message document per text, one queued mail per person.

A message is stored once as `sessions/{id}/messages/{digest}`, the digest being of its subject and body; each
recipient's registration gets `emails.message_{digest}` through the outbox, and `notify` sends it like any other
mail. Queueing only ever adds a mail that is not there yet, on condition that the registration did not change since
it was read: a second run of the same text, or a run after an interrupted one, queues only who is still missing.
Whoever unsubscribed from the organiser's messages (the link in each, RFC 8058) gets none, queued or not.
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
from signup.ledger import fields, mailkeys, registration
from signup.ledger.outbox import pending_update
from signup.ledger.session import Session
from signup.ledger.status import Status
from signup.ledger.writes import BATCH, KeptChangingError, Read, reads, write_unchanged

MESSAGES = "messages"
# Who a message goes to, by the status their registration has when it is queued.
AUDIENCES = {
    "confirmed": (Status.CONFIRMED,),
    "waitlisted": (Status.WAITLISTED,),
    "all": (Status.CONFIRMED, Status.WAITLISTED),
    # After the session, a follow-up: the slides to who came, a word to who did not (checked in at the door or not).
    "present": (Status.CONFIRMED,),
    "not-present": (Status.CONFIRMED,),
}
PRESENCE = {"present": True, "not-present": False}
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
        return mailkeys.message_key(self.digest)

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
    ref = client.collection(fields.SESSIONS, session.id, MESSAGES).document(text.digest)
    document = {
        "subject": text.subject,
        "body": text.body,
        "to": text.to,
        fields.CREATED_AT: now,
        fields.EXPIRES_AT: session.expires_at,
    }
    with contextlib.suppress(google_errors.AlreadyExists):  # a second run of the same text: the first's serves
        ref.create(document)


def load(client: Any, session_id: str, key: str) -> Message:
    """The message a queued `message_{digest}` mail is to carry."""
    ref = client.collection(fields.SESSIONS, session_id, MESSAGES).document(mailkeys.message_digest(key))
    snapshot = ref.get()
    if not snapshot.exists:
        raise NotFoundError(f"message {ref.id}")
    data = snapshot.to_dict() or {}
    return Message(str(data.get("subject", "")), str(data.get("body", "")), str(data.get("to", "")))


def recipients(client: Any, session: Session, text: Message) -> Iterator[Any]:
    """The registrations that are to get the message and do not have it yet, earliest sign-up first."""
    return (snapshot for snapshot in _audience(client, session, text) if _lacks(snapshot, text))


def unsubscribed(client: Any, session: Session, text: Message) -> list[Any]:
    """The registrations the message is for whose people asked for no more of the organiser's messages."""
    return [
        snapshot for snapshot in _audience(client, session, text) if registration.unsubscribed(snapshot.to_dict() or {})
    ]


def _audience(client: Any, session: Session, text: Message) -> list[Any]:
    registrations = client.collection(fields.SESSIONS, session.id, fields.REGISTRATIONS)
    found = []
    for status in AUDIENCES[text.to]:
        found.extend(registrations.where(filter=FieldFilter(fields.STATUS, "==", status.value)).stream())
    found.sort(key=_signed_up)
    return found


def _signed_up(snapshot: Any) -> tuple[bool, datetime | None, str]:
    created = (snapshot.to_dict() or {}).get(fields.CREATED_AT)
    return created is None, created, snapshot.id


def _lacks(snapshot: Any, text: Message) -> bool:
    return snapshot.exists and _wants(snapshot.to_dict() or {}, text)


def _wants(data: dict[str, Any], text: Message) -> bool:
    return (
        data.get(fields.STATUS) in AUDIENCES[text.to]
        and _came_as_asked(data, text.to)
        and bool(data.get(fields.EMAIL))
        and not registration.unsubscribed(data)
        and text.key not in (data.get(fields.EMAILS) or {})
    )


def _came_as_asked(data: dict[str, Any], to: str) -> bool:
    """Whether the person was checked in at the door, as an audience of those present (or not) asks."""
    wanted = PRESENCE.get(to)
    return wanted is None or (data.get(fields.CHECKED_IN_AT) is not None) == wanted


def queue(client: Any, text: Message, snapshots: Iterable[Any], batch_size: int = BATCH) -> int:
    """Queue the message's mail on each registration that still lacks it, in commits of `batch_size`.

    Each write holds only if the registration did not change since it was read; one that changed is read again,
    so a mail already queued or sent is never reset.
    """

    def plan(read: Read) -> tuple[dict[str, Any], None] | None:
        return (pending_update(text.key), None) if _wants(dict(read.data or {}), text) else None

    writes = write_unchanged(client, reads(list(snapshots)), plan, batch=batch_size)
    if writes.gave_up:
        raise KeptChangingError("a registration")
    return len(writes.written)
