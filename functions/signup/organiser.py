"""What organisers do from the command line: sessions from TOML files, counts, and registrations as a list."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from signup import changes
from signup.errors import MisconfiguredError
from signup.registrations import CANCELLED, CONFIRMED, REGISTRATIONS, SEATS, WAITLISTED
from signup.sessions import SESSIONS, Session, parse_session, valid_session_id

# The fields an organiser may write; anything else in a file is a typo worth naming.
SESSION_FIELDS = frozenset(
    {
        "title",
        "starts_at",
        "ends_at",
        "timezone",
        "location",
        "capacity",
        "registration_closes_at",
        "allowed_origins",
        "language",
        "reminder_hours",
        "organiser",
        "thank_you_url",
        "privacy_url",
        "retention_days",
    }
)
# Fields the functions keep on a session: an update from a file leaves them be (a file never calls a session off
# nor back on: `signup sessions cancel` does the one).
MANAGED_FIELDS = ("reminders_queued", *changes.MANAGED_FIELDS)


def session_from_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """Read and check a session file; any problem is a MisconfiguredError that names the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise MisconfiguredError(f"{path}: cannot be read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise MisconfiguredError(f"{path}: not valid TOML: {error}") from None
    session_id = data.pop("id", None)
    if not isinstance(session_id, str) or not valid_session_id(session_id):
        raise MisconfiguredError(f"{path}: id is missing or not a valid id (letters, digits, - and _, at most 128)")
    unknown = sorted(set(data) - SESSION_FIELDS)
    if unknown:
        raise MisconfiguredError(f"{path}: unknown field {', '.join(unknown)}")
    for name, value in data.items():
        if isinstance(value, date | datetime) and not (isinstance(value, datetime) and value.tzinfo is not None):
            raise MisconfiguredError(
                f"{path}: {name} must be a date and time with an offset, like 2026-06-09T16:00:00+02:00"
            )
    parse_session(session_id, data)  # the functions' own reading: what it refuses, they could not use
    return session_id, data


def save_session(client: Any, session_id: str, data: Mapping[str, Any]) -> bool:
    """Create or replace a session, keeping what the functions keep on it; True when it was new."""
    ref = client.collection(SESSIONS).document(session_id)
    existing = ref.get()
    kept = {
        name: existing.get(name) for name in MANAGED_FIELDS if existing.exists and name in (existing.to_dict() or {})
    }
    ref.set({**data, **kept})
    return not existing.exists


@dataclass(frozen=True)
class Counts:
    session: Session
    confirmed: int
    waitlisted: int
    cancelled: int
    seats_left: int | None


def session_counts(client: Any) -> Iterator[Counts]:
    """Every session in date order, with its counts (aggregation queries: nothing is read row by row)."""
    for snapshot in client.collection(SESSIONS).order_by("starts_at").stream():
        try:
            session = parse_session(snapshot.id, snapshot.to_dict() or {})
        except MisconfiguredError:
            continue
        registrations = snapshot.reference.collection(REGISTRATIONS)
        counts = {
            status: int(registrations.where(filter=FieldFilter("status", "==", status)).count().get()[0][0].value)
            for status in (CONFIRMED, WAITLISTED, CANCELLED)
        }
        taken = int(snapshot.reference.collection(SEATS).count().get()[0][0].value)
        left = None if session.capacity is None else max(session.capacity - taken, 0)
        yield Counts(session, counts[CONFIRMED], counts[WAITLISTED], counts[CANCELLED], left)
