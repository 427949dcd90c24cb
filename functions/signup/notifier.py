"""`notify`'s domain: send a registration's due mails, and sweep for everything due (reminders, retries, leases)."""

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

from signup import digest, lapsing, notifications, outbox, privacy, reminders
from signup.errors import MisconfiguredError, NotFoundError
from signup.mailcap import MailCap, mailbox
from signup.mailextras import MailExtras
from signup.mails import Composer, UnreachableAddressError
from signup.messages import KEY_PREFIX as MESSAGE_PREFIX
from signup.registrations import (
    CANCELLED,
    CONFIRM_ADDRESS,
    CONFIRMED,
    REGISTRATIONS,
    UNCONFIRMED,
    WAITLISTED,
    Registrar,
)
from signup.sessions import SESSIONS, Session, SessionStore
from signup.smtp import Connection, InsecureServerError, PermanentError, SmtpTransport, TransientError

log = logging.getLogger(__name__)

# Sessions this close ahead are looked at for reminders and free seats on every sweep.
HORIZON = timedelta(days=31)
# Registrations claimed, sent and recorded together: one commit claims them, one records them. A mail whose claim
# is about to run out is not sent (see _send), so a slow mail server costs retries, never a second mail.
CHUNK = 100
# A sweep starts no new chunk after this long: it must end well inside notify-tick's timeout (540 s).
SWEEP_SECONDS = 240


@dataclass
class Report:
    """What one run did, for the log and for tests."""

    outcomes: Counter[str] = field(default_factory=Counter)
    reminders_queued: int = 0
    promoted: int = 0
    purged: int = 0
    digests_queued: int = 0
    lapsed: int = 0


def mail_kind(key: str, status: str) -> str | None:
    """Which mail a queued key becomes for a registration in `status`; None: it no longer applies."""
    if key == "confirmation":
        return {CONFIRMED: "confirmed", WAITLISTED: "waitlisted"}.get(status)
    if key == CONFIRM_ADDRESS:
        return CONFIRM_ADDRESS if status == UNCONFIRMED else None
    if key == "promotion":
        return "promoted" if status == CONFIRMED else None
    if key == "cancellation":
        return "cancelled" if status == CANCELLED else None
    if key.startswith("reminder_"):
        return "reminder" if status == CONFIRMED else None
    if key.startswith(MESSAGE_PREFIX):
        return "message" if status in (CONFIRMED, WAITLISTED) else None
    if notifications.to_organiser(key):
        return key  # the organiser hears of it whatever became of the registration since
    return None


def _lapse(client: Any, now: datetime, limit: int) -> int:
    """Sign-ups not confirmed in time lapse; a failure here must not hold up the mail either."""
    try:
        return lapsing.lapse_due(client, now, limit)
    except google_errors.GoogleAPIError as error:
        log.error("lapsing failed, the next sweep tries again: %s", error)
        return 0


def _done(state: str, error: str | None = None) -> Future[outbox.Outcome]:
    future: Future[outbox.Outcome] = Future()
    future.set_result(outbox.Outcome(state, error))
    return future


