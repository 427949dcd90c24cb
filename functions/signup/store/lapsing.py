"""Sign-ups whose address was not confirmed in time lapse: the sweep marks them `expired` (sessions with
`confirm_email`). They held nothing, so nothing is freed; the mark is for the counts and the export. The deadline
itself is what counts: a late click is refused, and a new sign-up replaces the registration, whether or not the
sweep has come by (see registrations.py)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.ledger import fields
from signup.ledger.status import Status
from signup.ledger.writes import Read, reads, write_unchanged

log = logging.getLogger(__name__)


def lapse_due(client: Any, now: datetime, limit: int) -> int:
    """Mark up to `limit` sign-ups whose `confirm_by` has passed as EXPIRED, across all sessions; return how many.

    Only an unconfirmed sign-up carries `confirm_by` (confirming, cancelling and lapsing take it off), so the query
    finds exactly those due, and a marked one is not found again. A sign-up confirmed, replaced or erased at this
    moment is read again, and then has nothing to mark.
    """
    due = (
        client.collection_group(fields.REGISTRATIONS)
        .where(filter=FieldFilter(fields.CONFIRM_BY, "<=", now))
        .order_by(fields.CONFIRM_BY)
        .limit(limit)
    )

    def plan(read: Read) -> tuple[dict[str, Any], bool] | None:
        assert read.data is not None
        confirm_by = read.data.get(fields.CONFIRM_BY)
        if confirm_by is None or confirm_by > now:
            return None
        update: dict[str, Any] = {fields.CONFIRM_BY: firestore.DELETE_FIELD}
        lapses = read.data.get(fields.STATUS) == Status.UNCONFIRMED
        if lapses:
            update.update({fields.STATUS: Status.EXPIRED.value, fields.EXPIRED_AT: now})
        return update, lapses

    lapsed = [done for done in write_unchanged(client, reads(list(due.stream())), plan).written if done.planned]
    for done in lapsed:
        log.info("lapsed session=%s id=%s", done.reference.parent.parent.id, done.reference.id)
    return len(lapsed)
