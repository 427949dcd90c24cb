"""What an organiser's edit of a session means for the people signed up: a new revision, and one mail each.

The session's `revision` grows with each change that concerns attendees (title, start, end, place, and calling the
session off); `revision_fingerprint` is a digest of those fields as of that revision, so that any write can be
judged by itself: a digest that differs means a change nobody announced yet, whoever made it (the console, the
command line). Then every registration that is confirmed or waitlisted gets one mail queued, `emails.change` or
`emails.session_cancelled`, in batched writes; `told_revision` on each registration says which revision it was
told of, so that a fan-out that died midway resumes where it stopped, and a second one queues nothing twice.
`announced_revision` on the session says the fan-out of that revision is complete. With each revision the session
keeps the facts it told (`revision_facts`) and those of the revision before (`revised_from`; of the one before
that while it was not told to everyone); each change mail carries the latter as `before`, so that it names what
changed, old and new.

Every write here is itself an event; each of those finds its session settled (digest and announcement up to
date) from the event alone, so the loop ends after one round without a read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.errors import MisconfiguredError, NotFoundError
from signup.ledger import fields, mailkeys
from signup.ledger.fields import SESSIONS
from signup.ledger.outbox import MailState, pending_update
from signup.ledger.session import (
    ANNOUNCED_REVISION,
    CALLED_OFF,
    CANCELLATION_MESSAGE,
    CANCELLED_AT,
    REMINDERS_QUEUED,
    REVISED_AT,
    REVISED_FROM,
    REVISION,
    REVISION_FACTS,
    REVISION_FINGERPRINT,
    STATUS,
    called_off,
    facts,
    fingerprint,
    parse_session,
)
from signup.ledger.writes import KeptChangingError, Read, reads, write_unchanged
from signup.mail.events import Change

log = logging.getLogger(__name__)

# Registrations read per page, and written per commit (Firestore takes at most 500 writes in one).
PAGE = 500
_TOLD = mailkeys.HOLDING  # who is told of a change: whoever holds a seat or a place on the waiting list


def settled(data: Mapping[str, Any]) -> bool:
    """Nothing to do for a session as it is: its revision covers what it says, and everyone was told of it."""
    fresh = data.get(REVISION_FINGERPRINT) == fingerprint(data)
    return fresh and _number(data.get(ANNOUNCED_REVISION)) >= _number(data.get(REVISION))


@dataclass(frozen=True)
class _Notice:
    """One revision to tell of, and what follows from it for each registration."""

    revision: int
    key: str
    quiet_after: datetime | None
    reminders_due: Mapping[str, datetime]
    now: datetime
    before: Mapping[str, Any] | None = None  # the facts as of the revision before, for a change mail

    def update(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The write that queues the mail for one registration; None when it needs none."""
        if data.get(fields.STATUS) not in _TOLD or not data.get(fields.EMAIL):
            return None
        if _number(data.get(fields.TOLD_REVISION)) >= self.revision:
            return None
        created = data.get(fields.CREATED_AT)
        if self.quiet_after is not None and created is not None and created >= self.quiet_after:
            return None  # signed up after the change: the confirmation already told them how it is now
        told = {fields.REVISION: self.revision, **self._before(data)}
        update: dict[str, Any] = {**pending_update(self.key, **told)}
        update[fields.TOLD_REVISION] = self.revision
        # A reminder queued for the old time that is not due at the new one waits for the new time.
        for key, mail in (data.get(fields.EMAILS) or {}).items():
            due = self.reminders_due.get(key)
            fresh = mail.get(fields.STATE) == MailState.PENDING and not mail.get(fields.ATTEMPTS)
            if due is not None and due > self.now and fresh:
                update[fields.mail_field(key)] = firestore.DELETE_FIELD
        return update

    def _before(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """What a change mail compares with: the revision before, or, where a change mail is still waiting to go,
        what that one had (the person never read it; the new one replaces it and tells of both changes)."""
        if self.key != mailkeys.CHANGE:
            return {}
        waiting = (data.get(fields.EMAILS) or {}).get(self.key) or {}
        if waiting.get(fields.STATE) == MailState.PENDING and isinstance(waiting.get(fields.BEFORE), Mapping):
            return {fields.BEFORE: waiting[fields.BEFORE]}
        return {fields.BEFORE: dict(self.before)} if isinstance(self.before, Mapping) else {}


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
        if _number(data.get(ANNOUNCED_REVISION)) >= revision:
            return 0
        queued = self._fan_out(ref, self._notice(session_id, data, revision))
        self._announced(ref, revision)
        log.info("session=%s revision %d announced: %d mails queued", session_id, revision, queued)
        return queued

    def tell_late(self, session_id: str, registration: Any) -> int:
        """Tell one registration of the session's latest revision: a sign-up accepted in the seconds after the
        session was called off (an instance still had it open) gets the organiser's message, not silence.

        The revision is the one the session deserves (bumped once, however many ask); the mail is queued on
        condition, and only if the registration was not told of it yet, so that it and the fan-out tell them once.
        """
        ref = self._client.collection(SESSIONS).document(session_id)
        data = self._revise(ref, None)
        if data is None:
            return 0
        notice = replace(self._notice(session_id, data, _number(data.get(REVISION))), quiet_after=None)
        return self._queue(reads([registration.get()]), notice)

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
            stored = data.get(REVISION_FINGERPRINT)
            baseline = stored if stored is not None else fingerprint(old) if old is not None else current
            update: dict[str, Any] = {}
            told = facts(data)
            if current != baseline:
                before = _known_before(data, old if stored is None else None)
                update = {
                    REVISION: _number(data.get(REVISION)) + 1,
                    REVISION_FINGERPRINT: current,
                    REVISED_AT: now,
                    REVISION_FACTS: told,
                    REVISED_FROM: firestore.DELETE_FIELD if before is None else before,
                    **_reminders_again(ref.id, data, now),
                }
            elif stored is None or not isinstance(data.get(REVISION_FACTS), Mapping):
                update = {REVISION_FINGERPRINT: current, REVISION_FACTS: told}
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
            due = {mailkeys.reminder_key(h): session.starts_at - timedelta(hours=h) for h in session.reminder_hours}
        before = data.get(REVISED_FROM)
        return _Notice(
            revision=revision,
            key=mailkeys.SESSION_CANCELLED if session is not None and session.cancelled else mailkeys.CHANGE,
            quiet_after=revised_at + self._cache if isinstance(revised_at, datetime) else None,
            reminders_due=due,
            now=self._clock(),
            before=before if isinstance(before, Mapping) else None,
        )

    def _fan_out(self, ref: Any, notice: _Notice) -> int:
        """Queue the mail on each registration that was not told yet: a page read, one commit per page."""
        query = ref.collection(fields.REGISTRATIONS).order_by("__name__").limit(self._page)
        queued = 0
        last = None
        while True:
            page = list((query if last is None else query.start_after(last)).stream())
            queued += self._queue(reads(page), notice)
            if len(page) < self._page:
                return queued
            last = page[-1]

    def _queue(self, page: list[Read], notice: _Notice) -> int:
        """Each write on condition that nobody changed the registration since it was read; one that changed is
        read again and judged anew."""

        def plan(read: Read) -> tuple[dict[str, Any], None] | None:
            update = notice.update(read.data or {})
            return None if update is None else (update, None)

        writes = write_unchanged(self._client, page, plan)
        if writes.gave_up:
            raise KeptChangingError(f"registration {writes.gave_up[0].reference.id}")
        return len(writes.written)

    def _announced(self, ref: Any, revision: int) -> None:
        """Record that `revision` was announced to everyone; never lower (a later revision may be done first)."""

        @firestore.transactional
        def mark(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            if snapshot.exists and _number((snapshot.to_dict() or {}).get(ANNOUNCED_REVISION)) < revision:
                transaction.update(ref, {ANNOUNCED_REVISION: revision})

        mark(self._client.transaction())


def _known_before(data: Mapping[str, Any], old: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """What the next revision's change mail compares with: the facts the current revision told; while that revision
    is not told to everyone yet (its fan-out died, or another edit came first), those of the one before, which some
    still know, so that no change goes unnamed; else what `old` (a session from before revisions) said, if given."""
    untold = _number(data.get(ANNOUNCED_REVISION)) < _number(data.get(REVISION))
    known = data.get(REVISED_FROM if untold else REVISION_FACTS)
    if isinstance(known, Mapping):
        return known
    return facts(old) if old else None


def people_to_tell(client: Any, session_id: str) -> int:
    """How many a notice of this session goes to (one aggregation query)."""
    registrations = client.collection(SESSIONS, session_id, fields.REGISTRATIONS)
    told = registrations.where(filter=FieldFilter(fields.STATUS, "in", [status.value for status in _TOLD]))
    return int(told.count().get()[0][0].value)


def cancel_session(client: Any, session_id: str, message: str) -> bool:
    """Call a session off with the organiser's message; False when it already was (the message is then kept)."""
    ref = client.collection(SESSIONS).document(session_id)

    @firestore.transactional
    def cancel(transaction: Any) -> bool:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists:
            raise NotFoundError(session_id)
        if called_off(snapshot.to_dict() or {}):
            return False
        update = {STATUS: CALLED_OFF, CANCELLATION_MESSAGE: message, CANCELLED_AT: firestore.SERVER_TIMESTAMP}
        transaction.update(ref, update)
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
        f"{REMINDERS_QUEUED}.{key}": firestore.DELETE_FIELD
        for key in session.reminders_queued
        if session.starts_at - timedelta(hours=mailkeys.hours_of(key)) > now
    }


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