class Notifier:
    def __init__(
        self,
        client: Any,
        sessions: SessionStore,
        registrar: Registrar,
        mailbox: outbox.Outbox,
        composer: Composer,
        transport: SmtpTransport,
        cap: MailCap,
        clock: Callable[[], datetime],
        sweep_limit: int,
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

    def registration_created(self, session_id: str, registration_id: str) -> Report:
        """Send the new registration's confirmation (and whatever else of it is due)."""
        ref = self._client.collection(SESSIONS).document(session_id).collection(REGISTRATIONS).document(registration_id)
        report = self._deliver([ref.get()], self._clock(), {})
        log.info("created event session=%s id=%s %s", session_id, registration_id, dict(report.outcomes))
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
            .where(filter=FieldFilter("starts_at", ">", now))
            .where(filter=FieldFilter("starts_at", "<=", now + HORIZON))
            .order_by("starts_at")
            .limit(self._limit)
        )
        sessions: dict[str, Session] = {}
        for snapshot in upcoming.stream():
            try:
                session = sessions[snapshot.id] = self._sessions.get(snapshot.id)
            except MisconfiguredError as error:
                log.error("sweep skips a session that cannot work: %s", error)
                continue
            report.reminders_queued += reminders.queue_due(self._client, session, now, self._limit)
            report.promoted += len(self._registrar.promote(session))
        try:
            report.digests_queued = digest.queue_due(self._client, now)
        except google_errors.GoogleAPIError as error:  # nor must the organiser's digest: the next tick makes it
            log.error("digests failed, the next sweep tries again: %s", error)
        due = (
            self._client.collection_group(REGISTRATIONS)
            .where(filter=FieldFilter("mail_due_at", "<=", now))
            .order_by("mail_due_at")
            .limit(self._limit)
        )
        delivered = self._deliver([*due.stream(), *digest.due(self._client, now, self._limit)], now, sessions)
        report.outcomes = delivered.outcomes
        log.info(
            "sweep at %s: %s, reminders queued %d, promoted %d, purged %d",
            now.isoformat(),
            dict(report.outcomes),
            report.reminders_queued,
            report.promoted,
            report.purged,
        )
        return report

    def _deliver(self, snapshots: list[Any], now: datetime, sessions: dict[str, Session]) -> Report:
        """Claim, send and record in chunks: two commits per chunk, one SMTP connection for all.

        Mails are composed here while a second thread hands the previous ones to the SMTP server, in order, so
        that composing overlaps with waiting for the server's replies.
        """
        report = Report()
        for snapshot in snapshots:
            self._mend_due(snapshot, now)
        started = self._clock()
        allowed: Counter[str] = Counter()  # mails each mailbox may still get today, kept up to date as we go
        unfinished: list[list[tuple[outbox.Claim, dict[str, Future[outbox.Outcome]]]]] = []
        with self._transport.connect() as connection, ThreadPoolExecutor(1, thread_name_prefix="smtp") as smtp:
            try:
                for start in range(0, len(snapshots), CHUNK):
                    if (self._clock() - started).total_seconds() > SWEEP_SECONDS:
                        break  # the next tick goes on: a run must end well inside the function's timeout
                    claims = self._outbox.claim(snapshots[start : start + CHUNK], now, leased_at=self._clock())
                    new = {mailbox(claim.registration.get("email", "")) for claim in claims} - set(allowed)
                    allowed.update(self._cap.remaining(new, now))
                    sending: list[tuple[outbox.Claim, dict[str, Future[outbox.Outcome]]]] = []
                    unfinished.append(sending)
                    for claim in claims:
                        sending.append((claim, {}))
                        for key in claim.keys:
                            sending[-1][1][key] = self._prepare(claim, key, now, sessions, (connection, smtp), allowed)
                    # The previous batch is recorded while the SMTP thread works through this one.
                    while len(unfinished) > 1:
                        self._finish(unfinished.pop(0), now, report)
            finally:
                # Whatever was handed to the SMTP server is recorded, come what may.
                while unfinished:
                    self._finish(unfinished.pop(0), now, report)
        return report

    def _finish(
        self, sending: list[tuple[outbox.Claim, dict[str, Future[outbox.Outcome]]]], now: datetime, report: Report
    ) -> None:
        """Wait for a batch's mails to be sent, then record their outcomes and count them against the cap."""
        outcomes = [
            (claim, {key: sent.result() for key, sent in futures.items()}) for claim, futures in sending if futures
        ]
        self._outbox.record(outcomes, now)
        sent = Counter(
            mailbox(claim.registration["email"])
            for claim, results in outcomes
            for key, outcome in results.items()
            if outcome.state == outbox.SENT and not notifications.to_organiser(key)
        )
        self._cap.spend(sent, now)
        for _, results in outcomes:
            report.outcomes.update(outcome.state for outcome in results.values())

    def _prepare(
        self,
        claim: outbox.Claim,
        key: str,
        now: datetime,
        sessions: dict[str, Session],
        sender: tuple[Connection, ThreadPoolExecutor],
        allowed: Counter[str],
    ) -> Future[outbox.Outcome]:
        """Compose one claimed mail and queue it for sending; what cannot be sent gets its outcome at once."""
        registration = claim.registration
        session_id = claim.ref.parent.parent.id
        kind = mail_kind(key, registration.get("status", CONFIRMED))
        address = str(registration.get("email") or "")
        # The organiser's mails go to the organiser, and do not count against the cap (see README).
        capped = not notifications.to_organiser(key)
        if not address and key != notifications.DIGEST:
            return _done(outbox.SKIPPED, "the personal data was erased")
        if kind is None:
            return _done(outbox.SKIPPED, f"no longer applies: the registration is {registration.get('status')}")
        if capped and allowed[mailbox(address)] <= 0:
            log.warning("mail %s for id=%s over the daily cap of its address", key, claim.ref.id)
            return _done(outbox.SKIPPED, f"over the cap of {self._cap.per_day} mails a day to this address")
        if capped:
            allowed[mailbox(address)] -= 1
        try:
            if session_id not in sessions:
                sessions[session_id] = self._sessions.get(session_id)
            session = sessions[session_id]
            recipient, extra = self._extras.addressing(kind, key, session, claim.ref.id, registration)
            to = self._composer.address(recipient)
            hours = reminders.hours_of(key) if kind == "reminder" else None
            message = self._composer.compose(
                kind, session, recipient, message_id=claim.mail(key)["message_id"], now=now, hours=hours, extra=extra
            )
        except NotFoundError:
            return _done(outbox.SKIPPED, "the session no longer exists")
        except UnreachableAddressError as error:
            log.warning("mail %s for id=%s can never reach its address", key, claim.ref.id)
            return _done(outbox.FAILED, str(error))
        except (MisconfiguredError, jinja2.TemplateError, ValueError, google_errors.GoogleAPIError) as error:
            # One mail that cannot be made (a session field that cannot work, the database away) must not stop
            # the others: it is tried again later, with the reason in last_error. The log gets the kind only,
            # since the message may quote an address.
            log.error("mail %s for id=%s cannot be composed, will retry: %s", key, claim.ref.id, type(error).__name__)
            return _done(outbox.PENDING, f"{type(error).__name__}: {error}")
        connection, smtp = sender
        lease_until = claim.mail(key)["lease_until"]
        return smtp.submit(self._send, connection, message, to.addr_spec, key, claim.ref.id, lease_until)

    def _send(
        self,
        connection: Connection,
        message: EmailMessage,
        recipient: str,
        key: str,
        registration_id: str,
        lease_until: datetime,
    ) -> outbox.Outcome:
        # Send only while the claim surely holds, a whole SMTP exchange before its end: after that another
        # sender may have taken the mail, and it must not go twice. (Only a stalled mail server gets here.)
        if self._clock() + self._transport.timeout_margin >= lease_until:
            return outbox.Outcome(outbox.PENDING, "not sent before its claim ran out")
        try:
            connection.send(message, self._composer.sender.addr_spec, recipient)
        except InsecureServerError as error:
            # The operator's to fix, not the person's: the mail waits (pending, with the cause) and goes once fixed.
            log.error("mail %s for id=%s not sent, the mail server needs attention: %s", key, registration_id, error)
            return outbox.Outcome(outbox.PENDING, str(error))
        except TransientError as error:
            log.warning("mail %s for id=%s not sent, will retry: %s", key, registration_id, type(error).__name__)
            return outbox.Outcome(outbox.PENDING, str(error))
        except PermanentError as error:
            log.warning("mail %s for id=%s refused for good", key, registration_id)
            return outbox.Outcome(outbox.FAILED, str(error))
        return outbox.Outcome(outbox.SENT)

    def _mend_due(self, snapshot: Any, now: datetime) -> None:
        """A registration found with nothing due but an old `mail_due_at`: move it to the truth."""
        data = snapshot.to_dict() or {} if snapshot.exists else {}
        emails = data.get("emails") or {}
        stored = data.get("mail_due_at")
        if stored is None or stored > now or any(outbox.is_due(mail, now) for mail in emails.values()):
            return
        snapshot.reference.update({"mail_due_at": outbox.next_due(emails, now)})
