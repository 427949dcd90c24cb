"""The outbox's two writes: claim a document's due mails before they are sent, record what became of them after.

Both are conditional (ledger/writes.py): of many concurrent claimants of a mail exactly one gets it, the others
find it taken when they read it again; and an outcome is recorded only where the mail is still the one claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from google.cloud import firestore

from signup.ledger import fields
from signup.ledger.outbox import (
    Outcome,
    kept_organizer,
    outcome_mails,
    plan_claim,
    record_update,
    still_ours,
)
from signup.ledger.registration import generation_of
from signup.ledger.writes import Plan, Read, write_unchanged


@dataclass(frozen=True)
class Claim:
    """The right to send a document's due mails (`keys`), held until their lease runs out."""

    ref: Any
    keys: tuple[str, ...]
    registration: dict[str, Any]
    written_at: Any

    def mail(self, key: str) -> dict[str, Any]:
        mail: dict[str, Any] = self.registration[fields.EMAILS][key]
        return mail


class Outbox:
    def __init__(self, client: Any, lease: timedelta, message_domain: str) -> None:
        self._client = client
        self._lease = lease
        self._domain = message_domain

    def claim(self, snapshots: list[Any], now: datetime, *, leased_at: datetime) -> list[Claim]:
        """Claim the due mails of each document (`now` decides what is due, `leased_at` is the clock's time)."""

        def plan(read: Read) -> tuple[dict[str, Any], tuple[tuple[str, ...], dict[str, Any]]] | None:
            assert read.data is not None
            made = plan_claim(read.data, now, leased_at, self._lease, lambda: make_msgid(domain=self._domain))
            return None if made is None else (made.update, (made.keys, {**read.data, fields.EMAILS: made.emails}))

        writes = write_unchanged(self._client, [Read.of(snapshot) for snapshot in snapshots], plan)
        return [Claim(done.reference, *done.planned, done.update_time) for done in writes.written]

    def record(self, outcomes: list[tuple[Claim, dict[str, Outcome]]], now: datetime) -> None:
        """Write what became of claimed mails; a mail queued anew meanwhile (a resend) is left to be sent."""
        by_path = {claim.ref.path: (claim, results) for claim, results in outcomes}

        def plan(read: Read) -> tuple[dict[str, Any], None] | None:
            assert read.data is not None
            claim, results = by_path[read.reference.path]
            emails = dict(read.data.get(fields.EMAILS) or {})
            keys = [key for key in results if still_ours(emails.get(key), claim.mail(key))]
            # An entry that went is kept even where its mail was queued anew meanwhile; never for a sign-up made
            # again since, whose entry is another.
            same = generation_of(read.data) == generation_of(claim.registration)
            organizer = kept_organizer(read.data, results.values()) if same else {}
            if not keys:
                return (organizer, None) if organizer else None
            emails.update(outcome_mails(claim.registration[fields.EMAILS], {k: results[k] for k in keys}, now))
            return {**record_update(emails, keys, now), **organizer}, None

        claimed = [Read(claim.ref, claim.registration, claim.written_at) for claim, _ in outcomes]
        for read in write_unchanged(self._client, claimed, plan).gave_up:
            # Still contended: recorded in a transaction, which holds the document from its read to its write, so
            # that the outcome is written only where the mail is still the one claimed (never over a resend).
            _record_alone(self._client.transaction(), read.reference, plan)


@firestore.transactional
def _record_alone(transaction: Any, ref: Any, plan: Plan[None]) -> None:
    snapshot = ref.get(transaction=transaction)
    made = plan(Read.of(snapshot)) if snapshot.exists else None
    if made is not None:
        transaction.update(ref, made[0])
