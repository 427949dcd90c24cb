"""Compose the mails: Jinja2 templates (HTML autoescaped, plain text not), headers through `email.headerregistry`."""

from __future__ import annotations

import email.policy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import encoders
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any

import email_validator
import jinja2

from signup import dates, texts
from signup.http.pages import TEMPLATES
from signup.ledger import fields, outbox
from signup.ledger.mailkeys import LOOKS, Template
from signup.ledger.registration import ERASED, Registration
from signup.ledger.session import Session
from signup.mail.compose import calendar, paragraphs, qr, revisions
from signup.names import full_name
from signup.tokens import RegistrationRef

# Headers through email.headerregistry, generated unfolded up to RFC 5322's 998 characters: CPython folds a long
# header before an encoded word as ", \r\n =?utf-8?…", which unfolds to a double space. The parts are encoded by
# email.mime (base64 with RFC 2045's 76-character lines), which is several times faster than
# the content manager and keeps the sweep well ahead of its benchmark floor.
HEADERS_POLICY = email.policy.SMTP.clone(max_line_length=998)


def parse_sender(mail_from: str) -> Address:
    """MAIL_FROM as `Name <address>` or a bare address."""
    name, address = parseaddr(mail_from)
    if "@" not in address:
        from signup.errors import MisconfiguredError

        raise MisconfiguredError("MAIL_FROM must be an address, optionally with a name: Name <noreply@example.nl>")
    return Address(display_name=name, addr_spec=address)


class UnreachableAddressError(Exception):
    """An address that our relay can never carry: a non-ASCII local part where it does not speak SMTPUTF8."""


def deliverable_address(address: str, *, smtputf8: bool, display_name: str = "") -> Address:
    """The address as mail carries it: the domain in ASCII (punycode) for envelope and headers alike; the local part
    as typed, which may be non-ASCII only where the relay speaks SMTPUTF8 (smtplib then uses it)."""
    if address.isascii():  # nearly every address, and checked at the form: no need to parse it again
        local, _, domain = address.rpartition("@")
        return Address(display_name=display_name, username=local, domain=domain)
    try:
        checked = email_validator.validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except email_validator.EmailNotValidError as error:
        raise UnreachableAddressError(f"not a valid address: {error}") from None
    if checked.smtputf8 and not smtputf8:
        raise UnreachableAddressError("a non-ASCII local part needs a relay that speaks SMTPUTF8 (SMTP_UTF8)")
    return Address(display_name=display_name, username=checked.local_part, domain=checked.ascii_domain)


@dataclass(frozen=True)
class Recipient:
    session_id: str
    registration_id: str
    first_name: str
    infix: str
    last_name: str
    email: str
    had_seat: bool
    generation: int = 0  # higher each time a cancelled registration is replaced by a fresh sign-up
    confirm_by: datetime | None = None  # until when the address can be confirmed (an unconfirmed sign-up)

    @classmethod
    def from_document(cls, session_id: str, registration_id: str, data: Mapping[str, Any]) -> Recipient:
        registration = Registration.from_document(registration_id, data)
        person = registration.person or ERASED
        return cls(
            session_id=session_id,
            registration_id=registration_id,
            first_name=person.first_name,
            infix=person.infix,
            last_name=person.last_name,
            email=person.email,
            had_seat=registration.confirmed_at is not None,
            generation=registration.generation,
            confirm_by=registration.confirm_by,
        )

    @property
    def name(self) -> str:
        return full_name(self.first_name, self.infix, self.last_name)


