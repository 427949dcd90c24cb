"""Each mail of a registration as a small state machine in the registration document: the states and their moves.

`emails.<key>` holds `state` (pending, sending, sent, failed, skipped), `attempts`, `next_attempt_at`,
`lease_until`, `sent_at`, `message_id` and `last_error`; the document's `mail_due_at` is the earliest moment any
of its mails needs attention, so that the sweep finds them with one query. A mail is claimed before it is sent
(`sending`, with a lease) and recorded after; store/outbox.py makes both moves with conditional writes. A sender
that dies leaves a lease that expires; the sweep then claims the mail again.

Two times meet here. A sweep handles the moment of its tick (`now`): that decides which pending mails are due. A
lease is a running sender's hold, so it runs and ends by the clock alone: a tick that stands for a later moment
(a manual run, a scheduler that is ahead) must not take over a mail that another instance is sending right now.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from google.cloud import firestore

from signup.ledger import fields, mailkeys
from signup.ledger.session import Session


class MailState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


# A mail is handed to the SMTP server at most this many times before it fails for good.
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

Mail = Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed mail: sent, failed for good, skipped, or pending (to be tried again)."""

    state: MailState
    error: str | None = None
    # The ORGANIZER of the calendar entry a sent mail carried (None: it carried none).
    organizer: str | None = None


def new_mail() -> dict[str, Any]:
    """A mail to send as soon as possible.

    The other fields (next_attempt_at, lease_until, sent_at, message_id, last_error) appear as they get values:
    a sign-up writes as little as it can.
    """
    return {fields.STATE: MailState.PENDING.value}


def organiser_mail(session: Session, key: str) -> dict[str, dict[str, Any]]:
    """The organiser's mail about a registration (`key`), for its `emails`, when the session asks to hear of each."""
    return {key: new_mail()} if session.organiser_notifications == "each" else {}


def pending_update(key: str, **extra: Any) -> dict[str, Any]:
    """The fields that queue one new mail on a registration (with `extra` fields of the mail), for a write that
    may also do other things."""
    return {fields.mail_field(key): {**new_mail(), **extra}, fields.MAIL_DUE_AT: firestore.SERVER_TIMESTAMP}


def is_due(mail: Mail, now: datetime, clock: datetime | None = None) -> bool:
    """A pending mail whose time has come by `now`, or a claimed one whose lease ran out by the clock (`clock`, if
    it differs from `now`)."""
    state = mail.get(fields.STATE)
    if state == MailState.PENDING:
        upcoming = mail.get(fields.NEXT_ATTEMPT_AT)
        return not mail.get(fields.ATTEMPTS) or upcoming is None or upcoming <= now
    if state == MailState.SENDING:
        lease = mail.get(fields.LEASE_UNTIL)
        return lease is None or lease <= (now if clock is None else clock)
    return False


def unsent(mail: Mail) -> bool:
    """Queued or on its way: a repeat must not queue it again, an erasure skips it."""
    return mail.get(fields.STATE) in (MailState.PENDING, MailState.SENDING)


def next_due(emails: Mapping[str, Mail], now: datetime) -> datetime | None:
    """When the sweep should next look at a registration with these mails (None: never)."""
    moments = []
    for mail in emails.values():
        if mail.get(fields.STATE) == MailState.PENDING:
            moments.append(mail.get(fields.NEXT_ATTEMPT_AT) or now)
        elif mail.get(fields.STATE) == MailState.SENDING:
            moments.append(mail.get(fields.LEASE_UNTIL) or now)
    return min(moments, default=None)


@dataclass(frozen=True)
class ClaimPlan:
    """The write that claims a document's due mails, and its mails as they will then be."""

    keys: tuple[str, ...]
    update: dict[str, Any]
    emails: dict[str, dict[str, Any]]


def plan_claim(
    data: Mapping[str, Any], now: datetime, leased_at: datetime, lease: timedelta, message_id: Callable[[], str]
) -> ClaimPlan | None:
    """Claim every due mail of a document, in the order they go; None when none is due.

    `leased_at` is the clock's time: the new leases run from it, and another's lease is taken over only once the
    clock has passed it. A mail keeps its Message-ID across attempts: a receiver that got it twice (after a crash)
    can tell it is one mail.
    """
    emails = {key: dict(mail) for key, mail in (data.get(fields.EMAILS) or {}).items()}
    keys = tuple(sorted((key for key, mail in emails.items() if is_due(mail, now, leased_at)), key=mailkeys.order))
    if not keys:
        return None
    for key in keys:
        mail = emails[key]
        mail.update(
            {
                fields.STATE: MailState.SENDING.value,
                fields.ATTEMPTS: int(mail.get(fields.ATTEMPTS, 0)) + 1,
                fields.LEASE_UNTIL: leased_at + lease,
                fields.MESSAGE_ID: mail.get(fields.MESSAGE_ID) or message_id(),
            }
        )
    update = {**{fields.mail_field(key): emails[key] for key in keys}, fields.MAIL_DUE_AT: next_due(emails, now)}
    return ClaimPlan(keys, update, emails)


