"""What organisers do from the command line: sessions from TOML files, counts, and registrations as a list."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.errors import MisconfiguredError
from signup.ledger import fields
from signup.ledger.fields import SESSIONS
from signup.ledger.session import MANAGED_FIELDS, STARTS_AT, Session, parse_session, valid_session_id
from signup.ledger.status import Status

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The fields an organiser may write are those the functions read (a session field added there is writable here
# at once); anything else in a file is a typo worth naming.
SESSION_FIELDS = frozenset(field.name for field in dataclasses.fields(Session)) - {"id", *MANAGED_FIELDS}
# A file's top-level key that lists the fields to take off the session; TOML has no null to say it with.
REMOVE = "remove"
# Fields whose wrong type the functions would read as "not set" rather than refuse: checked here instead.
_TYPES: dict[Any, tuple[type, str]] = {
    bool: (bool, "true or false"),
    str: (str, "a string"),
    str | None: (str, "a string"),
}


@dataclass(frozen=True)
class SessionFile:
    """A checked session file: the fields it sets, and those it removes."""

    id: str
    fields: dict[str, Any]
    remove: frozenset[str]


def session_from_toml(path: Path) -> SessionFile:
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
    remove = data.pop(REMOVE, [])
    if not isinstance(remove, list) or not all(isinstance(name, str) for name in remove):
        raise MisconfiguredError(f'{path}: {REMOVE} must be an array of field names, like {REMOVE} = ["capacity"]')
    unknown = sorted((set(data) | set(remove)) - SESSION_FIELDS)
    if unknown:
        raise MisconfiguredError(f"{path}: unknown field {', '.join(unknown)}")
    both = sorted(set(data) & set(remove))
    if both:
        raise MisconfiguredError(f"{path}: {', '.join(both)} is both set and in {REMOVE}")
    hints = typing.get_type_hints(Session)
    for name, value in data.items():
        if isinstance(value, date | datetime) and not (isinstance(value, datetime) and value.tzinfo is not None):
            raise MisconfiguredError(
                f"{path}: {name} must be a date and time with an offset, like 2026-06-09T16:00:00+02:00"
            )
        kind, described = _TYPES.get(hints[name], (object, ""))
        if not isinstance(value, kind):
            raise MisconfiguredError(f"{path}: {name} must be {described}")
    return SessionFile(session_id, data, frozenset(remove))


def save_session(client: Any, file: SessionFile) -> bool:
    """Create the session, or merge the file into it; True when it was new.

    A field the file leaves out keeps the value it has (one set in the console, one the functions keep); a field
    the file names under `remove` is taken off. The session as it will be is checked before anything is written,
    in one transaction with the writing, so a change made in the console meanwhile is not overwritten unseen.
    """
    ref = client.collection(SESSIONS).document(file.id)
    created: bool = _merge(client.transaction(), ref, file)
    return created


@firestore.transactional
def _merge(transaction: Any, ref: Any, file: SessionFile) -> bool:
    existing = ref.get(transaction=transaction)
    current = (existing.to_dict() or {}) if existing.exists else {}
    merged = {name: value for name, value in {**current, **file.fields}.items() if name not in file.remove}
    parse_session(file.id, merged)  # the functions' own reading: what it refuses, they could not use
    if existing.exists:
        transaction.update(ref, {**file.fields, **dict.fromkeys(file.remove, firestore.DELETE_FIELD)})
    else:
        transaction.create(ref, file.fields)
    return not existing.exists


@dataclass(frozen=True)
class Counts:
    session: Session
    confirmed: int
    waitlisted: int
    cancelled: int
    seats_left: int | None
    mails_queued: int = 0
    mails_failed: int = 0
    # Sessions with `confirm_email`: sign-ups waiting for their address to be confirmed, and those that lapsed.
    unconfirmed: int = 0
    expired: int = 0


def session_counts(client: Any) -> Iterator[Counts]:
    """Every session in date order, with its counts (aggregation queries: nothing is read row by row)."""
    for snapshot in client.collection(SESSIONS).order_by(STARTS_AT).stream():
        try:
            session = parse_session(snapshot.id, snapshot.to_dict() or {})
        except MisconfiguredError:
            continue
        if session.check_session:
            continue  # `signup check`'s own, for a minute: no organiser's
        registrations = snapshot.reference.collection(fields.REGISTRATIONS)
        counts = {
            status: int(
                registrations.where(filter=FieldFilter(fields.STATUS, "==", status.value)).count().get()[0][0].value
            )
            for status in Status
        }
        taken = _count(snapshot.reference.collection(fields.SEATS))
        left = None if session.capacity is None else max(session.capacity - taken, 0)
        yield Counts(
            session,
            counts[Status.CONFIRMED],
            counts[Status.WAITLISTED],
            counts[Status.CANCELLED],
            left,
            *mail_counts(snapshot.reference),
            unconfirmed=counts[Status.UNCONFIRMED],
            expired=counts[Status.EXPIRED],
        )


def mail_counts(session_ref: Any) -> tuple[int, int]:
    """Registrations with mail waiting to go out (pending, or being sent), and mails that failed for good."""
    registrations = session_ref.collection(fields.REGISTRATIONS)
    waiting = registrations.where(filter=FieldFilter(fields.MAIL_DUE_AT, ">", EPOCH))
    queued = _count(waiting)
    failed = registrations.sum(fields.MAILS_FAILED).get()[0][0].value
    return queued, int(failed or 0)


def _count(query: Any) -> int:
    return int(query.count().get()[0][0].value)