class Composer:
    """Builds one `EmailMessage` per mail from the templates in `templates/mail/`."""

    def __init__(
        self,
        sender: Address,
        cancel_url: Any,
        *,
        session_url: Callable[[str], str],
        directory: Path = TEMPLATES,
        smtputf8: bool = False,
        confirm_url: Any = None,
        unsubscribe_url: Any = None,
        calendar_replies: Address | None = None,
        check_in_url: Callable[[RegistrationRef], str] | None = None,
    ) -> None:
        loader = jinja2.FileSystemLoader(directory)
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
        }
        self._html = jinja2.Environment(autoescape=True, **common)
        self._text = jinja2.Environment(autoescape=False, **common)  # noqa: S701 - plain text, never HTML
        self._html.filters.update(linkify=paragraphs.linkify, lines=paragraphs.lines, quoted=paragraphs.quoted)
        self._text.filters.update(linkify=paragraphs.plain, lines=paragraphs.plain, quoted=paragraphs.plain_quoted)
        self._sender = sender
        self._headers: dict[tuple[str, str], Any] = {}
        self._cancel_url = cancel_url
        self._confirm_url = confirm_url
        self._unsubscribe_url = unsubscribe_url
        self._calendar_replies = calendar_replies
        self._check_in_url = check_in_url
        self._smtputf8 = smtputf8
        self._session_url = session_url

    @property
    def sender(self) -> Address:
        return self._sender

    @staticmethod
    def carries_calendar(kind: Template, recipient: Recipient) -> bool:
        """Whether a mail of `kind` to `recipient` carries a calendar entry (a REQUEST or its CANCEL)."""
        # Only who holds a seat has the session in their calendar (a new confirmation or promotion always does).
        return LOOKS[kind].calendar_method is not None and recipient.had_seat

    def calendar_organizer(self, session: Session, registration: Mapping[str, Any]) -> str:
        """The ORGANIZER of a registration's calendar entry: the one it was first sent with, else the one a new entry
        gets now."""
        kept = outbox.organizer_of(registration)
        if kept:
            return kept
        if outbox.invited_unrecorded(registration):
            # Sent by 0.1.0, which named the organiser (or MAIL_FROM), whatever CALENDAR_REPLY_ADDRESS says now.
            return calendar.organizer_address(session, self._sender, None)
        return calendar.organizer_address(session, self._sender, self._calendar_replies)

    def address(self, recipient: Recipient) -> Address:
        """Where the mail goes, as the envelope and the To header carry it (see `deliverable_address`)."""
        return deliverable_address(recipient.email, smtputf8=self._smtputf8, display_name=recipient.name)

    def compose(
        self,
        kind: Template,
        session: Session,
        recipient: Recipient,
        *,
        message_id: str,
        now: datetime,
        hours: float | None = None,
        extra: Mapping[str, Any] | None = None,
        organizer: str | None = None,
    ) -> EmailMessage:
        """One mail of `kind`; `extra` adds to (or overrides) what the templates read, `organizer` is the ORGANIZER
        of the registration's calendar entry (see `calendar_organizer`; None: the one a new entry gets)."""
        look = LOOKS[kind]
        ref = RegistrationRef(recipient.session_id, recipient.registration_id, recipient.generation)
        extra = extra or {}
        check_in = look.check_in_code and recipient.had_seat and self._check_in_url is not None
        code_id = make_msgid("check-in", self._sender.domain)[1:-1] if check_in else None
        context = {
            **self._context(session, recipient, hours),
            "show_calendar": look.calendar_links and recipient.had_seat,
            "show_cancel": look.cancel_link,
            "cancel_button": look.cancel_button,
            "unsubscribe_url": self._unsubscribe_url(ref) if look.unsubscribe and self._unsubscribe_url else None,
            "check_in_cid": code_id,
            **(self._confirming(session, recipient) if kind == Template.CONFIRM_ADDRESS else {}),
            **({"changes": revisions.changes(extra.get(fields.BEFORE), session)} if kind == Template.CHANGED else {}),
            **extra,
        }
        content = f"mail/{session.language}/{kind.value}.txt"
        text_module = self._text.get_template(content).make_module(
            {**context, "layout": "mail/layout.txt", "part": "text"}
        )
        html = self._html.get_template(content).render({**context, "layout": "mail/layout.html", "part": "html"})
        subject = " ".join(str(text_module.subject).split())  # type: ignore[attr-defined]
        message = EmailMessage(policy=HEADERS_POLICY)
        message["Subject"] = self._header("Subject", subject)
        message["From"] = self._header("From", self._sender)
        to = self.address(recipient)
        message["To"] = to
        # Replies go to the organiser, but for the organiser's own mails: a reply to oneself is no answer.
        if session.organiser and session.organiser.email and not context.get("to_organiser"):
            organiser = Address(display_name=session.organiser.name, addr_spec=session.organiser.email)
            message["Reply-To"] = self._header("Reply-To", organiser)
        message["Date"] = self._header("Date", now)
        message["Message-ID"] = message_id
        message["Auto-Submitted"] = self._header("Auto-Submitted", "auto-generated")
        message["Content-Language"] = self._header("Content-Language", session.language)
        if context["unsubscribe_url"]:
            # RFC 8058 one-click: the mail provider POSTs `List-Unsubscribe=One-Click` to the HTTPS link itself.
            message["List-Unsubscribe"] = self._header("List-Unsubscribe", _angle_bracketed(context["unsubscribe_url"]))
            message["List-Unsubscribe-Post"] = self._header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        message["MIME-Version"] = self._header("MIME-Version", "1.0")
        html_part: Message = MIMEText(html, "html", "utf-8")
        if code_id is not None and self._check_in_url is not None:
            # The code travels with the mail, shown inline by its Content-ID: no client fetches anything from us.
            image = MIMEImage(qr.png(self._check_in_url(ref)), "png")
            image.add_header("Content-ID", f"<{code_id}>")
            image.add_header("Content-Disposition", "inline", filename="check-in.png")
            html_part = MIMEMultipart("related", _subparts=[html_part, image])
        body: list[Message] = [MIMEText(str(text_module), "plain", "utf-8"), html_part]
        parts: list[Message] = body
        content_type = "multipart/alternative"
        method = look.calendar_method
        if method and self.carries_calendar(kind, recipient):
            ics = calendar.ics(
                session,
                uid=calendar.uid(session.id, recipient.registration_id, recipient.generation, self._sender.domain),
                attendee=to,
                sender=self._sender,
                replies=self._calendar_replies,
                organizer=organizer,
                stamp=now,
                cancel=method == "CANCEL",
                description=context["calendar_details"] if method == "REQUEST" else "",
            )
            # As Google Calendar and Outlook send an invitation: the calendar as the third alternative, which mail
            # clients show as an invitation with its buttons, and the same file as an attachment for the others.
            filename = context["labels"]["cancellation_file" if method == "CANCEL" else "invitation_file"]
            parts = [
                MIMEMultipart("alternative", _subparts=[*body, _calendar_part(ics, method)]),
                _calendar_file(ics, filename),
            ]
            content_type = "multipart/mixed"
        for part in parts:
            without_mime_version(part)
        message["Content-Type"] = self._header("Content-Type", content_type)
        message.set_payload(list(parts))
        return message

    def _confirming(self, session: Session, recipient: Recipient) -> dict[str, Any]:
        """The confirm link, and until when it works, for the mail that asks to confirm an address."""
        if self._confirm_url is None or recipient.confirm_by is None:
            raise ValueError("a confirm mail needs a confirm link and the registration's confirm_by")
        ref = RegistrationRef(recipient.session_id, recipient.registration_id, recipient.generation)
        return {
            "confirm_url": self._confirm_url(ref),
            fields.CONFIRM_BY: dates.moment(recipient.confirm_by, session.zone, session.language),
        }

    def _header(self, name: str, value: object) -> Any:
        """A parsed header, kept for reuse: parsing headers is most of the cost of composing a mail."""
        key = (name, str(value))
        header = self._headers.get(key)
        if header is None:
            header = self._headers[key] = HEADERS_POLICY.header_factory(name, value)
        return header

    def _context(self, session: Session, recipient: Recipient, hours: float | None) -> dict[str, Any]:
        labels = texts.section(session.language, "mail")
        # What calendars keep and may share: a word on the entry and the session's page, never the cancel link.
        details = f"{labels['calendar_details']}\n\n{labels['session_page']}: {self._session_url(session.id)}"
        when = dates.span(session.starts_at, session.ends_at, session.zone, session.language)
        return {
            "session": session,
            "language": session.language,
            "when": when,
            "when_zoned": dates.zoned(when, session.timezone, session.language),
            "place": calendar.place(session),
            "map_url": calendar.map_link(session),
            "calendar_url": calendar.google_calendar_link(session, details),
            "calendar_details": details,
            "cancel_url": self._cancel_url(
                RegistrationRef(recipient.session_id, recipient.registration_id, recipient.generation)
            ),
            "name": recipient.name,
            fields.FIRST_NAME: recipient.first_name,
            "had_seat": recipient.had_seat,
            "hours": hours,
            "labels": labels,
        }


def _angle_bracketed(url: str) -> str:
    """A URL as RFC 2369 list headers carry it: between angle brackets (ours holds none of its own)."""
    return "<" + url + ">"


def _calendar_part(ics: bytes, method: str) -> Message:
    """The invitation as an alternative of the body: `text/calendar; method=…`, which clients act on."""
    part = MIMEBase("text", "calendar", method=method, charset="utf-8")
    part.set_payload(ics)
    encoders.encode_base64(part)
    return part


def _calendar_file(ics: bytes, filename: str) -> Message:
    """The same calendar as an `.ics` attachment (`application/ics`, as Google Calendar attaches it: a second
    `text/calendar; method=…` would be a second invitation to some clients)."""
    part = MIMEBase("application", "ics", name=filename)
    part.set_payload(ics)
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def without_mime_version(part: Message) -> None:
    """email.mime gives every part a MIME-Version of its own; RFC 2045 wants it once, in the message's header."""
    for each in part.walk():
        del each["MIME-Version"]
