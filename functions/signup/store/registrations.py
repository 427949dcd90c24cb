"""Store a sign-up: one registration per person, and never more confirmed than there are seats.

A counter on the session document would serialise every sign-up on one hot
document, which collapses under a newsletter's burst. Instead each seat of a
limited session is its own document, `sessions/{id}/seats/{n}` for n below the
capacity, created together with the registration in one batch. `create()` fails
if the seat or the registration already exists, so two sign-ups can never hold
the same seat (never oversold) and one person can never hold two registrations
(the registration's id is derived from the address; a cancelled one is replaced under the same id, on condition
that nobody changed it since it was read, and its `generation` counts the replacements so that an old cancel link
cannot cancel the new sign-up). Contention is spread over as many documents as there are seats. Each instance keeps
a listing of the seats for a few seconds and hands out the seats it showed free, one per sign-up, so that a burst
does not read every seat once per sign-up; a stale listing costs a failed create() or a few seconds' wait, never an
oversold seat (see `Registrar._seat_memory`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import random
import threading
import time
from base64 import b32encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.errors import FormReplayedError, MisconfiguredError, NotFoundError, SupersededError
from signup.http.validation import SignUp
from signup.ledger.session import SESSIONS, Session
from signup.ledger.writes import CONFLICTS
from signup.mail import notifications, outbox
from signup.store import creates
from signup.store.deadlines import ON_REQUEST

log = logging.getLogger(__name__)

REGISTRATIONS = "registrations"
FORM_TOKENS = "formtokens"
SEATS = "seats"
CONFIRMED = "confirmed"
WAITLISTED = "waitlisted"
CANCELLED = "cancelled"
# Sessions with `confirm_email`: a sign-up waits for its address to be confirmed, holding no seat and no place on
# the waiting list, until `confirm_by`; then it lapses.
UNCONFIRMED = "unconfirmed"
EXPIRED = "expired"
# What every sign-up to such a session is answered with, newcomer or not: "check your mail".
CHECK_EMAIL = "check_email"
# The mail that carries the confirm link.
CONFIRM_ADDRESS = "confirm_address"

# A listing of a session's seats is kept this long, per instance: sign-ups take the seats it showed free one by one
# instead of each reading every seat (5 ms of CPU per 100 seats), and once it showed the session full, each sign-up
# costs one write. What a listing this old can get wrong costs little (see `_seat_memory`).
SEAT_MEMORY_SECONDS = 5.0
# How often a sign-up tries a seat that turns out taken (or a registration that keeps changing) before it settles
# for the waiting list.
MAX_ATTEMPTS = 8
# Someone who signs up again gets their confirmation again, but not for a double click: their first one is on its
# way, or only just arrived. The daily mail cap bounds how often a stranger can make us resend.
RESEND_AFTER = timedelta(minutes=10)


class _CancelledBeforeError(Exception):
    """The person signing up has a cancelled (or lapsed) registration: it is to be replaced by a fresh one."""

    def __init__(self, snapshot: Any) -> None:
        super().__init__("cancelled before")
        self.snapshot = snapshot  # None: it is gone, create a new one


class _ChangedError(Exception):
    """The registration changed between reading and writing it: read it again."""


@dataclass(frozen=True)
class Registration:
    id: str
    status: str
    generation: int = 0
    repeat: bool = False  # the person had this registration already
    confirm_by: datetime | None = None  # an unconfirmed sign-up lapses then

    def lapsed(self, now: datetime) -> bool:
        """Whether this sign-up's address was not confirmed in time (whether or not the sweep has marked it)."""
        return _lapsed({"status": self.status, "confirm_by": self.confirm_by}, now)


def registration_id(key: bytes, session_id: str, email_key: str) -> str:
    """A stable id per session and address that reveals neither: a keyed hash."""
    digest = hmac.new(key, f"{session_id}\x00{email_key}".encode(), hashlib.sha256).digest()
    return b32encode(digest[:20]).decode().lower()


