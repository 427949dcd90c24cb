"""`notify`'s sender of the organisers' sign-in links: each queued in its sign-in document, sent exactly once.

`organise` holds no mail credentials: a sign-in request stores its document with the link's mail pending, the write
is an event for `notify` (as a registration's is), which claims the mail, composes it with the link (made from the
document's id with the key, never stored) and sends it within seconds; the sweep catches what an event missed. A
link whose quarter of an hour ran out before it could go is not sent at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from google.cloud.firestore_v1.base_query import FieldFilter

from signup import dates
from signup.http.pages import TEMPLATES
from signup.ledger import fields, mailkeys
from signup.ledger.outbox import MailState, Outcome, is_due
from signup.ledger.signin import SignIn
from signup.mail.compose.mails import (
    HEADERS_POLICY,
    UnreachableAddressError,
    deliverable_address,
    without_mime_version,
)
from signup.mail.events import Change
from signup.mail.transport.smtp import InsecureServerError, PermanentError, TransientError
from signup.mail.transport.smtppool import ConnectionPool
from signup.organise.texts import LANGUAGES, catalogue
from signup.store.outbox import Claim, Outbox

log = logging.getLogger(__name__)

# Sign-ins whose mail a sweep looks at, at most.
SWEEP_LIMIT = 100
# Until when the link works, as the mail says it: in the time of the Netherlands, where most organisers are.
_ZONE = ZoneInfo("Europe/Amsterdam")


class SignInMailer:
    def __init__(
        self,
        client: Any,
        outbox: Outbox,
        transport: ConnectionPool,
        sender: Address,
        link: Callable[[str], str],
        clock: Callable[[], datetime],
        smtputf8: bool = False,
    ) -> None:
        self._client = client
        self._outbox = outbox
        self._transport = transport
        self._sender = sender
        self._clock = clock
        self._smtputf8 = smtputf8
        self._composer = SignInComposer(sender, link)

    def sign_in_written(self, sign_in_id: str, change: Change | None = None) -> int:
        """Send the sign-in's link if its mail is due; how many mails went. Our own writes (the claim, the outcome,
        the sign-in itself) need nothing, which the event shows without a read."""
        now = self._clock()
        if change is not None and change.known:
            emails = (change.new or {}).get(fields.EMAILS) or {}
            if not any(is_due(mail, now) for mail in emails.values()):
                return 0
        snapshot = self._client.collection(fields.SIGNINS).document(sign_in_id).get()
        return self._deliver([snapshot] if snapshot.exists else [], now)

    def sweep(self, now: datetime) -> int:
        """Send what an event missed (or what waits for a retry)."""
        due = (
            self._client.collection(fields.SIGNINS)
            .where(filter=FieldFilter(fields.MAIL_DUE_AT, "<=", now))
            .limit(SWEEP_LIMIT)
        )
        return self._deliver(list(due.stream()), now)

    def _deliver(self, snapshots: list[Any], now: datetime) -> int:
        claims = self._outbox.claim(snapshots, now, leased_at=self._clock()) if snapshots else []
        with self._transport.sending():  # the connection is closed when the run ends
            outcomes = [(claim, {key: self._send(claim, key) for key in claim.keys}) for claim in claims]
        if outcomes:
            self._outbox.record(outcomes, self._clock())
        sent = sum(1 for _, results in outcomes for outcome in results.values() if outcome.state == MailState.SENT)
        for claim, results in outcomes:
            log.info("sign-in mail sign_in=%s %s", claim.ref.id, {key: o.state.value for key, o in results.items()})
        return sent

    def _send(self, claim: Claim, key: str) -> Outcome:
        if key != mailkeys.ORGANISER_SIGN_IN:
            return Outcome(MailState.SKIPPED, "not a mail of a sign-in")
        sign_in = SignIn.from_document(claim.ref.id, claim.registration)
        now = self._clock()
        if not sign_in.link_usable(now):
            return Outcome(MailState.SKIPPED, "the link ran out (or was used) before it could be sent")
        if now + self._transport.timeout_margin >= claim.mail(key)[fields.LEASE_UNTIL]:
            return Outcome(MailState.PENDING, "not sent before its claim ran out")
        try:
            to = deliverable_address(sign_in.email, smtputf8=self._smtputf8)
            message = self._composer.compose(sign_in, to, message_id=claim.mail(key)[fields.MESSAGE_ID], now=now)
            with self._transport.connection() as connection:
                self._transport.pace()
                connection.send(message, self._sender.addr_spec, to.addr_spec)
        except UnreachableAddressError as error:
            return Outcome(MailState.FAILED, str(error))
        except (TransientError, InsecureServerError) as error:
            log.warning("sign-in mail sign_in=%s not sent, will retry: %s", claim.ref.id, type(error).__name__)
            return Outcome(MailState.PENDING, str(error))
        except PermanentError as error:
            return Outcome(MailState.FAILED, str(error))
        except OSError as error:
            return Outcome(MailState.PENDING, f"{type(error).__name__}: {error}")
        return Outcome(MailState.SENT)


class SignInComposer:
    """Builds the mail with an organiser's sign-in link, from `templates/organise/mail/`."""

    def __init__(self, sender: Address, link: Callable[[str], str]) -> None:
        self._sender = sender
        self._link = link
        environment: dict[str, Any] = {
            "loader": jinja2.FileSystemLoader(TEMPLATES),
            "undefined": jinja2.StrictUndefined,
        }
        self._html = jinja2.Environment(autoescape=True, **environment)
        self._text = jinja2.Environment(autoescape=False, keep_trailing_newline=True, **environment)  # noqa: S701

    def compose(self, sign_in: SignIn, to: Address, *, message_id: str, now: datetime) -> EmailMessage:
        language = sign_in.language if sign_in.language in LANGUAGES else LANGUAGES[0]
        context = {
            "t": catalogue(language),
            "language": language,
            "link": self._link(sign_in.id),
            "until": dates.moment(sign_in.link_expires_at, _ZONE, language),
        }
        text = self._text.get_template("organise/mail/sign_in.txt").render(context)
        html = self._html.get_template("organise/mail/sign_in.html").render(context)
        message = EmailMessage(policy=HEADERS_POLICY)
        message["Subject"] = catalogue(language)["mail.subject"]
        message["From"] = self._sender
        message["To"] = to
        message["Date"] = now
        message["Message-ID"] = message_id
        message["Auto-Submitted"] = "auto-generated"
        message["Content-Language"] = language
        message["MIME-Version"] = "1.0"
        message["Content-Type"] = "multipart/alternative"
        alternative = MIMEMultipart(
            "alternative", _subparts=[MIMEText(text, "plain", "utf-8"), MIMEText(html, "html", "utf-8")]
        )
        without_mime_version(alternative)
        message.set_payload(alternative.get_payload())
        return message
