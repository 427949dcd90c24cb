"""Who came: an organiser checks a confirmed registration in at the door (or takes it back, after a wrong tap)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum, auto
from typing import Any

from google.cloud import firestore

from signup.errors import NotFoundError
from signup.ledger import fields
from signup.ledger.registration import Registration
from signup.ledger.session import Session
from signup.ledger.status import Status
from signup.ledger.writes import ATTEMPTS, CONFLICTS, GONE, KeptChangingError
from signup.store.deadlines import ON_REQUEST


class CheckedIn(Enum):
    CHANGED = auto()
    UNCHANGED = auto()  # it was so already
    NOT_CONFIRMED = auto()  # only who holds a seat can be checked in


def check_in(client: Any, session: Session, registration_id: str, now: datetime, *, present: bool = True) -> CheckedIn:
    """Mark a confirmed registration present (or not). Twice is harmless: the first check-in's time stays. Taking a
    check-in back works whatever became of the registration since."""
    ref = client.collection(fields.SESSIONS, session.id, fields.REGISTRATIONS).document(registration_id)
    for _ in range(ATTEMPTS):
        snapshot = ref.get(**ON_REQUEST)
        if not snapshot.exists:
            raise NotFoundError(registration_id)
        found = Registration.from_snapshot(snapshot)
        if (found.checked_in_at is not None) == present:
            return CheckedIn.UNCHANGED
        if present and found.status != Status.CONFIRMED:
            return CheckedIn.NOT_CONFIRMED
        update = {fields.CHECKED_IN_AT: now if present else firestore.DELETE_FIELD}
        try:
            ref.update(update, option=client.write_option(last_update_time=snapshot.update_time), **ON_REQUEST)
        except CONFLICTS:
            continue  # changed meanwhile (a mail recorded, a second tap): judged again as it is now
        except GONE:
            raise NotFoundError(registration_id) from None
        return CheckedIn.CHANGED
    raise KeptChangingError("the registration")
