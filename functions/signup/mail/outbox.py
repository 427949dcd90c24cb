"""Each mail of a registration as a small state machine in the registration document.

`emails.<key>` holds `state` (pending, sending, sent, failed, skipped), `attempts`, `next_attempt_at`,
`lease_until`, `sent_at`, `message_id` and `last_error`; the document's `mail_due_at` is the earliest moment any
of its mails needs attention, so that the sweep finds them with one query. A mail is claimed before it is sent
(`sending`, with a lease) by a write that only succeeds if nobody changed the document since it was read, and
recorded after. A sender that dies leaves a lease that expires; the sweep then claims the mail again.

Two times meet here. A sweep handles the moment of its tick (`now`): that decides which pending mails are due. A
lease is a running sender's hold, so it runs and ends by the clock alone: a tick that stands for a later moment
(a manual run, a scheduler that is ahead) must not take over a mail that another instance is sending right now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import firestore

from signup.ledger.writes import CONFLICTS

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
    """A mail to send as soon as possible: what a registration, promotion or cancellation adds.

    The other fields (next_attempt_at, lease_until, sent_at, message_id, last_error) appear as they get values:
    a sign-up writes as little as it can.
    """
    return {"state": PENDING}


def is_due(mail: Mapping[str, Any], now: datetime, clock: datetime | None = None) -> bool:
    """A pending mail whose time has come by `now`, or a claimed one whose lease ran out by the clock (`clock`, if
    it differs from `now`)."""
    if mail.get("state") == PENDING:
        upcoming = mail.get("next_attempt_at")
        return not mail.get("attempts") or upcoming is None or upcoming <= now
    if mail.get("state") == SENDING:
        lease = mail.get("lease_until")
        return lease is None or lease <= (now if clock is None else clock)
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
    """The right to send a registration's due mails (`keys`), held until their lease runs out."""

    ref: Any
    keys: tuple[str, ...]
    registration: dict[str, Any]
    written_at: Any

    def mail(self, key: str) -> dict[str, Any]:
        mail: dict[str, Any] = self.registration["emails"][key]
        return mail


@dataclass(frozen=True)
class Outcome:
    state: str
    error: str | None = None


def mail_order(key: str) -> tuple[int, str]:
    """The request to confirm the address, then the confirmation first, cancellation last, whatever else
    (promotion, reminders) between."""
    return ({"confirm_address": -1, "confirmation": 0, "promotion": 1, "cancellation": 3}.get(key, 2), key)


