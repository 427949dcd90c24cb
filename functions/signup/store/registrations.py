"""Store a sign-up: one registration per person, and never more confirmed than there are seats.

A registration is created with `create()` together with the seat it takes and the form token it came with, in one
batch (store/seats.py): a second registration for the same person cannot be made, nor a seat given twice. A
cancelled (or lapsed) one is replaced under the same id, on condition that nobody changed it since it was read, one
generation on, so that an old link does not act on the new sign-up (ledger/registration.py).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.errors import FormReplayedError, MisconfiguredError, NotFoundError, SupersededError
from signup.ledger import fields, mailkeys
from signup.ledger.outbox import organiser_mail, pending_update, unsent
from signup.ledger.registration import (
    Registration,
    SignUp,
    form_token_document,
    generation_of,
    next_generation,
    seat_document,
    signed_up,
    status_of,
)
from signup.ledger.session import Session, parse_session
from signup.ledger.status import CHECK_EMAIL, Status
from signup.ledger.writes import ATTEMPTS, CONFLICTS, KeptChangingError, Read, write_unchanged
from signup.store.deadlines import ON_REQUEST
from signup.store.ids import RegistrationIds
from signup.store.seats import Seats

log = logging.getLogger(__name__)

# Someone who signs up again gets their confirmation again, but not for a double click: their first one is on its
# way, or only just arrived. The daily mail cap bounds how often a stranger can make us resend.
RESEND_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class _Replace:
    """A sign-up found a cancelled (or lapsed) registration to replace; None: it vanished, create afresh."""

    read: Read | None


# A seat a sign-up tried was taken a moment ago by another.
_SEAT_TAKEN = None

_Stored = Registration | _Replace | None


class Registrar:
    """Writes registrations: sign-ups, confirmations, cancellations, promotions and resends."""

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
        self._ids = RegistrationIds(client, id_keys)
        self.seats = Seats(client, monotonic, rng, seats_left_ttl)
        self._clock = clock

    def register(
        self, session: Session, signup: SignUp, *, origin: str | None, form_nonce: str | None = None
    ) -> Registration:
        """Store the sign-up, or return the registration this person already has.

        With a form token's nonce, the nonce is stored in the same batch: a second registration from the same
        form (a bot replaying it) is refused with FormReplayedError, while the same person twice is not. Someone
        who cancelled and signs up again gets a fresh registration under the same id, one generation on.
        """
        ref = self._ids.ref_for(session.id, signup.email_key)
        now = self._clock()
        registration = signed_up(ref.id, session, signup, origin=origin, now=now)
        # Built once: each place tried adds its few fields to it (a registration object per try costs a sign-up
        # more than its commit's encoding, in a burst).
        document = registration.to_document()
        nonce = None
        if form_nonce is not None:
            nonce = (
                self._client.collection(fields.FORM_TOKENS).document(form_nonce),
                form_token_document(session, ref.id),
            )
        replacing: Read | None = None
        for _ in range(ATTEMPTS):
            for place, seat in self._places(session, ref.id, registration.status, now):
                stored = self._create(ref, registration, {**document, **place}, nonce, seat, replacing)
                if isinstance(stored, Registration):
                    return stored
                if isinstance(stored, _Replace):
                    replacing = stored.read
                    break
            else:
                break
        raise KeptChangingError("the registration")

    def _places(
        self, session: Session, registration_id: str, status: Status, now: datetime
    ) -> Iterator[tuple[dict[str, Any], tuple[Any, dict[str, Any]] | None]]:
        """The places to try in turn, as the fields that say so: a seat while one is believed free, then the waiting
        list (each with the seat document to create). A sign-up whose address is to be confirmed first holds
        nothing."""
        if status == Status.UNCONFIRMED:
            for _ in range(ATTEMPTS):
                yield {}, None
            return
        if session.capacity is None:
            for _ in range(ATTEMPTS):
                yield {fields.STATUS: Status.CONFIRMED.value, fields.CONFIRMED_AT: now}, None
            return
        for _ in range(ATTEMPTS):
            seat = self.seats.take(session)
            if seat is None:
                break
            taking = (self.seats.seat_ref(session.id, seat), seat_document(session, registration_id, now))
            yield {fields.STATUS: Status.CONFIRMED.value, fields.SEAT: seat, fields.CONFIRMED_AT: now}, taking
        # No seat is free, or seats keep being taken under our hands: the waiting list is the true answer.
        for _ in range(ATTEMPTS):
            yield {fields.STATUS: Status.WAITLISTED.value}, None

    def _create(
        self,
        ref: Any,
        registration: Registration,
        document: dict[str, Any],
        nonce: tuple[Any, dict[str, Any]] | None,
        seat: tuple[Any, dict[str, Any]] | None,
        replacing: Read | None,
    ) -> _Stored:
        """Write the registration (with its seat and form nonce) in one batch: the registration stored, the
        person's own registration when they had one (`repeat`), one to replace, or _SEAT_TAKEN.

        A new registration is created, so that a second one for the same person cannot be; a cancelled one is
        replaced, on condition that nobody changed it since it was read.
        """
        batch = self._client.batch()
        generation = registration.generation
        for created, data in filter(None, (seat, nonce)):
            batch.create(created, data)
        if replacing is None:
            batch.create(ref, document)
        else:
            assert replacing.data is not None
            generation = next_generation(generation_of(replacing.data), self._clock())
            document = {**document, fields.GENERATION: generation}
            gone = {name: firestore.DELETE_FIELD for name in replacing.data if name not in document}
            batch.update(
                ref, {**document, **gone}, option=self._client.write_option(last_update_time=replacing.update_time)
            )
        try:
            batch.commit(**ON_REQUEST)
        except (google_errors.AlreadyExists, google_errors.NotFound, *CONFLICTS):
            existing, used = self._read_again(ref, nonce)
            if used is not None and (used.to_dict() or {}).get(fields.REGISTRATION_ID) != ref.id:
                # A form that brought in another registration is refused before this one is looked at: what a
                # replay is answered must not tell whether the address has signed up.
                raise FormReplayedError(ref.id) from None
            found = Registration.from_snapshot(existing) if existing.exists else None
            if found is not None and not found.replaceable(self._clock()):
                # The same person again, perhaps at the same moment. The same form twice (a double click) queues
                # nothing: only a new form does.
                if used is None:
                    self._resend(Read.of(existing), RESEND_AFTER, ON_REQUEST)
                found.repeat = True
                return found
            if used is not None:
                raise FormReplayedError(ref.id) from None
            if existing.exists or replacing is not None:
                # Cancelled or lapsed: replace it. Or the old one was erased meanwhile: create afresh.
                return _Replace(Read.of(existing) if existing.exists else None)
            return _SEAT_TAKEN
        # The sign-up's registration, as the place it took made it.
        registration.status = status_of(document)
        registration.seat = document.get(fields.SEAT)
        registration.confirmed_at = document.get(fields.CONFIRMED_AT)
        registration.generation = generation
        return registration

    def _read_again(self, ref: Any, nonce: tuple[Any, dict[str, Any]] | None) -> tuple[Any, Any]:
        """After a refused write: the registration as it is now, and the form token's document if it was used
        (None: unused, or no token), read in one round trip."""
        wanted = [ref] if nonce is None else [ref, nonce[0]]
        found = {snapshot.reference.path: snapshot for snapshot in self._client.get_all(wanted, **ON_REQUEST)}
        used = found[nonce[0].path] if nonce is not None else None
        return found[ref.path], used if used is not None and used.exists else None

    def resend(self, session: Session, registration_id: str) -> bool:
        """Queue a registration's confirmation again (an organiser's `signup resend`); False when it is on its way.

        Someone whose address is not confirmed yet has no confirmation to get: they get the confirm link again.
        """
        snapshot = self._ids.registrations(session.id).document(registration_id).get()
        if not snapshot.exists:
            raise NotFoundError(registration_id)
        return self._resend(Read.of(snapshot), None, {})

    def _resend(self, read: Read, not_within: timedelta | None, options: dict[str, Any]) -> bool:
        """Queue the confirmation (or the request to confirm the address), unless it is on its way, or went less
        than `not_within` ago; on condition that the registration is as it was read."""

        def plan(read: Read) -> tuple[dict[str, Any], None] | None:
            assert read.data is not None
            key = resend_key(read.data)
            mail = (read.data.get(fields.EMAILS) or {}).get(key) or {}
            sent_at = mail.get(fields.SENT_AT)
            if unsent(mail) or (not_within and sent_at is not None and sent_at > self._clock() - not_within):
                return None
            return pending_update(key), None

        # Changed meanwhile (cancelled, erased, or queued by a concurrent repeat): it is read again and judged anew.
        return bool(write_unchanged(self._client, [read], plan, **options).written)

    def ask_to_cancel(self, session: Session, registration_id: str, generation: int) -> bool:
        """Queue the mail that asks whether to cancel (after a decline in a calendar, http/declines.py): once per
        sign-up (generation), while it holds its place; on condition that the registration is as it was read.
        False when it was asked before or no longer applies; KeptChangingError (503: the provider posts it again)
        rather than a question lost."""
        snapshot = self._ids.registrations(session.id).document(registration_id).get(**ON_REQUEST)

        def plan(read: Read) -> tuple[dict[str, Any], None] | None:
            assert read.data is not None
            asked = mailkeys.DECLINE in (read.data.get(fields.EMAILS) or {})
            holding = status_of(read.data) in mailkeys.HOLDING and bool(read.data.get(fields.EMAIL))
            if asked or not holding or generation_of(read.data) != generation:
                return None
            return pending_update(mailkeys.DECLINE), None

        writes = write_unchanged(self._client, [Read.of(snapshot)], plan, **ON_REQUEST)
        if writes.gave_up:
            raise KeptChangingError("the registration")
        return bool(writes.written)

    def answer(self, session: Session, registration: Registration) -> str:
        """The status a sign-up is answered with: that of a new sign-up made at this moment, so that the answer
        never tells whether the address had signed up before. For a first sign-up that is its own status; the
        person learns theirs by mail."""
        if session.confirm_email:
            return CHECK_EMAIL  # the same for everyone; what happened comes by mail
        if not registration.repeat:
            return registration.status.value
        if registration.status == Status.WAITLISTED and session.capacity is not None:
            # A newcomer would get a free seat now: so does this person, rather than be told of a seat they lack.
            return (Status.CONFIRMED if self.promote(session, registration.id) else Status.WAITLISTED).value
        return self.newcomer_status(session)

    def newcomer_status(self, session: Session) -> str:
        """What a sign-up made at this moment gets: a seat while one is free (or, where the address is to be
        confirmed first, the request to check their mail)."""
        if session.confirm_email:
            return CHECK_EMAIL
        if session.capacity is None:
            return Status.CONFIRMED.value
        return (Status.CONFIRMED if self.seats.believed_free(session) else Status.WAITLISTED).value

    def find(self, session: Session, registration_id: str) -> Registration | None:
        """The registration under this id as it is now, if there is one."""
        snapshot = self._ids.registrations(session.id).document(registration_id).get(**ON_REQUEST)
        return Registration.from_snapshot(snapshot) if snapshot.exists else None

    def confirm(self, session: Session, registration_id: str, generation: int) -> Status:
        """Confirm an address: the registration takes a seat, or a place on the waiting list, as a sign-up does at
        this moment, and its confirmation is queued; return its status then. Twice is harmless.

        A registration past its `confirm_by` has lapsed (EXPIRED is returned, nothing changes); one of another
        generation, a cancelled one, or none at all is SupersededError.
        """
        ref = self._ids.registrations(session.id).document(registration_id)
        for _ in range(ATTEMPTS):
            snapshot = ref.get(**ON_REQUEST)
            if not snapshot.exists:
                raise SupersededError(registration_id)
            found = Registration.from_snapshot(snapshot)
            now = self._clock()
            if found.generation != generation or found.status == Status.CANCELLED:
                raise SupersededError(registration_id)
            if found.status != Status.UNCONFIRMED:
                return found.status  # confirmed before (or lapsed)
            if found.lapsed(now):
                return Status.EXPIRED
            confirming = {
                # The registration takes effect now: the waiting list and the organiser's digest go by this moment.
                fields.CREATED_AT: firestore.SERVER_TIMESTAMP,
                fields.CONFIRM_BY: firestore.DELETE_FIELD,
                **pending_update(mailkeys.CONFIRMATION),
                **_fields(organiser_mail(session, mailkeys.ORGANISER_CREATED)),
            }
            for place, seat in self._places(session, found.id, Status.CONFIRMED, now):
                stored = self._write_confirmed(Read.of(snapshot), {**confirming, **place}, seat)
                if stored is _CHANGED:
                    break  # confirmed by a second click at the same moment, or lapsed, cancelled: look again
                if stored is not _SEAT_TAKEN:
                    status = Status(place[fields.STATUS])
                    log.info("address confirmed session=%s id=%s status=%s", session.id, registration_id, status)
                    return status
        raise KeptChangingError("the registration")

    def _write_confirmed(self, read: Read, update: dict[str, Any], seat: tuple[Any, dict[str, Any]] | None) -> object:
        """Store a confirmation with its place (and seat), on condition that the registration is as it was read:
        True, or _SEAT_TAKEN, or _CHANGED."""
        batch = self._client.batch()
        if seat is not None:
            batch.create(*seat)
        batch.update(read.reference, update, option=self._client.write_option(last_update_time=read.update_time))
        try:
            batch.commit(**ON_REQUEST)
        except google_errors.AlreadyExists:
            return _SEAT_TAKEN
        except (google_errors.NotFound, *CONFLICTS):
            return _CHANGED
        return True

    def cancel(self, session: Session, registration_id: str, generation: int | None = None) -> Status:
        """Cancel a registration, free its seat for the waiting list; return the status it had. Twice is harmless.

        With a `generation` (a cancel link's), only that sign-up is cancelled: a later one under the same id, or
        none at all, is SupersededError.
        """
        ref = self._ids.registrations(session.id).document(registration_id)
        for _ in range(ATTEMPTS):
            snapshot = ref.get(**ON_REQUEST)
            if generation is not None and (
                not snapshot.exists or generation_of(snapshot.to_dict() or {}) != generation
            ):
                raise SupersededError(registration_id)
            if not snapshot.exists:
                raise NotFoundError(registration_id)
            found = Registration.from_snapshot(snapshot)
            if found.status == Status.CANCELLED:
                return Status.CANCELLED
            # Someone whose address was never confirmed held nothing and was never told of a registration: no mails.
            told = found.status != Status.UNCONFIRMED
            batch = self._client.batch()
            batch.update(
                ref,
                {
                    fields.STATUS: Status.CANCELLED.value,
                    fields.SEAT: None,
                    fields.CANCELLED_AT: firestore.SERVER_TIMESTAMP,
                    fields.CONFIRM_BY: firestore.DELETE_FIELD,
                    **(pending_update(mailkeys.CANCELLATION) if told else {}),
                    **(_fields(organiser_mail(session, mailkeys.ORGANISER_CANCELLED)) if told else {}),
                },
                option=self._client.write_option(last_update_time=snapshot.update_time),
            )
            if found.seat is not None:
                batch.delete(self.seats.seat_ref(session.id, found.seat))
            try:
                batch.commit(**ON_REQUEST)
            except CONFLICTS:
                continue
            log.info("cancelled session=%s id=%s was=%s", session.id, registration_id, found.status)
            if found.seat is not None and (now := self._as_it_is_now(session)) is not None:
                self.promote(now)
            return found.status
        raise KeptChangingError("the registration")

    def _as_it_is_now(self, session: Session) -> Session | None:
        """The session read afresh, for the seat a cancellation freed: a copy cached for a few seconds may predate an
        organiser's lowering of the capacity, and hand out a seat the session no longer has. None when it is gone
        or cannot work (the sweep sees to its waiting list once it can)."""
        snapshot = self.seats.session_ref(session.id).get(**ON_REQUEST)
        try:
            return parse_session(session.id, snapshot.to_dict() or {}) if snapshot.exists else None
        except MisconfiguredError as error:
            log.error("no promotion for a session that cannot work: %s", error)
            return None

    def promote(self, session: Session, registration_id: str | None = None) -> list[str]:
        """Give free seats to the waiting list, earliest sign-up first (or to one registration); return who moved up."""
        if session.capacity is None or session.cancelled:
            return []
        try:
            return self._promote(session, registration_id)
        finally:
            self.seats.forget(session)

    def _promote(self, session: Session, registration_id: str | None) -> list[str]:
        promoted: list[str] = []
        for _ in range(ATTEMPTS):
            free = self.seats.free_now(session)
            if not free:
                break
            waiting = self._waiting(session, len(free), registration_id)
            if not waiting or (registration_id and promoted):
                break
            for snapshot, seat in zip(waiting, free, strict=False):
                batch = self._client.batch()
                batch.create(self.seats.seat_ref(session.id, seat), seat_document(session, snapshot.id, self._clock()))
                batch.update(
                    snapshot.reference,
                    {
                        fields.STATUS: Status.CONFIRMED.value,
                        fields.SEAT: seat,
                        fields.CONFIRMED_AT: firestore.SERVER_TIMESTAMP,
                        **pending_update(mailkeys.PROMOTION),
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

    def _waiting(self, session: Session, count: int, registration_id: str | None) -> list[Any]:
        """The first `count` on the waiting list, or just the one registration asked for if it is waiting."""
        registrations = self._client.collection(fields.SESSIONS, session.id, fields.REGISTRATIONS)
        if registration_id is not None:
            snapshot = registrations.document(registration_id).get(**ON_REQUEST)
            waiting = snapshot.exists and snapshot.get(fields.STATUS) == Status.WAITLISTED
            return [snapshot] if waiting else []
        query = (
            registrations.where(filter=FieldFilter(fields.STATUS, "==", Status.WAITLISTED.value))
            .order_by(fields.CREATED_AT)
            .limit(count)
        )
        return list(query.get(**ON_REQUEST))

    def seats_left(self, session: Session) -> int | None:
        return self.seats.left(session)


# A registration changed between reading and writing it: read it again.
_CHANGED = object()


def resend_key(data: Mapping[str, Any]) -> str:
    """The mail a resend queues: the confirmation, or while the address is unconfirmed the request to confirm it."""
    unconfirmed = data.get(fields.STATUS) == Status.UNCONFIRMED
    return mailkeys.CONFIRM_ADDRESS if unconfirmed else mailkeys.CONFIRMATION


def _fields(emails: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mails to add to a registration's `emails`, as fields of an update that also does other things."""
    return {fields.mail_field(key): mail for key, mail in emails.items()}
