"""A registration: one person's sign-up for one session, as its document holds it.

Its id is derived from the address (see store/ids.py), so one person has one registration per session. Someone who
cancelled (or never confirmed their address in time) and signs up again gets a fresh registration under the same id,
one `generation` on, so that a link mailed for the old one does not act on the new one. A first generation is the
moment of the sign-up in microseconds, so that after an erasure, which keeps nothing that leads back to the
address, a new sign-up under the same id can never take up a generation that a link still carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore

from signup.ledger import fields, mailkeys
from signup.ledger.outbox import new_mail, organiser_mail
from signup.ledger.session import Session
from signup.ledger.status import Status

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class SignUp:
    """A validated sign-up: the person as they typed it."""

    organisation: str
    first_name: str
    infix: str
    last_name: str
    email: str
    consent: bool

    @property
    def email_key(self) -> str:
        """The address as compared for duplicates: case does not matter."""
        return self.email.lower()


# Who an erased registration was: nobody.
ERASED = SignUp(organisation="", first_name="", infix="", last_name="", email="", consent=False)


@dataclass(slots=True)
class Registration:
    """A registration as stored; `repeat` is no field but what a sign-up found: the person had it already.

    Not frozen: a frozen dataclass takes several times as long to make, and a sign-up makes two."""

    id: str
    status: Status
    generation: int = 0
    person: SignUp | None = None  # None once erased
    origin: str | None = None
    seat: int | None = None
    created_at: Any = None  # a time; for a new registration that takes effect, the server's
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    requested_at: datetime | None = None
    confirm_by: datetime | None = None
    expires_at: datetime | None = None
    consent_at: datetime | None = None
    privacy_url: str | None = None
    emails: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    mail_due_at: datetime | None = None
    told_revision: int = 0
    checked_in_at: datetime | None = None
    repeat: bool = False

    @classmethod
    def from_snapshot(cls, snapshot: Any) -> Registration:
        return cls.from_document(snapshot.id, snapshot.to_dict() or {})

    @classmethod
    def from_document(cls, registration_id: str, data: Mapping[str, Any]) -> Registration:
        """Read leniently: a field that is missing has its default (an old document, or an erased one)."""
        consent = data.get(fields.CONSENT) or {}
        email = data.get(fields.EMAIL) or ""
        return cls(
            id=registration_id,
            status=status_of(data),
            generation=generation_of(data),
            person=SignUp(
                organisation=str(data.get(fields.ORGANISATION) or ""),
                first_name=str(data.get(fields.FIRST_NAME) or ""),
                infix=str(data.get(fields.INFIX) or ""),
                last_name=str(data.get(fields.LAST_NAME) or ""),
                email=str(email),
                consent=bool(consent.get(fields.GIVEN)),
            )
            if email
            else None,
            origin=data.get(fields.ORIGIN),
            seat=data.get(fields.SEAT),
            created_at=data.get(fields.CREATED_AT),
            confirmed_at=data.get(fields.CONFIRMED_AT),
            cancelled_at=data.get(fields.CANCELLED_AT),
            requested_at=data.get(fields.REQUESTED_AT),
            confirm_by=data.get(fields.CONFIRM_BY),
            expires_at=data.get(fields.EXPIRES_AT),
            consent_at=consent.get(fields.AT),
            privacy_url=consent.get(fields.PRIVACY_URL),
            emails=data.get(fields.EMAILS) or {},
            mail_due_at=data.get(fields.MAIL_DUE_AT),
            told_revision=_whole(data.get(fields.TOLD_REVISION)),
            checked_in_at=data.get(fields.CHECKED_IN_AT),
        )

    def to_document(self) -> dict[str, Any]:
        """The document, as lean as it can be, for every field costs each sign-up time: a field without a value is
        left out rather than stored empty (`organisation` and `infix` when given, `seat` and `confirmed_at` with a
        seat, `origin` for browsers, `consent` where the session asks, `generation` above 0)."""
        document: dict[str, Any] = {}
        person = self.person
        if person is not None:
            document[fields.FIRST_NAME] = person.first_name
            document[fields.LAST_NAME] = person.last_name
            document[fields.EMAIL] = person.email
            if person.organisation:
                document[fields.ORGANISATION] = person.organisation
            if person.infix:
                document[fields.INFIX] = person.infix
        document[fields.STATUS] = self.status.value
        for name, value in (
            (fields.ORIGIN, self.origin),
            (fields.SEAT, self.seat),
            (fields.GENERATION, self.generation or None),
            (fields.CREATED_AT, self.created_at),
            (fields.CONFIRMED_AT, self.confirmed_at),
            (fields.CANCELLED_AT, self.cancelled_at),
            (fields.REQUESTED_AT, self.requested_at),
            (fields.CONFIRM_BY, self.confirm_by),
            (fields.EXPIRES_AT, self.expires_at),
            (fields.MAIL_DUE_AT, self.mail_due_at),
            (fields.TOLD_REVISION, self.told_revision or None),
            (fields.CHECKED_IN_AT, self.checked_in_at),
        ):
            if value is not None:
                document[name] = value
        if self.privacy_url is not None and person is not None:
            document[fields.CONSENT] = {
                fields.GIVEN: person.consent,
                fields.AT: self.consent_at,
                fields.PRIVACY_URL: self.privacy_url,
            }
        if self.emails:
            document[fields.EMAILS] = {key: dict(mail) for key, mail in self.emails.items()}
        return document

    def lapsed(self, now: datetime) -> bool:
        """Whether this sign-up's address was not confirmed in time (whether or not the sweep has marked it)."""
        return self.status == Status.EXPIRED or (
            self.status == Status.UNCONFIRMED and self.confirm_by is not None and self.confirm_by <= now
        )

    def replaceable(self, now: datetime) -> bool:
        """Whether a new sign-up replaces this one: it was cancelled, or its address was not confirmed in time."""
        return self.status == Status.CANCELLED or self.lapsed(now)


