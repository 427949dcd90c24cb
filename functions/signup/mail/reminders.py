"""Queue each session's reminders when they fall due: one mail per reminder to each person who had a seat by then."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from signup.ledger.session import SESSIONS, Session
from signup.ledger.writes import CONFLICTS
from signup.mail import outbox
from signup.store.registrations import CONFIRMED, REGISTRATIONS

log = logging.getLogger(__name__)

# Writes in one commit (Firestore's limit is 500).
BATCH = 500


def reminder_key(hours: float) -> str:
    """`reminder_24h`, or `reminder_90m` for 1.5 hours: a field name without dots."""
    return f"reminder_{int(hours)}h" if float(hours).is_integer() else f"reminder_{round(hours * 60)}m"


def hours_of(key: str) -> float:
    amount = key.removeprefix("reminder_")
    return float(amount[:-1]) if amount.endswith("h") else float(amount[:-1]) / 60


def queue_due(client: Any, session: Session, now: datetime, limit: int) -> int:
    """Queue the reminders of `session` that are due at `now`; return how many mails were queued.

    Only people confirmed before the reminder fell due get it: whoever signed up (or moved up from the waiting
    list) later already got a mail that serves. Once every such person has the reminder queued, the session
    records it under `reminders_queued` and is not read for it again. Bounded by `limit`; the next run goes on.
    """
    if now >= session.starts_at or session.cancelled:
        return 0
    session_ref = client.collection(SESSIONS).document(session.id)
    queued = 0
    for hours in session.reminder_hours:
        key = reminder_key(hours)
        due = session.starts_at - timedelta(hours=hours)
        if due > now or key in session.reminders_queued:
            continue
        complete = True
        owed: list[Any] = []
        confirmed = session_ref.collection(REGISTRATIONS).where(filter=FieldFilter("status", "==", CONFIRMED))
        for snapshot in confirmed.stream():
            data = snapshot.to_dict() or {}
            confirmed_at = data.get("confirmed_at")
            if key in (data.get("emails") or {}) or confirmed_at is None or confirmed_at > due or not data.get("email"):
                continue
            if queued + len(owed) >= limit:
                complete = False
                break
            owed.append(snapshot)
        done, all_done = _queue(client, owed, key)
        queued += done
        complete = complete and all_done
        if complete:
            session_ref.update({f"reminders_queued.{key}": now})
            log.info("reminders queued session=%s key=%s", session.id, key)
    return queued


def _queue(client: Any, snapshots: list[Any], key: str) -> tuple[int, bool]:
    """Queue `key` on these registrations, each only if unchanged since read: up to 500 in one commit (10,000
    reminders are 20 commits, not 10,000 writes in a row), one by one where a commit meets a changed one."""
    queued, complete = 0, True
    for start in range(0, len(snapshots), BATCH):
        part = snapshots[start : start + BATCH]
        batch = client.batch()
        for snapshot in part:
            batch.update(snapshot.reference, outbox.pending_update(key), option=_unchanged(client, snapshot))
        try:
            batch.commit()
        except CONFLICTS:
            for snapshot in part:
                try:
                    snapshot.reference.update(outbox.pending_update(key), option=_unchanged(client, snapshot))
                except CONFLICTS:
                    complete = False  # changed under our hands (cancelled, say): look again next run
                    continue
                queued += 1
        else:
            queued += len(part)
    return queued, complete


def _unchanged(client: Any, snapshot: Any) -> Any:
    return client.write_option(last_update_time=snapshot.update_time)
