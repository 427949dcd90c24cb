"""What an organiser's edit of a session means for the people signed up: a new revision, and one mail each.

The session's `revision` grows with each change that concerns attendees (title, start, end, place, and calling the
session off); `revision_fingerprint` is a digest of those fields as of that revision, so that any write can be
judged by itself: a digest that differs means a change nobody announced yet, whoever made it (the console, the
command line). Then every registration that is confirmed or waitlisted gets one mail queued, `emails.change` or
`emails.session_cancelled`, in batched writes; `told_revision` on each registration says which revision it was
told of, so that a fan-out that died midway resumes where it stopped, and a second one queues nothing twice.
`announced_revision` on the session says the fan-out of that revision is complete.

Every write here is itself an event; each of those finds its session settled (digest and announcement up to
date) from the event alone, so the loop ends after one round without a read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.errors import MisconfiguredError, NotFoundError
from signup.ledger.session import CANCELLED, SESSIONS, parse_session
from signup.ledger.writes import CONFLICTS
from signup.mail import outbox, reminders
from signup.mail.events import Change
from signup.store.registrations import CONFIRMED, REGISTRATIONS, WAITLISTED

log = logging.getLogger(__name__)

REVISION = "revision"
FINGERPRINT = "revision_fingerprint"
REVISED_AT = "revised_at"
ANNOUNCED = "announced_revision"
TOLD = "told_revision"
STATUS = "status"
MESSAGE = "cancellation_message"
CANCELLED_AT = "cancelled_at"
# The mails a change queues (keys under a registration's `emails`).
CHANGE = "change"
SESSION_CANCELLED = "session_cancelled"
# What the functions (and `signup sessions cancel`) keep on a session.
MANAGED_FIELDS = (REVISION, FINGERPRINT, REVISED_AT, ANNOUNCED, STATUS, MESSAGE, CANCELLED_AT)
# Registrations read and written per commit: Firestore takes at most 500 writes in one.
PAGE = 500


def fingerprint(data: Mapping[str, Any]) -> str:
    """A digest of what attendees were told: title, times, place, and whether the session takes place."""
    location = data.get("location")
    place = location if isinstance(location, Mapping) else {}
    facts = [
        _text(data.get("title")),
        _moment(data.get("starts_at")),
        _moment(data.get("ends_at")),
        _text(place.get("name")),
        _text(place.get("address")),
        _text(data.get(STATUS)).lower() == CANCELLED,
    ]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:20]


def settled(data: Mapping[str, Any]) -> bool:
    """Nothing to do for a session as it is: its revision covers what it says, and everyone was told of it."""
    return data.get(FINGERPRINT) == fingerprint(data) and _number(data.get(ANNOUNCED)) >= _number(data.get(REVISION))


@dataclass(frozen=True)
class _Notice:
    """One revision to tell of, and what follows from it for each registration."""

    revision: int
    key: str
    quiet_after: datetime | None
    reminders_due: Mapping[str, datetime]
    now: datetime

    def update(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The write that queues the mail for one registration; None when it needs none."""
        if data.get("status") not in (CONFIRMED, WAITLISTED) or not data.get("email"):
            return None
        if _number(data.get(TOLD)) >= self.revision:
            return None
        created = data.get("created_at")
        if self.quiet_after is not None and created is not None and created >= self.quiet_after:
            return None  # signed up after the change: the confirmation already told them how it is now
        update: dict[str, Any] = {
            f"emails.{self.key}": {**outbox.new_mail(), REVISION: self.revision},
            "mail_due_at": firestore.SERVER_TIMESTAMP,
            TOLD: self.revision,
        }
        # A reminder queued for the old time that is not due at the new one waits for the new time.
        for key, mail in (data.get("emails") or {}).items():
            due = self.reminders_due.get(key)
            if due is not None and due > self.now and mail.get("state") == outbox.PENDING and not mail.get("attempts"):
                update[f"emails.{key}"] = firestore.DELETE_FIELD
        return update


