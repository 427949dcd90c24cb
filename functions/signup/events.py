"""Read the CloudEvents that Eventarc delivers to `notify`: a registration created, or a scheduler tick."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

CREATED = "google.cloud.firestore.document.v1.created"
TICK = "google.cloud.pubsub.topic.v1.messagePublished"
REGISTRATION_PATH = re.compile(r"(?:documents/)?sessions/(?P<session>[^/]+)/registrations/(?P<registration>[^/]+)")


@dataclass(frozen=True)
class RegistrationCreated:
    session_id: str
    registration_id: str


@dataclass(frozen=True)
class Tick:
    now: datetime


def read(event: Any) -> RegistrationCreated | Tick | None:
    """What an event asks for; None for events that are not ours (logged, not retried)."""
    kind = event.get("type")
    if kind == CREATED:
        # The path is in the subject (and in the `document` extension); the protobuf body is not needed.
        for path in (event.get("subject"), event.get("document")):
            match = REGISTRATION_PATH.fullmatch(path or "")
            if match:
                return RegistrationCreated(match["session"], match["registration"])
        log.warning("created event for a document that is not a registration: %s", event.get("subject"))
        return None
    if kind == TICK:
        return Tick(_time(event.get("time")))
    log.warning("ignoring an event of type %s", kind)
    return None


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