def outcome_mails(claimed: Mapping[str, Mail], outcomes: Mapping[str, Outcome], now: datetime) -> dict[str, Any]:
    """The claimed mails as their outcomes leave them: sent, or pending again after a wait, or failed for good."""
    mails = {}
    for key, outcome in outcomes.items():
        mail = {
            **claimed[key],
            fields.STATE: outcome.state.value,
            fields.LEASE_UNTIL: None,
            fields.LAST_ERROR: outcome.error,
        }
        attempts = int(mail.get(fields.ATTEMPTS, 1))
        if outcome.state == MailState.SENT:
            mail.update({fields.SENT_AT: now, fields.NEXT_ATTEMPT_AT: None})
        elif outcome.state == MailState.PENDING and attempts >= MAX_ATTEMPTS:
            mail.update({fields.STATE: MailState.FAILED.value, fields.NEXT_ATTEMPT_AT: None})
        elif outcome.state == MailState.PENDING:
            mail[fields.NEXT_ATTEMPT_AT] = now + BACKOFF[min(attempts, len(BACKOFF)) - 1]
        mails[key] = mail
    return mails


def still_ours(current: Mail | None, claimed: Mail) -> bool:
    """Whether a mail is still the one a claim took: being sent, under the claim's Message-ID."""
    if not current:
        return False
    return current.get(fields.STATE) == MailState.SENDING and current.get(fields.MESSAGE_ID) == claimed.get(
        fields.MESSAGE_ID
    )


def record_update(emails: Mapping[str, Mail], keys: Collection[str], now: datetime) -> dict[str, Any]:
    """The write that records the mails `keys` as they are in `emails` (all of the document's mails)."""
    return {
        **{fields.mail_field(key): emails[key] for key in keys},
        fields.MAIL_DUE_AT: next_due(emails, now),
        # Summed per session by `signup sessions list`: the map's keys vary, so no query could count its states.
        fields.MAILS_FAILED: sum(1 for mail in emails.values() if mail.get(fields.STATE) == MailState.FAILED),
    }


def organizer_of(registration: Mapping[str, Any]) -> str | None:
    """The ORGANIZER address recorded for the registration's calendar entry; None where none is, or where what the
    console holds is no address (then the next entry sent records one anew)."""
    value = registration.get(fields.CALENDAR_ORGANIZER)
    if not isinstance(value, str):
        return None
    address = value.strip()
    if address[:7].lower() == "mailto:":
        address = address[7:]
    if "@" not in address or any(c.isspace() or not c.isprintable() for c in address):
        return None
    return address


def invited_unrecorded(registration: Mapping[str, Any]) -> bool:
    """Whether the registration's calendar entry went out with no ORGANIZER recorded, as 0.1.0 sent them: its
    confirmation or promotion was sent once it held a seat."""
    seated = registration.get(fields.CONFIRMED_AT)
    if not isinstance(seated, datetime) or organizer_of(registration):
        return False
    emails = registration.get(fields.EMAILS) or {}
    for key in (mailkeys.CONFIRMATION, mailkeys.PROMOTION):
        mail = emails.get(key) or {}
        sent_at = mail.get(fields.SENT_AT)
        if mail.get(fields.STATE) == MailState.SENT and isinstance(sent_at, datetime) and sent_at >= seated:
            return True
    return False


def kept_organizer(registration: Mapping[str, Any], outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """The write that keeps the ORGANIZER of the first calendar entry sent to the registration, which later mails
    name again (nothing where it is kept already, or no entry went)."""
    if organizer_of(registration):
        return {}
    sent = [o.organizer for o in outcomes if o.state == MailState.SENT and o.organizer]
    return {fields.CALENDAR_ORGANIZER: sent[0]} if sent else {}


def erased(emails: Mapping[str, Mail]) -> dict[str, dict[str, Any]]:
    """The mails of an erased registration: what was not sent is skipped, and no error quotes anything of it."""
    return {
        key: {
            **mail,
            fields.LAST_ERROR: None,
            fields.STATE: MailState.SKIPPED.value if unsent(mail) else mail.get(fields.STATE),
        }
        for key, mail in emails.items()
    }