class Outbox:
    def __init__(self, client: Any, lease: timedelta, message_domain: str) -> None:
        self._client = client
        self._lease = lease
        self._domain = message_domain

    def claim(self, snapshots: list[Any], now: datetime, *, leased_at: datetime) -> list[Claim]:
        """Claim the due mails of each registration: one commit for all, or one per registration when contended.

        Each write holds only if nobody changed the document since it was read, so of many concurrent claimants
        exactly one gets a mail; the others find it taken when they read it again. `leased_at` is the clock's
        time: the new leases run from it, and another's lease is taken over only once the clock has passed it.
        """
        lease_until = leased_at + self._lease
        plans = [plan for plan in (self._plan(snapshot, now, leased_at, lease_until) for snapshot in snapshots) if plan]
        if not plans:
            return []
        batch = self._client.batch()
        for snapshot, update, _ in plans:
            batch.update(
                snapshot.reference, update, option=self._client.write_option(last_update_time=snapshot.update_time)
            )
        try:
            results = batch.commit()
        except (*CONFLICTS, google_errors.NotFound):
            return [
                claim
                for snapshot, _, _ in plans
                if (claim := self._claim_one(snapshot, now, leased_at, lease_until)) is not None
            ]
        return [
            Claim(snapshot.reference, keys, data, result.update_time)
            for (snapshot, _, (keys, data)), result in zip(plans, results, strict=True)
        ]

    def _claim_one(self, snapshot: Any, now: datetime, leased_at: datetime, lease_until: datetime) -> Claim | None:
        for _ in range(3):
            plan = self._plan(snapshot, now, leased_at, lease_until)
            if plan is None:
                return None
            _, update, (keys, data) = plan
            try:
                result = snapshot.reference.update(
                    update, option=self._client.write_option(last_update_time=snapshot.update_time)
                )
            except CONFLICTS:
                snapshot = snapshot.reference.get()
                continue
            except google_errors.NotFound:
                return None
            return Claim(snapshot.reference, keys, data, result.update_time)
        return None

    def _plan(
        self, snapshot: Any, now: datetime, leased_at: datetime, lease_until: datetime
    ) -> tuple[Any, dict[str, Any], tuple[tuple[str, ...], dict[str, Any]]] | None:
        """The write that claims a registration's due mails, and the registration as it will then be."""
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        emails = dict(data.get("emails") or {})
        keys = tuple(sorted((key for key, mail in emails.items() if is_due(mail, now, leased_at)), key=mail_order))
        if not keys:
            return None
        for key in keys:
            mail = emails[key]
            emails[key] = {
                **mail,
                "state": SENDING,
                "attempts": int(mail.get("attempts", 0)) + 1,
                "lease_until": lease_until,
                # Kept across attempts: a receiver that got a mail twice (after a crash) can tell it is one mail.
                "message_id": mail.get("message_id") or make_msgid(domain=self._domain),
            }
        update = {**{f"emails.{key}": emails[key] for key in keys}, "mail_due_at": next_due(emails, now)}
        return snapshot, update, (keys, {**data, "emails": emails})

    def record(self, outcomes: list[tuple[Claim, dict[str, Outcome]]], now: datetime) -> None:
        """Write what became of claimed mails (one commit when nothing interfered); a retry is pending again later."""
        if not outcomes:
            return
        batch = self._client.batch()
        for claim, results in outcomes:
            emails = {**claim.registration["emails"], **self._results(claim, results, now)}
            batch.update(
                claim.ref,
                _record_update(emails, results, now),
                option=self._client.write_option(last_update_time=claim.written_at),
            )
        try:
            batch.commit()
        except (*CONFLICTS, google_errors.NotFound):
            for claim, results in outcomes:
                self._record_one(claim, results, now)

    def _record_one(self, claim: Claim, results: dict[str, Outcome], now: datetime) -> None:
        mails = self._results(claim, results, now)
        emails = {**claim.registration["emails"], **mails}
        since = claim.written_at
        for _ in range(10):
            try:
                claim.ref.update(
                    _record_update(emails, results, now), option=self._client.write_option(last_update_time=since)
                )
                return
            except CONFLICTS:
                # Something else changed the registration meanwhile (a cancellation, say): merge with it, but only
                # where the mail is still the one we claimed; a mail queued anew meanwhile is left to be sent.
                fresh = claim.ref.get()
                emails = dict((fresh.to_dict() or {}).get("emails") or {})
                ours = {key: mail for key, mail in mails.items() if _still_ours(emails.get(key), claim.mail(key))}
                if not ours:
                    return
                emails.update(ours)
                mails, results = ours, {key: results[key] for key in ours}
                since = fresh.update_time
            except google_errors.NotFound:
                return  # erased meanwhile: nothing left to record
        # Still contended: record the outcomes alone; the sweep mends `mail_due_at` when it finds nothing due.
        claim.ref.update({f"emails.{key}": mails[key] for key in results})

    def _results(self, claim: Claim, results: dict[str, Outcome], now: datetime) -> dict[str, dict[str, Any]]:
        mails = {}
        for key, outcome in results.items():
            mail = {**claim.mail(key), "state": outcome.state, "lease_until": None, "last_error": outcome.error}
            attempts = int(mail.get("attempts", 1))
            if outcome.state == SENT:
                mail.update(sent_at=now, next_attempt_at=None)
            elif outcome.state == PENDING and attempts >= MAX_ATTEMPTS:
                mail.update(state=FAILED, next_attempt_at=None)
            elif outcome.state == PENDING:
                mail.update(next_attempt_at=now + BACKOFF[min(attempts, len(BACKOFF)) - 1])
            mails[key] = mail
        return mails


def _still_ours(current: Mapping[str, Any] | None, claimed: Mapping[str, Any]) -> bool:
    if not current:
        return False
    return current.get("state") == SENDING and current.get("message_id") == claimed.get("message_id")


def _record_update(emails: Mapping[str, Any], results: Mapping[str, Outcome], now: datetime) -> dict[str, Any]:
    return {
        **{f"emails.{key}": emails[key] for key in results},
        "mail_due_at": next_due(emails, now),
        # Summed per session by `signup sessions list`: the map's keys vary, so no query could count its states.
        "mails_failed": sum(1 for mail in emails.values() if mail.get("state") == FAILED),
    }


def pending_update(key: str) -> dict[str, Any]:
    """The fields that queue one new mail on a registration, for a write that also does other things."""
    return {f"emails.{key}": new_mail(), "mail_due_at": firestore.SERVER_TIMESTAMP}
