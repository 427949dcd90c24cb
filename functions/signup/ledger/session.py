"""Sessions as organisers write them in the Firestore console, read leniently: a field that cannot work names itself."""

from __future__ import annotations

import hashlib
import json
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import email_validator

from signup.errors import MisconfiguredError
from signup.texts import DEFAULT_LANGUAGE, LANGUAGES

# The fields that the functions query or write (the others are read in `parse_session`).
TITLE = "title"
STARTS_AT = "starts_at"
ENDS_AT = "ends_at"
LOCATION = "location"
# ... the place's, in `location`.
PLACE_NAME = "name"
PLACE_ADDRESS = "address"
CAPACITY = "capacity"
STATUS = "status"
CANCELLATION_MESSAGE = "cancellation_message"
ORGANISER_NOTIFICATIONS = "organiser_notifications"
REMINDERS_QUEUED = "reminders_queued"
# What the functions keep on a session to tell attendees of each change exactly once (see mail/changes.py).
REVISION = "revision"
# A session `signup check` makes for its test sign-up and removes afterwards: never counted, exported or reminded.
CHECK_SESSION = "check_session"
REVISION_FINGERPRINT = "revision_fingerprint"
REVISED_AT = "revised_at"
# What attendees were told as of the revision (title, times, place), and as of the one before: the change mail
# names what changed, old and new.
REVISION_FACTS = "revision_facts"
REVISED_FROM = "revised_from"
ANNOUNCED_REVISION = "announced_revision"
CANCELLED_AT = "cancelled_at"
# Fields the functions keep on a session: a session file may neither set nor remove them (so a file never calls a
# session off nor back on: `signup sessions cancel` does the one).
MANAGED_FIELDS = (
    CHECK_SESSION,
    REMINDERS_QUEUED,
    REVISION,
    REVISION_FINGERPRINT,
    REVISED_AT,
    REVISION_FACTS,
    REVISED_FROM,
    ANNOUNCED_REVISION,
    STATUS,
    CANCELLATION_MESSAGE,
    CANCELLED_AT,
)
# An organiser cancels a session by setting `status` to this (with `cancellation_message`), or with
# `signup sessions cancel`.
CALLED_OFF = "cancelled"
# Personal data is kept this many days after a session ends, unless the session says otherwise.
DEFAULT_RETENTION_DAYS = 90
MAX_RETENTION_DAYS = 730
# What the organiser hears of sign-ups: nothing, a mail for each sign-up and cancellation, or a daily digest.
NOTIFICATION_CHOICES = ("none", "each", "daily")
# With `confirm_email`, a sign-up holds nothing until its address is confirmed, at most this many hours later.
DEFAULT_CONFIRM_WITHIN_HOURS = 24.0
# What a session may hold, so that nothing an organiser types can take the functions down: each seat is a document
# that a listing reads (a capacity of 1e300 made a range of that size), a reminder or a time out of these bounds
# overflows the date arithmetic (a reminder 1e10 hours ahead, an end in the year 9999 plus the retention period).
MAX_CAPACITY = 10_000
MAX_HOURS = 24 * 365
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def mailbox(address: str) -> str:
    """Who an address (as email-validator normalises it) is, for who may organise: its ASCII letters in lower case,
    and nothing else folded. casefold() made `kees@straße.de` (xn--strae-oqa.de, anyone's to register) the same as
    `kees@strasse.de`, and `ﬁnance@` the same as `finance@`: other mailboxes, which then organised their sessions.
    The domain is already as IDNA writes it (lower case, one spelling); a local part differing in a capital outside
    ASCII is another address (refused rather than guessed)."""
    return address.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class Place:
    name: str
    address: str


@dataclass(frozen=True)
class Organiser:
    name: str
    email: str