def signed_up(
    registration_id: str, session: Session, signup: SignUp, *, origin: str | None, now: datetime
) -> Registration:
    """A new sign-up, with its first mails, before it has a place: `created_at` is the server's time (a transform
    the database applies), the other times are `now`. With `confirm_email` it waits for its address to be
    confirmed, holding nothing, and has no `created_at` until then (when it was posted is `requested_at`): the
    waiting list, the organiser's digest and the export count a registration from the moment it takes effect, and a
    lapsed one never did."""
    unconfirmed = session.confirm_email
    return Registration(
        id=registration_id,
        status=Status.UNCONFIRMED if unconfirmed else Status.CONFIRMED,
        generation=first_generation(now),
        person=signup,
        origin=origin or None,
        created_at=None if unconfirmed else firestore.SERVER_TIMESTAMP,
        requested_at=now if unconfirmed else None,
        confirm_by=now + session.confirm_within if unconfirmed else None,
        expires_at=session.expires_at,  # Firestore's TTL policy on it deletes the registration by itself
        consent_at=now if session.privacy_url else None,
        privacy_url=session.privacy_url,
        emails=first_mails(session),
        mail_due_at=now,
    )


def first_mails(session: Session) -> dict[str, dict[str, Any]]:
    """A sign-up's mails: the request to confirm the address where the session asks for it; else the confirmation,
    and the organiser's mail about it when they hear of each sign-up."""
    if session.confirm_email:
        return {mailkeys.CONFIRM_ADDRESS: new_mail()}
    return {mailkeys.CONFIRMATION: new_mail(), **organiser_mail(session, mailkeys.ORGANISER_CREATED)}


def first_generation(now: datetime) -> int:
    """A new registration's generation: the moment in microseconds, later than any generation the id had before."""
    since = now - _EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def next_generation(old: int, now: datetime) -> int:
    """The generation of a registration that replaces one of `old`: above it, and never below the moment either.

    Each generation is thus at most the moment it began (two sign-ups of one id cannot be a microsecond apart), so a
    first generation after an erasure is above every generation before it."""
    return max(old + 1, first_generation(now))


def status_of(data: Mapping[str, Any]) -> Status:
    """A document's status; one without (or with one we do not know) counts as confirmed, as it always has."""
    try:
        return Status(data.get(fields.STATUS) or Status.CONFIRMED)
    except ValueError:
        return Status.CONFIRMED


def generation_of(data: Mapping[str, Any]) -> int:
    """How far the registration under this id has come (absent: 0, a registration from before generations)."""
    return _whole(data.get(fields.GENERATION))


def unsubscribed(data: Mapping[str, Any]) -> bool:
    """Whether the person asked for no more of the organiser's messages: `unsubscribed_at` holds a value (the link
    writes the moment; null, empty or false, as the console may leave the field to let someone back in, is none)."""
    return bool(data.get(fields.UNSUBSCRIBED_AT))


def seat_document(session: Session, registration_id: str, now: datetime) -> dict[str, Any]:
    return {fields.REGISTRATION_ID: registration_id, fields.TAKEN_AT: now, fields.EXPIRES_AT: session.expires_at}


def form_token_document(session: Session, registration_id: str) -> dict[str, Any]:
    """A used form token: it names the registration it brought in, and leaves with the session's data."""
    return {
        fields.SESSION_ID: session.id,
        fields.REGISTRATION_ID: registration_id,
        fields.EXPIRES_AT: session.expires_at,
    }


def _whole(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
