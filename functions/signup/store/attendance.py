"""Who came: an organiser checks a confirmed registration in at the door (or takes it back, after a wrong tap)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore

from signup.errors import NotConfirmedError, NotFoundError
from signup.ledger import fields
from signup.ledger.registration import Registration
from signup.ledger.session import Session
from signup.ledger.status import Status
from signup.ledger.writes import ATTEMPTS, CONFLICTS, GONE, KeptChangingError
from signup.store.deadlines import ON_REQUEST


def check_in(client: Any, session: Session, registration_id: str, now: datetime, *, present: bool = True) -> bool:
    """Mark a confirmed registration present (or not); whether anything changed. Twice is harmless: the first
    check-in's time stays. Only who holds a seat can be checked in (NotConfirmedError); taking a check-in back
    works whatever became of the registration since."""
    ref = client.collection(fields.SESSIONS, session.id, fields.REGISTRATIONS).document(registration_id)
    for _ in range(ATTEMPTS):
        snapshot = ref.get(**ON_REQUEST)
        if not snapshot.exists:
            raise NotFoundError(registration_id)
        found = Registration.from_snapshot(snapshot)
        if (found.checked_in_at is not None) == present:
            return False
        if present and found.status != Status.CONFIRMED:
            raise NotConfirmedError(registration_id)
        update = {fields.CHECKED_IN_AT: now if present else firestore.DELETE_FIELD}
        try:
            ref.update(update, option=client.write_option(last_update_time=snapshot.update_time), **ON_REQUEST)
        except CONFLICTS:
            continue  # changed meanwhile (a mail recorded, a second tap): judged again as it is now
        except GONE:
            raise NotFoundError(registration_id) from None
        return True
    raise KeptChangingError("the registration")
