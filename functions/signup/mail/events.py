"""Read the CloudEvents that Eventarc delivers to `notify`: a registration or a session written, or a scheduler tick.

A Firestore event carries the document as it was and as it is (`DocumentEventData`, protobuf): `notify` decides
from it whether there is anything to do, so that the events its own writes cause cost no read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.events.cloud.firestore import DocumentEventData
from google.protobuf.message import DecodeError

log = logging.getLogger(__name__)

FIRESTORE = "google.cloud.firestore.document.v1."
CREATED = FIRESTORE + "created"
UPDATED = FIRESTORE + "updated"
WRITTEN = FIRESTORE + "written"
TICK = "google.cloud.pubsub.topic.v1.messagePublished"
REGISTRATION_PATH = re.compile(r"(?:documents/)?sessions/(?P<session>[^/]+)/registrations/(?P<registration>[^/]+)")
SESSION_PATH = re.compile(r"(?:documents/)?sessions/(?P<session>[^/]+)")
SIGN_IN_PATH = re.compile(r"(?:documents/)?signins/(?P<sign_in>[^/]+)")

Fields = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """A document as it was and as it is (None: did not exist). `known` is False when the event did not say."""

    old: Fields | None = None
    new: Fields | None = None
    known: bool = False


@dataclass(frozen=True)
class RegistrationWritten:
    session_id: str
    registration_id: str
    change: Change


@dataclass(frozen=True)
class SessionWritten:
    session_id: str
    change: Change


@dataclass(frozen=True)
class SignInWritten:
    """An organiser asked for a sign-in link (or its sign-in changed)."""

    sign_in_id: str
    change: Change


@dataclass(frozen=True)
class Tick:
    now: datetime


def read(event: Any) -> RegistrationWritten | SessionWritten | SignInWritten | Tick | None:
    """What an event asks for; None for events that are not ours (logged, not retried)."""
    kind = str(event.get("type") or "")
    if kind in (CREATED, UPDATED, WRITTEN):
        # The path is in the subject (and in the `document` extension).
        body = getattr(event, "data", None)
        for path in (event.get("subject"), event.get("document")):
            if match := REGISTRATION_PATH.fullmatch(path or ""):
                return RegistrationWritten(match["session"], match["registration"], change(body))
            if match := SESSION_PATH.fullmatch(path or ""):
                return SessionWritten(match["session"], change(body))
            if match := SIGN_IN_PATH.fullmatch(path or ""):
                return SignInWritten(match["sign_in"], change(body))
        log.warning("document event for a document that is not ours: %s", event.get("subject"))
        return None
    if kind == TICK:
        return Tick(_time(event.get("time")))
    log.warning("ignoring an event of type %s", kind)
    return None


def change(data: object) -> Change:
    """The document before and after, from the event's protobuf body; unknown when the body cannot be read."""
    if not isinstance(data, bytes | bytearray):
        return Change()
    try:
        message = DocumentEventData.pb(DocumentEventData.deserialize(bytes(data)))
    except (DecodeError, TypeError, ValueError):
        log.warning("a document event whose body is not a DocumentEventData; the document is read instead")
        return Change()
    if not message.HasField("value") and not message.HasField("old_value"):
        return Change()
    return Change(
        old=_fields(message.old_value.fields) if message.HasField("old_value") else None,
        new=_fields(message.value.fields) if message.HasField("value") else None,
        known=True,
    )


def _fields(fields: Mapping[str, Any]) -> Fields:
    return {name: _value(value) for name, value in fields.items()}


def _value(value: Any) -> Any:
    """A Firestore protobuf Value as the Python value the Firestore client would give."""
    kind = value.WhichOneof("value_type")
    if kind == "map_value":
        return _fields(value.map_value.fields)
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "timestamp_value":
        return value.timestamp_value.ToDatetime(tzinfo=UTC)
    if kind in (None, "null_value"):
        return None
    return getattr(value, kind)


def _time(value: str | None) -> datetime:
    """The tick's own time, so that a run is reproducible; the clock only when the event has none."""
    if value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            log.warning("tick with an unreadable time %r; using the clock", value)
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)