@dataclass(frozen=True)
class Session:
    """One session that people can sign up for."""

    id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    location: Place
    capacity: int | None
    registration_closes_at: datetime | None
    allowed_origins: frozenset[str]
    language: str
    reminder_hours: tuple[float, ...]
    organiser: Organiser | None
    thank_you_url: str | None
    privacy_url: str | None
    reminders_queued: frozenset[str] = frozenset()
    retention_days: int = DEFAULT_RETENTION_DAYS
    require_form_token: bool = False
    turnstile_site_key: str | None = None
    organiser_notifications: str = "none"
    # Grows with each change that concerns attendees (see changes.py); calendars derive SEQUENCE from it.
    revision: int = 0
    cancellation_message: str | None = None

    @property
    def cancelled(self) -> bool:
        """The organiser called the session off: nobody signs up, reminders stay away."""
        return self.cancellation_message is not None

    confirm_email: bool = False
    confirm_within_hours: float = DEFAULT_CONFIRM_WITHIN_HOURS
    check_session: bool = False
    # Who else may organise this session on the organisers' page, besides `organiser.email` (bare addresses).
    co_organisers: frozenset[str] = frozenset()

    def organised_by(self, address: str) -> bool:
        """Whether this address (ASCII case aside, see mailbox()) is the session's organiser or a co-organiser."""
        who = mailbox(address)
        own = mailbox(self.organiser.email) if self.organiser and self.organiser.email else None
        return who == own or who in self.co_organisers

    @property
    def confirm_within(self) -> timedelta:
        """How long a sign-up waits for its address to be confirmed (sessions with `confirm_email`)."""
        return timedelta(hours=self.confirm_within_hours)

    @cached_property
    def expires_at(self) -> datetime:
        """When personal data of this session's registrations leaves by itself (Firestore TTL on `expires_at`).

        Worked out once per session read: every sign-up stores it, and the end as Firestore gives it is a
        subclass of datetime whose arithmetic runs in Python."""
        return self.ends_at + timedelta(days=self.retention_days)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def closes_at(self) -> datetime:
        """Registration closes at the set moment, and at the latest when the session starts."""
        if self.registration_closes_at is None:
            return self.starts_at
        return min(self.registration_closes_at, self.starts_at)

    def is_open(self, now: datetime) -> bool:
        return not self.cancelled and now < self.closes_at

    def allows_origin(self, origin: str) -> bool:
        return normalise_origin(origin) in self.allowed_origins


def valid_session_id(session_id: str) -> bool:
    return _SESSION_ID.fullmatch(session_id) is not None


