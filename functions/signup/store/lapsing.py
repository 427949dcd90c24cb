"""Sign-ups whose address was not confirmed in time lapse: the sweep marks them `expired` (sessions with
`confirm_email`). They held nothing, so nothing is freed; the mark is for the counts and the export. The deadline
itself is what counts: a late click is refused, and a new sign-up replaces the registration, whether or not the
sweep has come by (see registrations.py)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.ledger.writes import CONFLICTS
from signup.store.registrations import EXPIRED, REGISTRATIONS, UNCONFIRMED

log = logging.getLogger(__name__)


def lapse_due(client: Any, now: datetime, limit: int) -> int:
    """Mark up to `limit` sign-ups whose `confirm_by` has passed as EXPIRED, across all sessions; return how many.

    Only an unconfirmed sign-up carries `confirm_by` (confirming, cancelling and lapsing take it off), so the query
    finds exactly those due, and a marked one is not found again.
    """
    due = (
        client.collection_group(REGISTRATIONS)
        .where(filter=FieldFilter("confirm_by", "<=", now))
        .order_by("confirm_by")
        .limit(limit)
    )
    lapsed = 0
    for snapshot in due.stream():
        update: dict[str, Any] = {"confirm_by": firestore.DELETE_FIELD}
        if (snapshot.to_dict() or {}).get("status") == UNCONFIRMED:
            update.update(status=EXPIRED, expired_at=now)
        try:
            snapshot.reference.update(update, option=client.write_option(last_update_time=snapshot.update_time))
        except (google_errors.NotFound, *CONFLICTS):
            continue  # confirmed, replaced or erased at this moment: nothing to mark
        if "status" in update:
            lapsed += 1
            log.info("lapsed session=%s id=%s", snapshot.reference.parent.parent.id, snapshot.id)
    return lapsed