class Announcer:
    def __init__(self, client: Any, clock: Callable[[], datetime], cache_seconds: float, page: int = PAGE) -> None:
        self._client = client
        self._clock = clock
        # A confirmation may be composed from a session read this long before: only later sign-ups surely saw it.
        self._cache = timedelta(seconds=cache_seconds)
        self._page = page

    def session_written(self, session_id: str, change: Change) -> int:
        """Revise and announce a session after a write; return how many mails were queued."""
        if change.known and (change.new is None or settled(change.new)):
            return 0
        return self.catch_up(session_id, change.old if change.known else None)

    def catch_up(self, session_id: str, old: Mapping[str, Any] | None = None) -> int:
        """Give the session the revision it deserves and queue the mails of it that are not queued yet.

        `old` is the session before the write, for sessions that have no digest yet (written before there were
        revisions): a change from `old` is a change. Without it, the session as it is counts as announced.
        """
        ref = self._client.collection(SESSIONS).document(session_id)
        data = self._revise(ref, old)
        if data is None:
            return 0
        revision = _number(data.get(REVISION))
        if _number(data.get(ANNOUNCED)) >= revision:
            return 0
        queued = self._fan_out(ref, self._notice(session_id, data, revision))
        self._announced(ref, revision)
        log.info("session=%s revision %d announced: %d mails queued", session_id, revision, queued)
        return queued

    def _revise(self, ref: Any, old: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Bump the revision when the session's digest changed, once however many events say so."""
        now = self._clock()

        @firestore.transactional
        def revise(transaction: Any) -> dict[str, Any] | None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return None
            data: dict[str, Any] = snapshot.to_dict() or {}
            current = fingerprint(data)
            stored = data.get(FINGERPRINT)
            baseline = stored if stored is not None else fingerprint(old) if old is not None else current
            update: dict[str, Any] = {}
            if current != baseline:
                update = {
                    REVISION: _number(data.get(REVISION)) + 1,
                    FINGERPRINT: current,
                    REVISED_AT: now,
                    **_reminders_again(ref.id, data, now),
                }
            elif stored is None:
                update = {FINGERPRINT: current}
            if update:
                transaction.update(ref, update)
            return {**data, **update}

        result: dict[str, Any] | None = revise(self._client.transaction())
        return result

    def _notice(self, session_id: str, data: Mapping[str, Any], revision: int) -> _Notice:
        revised_at = data.get(REVISED_AT)
        due: dict[str, datetime] = {}
        try:
            session = parse_session(session_id, data)
        except MisconfiguredError:
            session = None  # cannot be mailed about until fixed; the mails wait with the reason
        if session is not None:
            due = {reminders.reminder_key(h): session.starts_at - timedelta(hours=h) for h in session.reminder_hours}
        return _Notice(
            revision=revision,
            key=SESSION_CANCELLED if session is not None and session.cancelled else CHANGE,
            quiet_after=revised_at + self._cache if isinstance(revised_at, datetime) else None,
            reminders_due=due,
            now=self._clock(),
        )

    def _fan_out(self, ref: Any, notice: _Notice) -> int:
        """Queue the mail on each registration that was not told yet: a page read, one commit per page."""
        query = ref.collection(REGISTRATIONS).order_by("__name__").limit(self._page)
        queued = 0
        last = None
        while True:
            page = list((query if last is None else query.start_after(last)).stream())
            plans = [(snapshot, update) for snapshot in page if (update := notice.update(snapshot.to_dict() or {}))]
            queued += self._queue(plans, notice)
            if len(page) < self._page:
                return queued
            last = page[-1]

    def _queue(self, plans: list[tuple[Any, dict[str, Any]]], notice: _Notice) -> int:
        """One commit for the page, each write on condition that nobody changed the registration since it was read;
        when one did, one registration at a time, reading it again."""
        if not plans:
            return 0
        batch = self._client.batch()
        for snapshot, update in plans:
            batch.update(
                snapshot.reference, update, option=self._client.write_option(last_update_time=snapshot.update_time)
            )
        try:
            batch.commit()
        except (*CONFLICTS, google_errors.NotFound):
            return sum(self._queue_one(snapshot.reference, notice) for snapshot, _ in plans)
        return len(plans)

    def _queue_one(self, ref: Any, notice: _Notice) -> int:
        for _ in range(5):
            snapshot = ref.get()
            update = notice.update(snapshot.to_dict() or {}) if snapshot.exists else None
            if update is None:
                return 0
            try:
                ref.update(update, option=self._client.write_option(last_update_time=snapshot.update_time))
            except CONFLICTS:
                continue
            except google_errors.NotFound:
                return 0
            return 1
        raise google_errors.Aborted(f"registration {ref.id} kept changing while its mail was queued")  # type: ignore[no-untyped-call]

    def _announced(self, ref: Any, revision: int) -> None:
        """Record that `revision` was announced to everyone; never lower (a later revision may be done first)."""

        @firestore.transactional
        def mark(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            if snapshot.exists and _number((snapshot.to_dict() or {}).get(ANNOUNCED)) < revision:
                transaction.update(ref, {ANNOUNCED: revision})

        mark(self._client.transaction())


def people_to_tell(client: Any, session_id: str) -> int:
    """How many a notice of this session goes to (one aggregation query)."""
    registrations = client.collection(SESSIONS).document(session_id).collection(REGISTRATIONS)
    told = registrations.where(filter=FieldFilter("status", "in", [CONFIRMED, WAITLISTED]))
    return int(told.count().get()[0][0].value)


def cancel_session(client: Any, session_id: str, message: str) -> bool:
    """Call a session off with the organiser's message; False when it already was (the message is then kept)."""
    ref = client.collection(SESSIONS).document(session_id)

    @firestore.transactional
    def cancel(transaction: Any) -> bool:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            raise NotFoundError(session_id)
        if _text((snapshot.to_dict() or {}).get(STATUS)).lower() == CANCELLED:
            return False
        transaction.update(ref, {STATUS: CANCELLED, MESSAGE: message, CANCELLED_AT: firestore.SERVER_TIMESTAMP})
        return True

    done: bool = cancel(client.transaction())
    return done


def _reminders_again(session_id: str, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Reminders marked as queued whose moment, at the session's new time, is still to come: queue them again then."""
    try:
        session = parse_session(session_id, data)
    except MisconfiguredError:
        return {}
    return {
        f"reminders_queued.{key}": firestore.DELETE_FIELD
        for key in session.reminders_queued
        if session.starts_at - timedelta(hours=reminders.hours_of(key)) > now
    }


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _moment(value: object) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return repr(value)
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo is None else f"{value.timestamp():.6f}"
    return repr(value)


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
