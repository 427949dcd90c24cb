"""`notify`'s domain: send a registration's due mails when it is written, announce a session's changes, and sweep for
everything due (reminders, retries, leases, and whatever an event that went missing would have done)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import jinja2
from google.api_core import exceptions as google_errors
from google.cloud.firestore_v1.base_query import FieldFilter

from signup.errors import MisconfiguredError, NotFoundError
from signup.ledger import fields, mailkeys
from signup.ledger.fields import SESSIONS
from signup.ledger.outbox import MailState, Outcome, is_due, next_due
from signup.ledger.registration import unsubscribed
from signup.ledger.session import CAPACITY, STARTS_AT, Session, parse_session
from signup.ledger.status import Status
from signup.ledger.writes import CONFLICTS, GONE
from signup.mail import changes, digest
from signup.mail.compose.mailextras import MailExtras
from signup.mail.compose.mails import Composer, UnreachableAddressError
from signup.mail.events import Change
from signup.mail.reminders import queue_due as queue_reminders
from signup.mail.transport.mailcap import MailCap, mailbox
from signup.mail.transport.smtp import Connection, InsecureServerError, PermanentError, TransientError
from signup.mail.transport.smtppool import ConnectionPool
from signup.store import lapsing, privacy
from signup.store.outbox import Claim, Outbox
from signup.store.registrations import Registrar
from signup.store.sessions import SessionStore

log = logging.getLogger(__name__)

# Sessions this close ahead are looked at for reminders and free seats on every sweep.
HORIZON = timedelta(days=31)
# Registrations claimed, sent and recorded together: one commit claims them, one records them. A mail whose claim
# is about to run out is not sent (see _send), so a slow mail server costs retries, never a second mail.
CHUNK = 100
# Mails that tell someone they have a place: where the session was called off meanwhile, its notice goes instead.
TOLD_OF_A_PLACE = frozenset({mailkeys.CONFIRMATION, mailkeys.PROMOTION})
# A sweep starts no new chunk after this long: it must end well inside notify-tick's timeout (540 s).
SWEEP_SECONDS = 240


@dataclass(frozen=True)
class _Composed:
    """A mail ready to go: its key, the message, the envelope recipient, the ORGANIZER of the entry it carries."""

    key: str
    message: EmailMessage
    to: str
    organizer: str | None


@dataclass
class Report:
    """What one run did, for the log and for tests."""

    outcomes: Counter[str] = field(default_factory=Counter)
    reminders_queued: int = 0
    promoted: int = 0
    purged: int = 0
    digests_queued: int = 0
    announced: int = 0
    lapsed: int = 0
    # Sessions the sweep passed over: a field that cannot work, or an error in their reminders or waiting list.
    sessions_failed: int = 0


def _lapse(client: Any, now: datetime, limit: int) -> int:
    """Sign-ups not confirmed in time lapse; a failure here must not hold up the mail either."""
    try:
        return lapsing.lapse_due(client, now, limit)
    except google_errors.GoogleAPIError as error:
        log.error("lapsing failed, the next sweep tries again: %s", error)
        return 0


class Notifier:
    def __init__(
        self,
        client: Any,
        sessions: SessionStore,
        registrar: Registrar,
        mailbox: Outbox,
        composer: Composer,
        transport: ConnectionPool,
        cap: MailCap,
        clock: Callable[[], datetime],
        sweep_limit: int,
        announcer: changes.Announcer,
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._registrar = registrar
        self._outbox = mailbox
        self._composer = composer
        self._transport = transport
        self._cap = cap
        self._clock = clock
        self._limit = sweep_limit
        self._extras = MailExtras(client, registrar.seats_left)
        self._announcer = announcer

    def registration_written(self, session_id: str, registration_id: str, change: Change | None = None) -> Report:
        """Send whatever mail of the registration is due: a confirmation, promotion, cancellation, notice.

        Most writes of a registration queue no mail (our own claims and records among them): the event shows it,
        and then nothing is read.
        """
        now = self._clock()
        if change is not None and change.known:
            emails = (change.new or {}).get(fields.EMAILS) or {}
            if not any(is_due(mail, now) for mail in emails.values()):
                return Report()
        ref = self._client.collection(SESSIONS, session_id, fields.REGISTRATIONS).document(registration_id)
        report = self._deliver([ref.get()], now, {})
        log.info("registration event session=%s id=%s %s", session_id, registration_id, dict(report.outcomes))
        return report

    def session_written(self, session_id: str, change: Change) -> Report:
        """Announce an organiser's change of the session: one mail queued per person (each then sent by its own
        registration's event); seats added go to the waiting list at once."""
        report = Report(announced=self._announcer.session_written(session_id, change))
        old, new = change.old, change.new
        if old is not None and new is not None and old.get(CAPACITY) != new.get(CAPACITY):
            try:
                session = parse_session(session_id, new)  # as the event has it: a cached one may be older
            except MisconfiguredError as error:
                log.error("session event for a session that cannot work: %s", error)
            else:
                report.promoted = len(self._registrar.promote(session))
        return report

    def sweep(self, now: datetime) -> Report:
        """Purge what is past retention, queue due reminders, fill free seats from waiting lists, then send what
        is due, up to the limit."""
        report = Report()
        try:
            report.purged = privacy.purge_expired(self._client, now, self._limit)
        except google_errors.GoogleAPIError as error:  # a purge that fails must not hold up the mail
            log.error("retention purge failed, the next sweep tries again: %s", error)
        report.lapsed = _lapse(self._client, now, self._limit)
        upcoming = (
            self._client.collection(SESSIONS)
            .where(filter=FieldFilter(STARTS_AT, ">", now))
            .where(filter=FieldFilter(STARTS_AT, "<=", now + HORIZON))
            .order_by(STARTS_AT)
            .limit(self._limit)
        )
        sessions: dict[str, Session] = {}
        for snapshot in upcoming.stream():
            try:
                session = sessions[snapshot.id] = parse_session(snapshot.id, snapshot.to_dict() or {})
            except MisconfiguredError as error:
                log.error("sweep skips a session that cannot work: %s", error)
                report.sessions_failed += 1
                continue
            try:
                if not changes.settled(snapshot.to_dict() or {}):  # its event went missing, or its fan-out died
                    report.announced += self._announcer.catch_up(session.id)
                report.reminders_queued += queue_reminders(self._client, session, now, self._limit)
                report.promoted += len(self._registrar.promote(session))
            except Exception as error:
                # One session's failure (a registration field edited into something the code cannot compare, the
                # database refusing) must not stop the other sessions, nor the mail below. The type alone: the
                # message may quote a document's data.
                log.error("sweep of session %s failed, the others go on: %s", session.id, type(error).__name__)
                report.sessions_failed += 1
        try:
            report.digests_queued = digest.queue_due(self._client, now)
        except google_errors.GoogleAPIError as error:  # nor must the organiser's digest: the next tick makes it
            log.error("digests failed, the next sweep tries again: %s", error)
        due = (
            self._client.collection_group(fields.REGISTRATIONS)
            .where(filter=FieldFilter(fields.MAIL_DUE_AT, "<=", now))
            .order_by(fields.MAIL_DUE_AT)
            .limit(self._limit)
        )
        delivered = self._deliver([*due.stream(), *digest.due(self._client, now, self._limit)], now, sessions)
        report.outcomes = delivered.outcomes
        log.info(
            "sweep at %s: %s, reminders queued %d, promoted %d, purged %d, notices queued %d, sessions failed %d",
            now.isoformat(),
            dict(report.outcomes),
            report.reminders_queued,
            report.promoted,
            report.purged,
            report.announced,
            report.sessions_failed,
        )
        return report

    def _deliver(self, snapshots: list[Any], now: datetime, sessions: dict[str, Session]) -> Report:
        """Claim, send and record in chunks: two commits per chunk, up to SMTP_MAX_CONNECTIONS connections at once.

        This thread claims and composes; the pool's connections hand the mails to the SMTP server, each
        registration's mails in order over one connection; another thread records each chunk once it is sent. A chunk
        is claimed only when the one before the last is recorded, so that claims never wait long for their turn.
        """
        report = Report()
        for snapshot in snapshots:
            self._mend_due(snapshot, now)
        started = self._clock()
        chunk = self._transport.batch(CHUNK)
        recorded: list[Future[None]] = []
        with (
            self._transport.sending(),
            ThreadPoolExecutor(self._transport.size, thread_name_prefix="smtp") as smtp,
            ThreadPoolExecutor(1, thread_name_prefix="record") as recorder,
        ):
            try:
                for start in range(0, len(snapshots), chunk):
                    if (self._clock() - started).total_seconds() > SWEEP_SECONDS:
                        break  # the next tick goes on: a run must end well inside the function's timeout
                    if len(recorded) >= 2:
                        recorded[-2].result()
                    claims = self._outbox.claim(snapshots[start : start + chunk], now, leased_at=self._clock())
                    # The chunk's mails are counted against the cap before they go; what does not go is given back.
                    wanted = Counter(
                        mailbox(str(claim.registration.get(fields.EMAIL) or ""))
                        for claim in claims
                        for key in claim.keys
                        if claim.registration.get(fields.EMAIL) and mailkeys.capped(key)
                    )
                    allowed = self._cap.reserve(wanted, now)
                    sending = [(claim, self._prepare(claim, now, sessions, smtp, allowed)) for claim in claims]
                    recorded.append(recorder.submit(self._finish, sending, wanted, now, report))
            finally:
                # Whatever was handed to the SMTP server is recorded, come what may.
                for done in recorded:
                    done.exception()
        for done in recorded:
            done.result()  # a chunk that could not be recorded is not passed over in silence
        return report

    def _finish(
        self,
        sending: list[tuple[Claim, Future[dict[str, Outcome]]]],
        reserved: Counter[str],
        now: datetime,
        report: Report,
    ) -> None:
        """Wait for a batch's mails to be sent, then record their outcomes and give back what the cap reserved for
        mails that did not go."""
        outcomes = [(claim, results.result()) for claim, results in sending]
        self._outbox.record(outcomes, now)
        sent = Counter(
            mailbox(claim.registration[fields.EMAIL])
            for claim, results in outcomes
            for key, outcome in results.items()
            if outcome.state == MailState.SENT and mailkeys.capped(key)
        )
        self._cap.release(reserved - sent, now)
        for _, results in outcomes:
            report.outcomes.update(outcome.state.value for outcome in results.values())

    def _prepare(
        self,
        claim: Claim,
        now: datetime,
        sessions: dict[str, Session],
        smtp: ThreadPoolExecutor,
        allowed: Counter[str],
    ) -> Future[dict[str, Outcome]]:
        """Compose a registration's claimed mails and queue them to go in order over one connection; what cannot
        be sent gets its outcome at once."""
        ready: dict[str, Outcome] = {}
        messages: list[_Composed] = []
        for key in claim.keys:
            made = self._compose(claim, key, now, sessions, allowed)
            if isinstance(made, Outcome):
                ready[key] = made
            else:
                messages.append(made)
        if not messages:
            done: Future[dict[str, Outcome]] = Future()
            done.set_result(ready)
            return done
        return smtp.submit(self._send, claim, messages, ready)

    def _compose(
        self, claim: Claim, key: str, now: datetime, sessions: dict[str, Session], allowed: Counter[str]
    ) -> _Composed | Outcome:
        """One claimed mail and its envelope recipient, or the outcome of a mail that cannot be sent."""
        registration = claim.registration
        session_id = claim.ref.parent.parent.id
        kind = mailkeys.template(key, registration.get(fields.STATUS, Status.CONFIRMED))
        address = str(registration.get(fields.EMAIL) or "")
        # The organiser's mails go to the organiser, and do not count against the cap (docs/mail.md: the daily cap).
        capped = mailkeys.capped(key)
        if not address and key != mailkeys.ORGANISER_DIGEST:
            return Outcome(MailState.SKIPPED, "the personal data was erased")
        if kind is None:
            status = registration.get(fields.STATUS)
            return Outcome(MailState.SKIPPED, f"no longer applies: the registration is {status}")
        if mailkeys.LOOKS[kind].unsubscribe and unsubscribed(registration):
            return Outcome(MailState.SKIPPED, "the person unsubscribed from the organiser's messages")
        if capped and allowed[mailbox(address)] <= 0:
            log.warning("mail %s for id=%s over the daily cap of its address", key, claim.ref.id)
            return Outcome(MailState.SKIPPED, f"over the cap of {self._cap.per_day} mails a day to this address")
        if capped:
            allowed[mailbox(address)] -= 1
        try:
            # A notice of revision n is composed from revision n at least, whatever this batch read before.
            revision = int(claim.mail(key).get(fields.REVISION) or 0)
            if session_id not in sessions or sessions[session_id].revision < revision:
                sessions[session_id] = self._sessions.get(session_id)
            session = sessions[session_id]
            if session.cancelled and not mailkeys.after_cancelling(key):
                if key in TOLD_OF_A_PLACE and registration.get(fields.STATUS) in mailkeys.HOLDING:
                    # Signed up (or moved up) in the seconds an instance still had the session open: they hear
                    # that it was called off instead of nothing.
                    self._announcer.tell_late(session_id, claim.ref)
                    return Outcome(MailState.SKIPPED, "the session was called off: the notice of it goes instead")
                return Outcome(MailState.SKIPPED, "the session was called off")
            recipient, extra = self._extras.addressing(kind, key, session, claim.ref.id, registration)
            to = self._composer.address(recipient)
            hours = mailkeys.hours_of(key) if kind == mailkeys.Template.REMINDER else None
            # The entry keeps the ORGANIZER it was first sent with, whatever the settings or the organiser now.
            organizer = None
            if self._composer.carries_calendar(kind, recipient):
                organizer = self._composer.calendar_organizer(session, registration)
            message = self._composer.compose(
                kind,
                session,
                recipient,
                message_id=claim.mail(key)[fields.MESSAGE_ID],
                now=now,
                hours=hours,
                extra=extra,
                organizer=organizer,
            )
            return _Composed(key, message, to.addr_spec, organizer)
        except NotFoundError:
            return Outcome(MailState.SKIPPED, "the session no longer exists")
        except UnreachableAddressError as error:
            log.warning("mail %s for id=%s can never reach its address", key, claim.ref.id)
            return Outcome(MailState.FAILED, str(error))
        except (MisconfiguredError, jinja2.TemplateError, ValueError, google_errors.GoogleAPIError) as error:
            # One mail that cannot be made (a session field that cannot work, the database away) must not stop
            # the others: it is tried again later, with the reason in last_error. The log gets the kind only,
            # since the message may quote an address.
            log.error("mail %s for id=%s cannot be composed, will retry: %s", key, claim.ref.id, type(error).__name__)
            return Outcome(MailState.PENDING, f"{type(error).__name__}: {error}")

    def _send(self, claim: Claim, messages: list[_Composed], ready: dict[str, Outcome]) -> dict[str, Outcome]:
        """Hand a registration's mails to the SMTP server in order, over one of the instance's connections."""
        outcomes = dict(ready)
        try:
            with self._transport.connection() as connection:
                for made in messages:
                    self._transport.pace()
                    outcomes[made.key] = self._send_one(connection, made, claim)
        except Exception as error:
            # An error nobody foresaw must not leave the whole chunk unrecorded: its sent mails would go again once
            # their claims ran out. What was not settled waits for a retry, with the cause (type only in the log:
            # the message may quote an address).
            log.error("mail for id=%s not sent, will retry: %s", claim.ref.id, type(error).__name__)
            for made in messages:
                outcomes.setdefault(made.key, Outcome(MailState.PENDING, f"{type(error).__name__}: {error}"))
        return outcomes

    def _send_one(self, connection: Connection, made: _Composed, claim: Claim) -> Outcome:
        # Send only while the claim surely holds, a whole SMTP exchange before its end: after that another
        # sender may have taken the mail, and it must not go twice. (Only a stalled or saturated mail server, or
        # a long wait for a connection or for the pace, gets here.)
        key = made.key
        if self._clock() + self._transport.timeout_margin >= claim.mail(key)[fields.LEASE_UNTIL]:
            return Outcome(MailState.PENDING, "not sent before its claim ran out")
        try:
            connection.send(made.message, self._composer.sender.addr_spec, made.to)
        except InsecureServerError as error:
            # The operator's to fix, not the person's: the mail waits (pending, with the cause) and goes once fixed.
            log.error("mail %s for id=%s not sent, the mail server needs attention: %s", key, claim.ref.id, error)
            return Outcome(MailState.PENDING, str(error))
        except TransientError as error:
            log.warning("mail %s for id=%s not sent, will retry: %s", key, claim.ref.id, type(error).__name__)
            return Outcome(MailState.PENDING, str(error))
        except PermanentError as error:
            log.warning("mail %s for id=%s refused for good", key, claim.ref.id)
            return Outcome(MailState.FAILED, str(error))
        return Outcome(MailState.SENT, organizer=made.organizer)

    def _mend_due(self, snapshot: Any, now: datetime) -> None:
        """A registration found with nothing due but an old `mail_due_at`: move it to the truth."""
        data = snapshot.to_dict() or {} if snapshot.exists else {}
        emails = data.get(fields.EMAILS) or {}
        stored = data.get(fields.MAIL_DUE_AT)
        if stored is None or stored > now or any(is_due(mail, now) for mail in emails.values()):
            return
        try:
            snapshot.reference.update(
                {fields.MAIL_DUE_AT: next_due(emails, now)},
                option=self._client.write_option(last_update_time=snapshot.update_time),
            )
        except (*CONFLICTS, *GONE):
            pass  # written since it was read (a mail queued, perhaps, which must keep its `mail_due_at`)
