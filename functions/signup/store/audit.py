"""Each session's audit trail: who did what on the organisers' page, and when, readable in the console.

`sessions/{id}/audit/{id}` holds one entry per change: when (`at`, the server's time), by whom (the organiser's
address), what was done, to which registration (its id, never a name), and for an edit the fields' old and new
values. Entries leave with the session's personal data (`expires_at`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import firestore

from signup.ledger import fields
from signup.ledger.session import Session
from signup.store.deadlines import ON_REQUEST

# The entries a page shows, latest first.
SHOWN = 200


@dataclass(frozen=True)
class Entry:
    at: datetime | None
    by: str
    done: str
    registration_id: str | None
    changes: Mapping[str, Any]


def record(
    client: Any,
    session: Session,
    by: str,
    done: str,
    *,
    registration_id: str | None = None,
    changes: Mapping[str, Any] | None = None,
) -> None:
    entry: dict[str, Any] = {
        fields.AT: firestore.SERVER_TIMESTAMP,
        fields.DONE_BY: by,
        fields.DONE: done,
        fields.EXPIRES_AT: session.expires_at,
    }
    if registration_id is not None:
        entry[fields.REGISTRATION_ID] = registration_id
    if changes:
        entry[fields.CHANGES] = dict(changes)
    client.collection(fields.SESSIONS, session.id, fields.AUDIT).add(entry, **ON_REQUEST)


def entries(client: Any, session_id: str, limit: int = SHOWN) -> list[Entry]:
    """The latest entries of a session's trail, latest first."""
    trail = client.collection(fields.SESSIONS, session_id, fields.AUDIT)
    query = trail.order_by(fields.AT, direction=firestore.Query.DESCENDING).limit(limit)
    return [
        Entry(
            at=data.get(fields.AT),
            by=str(data.get(fields.DONE_BY) or ""),
            done=str(data.get(fields.DONE) or ""),
            registration_id=data.get(fields.REGISTRATION_ID),
            changes=data.get(fields.CHANGES) or {},
        )
        for data in (snapshot.to_dict() or {} for snapshot in query.stream(**ON_REQUEST))
    ]
