"""Queue each session's reminders when they fall due: one mail per reminder to each person who had a seat by then."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from signup.ledger import fields, mailkeys
from signup.ledger.outbox import pending_update
from signup.ledger.session import REMINDERS_QUEUED, Session
from signup.ledger.status import Status
from signup.ledger.writes import Read, reads, write_unchanged

log = logging.getLogger(__name__)


def queue_due(client: Any, session: Session, now: datetime, limit: int) -> int:
    """Queue the reminders of `session` that are due at `now`; return how many mails were queued.

    Only people confirmed before the reminder fell due get it: whoever signed up (or moved up from the waiting
    list) later already got a mail that serves. Each is queued on condition that the registration did not change
    since it was read (two ticks at once queue it once). Once every such person has the reminder queued, the
    session records it under `reminders_queued` and is not read for it again. Bounded by `limit`; the next run
    goes on.
    """
    if now >= session.starts_at or session.cancelled or session.check_session:
        return 0
    session_ref = client.collection(fields.SESSIONS).document(session.id)
    queued = 0
    for hours in session.reminder_hours:
        key = mailkeys.reminder_key(hours)
        due = session.starts_at - timedelta(hours=hours)
        if due > now or key in session.reminders_queued:
            continue

        def plan(read: Read, key: str = key, due: datetime = due) -> tuple[dict[str, Any], None] | None:
            return (pending_update(key), None) if _owed(read.data or {}, key, due) else None

        confirmed = session_ref.collection(fields.REGISTRATIONS).where(
            filter=FieldFilter(fields.STATUS, "==", Status.CONFIRMED.value)
        )
        owed = [snapshot for snapshot in confirmed.stream() if _owed(snapshot.to_dict() or {}, key, due)]
        complete = queued + len(owed) <= limit
        writes = write_unchanged(client, reads(owed[: max(limit - queued, 0)]), plan)
        queued += len(writes.written)
        if complete and not writes.gave_up:
            session_ref.update({f"{REMINDERS_QUEUED}.{key}": now})
            log.info("reminders queued session=%s key=%s", session.id, key)
    return queued


def _owed(data: Mapping[str, Any], key: str, due: datetime) -> bool:
    """Whether a registration is to get the reminder `key` and does not have it yet."""
    confirmed_at = data.get(fields.CONFIRMED_AT)
    return (
        data.get(fields.STATUS) == Status.CONFIRMED
        and key not in (data.get(fields.EMAILS) or {})
        and confirmed_at is not None
        and confirmed_at <= due
        and bool(data.get(fields.EMAIL))
    )