class Registrar:
    """Writes registrations and hands out seats.

    `id_keys` are the registration-id subkeys of every live signing key, the current one first: a new registration
    gets its id from the current key, and a registration made under a previous key is still found under its id.
    """

    def __init__(
        self,
        client: Any,
        id_keys: Sequence[bytes],
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        seats_left_ttl: float = 0.0,
    ) -> None:
        self._client = client
        self._id_keys = tuple(id_keys)
        self._monotonic = monotonic
        self._rng = rng or random.SystemRandom()
        self._clock = clock
        self._seats: dict[tuple[str, int], _SeatMemory] = {}
        self._listings: dict[tuple[str, int], threading.Event] = {}
        self._seats_left_ttl = seats_left_ttl
        self._seats_left: dict[tuple[str, int], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def register(
        self, session: Session, signup: SignUp, *, origin: str | None, form_nonce: str | None = None
    ) -> Registration:
        """Store the sign-up, or return the registration this person already has.

        With a form token's nonce, the nonce is stored in the same batch: a second registration from the same
        form (a bot replaying it) is refused with FormReplayedError, while the same person twice is not. Someone
        who cancelled and signs up again gets a fresh registration under the same id, one generation on.
        """
        ref = self._ref_for(session.id, signup.email_key)
        now = self._clock()
        document = _document(session, signup, origin, now)
        if session.confirm_email:
            document = _unconfirmed(session, document, now)
        nonce = None
        if form_nonce is not None:
            nonce = (
                self._client.collection(FORM_TOKENS).document(form_nonce),
                {"session_id": session.id, "registration_id": ref.id, "expires_at": session.expires_at},
            )
        replacing = None
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._store(session, ref, document, nonce, now, replacing)
            except _CancelledBeforeError as cancelled:
                replacing = cancelled.snapshot
        raise google_errors.Aborted("the registration kept changing while it was being stored")  # type: ignore[no-untyped-call]

    def _ref_for(self, session_id: str, email_key: str) -> Any:
        """Where this person's registration is: under the current key's id, or under a previous key's if one was
        made there (one read, only while a previous key is kept)."""
        if not self._id_keys:
            raise MisconfiguredError("Missing required setting SIGNING_KEY")
        registrations = self._registrations(session_id)
        refs = [registrations.document(registration_id(key, session_id, email_key)) for key in self._id_keys]
        if len(refs) > 1:
            for snapshot in self._client.get_all(refs[1:], **ON_REQUEST):
                if snapshot.exists:
                    return snapshot.reference
        return refs[0]

    def _store(
        self,
        session: Session,
        ref: Any,
        document: dict[str, Any],
        nonce: tuple[Any, dict[str, Any]] | None,
        now: datetime,
        replacing: Any,
    ) -> Registration:
        def write(fields: dict[str, Any], seat: tuple[Any, dict[str, Any]] | None) -> Registration | None:
            return self._commit(ref, {**document, **fields}, nonce, seat, replacing)

        if document.get("status") == UNCONFIRMED:
            return _retrying(lambda: write({}, None))  # nothing is held until the address is confirmed
        return self._take_place(session, ref, now, write)

    def _take_place(
        self,
        session: Session,
        ref: Any,
        now: datetime,
        write: Callable[[dict[str, Any], tuple[Any, dict[str, Any]] | None], Registration | None],
    ) -> Registration:
        """A seat while one is free, else the waiting list: `write` stores the registration's fields with the seat
        to create, and answers None when that seat was taken meanwhile."""
        if session.capacity is not None:
            session_ref = ref.parent.parent
            for _ in range(MAX_ATTEMPTS):
                seat = self._take_seat(session_ref, session.capacity)
                if seat is None:
                    break
                taking = (session_ref.collection(SEATS).document(str(seat)), _seat(session, ref.id, now))
                stored = write({"status": CONFIRMED, "seat": seat, "confirmed_at": now}, taking)
                if stored is not None:
                    return stored
                # somebody took that seat a moment ago: look again
            # No seat is free, or seats keep being taken under our hands: the waiting list is the true answer.
            waiting: dict[str, Any] = {"status": WAITLISTED}
        else:
            waiting = {"status": CONFIRMED, "confirmed_at": now}
        return _retrying(lambda: write(waiting, None))

    def _commit(
        self,
        ref: Any,
        document: dict[str, Any],
        nonce: tuple[Any, dict[str, Any]] | None,
        seat: tuple[Any, dict[str, Any]] | None,
        replacing: Any,
    ) -> Registration | None:
        """Write the registration (with its seat and form nonce) in one batch; None when the seat was taken.

        A new registration is created, so that a second one for the same person cannot be; a cancelled one is
        replaced, on condition that nobody changed it since it was read.
        """
        batch = self._client.batch()
        for created, data in filter(None, (seat, nonce)):
            creates.create(batch, created, data)
        if replacing is None:
            creates.create(batch, ref, document)
        else:
            document = {**document, "generation": _generation(replacing) + 1}
            gone = {field: firestore.DELETE_FIELD for field in (replacing.to_dict() or {}) if field not in document}
            batch.update(
                ref, {**document, **gone}, option=self._client.write_option(last_update_time=replacing.update_time)
            )
        try:
            batch.commit(**ON_REQUEST)
        except (google_errors.AlreadyExists, google_errors.NotFound, *CONFLICTS):
            existing = ref.get(**ON_REQUEST)
            if existing.exists and not _replaceable(existing.to_dict() or {}, self._clock()):
                # The same person again, perhaps at the same moment.
                self._resend_confirmation(existing)
                return replace(_registration(existing), repeat=True)
            if nonce is not None and nonce[0].get(**ON_REQUEST).exists:
                raise FormReplayedError(ref.id) from None
            if existing.exists or replacing is not None:
                # Cancelled or lapsed: replace it. Or the old one was erased meanwhile: create afresh.
                raise _CancelledBeforeError(existing if existing.exists else None) from None
            return None
        return Registration(ref.id, document["status"], document.get("generation", 0))

    def _resend_confirmation(self, snapshot: Any) -> None:
        """Queue the confirmation of someone who signs up again (or, while their address is unconfirmed, the mail
        that asks them to confirm it), unless theirs is on its way or only just went."""
        data = snapshot.to_dict() or {}
        key = CONFIRM_ADDRESS if data.get("status") == UNCONFIRMED else "confirmation"
        mail = data.get("emails", {}).get(key) or {}
        sent_at = mail.get("sent_at")
        if mail.get("state") in (outbox.PENDING, outbox.SENDING) or (
            sent_at is not None and sent_at > self._clock() - RESEND_AFTER
        ):
            return
        try:
            snapshot.reference.update(
                outbox.pending_update(key),
                option=self._client.write_option(last_update_time=snapshot.update_time),
                **ON_REQUEST,
            )
        except (google_errors.NotFound, *CONFLICTS):
            pass  # changed meanwhile (cancelled, erased, or queued by a concurrent repeat): nothing to resend

    def answer(self, session: Session, registration: Registration) -> str:
        """The status a sign-up is answered with: that of a new sign-up made at this moment, so that the answer
        never tells whether the address had signed up before. For a first sign-up that is its own status; the
        person learns theirs by mail."""
        if session.confirm_email:
            return CHECK_EMAIL  # the same for everyone; what happened comes by mail
        if not registration.repeat:
            return registration.status
        if registration.status == WAITLISTED and session.capacity is not None:
            # A newcomer would get a free seat now: so does this person, rather than be told of a seat they lack.
            return CONFIRMED if self.promote(session, registration.id) else WAITLISTED
        return self.newcomer_status(session)

    def newcomer_status(self, session: Session) -> str:
        """What a sign-up made at this moment gets: a seat while one is free (or, where the address is to be
        confirmed first, the request to check their mail)."""
        if session.confirm_email:
            return CHECK_EMAIL
        if session.capacity is None:
            return CONFIRMED
        seats = self._seat_memory(self._registrations(session.id).parent, session.capacity)
        return CONFIRMED if seats.free else WAITLISTED

    def find(self, session: Session, registration_id: str) -> Registration | None:
        """The registration under this id as it is now, if there is one."""
        snapshot = self._registrations(session.id).document(registration_id).get(**ON_REQUEST)
        return _registration(snapshot) if snapshot.exists else None

    def confirm(self, session: Session, registration_id: str, generation: int) -> str:
        """Confirm an address: the registration takes a seat, or a place on the waiting list, as a sign-up does at
        this moment, and its confirmation is queued; return its status then. Twice is harmless.

        A registration past its `confirm_by` has lapsed (EXPIRED is returned, nothing changes); one of another
        generation, a cancelled one, or none at all is SupersededError.
        """
        ref = self._registrations(session.id).document(registration_id)
        for _ in range(MAX_ATTEMPTS):
            snapshot = ref.get(**ON_REQUEST)
            if not snapshot.exists or _generation(snapshot) != generation:
                raise SupersededError(registration_id)
            data = snapshot.to_dict() or {}
            now = self._clock()
            status = str(data.get("status", CONFIRMED))
            if status == CANCELLED:
                raise SupersededError(registration_id)
            if status != UNCONFIRMED:
                return status  # confirmed before (or lapsed)
            if _lapsed(data, now):
                return EXPIRED
            confirming = {
                # The registration takes effect now: the waiting list and the organiser's digest go by this moment.
                "created_at": firestore.SERVER_TIMESTAMP,
                "confirm_by": firestore.DELETE_FIELD,
                **outbox.pending_update("confirmation"),
                **notifications.queued_update(session, notifications.CREATED),
            }
            try:
                stored = self._take_place(
                    session,
                    ref,
                    now,
                    functools.partial(self._write_confirmed, snapshot, confirming),
                )
            except _ChangedError:
                continue  # confirmed by a second click at the same moment, or lapsed, cancelled: look again
            log.info("address confirmed session=%s id=%s status=%s", session.id, registration_id, stored.status)
            return stored.status
        raise google_errors.Aborted("the registration kept changing while it was being confirmed")  # type: ignore[no-untyped-call]

    def _write_confirmed(
        self,
        snapshot: Any,
        confirming: dict[str, Any],
        place: dict[str, Any],
        seat: tuple[Any, dict[str, Any]] | None,
    ) -> Registration | None:
        """Store a confirmation with its place (and seat), on condition that the registration is as it was read;
        None when the seat was taken meanwhile."""
        fields = {**confirming, **place}
        batch = self._client.batch()
        if seat is not None:
            creates.create(batch, *seat)
        batch.update(
            snapshot.reference, fields, option=self._client.write_option(last_update_time=snapshot.update_time)
        )
        try:
            batch.commit(**ON_REQUEST)
        except google_errors.AlreadyExists:
            return None
        except (google_errors.NotFound, *CONFLICTS):
            raise _ChangedError() from None
        return Registration(snapshot.id, fields["status"], _generation(snapshot))

    def _registrations(self, session_id: str) -> Any:
        # One call with the whole path: a fifth of the time of collection().document().collection(), per sign-up.
        return self._client.collection(SESSIONS, session_id, REGISTRATIONS)

    def cancel(self, session: Session, registration_id: str, generation: int | None = None) -> str:
        """Cancel a registration, free its seat for the waiting list; return the status it had. Twice is harmless.

        With a `generation` (a cancel link's), only that sign-up is cancelled: a later one under the same id, or
        none at all, is SupersededError.
        """
        ref = self._registrations(session.id).document(registration_id)
        session_ref = ref.parent.parent
        for _ in range(MAX_ATTEMPTS):
            snapshot = ref.get(**ON_REQUEST)
            if generation is not None and (not snapshot.exists or _generation(snapshot) != generation):
                raise SupersededError(registration_id)
            if not snapshot.exists:
                raise NotFoundError(registration_id)
            data = snapshot.to_dict() or {}
            status = str(data.get("status", CONFIRMED))
            if status == CANCELLED:
                return CANCELLED
            # Someone whose address was never confirmed held nothing and was never told of a registration: no mails.
            told = status != UNCONFIRMED
            batch = self._client.batch()
            batch.update(
                ref,
                {
                    "status": CANCELLED,
                    "seat": None,
                    "cancelled_at": firestore.SERVER_TIMESTAMP,
                    "confirm_by": firestore.DELETE_FIELD,
                    **(outbox.pending_update("cancellation") if told else {}),
                    **(notifications.queued_update(session, notifications.CANCELLED) if told else {}),
                },
                option=self._client.write_option(last_update_time=snapshot.update_time),
            )
            if data.get("seat") is not None:
                batch.delete(session_ref.collection(SEATS).document(str(data["seat"])))
            try:
                batch.commit(**ON_REQUEST)
            except CONFLICTS:
                continue
            log.info("cancelled session=%s id=%s was=%s", session.id, registration_id, status)
            if data.get("seat") is not None:
                self.promote(session)
            return status
        raise google_errors.Aborted("the registration kept changing while it was being cancelled")  # type: ignore[no-untyped-call]

    def promote(self, session: Session, registration_id: str | None = None) -> list[str]:
        """Give free seats to the waiting list, earliest sign-up first (or to one registration); return who moved up."""
        if session.capacity is None or session.cancelled:
            return []
        session_ref = self._client.collection(SESSIONS).document(session.id)
        try:
            return self._promote(session, session_ref, session.capacity, registration_id)
        finally:
            # Seats were freed (a cancellation) or taken: the next sign-up here lists them afresh.
            with self._lock:
                self._seats.pop((session.id, session.capacity), None)

    def _promote(self, session: Session, session_ref: Any, capacity: int, registration_id: str | None) -> list[str]:
        promoted: list[str] = []
        for _ in range(MAX_ATTEMPTS):
            free = self._list_free_seats(session_ref, capacity)
            if not free:
                break
            waiting = self._waiting(session_ref, len(free), registration_id)
            if not waiting or (registration_id and promoted):
                break
            for snapshot, seat in zip(waiting, free, strict=False):
                batch = self._client.batch()
                batch.create(
                    session_ref.collection(SEATS).document(str(seat)),
                    _seat(session, snapshot.id, self._clock()),
                )
                batch.update(
                    snapshot.reference,
                    {
                        "status": CONFIRMED,
                        "seat": seat,
                        "confirmed_at": firestore.SERVER_TIMESTAMP,
                        **outbox.pending_update("promotion"),
                    },
                    option=self._client.write_option(last_update_time=snapshot.update_time),
                )
                try:
                    batch.commit(**ON_REQUEST)
                except (google_errors.AlreadyExists, *CONFLICTS):
                    continue  # the seat or the person was taken care of by someone else: look again
                promoted.append(snapshot.id)
                log.info("promoted session=%s id=%s seat=%s", session.id, snapshot.id, seat)
        return promoted

    def _waiting(self, session_ref: Any, count: int, registration_id: str | None) -> list[Any]:
        """The first `count` on the waiting list, or just the one registration asked for if it is waiting."""
        registrations = session_ref.collection(REGISTRATIONS)
        if registration_id is not None:
            snapshot = registrations.document(registration_id).get(**ON_REQUEST)
            return [snapshot] if snapshot.exists and snapshot.get("status") == WAITLISTED else []
        query = registrations.where(filter=FieldFilter("status", "==", WAITLISTED)).order_by("created_at").limit(count)
        return list(query.get(**ON_REQUEST))

    def seats_left(self, session: Session) -> int | None:
        """How many seats are free (None: unlimited), for pages, not sign-ups: one aggregation query, kept for
        `seats_left_ttl` seconds as the session document is, so that a newsletter's readers cost one, not one each."""
        if session.capacity is None:
            return None
        key = (session.id, session.capacity)
        now = self._monotonic()
        cached = self._seats_left.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        seats = self._registrations(session.id).parent.collection(SEATS)
        left = max(session.capacity - int(seats.count().get(**ON_REQUEST)[0][0].value), 0)
        if self._seats_left_ttl > 0:
            self._seats_left[key] = (now + self._seats_left_ttl, left)
        return left

    def _take_seat(self, session_ref: Any, capacity: int) -> int | None:
        """A seat believed free, handed to this sign-up alone; None when the session is believed full.

        The seat leaves this instance's memory whether or not its create() then succeeds: one still free after
        all (the sign-up turned out a repeat, or failed) is found again by the next listing, made as soon as the
        memory runs out.
        """
        for _ in range(MAX_ATTEMPTS):
            memory = self._seat_memory(session_ref, capacity)
            with self._lock:
                if memory.full:
                    return None
                if memory.free:
                    # At random, so that instances listing at the same moment mostly try different seats.
                    index = self._rng.randrange(len(memory.free))
                    memory.free[index], memory.free[-1] = memory.free[-1], memory.free[index]
                    return memory.free.pop()
            # other sign-ups here took the rest meanwhile: list again
        return None

    def _seat_memory(self, session_ref: Any, capacity: int) -> _SeatMemory:
        """The seats this instance believes free: its last listing, while that is younger than SEAT_MEMORY_SECONDS
        and not used up; otherwise a new listing.

        A listing this old can be wrong both ways, and neither oversells, for a seat is taken only by its create().
        A seat another instance took meanwhile costs the sign-up that tries it one failed create(), and it tries
        the next. A seat freed meanwhile by a cancellation elsewhere is not offered here until the next listing, so
        a newcomer may be waitlisted beside a free seat for up to SEAT_MEMORY_SECONDS: that cancellation's own
        promote() gives the seat to the first on the waiting list at once, and if nobody was waiting yet the next
        sweep's promotion gives it to the newcomer, unless a sign-up after those seconds took it first. A
        cancellation here makes promote() forget the listing.

        One sign-up per session lists at a time: the others meanwhile go on with the old listing, or, with none
        left to go on with (the first burst, or all handed out), wait for the new one, so that a burst of sign-ups
        costs one listing, not one each.
        """
        key = (session_ref.id, capacity)
        while True:
            with self._lock:
                memory = self._seats.get(key)
                usable = memory is not None and (memory.full or bool(memory.free))
                if memory is not None and usable and self._monotonic() < memory.listed_at + SEAT_MEMORY_SECONDS:
                    return memory
                listing = self._listings.get(key)
                if listing is None:
                    listing = self._listings[key] = threading.Event()
                    break
                if memory is not None and usable:
                    return memory
            listing.wait()
        try:
            listed_at = self._monotonic()
            free = self._list_free_seats(session_ref, capacity)
            memory = _SeatMemory(listed_at, free, full=not free)
            with self._lock:
                self._seats[key] = memory
            return memory
        finally:
            with self._lock:
                del self._listings[key]
            listing.set()

    def _list_free_seats(self, session_ref: Any, capacity: int) -> list[int]:
        """The seats free right now: every seat document's id is read (not their fields)."""
        taken = {snapshot.id for snapshot in session_ref.collection(SEATS).select([]).stream(**ON_REQUEST)}
        free = [n for n in range(capacity) if str(n) not in taken]
        log.debug("listed seats session=%s free=%d", session_ref.id, len(free))
        return free


def _retrying(attempt: Callable[[], Registration | None]) -> Registration:
    for _ in range(MAX_ATTEMPTS):
        stored = attempt()
        if stored is not None:
            return stored
    raise google_errors.Aborted("the registration kept changing while it was being stored")  # type: ignore[no-untyped-call]


@dataclass
class _SeatMemory:
    """What one instance believes of a session's seats: those free at its last listing, less those handed out."""

    listed_at: float  # monotonic seconds
    free: list[int]
    full: bool  # the listing itself found no seat free


def _document(session: Session, signup: SignUp, origin: str | None, now: datetime) -> dict[str, Any]:
    """The registration as stored; as lean as it can be, for every field costs each sign-up time.

    `created_at` is the server's time; the other times are `now` (a server timestamp is a transform the database
    applies per field). Fields without a value are left out rather than stored empty: `organisation` and `infix`
    when given, `seat` and `confirmed_at` with a seat, `origin` for browsers, `consent` where the session asks.
    """
    document: dict[str, Any] = {
        "first_name": signup.first_name,
        "last_name": signup.last_name,
        "email": signup.email,
        "created_at": firestore.SERVER_TIMESTAMP,
        "emails": {"confirmation": outbox.new_mail(), **notifications.queued(session, notifications.CREATED)},
        "mail_due_at": now,
        # Firestore's TTL policy on this field deletes the registration, and its personal data, by itself.
        "expires_at": session.expires_at,
    }
    for field, value in (("organisation", signup.organisation), ("infix", signup.infix), ("origin", origin)):
        if value:
            document[field] = value
    if session.privacy_url:
        document["consent"] = {"given": signup.consent, "at": now, "privacy_url": session.privacy_url}
    return document


def _unconfirmed(session: Session, document: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A sign-up to a session with `confirm_email`: it waits for its address to be confirmed, holding nothing.

    It has no `created_at` until then (when it was posted is `requested_at`): the waiting list, the organiser's
    digest and the export count a registration from the moment it takes effect, and a lapsed one never did.
    """
    waiting = {key: value for key, value in document.items() if key not in ("created_at", "emails")}
    return {
        **waiting,
        "status": UNCONFIRMED,
        "requested_at": now,
        "confirm_by": now + session.confirm_within,
        "emails": {CONFIRM_ADDRESS: outbox.new_mail()},
    }


def _lapsed(data: Mapping[str, Any], now: datetime) -> bool:
    confirm_by = data.get("confirm_by")
    return data.get("status") == EXPIRED or (
        data.get("status") == UNCONFIRMED and confirm_by is not None and confirm_by <= now
    )


def _replaceable(data: Mapping[str, Any], now: datetime) -> bool:
    """Whether a new sign-up replaces this registration: it was cancelled, or its address was never confirmed."""
    return data.get("status") == CANCELLED or _lapsed(data, now)


def _seat(session: Session, registration_id: str, now: datetime) -> dict[str, Any]:
    return {
        "registration_id": registration_id,
        "taken_at": now,
        "expires_at": session.expires_at,
    }


def _registration(snapshot: Any) -> Registration:
    data = snapshot.to_dict() or {}
    return Registration(
        snapshot.id, data.get("status", CONFIRMED), _generation(snapshot), confirm_by=data.get("confirm_by")
    )


def _generation(snapshot: Any) -> int:
    """How many times the registration under this id was cancelled and signed up for afresh (absent: never)."""
    return int((snapshot.to_dict() or {}).get("generation") or 0)
