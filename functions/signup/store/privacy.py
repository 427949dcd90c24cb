"""Personal data that leaves: erasure on request (AVG/GDPR article 17) and the retention backstop of the sweep."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import email_validator
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.ledger.session import SESSIONS
from signup.mail import outbox
from signup.store.registrations import (
    CANCELLED,
    FORM_TOKENS,
    REGISTRATIONS,
    SEATS,
    UNCONFIRMED,
    WAITLISTED,
    registration_id,
)

log = logging.getLogger(__name__)

PERSONAL = ("organisation", "first_name", "infix", "last_name", "email")
# What an erased registration keeps: enough for the session's counts and seats to stay right, nothing personal.
KEPT = ("status", "seat", "created_at", "confirmed_at", "cancelled_at", "expires_at")


def purge_expired(client: Any, now: datetime, limit: int) -> int:
    """Delete registrations and seats past their `expires_at`: what Firestore's TTL policy does, also locally."""
    purged = 0
    for group in (REGISTRATIONS, SEATS):
        expired = client.collection_group(group).where(filter=FieldFilter("expires_at", "<=", now)).limit(limit)
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


def erase(client: Any, id_keys: Sequence[bytes], address: str) -> list[str]:
    """Remove one person's personal data from every session; return the paths of the registrations erased.

    Each registration is replaced by one under a random id holding only its status, seat and times, so the
    counts stay right, the address cannot be derived from the id any more, and the person may sign up afresh.
    Whatever named the old id (the seat, the form token it was sent with) names the new one: the old id is kept
    nowhere.
    `id_keys` are the registration-id subkeys of every live signing key.
    """
    try:
        address = email_validator.validate_email(address, check_deliverability=False).normalized
    except email_validator.EmailNotValidError:
        address = address.strip()
    found: dict[str, Any] = {}
    for session in client.collection(SESSIONS).select([]).stream():
        registrations = session.reference.collection(REGISTRATIONS)
        refs = [registrations.document(registration_id(key, session.id, address.lower())) for key in id_keys]
        for snapshot in client.get_all(refs):
            if snapshot.exists:
                found[snapshot.reference.path] = snapshot
    # Copies under the id of a key no longer kept are found by the address itself.
    for spelling in {address, address.lower()}:
        for snapshot in (
            client.collection_group(REGISTRATIONS).where(filter=FieldFilter("email", "==", spelling)).stream()
        ):
            found[snapshot.reference.path] = snapshot
    for snapshot in found.values():
        _erase(client, snapshot)
    log.info("erased %d registrations", len(found))
    return sorted(found)


def _erase(client: Any, snapshot: Any) -> None:
    data = snapshot.to_dict() or {}
    unsent = (outbox.PENDING, outbox.SENDING)
    emails = {
        key: {**mail, "last_error": None, "state": outbox.SKIPPED if mail.get("state") in unsent else mail.get("state")}
        for key, mail in (data.get("emails") or {}).items()
    }
    kept = {field: data[field] for field in KEPT if field in data}
    if kept.get("status") in (WAITLISTED, UNCONFIRMED):
        kept["status"] = CANCELLED  # nobody is left to give a seat to: it must not take the next free one
    kept.update(
        {field: "" for field in PERSONAL},
        emails=emails,
        mail_due_at=None,
        origin=None,
        consent=None,
        erased_at=firestore.SERVER_TIMESTAMP,
    )
    replacement = snapshot.reference.parent.document(f"erased-{secrets.token_hex(10)}")
    # A used form token stays, so that the form cannot be replayed; it names the registration it made.
    tokens = client.collection(FORM_TOKENS).where(filter=FieldFilter("registration_id", "==", snapshot.id))
    batch = client.batch()
    for token in tokens.stream():
        batch.update(token.reference, {"registration_id": replacement.id})
    batch.create(replacement, kept)
    batch.delete(snapshot.reference, option=client.write_option(last_update_time=snapshot.update_time))
    if data.get("seat") is not None:
        seat = snapshot.reference.parent.parent.collection(SEATS).document(str(data["seat"]))
        batch.update(seat, {"registration_id": replacement.id})
    batch.commit()
