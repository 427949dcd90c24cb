"""The organiser's daily digest: at 08:00 in the session's time zone, one mail about the sign-ups and
cancellations since the last one, when there were any.

Each day's digest is a document `sessions/{id}/digests/{YYYY-MM-DD}`, created by whichever sweep gets there first
(`create()` refuses the others, so three ticks at once make one). It records the window it covers and, when
anything changed, carries `emails.organiser_digest` and `mail_due_at` as a registration does: the sweep sends it
through the outbox, exactly once and retried. It holds no names; the mail reads them when it is composed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup import dates
from signup.errors import MisconfiguredError
from signup.ledger import fields, mailkeys
from signup.ledger.fields import SESSIONS
from signup.ledger.outbox import new_mail
from signup.ledger.session import ORGANISER_NOTIFICATIONS, Session, parse_session
from signup.mail.compose import notifications

log = logging.getLogger(__name__)

DIGESTS = "digests"
HOUR = 8
# Names listed per kind of change; a longer list ends with how many more there were.
LISTED = 100


def cutoff(session: Session, now: datetime) -> datetime:
    """The latest 08:00 in the session's time zone at or before `now`: where the current digest's window ends."""
    local = now.astimezone(session.zone)
    day = local.date() if local.hour >= HOUR else local.date() - timedelta(days=1)
    return datetime.combine(day, time(HOUR), tzinfo=session.zone).astimezone(UTC)


def queue_due(client: Any, now: datetime) -> int:
    """Make today's digest of every session that asks for one and has none yet; return how many carry a mail."""
    daily = client.collection(SESSIONS).where(filter=FieldFilter(ORGANISER_NOTIFICATIONS, "==", "daily"))
    queued = 0
    for snapshot in daily.stream():  # sessions are few; each costs one read per tick
        try:
            session = parse_session(snapshot.id, snapshot.to_dict() or {})
        except MisconfiguredError as error:
            log.error("no digest for a session that cannot work: %s", error)
            continue
        until = cutoff(session, now)
        if until - timedelta(days=1) >= session.ends_at:
            continue  # the day after the session had its last digest
        ref = snapshot.reference.collection(DIGESTS).document(until.astimezone(session.zone).date().isoformat())
        if ref.get().exists:
            continue
        since = _last_until(snapshot.reference) or until - timedelta(days=1)
        changes = sum(_count(window) for window in _windows(snapshot.reference, since, until).values())
        document: dict[str, Any] = {
            "since": since,
            "until": until,
            "changes": changes,
            fields.CREATED_AT: now,
            fields.EXPIRES_AT: session.expires_at,
        }
        if changes:
            document.update({fields.EMAILS: {mailkeys.ORGANISER_DIGEST: new_mail()}, fields.MAIL_DUE_AT: now})
        try:
            ref.create(document)
        except google_errors.AlreadyExists:
            continue  # another sweep made it a moment ago
        queued += bool(changes)
        log.info("digest session=%s day=%s changes=%d", session.id, ref.id, changes)
    return queued


def due(client: Any, now: datetime, limit: int) -> list[Any]:
    """Digests with a mail that needs attention, for the sweep to send with the registrations' mails."""
    query = (
        client.collection_group(DIGESTS)
        .where(filter=FieldFilter(fields.MAIL_DUE_AT, "<=", now))
        .order_by(fields.MAIL_DUE_AT)
        .limit(limit)
    )
    return list(query.stream())


def _last_until(session_ref: Any) -> datetime | None:
    last = session_ref.collection(DIGESTS).order_by("until", direction=firestore.Query.DESCENDING).limit(1)
    for snapshot in last.stream():
        until: datetime = snapshot.get("until")
        return until
    return None


def _windows(session_ref: Any, since: datetime, until: datetime) -> dict[str, Any]:
    """The registrations that signed up, and those that cancelled, from `since` until `until`, earliest first."""
    registrations = session_ref.collection(fields.REGISTRATIONS)
    return {
        "signed_up": registrations.where(filter=FieldFilter(fields.CREATED_AT, ">=", since))
        .where(filter=FieldFilter(fields.CREATED_AT, "<", until))
        .order_by(fields.CREATED_AT),
        "cancelled": registrations.where(filter=FieldFilter(fields.CANCELLED_AT, ">=", since))
        .where(filter=FieldFilter(fields.CANCELLED_AT, "<", until))
        .order_by(fields.CANCELLED_AT),
    }


def _count(query: Any) -> int:
    return int(query.count().get()[0][0].value)


def summary(client: Any, session: Session, digest: Mapping[str, Any], seats_left: int | None) -> dict[str, Any]:
    """What the digest mail says: the window, who signed up and who cancelled in it, and the seats left now."""
    since, until = digest["since"], digest["until"]
    changes: dict[str, Any] = {
        "since": dates.moment(since, session.zone, session.language),
        "until": dates.moment(until, session.zone, session.language),
    }
    for name, window in _windows(client.collection(SESSIONS).document(session.id), since, until).items():
        listed = [notifications.person(snapshot.to_dict() or {}) for snapshot in window.limit(LISTED).stream()]
        total = _count(window) if len(listed) == LISTED else len(listed)
        changes[name] = {"people": listed, "more": total - len(listed), "total": total}
    return {**changes, "seats_left": seats_left}
