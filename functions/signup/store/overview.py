"""What organisers see of their sessions: the sessions in date order, each one's counts, and its registrations.

The organisers' command (`signup sessions list`, `signup export`) and the organisers' page read them through these
same queries. Counts are aggregation queries: nothing is read row by row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from signup.errors import MisconfiguredError
from signup.ledger import fields
from signup.ledger.registration import Registration
from signup.ledger.session import STARTS_AT, Session, parse_session
from signup.ledger.status import Status

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Sessions counted at once: each count is a round trip of its own.
_COUNTING = 8


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
    # Confirmed registrations an organiser checked in at the door.
    present: int = 0

    @property
    def absent(self) -> int:
        """Confirmed, and not checked in."""
        return max(self.confirmed - self.present, 0)


def sessions_by_date(client: Any) -> Iterator[Session]:
    """Every session an organiser may see, in date order; one that cannot work is left out (and named in the log),
    as are `signup check`'s own, which live for a minute."""
    for snapshot in client.collection(fields.SESSIONS).order_by(STARTS_AT).stream():
        try:
            session = parse_session(snapshot.id, snapshot.to_dict() or {})
        except MisconfiguredError as error:
            log.warning("a session that cannot work is not listed: %s", error)
            continue
        if not session.check_session:
            yield session


def counts(client: Any, session: Session) -> Counts:
    """One session's counts."""
    registrations = client.collection(fields.SESSIONS, session.id, fields.REGISTRATIONS)
    by_status = {
        status: _count(registrations.where(filter=FieldFilter(fields.STATUS, "==", status.value))) for status in Status
    }
    taken = _count(client.collection(fields.SESSIONS, session.id, fields.SEATS))
    present = (
        registrations.where(filter=FieldFilter(fields.STATUS, "==", Status.CONFIRMED.value))
        .where(filter=FieldFilter(fields.CHECKED_IN_AT, ">", EPOCH))
        .count()
    )
    queued, failed = mail_counts(client, session.id)
    return Counts(
        session,
        by_status[Status.CONFIRMED],
        by_status[Status.WAITLISTED],
        by_status[Status.CANCELLED],
        None if session.capacity is None else max(session.capacity - taken, 0),
        queued,
        failed,
        unconfirmed=by_status[Status.UNCONFIRMED],
        expired=by_status[Status.EXPIRED],
        present=int(present.get()[0][0].value),
    )


def session_counts(client: Any, sessions: list[Session] | None = None) -> list[Counts]:
    """Each session's counts (every session's, unless given), in the order given, several counted at once."""
    listed = list(sessions_by_date(client)) if sessions is None else sessions
    with ThreadPoolExecutor(_COUNTING) as pool:
        return list(pool.map(lambda session: counts(client, session), listed))


def mail_counts(client: Any, session_id: str) -> tuple[int, int]:
    """Registrations with mail waiting to go out (pending, or being sent), and mails that failed for good."""
    registrations = client.collection(fields.SESSIONS, session_id, fields.REGISTRATIONS)
    waiting = registrations.where(filter=FieldFilter(fields.MAIL_DUE_AT, ">", EPOCH))
    failed = registrations.sum(fields.MAILS_FAILED).get()[0][0].value
    return _count(waiting), int(failed or 0)


def registration_documents(client: Any, session_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every registration of a session as stored: its id and its document."""
    registrations = client.collection(fields.SESSIONS, session_id, fields.REGISTRATIONS)
    return [(snapshot.id, snapshot.to_dict() or {}) for snapshot in registrations.stream()]


def registrations(client: Any, session_id: str) -> list[Registration]:
    """Every registration of a session, as the ledger reads it."""
    return [Registration.from_document(rid, data) for rid, data in registration_documents(client, session_id)]


def _count(query: Any) -> int:
    return int(query.count().get()[0][0].value)