def normalise_origin(origin: str) -> str:
    """`https://Example.nl/` and `https://example.nl` are the same site."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:  # "http://[" and the like: not an origin a browser can be on
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc.lower()}"


def parse_session(session_id: str, data: Mapping[str, Any]) -> Session:
    """Read a session document; a field that cannot work names itself in the error."""
    starts_at = _timestamp(data, STARTS_AT, required=True)
    ends_at = _timestamp(data, ENDS_AT, required=True)
    assert starts_at is not None
    assert ends_at is not None
    if ends_at < starts_at:
        raise MisconfiguredError(f"session {session_id}: ends_at is before starts_at")
    zone = _text(data, "timezone") or "Europe/Amsterdam"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise MisconfiguredError(f"session {session_id}: timezone {zone!r} is unknown") from None
    language = _text(data, "language") or DEFAULT_LANGUAGE
    if language not in LANGUAGES:
        raise MisconfiguredError(f"session {session_id}: language must be one of {', '.join(LANGUAGES)}")
    location = data.get(LOCATION) or {}
    organiser = data.get("organiser") or None
    if not isinstance(location, Mapping) or (organiser is not None and not isinstance(organiser, Mapping)):
        raise MisconfiguredError(f"session {session_id}: location and organiser must be maps")
    title = _text(data, TITLE)
    if not title:
        raise MisconfiguredError(f"session {session_id}: title is missing")
    return Session(
        id=session_id,
        title=title,
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=zone,
        location=Place(name=_text(location, PLACE_NAME), address=_text(location, PLACE_ADDRESS)),
        capacity=_capacity(session_id, data.get(CAPACITY)),
        registration_closes_at=_timestamp(data, "registration_closes_at", required=False),
        allowed_origins=frozenset(
            filter(None, (normalise_origin(str(o)) for o in _list(session_id, data, "allowed_origins")))
        ),
        language=language,
        reminder_hours=tuple(_hours(session_id, data)),
        organiser=_organiser(session_id, organiser) if organiser else None,
        thank_you_url=_url(session_id, data, "thank_you_url"),
        privacy_url=_url(session_id, data, "privacy_url"),
        reminders_queued=frozenset(data.get(REMINDERS_QUEUED) or {}),
        retention_days=_retention(session_id, data.get("retention_days")),
        require_form_token=data.get("require_form_token") is True,
        turnstile_site_key=_text(data, "turnstile_site_key") or None,
        organiser_notifications=_notifications(session_id, data, organiser),
        revision=_revision(session_id, data.get(REVISION)),
        cancellation_message=_cancellation(data),
        confirm_email=data.get("confirm_email") is True,
        confirm_within_hours=_confirm_within_hours(session_id, data.get("confirm_within_hours")),
        check_session=data.get(CHECK_SESSION) is True,
        co_organisers=_co_organisers(session_id, data),
    )


def _co_organisers(session_id: str, data: Mapping[str, Any]) -> frozenset[str]:
    found = set()
    for value in _list(session_id, data, "co_organisers"):
        try:
            address = email_validator.validate_email(str(value).strip(), check_deliverability=False).normalized
        except email_validator.EmailNotValidError:
            raise MisconfiguredError(f"session {session_id}: co_organisers must be bare addresses") from None
        found.add(mailbox(address))
    return frozenset(found)


def facts(data: Mapping[str, Any]) -> dict[str, Any]:
    """What attendees were told of a session document, as a change mail compares it (kept with each revision,
    mail/changes.py): the title and the place's name and address stripped, the times in UTC (None if unreadable)."""
    title, starts_at, ends_at, name, address = _told(data)
    return {
        TITLE: title,
        STARTS_AT: _utc(starts_at),
        ENDS_AT: _utc(ends_at),
        LOCATION: {PLACE_NAME: name, PLACE_ADDRESS: address},
    }


def fingerprint(data: Mapping[str, Any]) -> str:
    """A digest of what attendees were told: the facts, and whether the session takes place.

    Every session stores it (`revision_fingerprint`): for the same document it must stay the same value, or every
    session would have a new revision, and a change mail for everyone."""
    title, starts_at, ends_at, name, address = _told(data)
    told = [title, _stamp(starts_at), _stamp(ends_at), name, address, called_off(data)]
    return hashlib.sha256(json.dumps(told).encode()).hexdigest()[:20]


def called_off(data: Mapping[str, Any]) -> bool:
    """Whether a session document says it was called off (`status`, case and spaces aside)."""
    return _text(data, STATUS).lower() == CALLED_OFF


def _told(data: Mapping[str, Any]) -> tuple[str, object, object, str, str]:
    """The title, start, end, and the place's name and address, as leniently as anything may have been typed."""
    location = data.get(LOCATION)
    place = location if isinstance(location, Mapping) else {}
    return (
        _text(data, TITLE),
        _moment(data.get(STARTS_AT)),
        _moment(data.get(ENDS_AT)),
        _text(place, PLACE_NAME),
        _text(place, PLACE_ADDRESS),
    )


