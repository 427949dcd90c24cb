"""Personal data that leaves: erasure on request (AVG/GDPR article 17) and the retention backstop of the sweep."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

import email_validator
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.ledger import fields
from signup.ledger.outbox import erased
from signup.ledger.status import Status
from signup.store.ids import RegistrationIds

log = logging.getLogger(__name__)

# What an erased registration keeps: enough for the session's counts and seats to stay right, nothing personal.
KEPT = (fields.STATUS, fields.SEAT, fields.CREATED_AT, fields.CONFIRMED_AT, fields.CANCELLED_AT, fields.EXPIRES_AT)


def purge_expired(client: Any, now: datetime, limit: int) -> int:
    """Delete registrations and seats past their `expires_at`: what Firestore's TTL policy does, also locally."""
    purged = 0
    for group in (fields.REGISTRATIONS, fields.SEATS):
        expired = client.collection_group(group).where(filter=FieldFilter(fields.EXPIRES_AT, "<=", now)).limit(limit)
        batch = client.batch()
        count = 0
        for snapshot in expired.stream():
            batch.delete(snapshot.reference)
            count += 1
        if count:
            batch.commit()
            log.info("retention: deleted %d expired %s", count, group)
        purged += count
    return purged


def erase(client: Any, ids: RegistrationIds, address: str) -> list[str]:
    """Remove one person's personal data from every session; return the paths of the registrations erased.

    Each registration is replaced by one under a random id holding only its status, seat and times, so the
    counts stay right, the address cannot be derived from the id any more, and the person may sign up afresh.
    Whatever named the old id (the seat, the form token it was sent with) names the new one: the old id is kept
    nowhere.
    """
    try:
        address = email_validator.validate_email(address, check_deliverability=False).normalized
    except email_validator.EmailNotValidError:
        address = address.strip()
    found: dict[str, Any] = {}
    for session in client.collection(fields.SESSIONS).select([]).stream():
        for snapshot in client.get_all(ids.candidates(session.id, address.lower())):
            if snapshot.exists:
                found[snapshot.reference.path] = snapshot
    # Copies under the id of a key no longer kept are found by the address itself.
    for spelling in {address, address.lower()}:
        for snapshot in (
            client.collection_group(fields.REGISTRATIONS)
            .where(filter=FieldFilter(fields.EMAIL, "==", spelling))
            .stream()
        ):
            found[snapshot.reference.path] = snapshot
    for snapshot in found.values():
        _erase(client, snapshot)
    log.info("erased %d registrations", len(found))
    return sorted(found)


def _erase(client: Any, snapshot: Any) -> None:
    data = snapshot.to_dict() or {}
    kept = {name: data[name] for name in KEPT if name in data}
    if kept.get(fields.STATUS) in (Status.WAITLISTED, Status.UNCONFIRMED):
        kept[fields.STATUS] = Status.CANCELLED.value  # nobody is left to give a seat to: not the next free one
    kept.update(
        {name: "" for name in fields.PERSONAL},
        **{
            fields.EMAILS: erased(data.get(fields.EMAILS) or {}),
            fields.MAIL_DUE_AT: None,
            fields.ORIGIN: None,
            fields.CONSENT: None,
            fields.ERASED_AT: firestore.SERVER_TIMESTAMP,
        },
    )
    replacement = snapshot.reference.parent.document(f"erased-{secrets.token_hex(10)}")
    # A used form token stays, so that the form cannot be replayed; it names the registration it made.
    tokens = client.collection(fields.FORM_TOKENS).where(filter=FieldFilter(fields.REGISTRATION_ID, "==", snapshot.id))
    batch = client.batch()
    for token in tokens.stream():
        batch.update(token.reference, {fields.REGISTRATION_ID: replacement.id})
    batch.create(replacement, kept)
    batch.delete(snapshot.reference, option=client.write_option(last_update_time=snapshot.update_time))
    if data.get(fields.SEAT) is not None:
        seat = snapshot.reference.parent.parent.collection(fields.SEATS).document(str(data[fields.SEAT]))
        batch.update(seat, {fields.REGISTRATION_ID: replacement.id})
    batch.commit()
