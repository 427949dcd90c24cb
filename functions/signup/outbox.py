"""Each mail of a registration as a small state machine in the registration document.

`emails.<key>` holds `state` (pending, sending, sent, failed, skipped), `attempts`, `next_attempt_at`,
`lease_until`, `sent_at`, `message_id` and `last_error`; the document's `mail_due_at` is the earliest moment any
of its mails needs attention, so that the sweep finds them with one query. A mail is claimed before it is sent
(`sending`, with a lease) by a write that only succeeds if nobody changed the document since it was read, and
recorded after. A sender that dies leaves a lease that expires; the sweep then claims the mail again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from google.cloud import firestore

from signup.writes import CONFLICTS

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
SKIPPED = "skipped"

MAX_ATTEMPTS = 8
# Wait after the n-th failed attempt before the next: a mail server's bad hour is ridden out, a bad day is not.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
)


def new_mail() -> dict[str, Any]:
    """A mail to send as soon as possible: what a registration, promotion or cancellation adds."""
    return {
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": None,
        "lease_until": None,
        "sent_at": None,
        "message_id": None,
        "last_error": None,
    }


def is_due(mail: Mapping[str, Any], now: datetime) -> bool:
    if mail.get("state") == PENDING:
        upcoming = mail.get("next_attempt_at")
        return mail.get("attempts", 0) == 0 or upcoming is None or upcoming <= now
    if mail.get("state") == SENDING:
        lease = mail.get("lease_until")
        return lease is None or lease <= now
    return False


def next_due(emails: Mapping[str, Mapping[str, Any]], now: datetime) -> datetime | None:
    """When the sweep should next look at a registration with these mails (None: never)."""
    moments = []
    for mail in emails.values():
        if mail.get("state") == PENDING:
            moments.append(mail.get("next_attempt_at") or now)
        elif mail.get("state") == SENDING:
            moments.append(mail.get("lease_until") or now)
    return min(moments, default=None)


@dataclass(frozen=True)
class Claim:
    """The right to send one mail, held until `lease_until`."""

    ref: Any
    key: str
    registration: dict[str, Any]
    attempts: int
    message_id: str
    written_at: Any


@dataclass(frozen=True)
class Outcome:
    state: str
    error: str | None = None


class Outbox:
    def __init__(self, client: Any, lease: timedelta, message_domain: str) -> None:
        self._client = client
        self._lease = lease
        self._domain = message_domain

    def claim(self, snapshot: Any, key: str, now: datetime) -> Claim | None:
        """Take one due mail of a registration for sending, or None if it is not due or someone else took it."""
        for _ in range(3):
            if not snapshot.exists:
                return None
            data = snapshot.to_dict() or {}
            mail = (data.get("emails") or {}).get(key)
            if mail is None or not is_due(mail, now):
                return None
            attempts = int(mail.get("attempts", 0)) + 1
            message_id = mail.get("message_id") or make_msgid(domain=self._domain)
            emails = dict(data.get("emails") or {})
            emails[key] = {
                **mail,
                "state": SENDING,
                "attempts": attempts,
                "lease_until": now + self._lease,
                "message_id": message_id,
            }
            try:
                result = snapshot.reference.update(
                    {f"emails.{key}": emails[key], "mail_due_at": next_due(emails, now)},
                    option=self._client.write_option(last_update_time=snapshot.update_time),
                )
            except CONFLICTS:
                snapshot = snapshot.reference.get()
                continue
            return Claim(snapshot.reference, key, {**data, "emails": emails}, attempts, message_id, result.update_time)
        return None

    def record(self, claim: Claim, outcome: Outcome, now: datetime) -> None:
        """Write what became of a claimed mail; a retry is pending again after a growing delay."""
        mail = {
            **claim.registration["emails"][claim.key],
            "state": outcome.state,
            "lease_until": None,
            "last_error": outcome.error,
        }
        if outcome.state == SENT:
            mail.update(sent_at=now, next_attempt_at=None)
        elif outcome.state == PENDING and claim.attempts >= MAX_ATTEMPTS:
            mail.update(state=FAILED, next_attempt_at=None)
        elif outcome.state == PENDING:
            mail.update(next_attempt_at=now + BACKOFF[min(claim.attempts, len(BACKOFF)) - 1])
        emails = dict(claim.registration["emails"])
        since = claim.written_at
        for _ in range(10):
            emails[claim.key] = mail
            try:
                claim.ref.update(
                    {f"emails.{claim.key}": mail, "mail_due_at": next_due(emails, now)},
                    option=self._client.write_option(last_update_time=since),
                )
                return
            except CONFLICTS:
                # Something else changed the registration meanwhile (a cancellation, say): merge with it.
                fresh = claim.ref.get()
                emails = dict((fresh.to_dict() or {}).get("emails") or {})
                since = fresh.update_time
        # Still contended: record the outcome alone; the sweep mends `mail_due_at` when it finds nothing due.
        claim.ref.update({f"emails.{claim.key}": mail})


def pending_update(key: str) -> dict[str, Any]:
    """The fields that queue one new mail on a registration, for a write that also does other things."""
    return {f"emails.{key}": new_mail(), "mail_due_at": firestore.SERVER_TIMESTAMP}