def _moment(value: object) -> object:
    """A time as a document holds it, or as ISO text; anything else as it is."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _utc(moment: object) -> datetime | None:
    return moment.astimezone(UTC) if isinstance(moment, datetime) and moment.tzinfo is not None else None


def _stamp(moment: object) -> str:
    if isinstance(moment, datetime):
        return moment.isoformat() if moment.tzinfo is None else f"{moment.timestamp():.6f}"
    return repr(moment)


def _confirm_within_hours(session_id: str, value: object) -> float:
    if value is None:
        return DEFAULT_CONFIRM_WITHIN_HOURS
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_HOURS:
        raise MisconfiguredError(
            f"session {session_id}: confirm_within_hours must be a number of hours above 0, at most {MAX_HOURS}"
        )
    return float(value)


def _notifications(session_id: str, data: Mapping[str, Any], organiser: Mapping[str, Any] | None) -> str:
    value = _text(data, ORGANISER_NOTIFICATIONS) or "none"
    if value not in NOTIFICATION_CHOICES:
        raise MisconfiguredError(
            f"session {session_id}: organiser_notifications must be one of {', '.join(NOTIFICATION_CHOICES)}"
        )
    if value != "none" and not _text(organiser or {}, "email"):
        raise MisconfiguredError(f"session {session_id}: organiser_notifications {value!r} needs organiser.email")
    return value


def _revision(session_id: str, value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MisconfiguredError(f"session {session_id}: revision must be a whole number, 0 or more")
    return value


def _cancellation(data: Mapping[str, Any]) -> str | None:
    """The organiser's message when the session is cancelled (empty when none was given); None when it is on."""
    if not called_off(data):
        return None
    return _text(data, CANCELLATION_MESSAGE)


def _url(session_id: str, data: Mapping[str, Any], name: str) -> str | None:
    value = _text(data, name)
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise MisconfiguredError(f"session {session_id}: {name} must be an http(s) address")
    return value


def _organiser(session_id: str, data: Mapping[str, Any]) -> Organiser:
    """The organiser's name and address; the address must be a bare address (it becomes Reply-To)."""
    address = _text(data, "email")
    if address:
        try:
            address = email_validator.validate_email(address, check_deliverability=False).normalized
        except email_validator.EmailNotValidError:
            raise MisconfiguredError(f"session {session_id}: organiser.email must be a bare address") from None
    name = _text(data, "name")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise MisconfiguredError(f"session {session_id}: organiser.name must be one line")
    return Organiser(name=name, email=address)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def _timestamp(data: Mapping[str, Any], name: str, *, required: bool) -> datetime | None:
    value = data.get(name)
    if value is None:
        if required:
            raise MisconfiguredError(f"session: {name} is missing")
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise MisconfiguredError(f"session: {name} is not a timestamp") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise MisconfiguredError(f"session: {name} must be a timestamp with a time zone")
    if not EARLIEST <= value < LATEST:
        raise MisconfiguredError(f"session: {name} must be a moment from {EARLIEST.year} to {LATEST.year - 1}")
    return value.astimezone(UTC)


def _capacity(session_id: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAPACITY:
        raise MisconfiguredError(
            f"session {session_id}: capacity must be a whole number from 0 to {MAX_CAPACITY} (none: leave it out)"
        )
    return value


def _retention(session_id: str, value: object) -> int:
    if value is None:
        return DEFAULT_RETENTION_DAYS
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETENTION_DAYS:
        raise MisconfiguredError(
            f"session {session_id}: retention_days must be a whole number from 0 to {MAX_RETENTION_DAYS}"
        )
    return value


def _list(session_id: str, data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MisconfiguredError(f"session {session_id}: {name} must be an array")
    return value


def _hours(session_id: str, data: Mapping[str, Any]) -> list[float]:
    raw = _list(session_id, data, "reminder_hours") if "reminder_hours" in data else [24]
    if not all(isinstance(h, int | float) and not isinstance(h, bool) and 0 < h <= MAX_HOURS for h in raw):
        raise MisconfiguredError(
            f"session {session_id}: reminder_hours must be numbers of hours above 0, at most {MAX_HOURS}"
        )
    return sorted({float(h) for h in raw}, reverse=True)
