"""Sessions from TOML files, as organisers write them for the command line."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from signup.errors import MisconfiguredError
from signup.ledger.session import MANAGED_FIELDS, Session, valid_session_id
from signup.store import sessions

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
    """Create the session, or merge the file into it; True when it was new (see `sessions.save`)."""
    return sessions.save(client, file.id, file.fields, file.remove) is None
