"""Compose the mails: Jinja2 templates (HTML autoescaped, plain text not), headers through `email.headerregistry`."""

from __future__ import annotations

import email.policy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import jinja2

from signup import calendar, dates, texts
from signup.pages import TEMPLATES
from signup.sessions import Session

# What each kind of mail is, and whether it carries a calendar entry (and of which method).
KINDS: Mapping[str, str | None] = {
    "confirmed": "REQUEST",
    "waitlisted": None,
    "promoted": "REQUEST",
    "reminder": None,
    "cancelled": "CANCEL",
}


# Bodies are encoded with lines of at most 76 characters (RFC 2045's limit for quoted-printable and base64).
BODY_POLICY = email.policy.SMTP.clone(max_line_length=76)
HEADERS_POLICY = email.policy.SMTP.clone(max_line_length=998)


def full_name(first_name: str, infix: str, last_name: str) -> str:
    """Names the Dutch way: "Jan" + "van der" + "Berg" is "Jan van der Berg"."""
    return " ".join(part for part in (first_name, infix, last_name) if part)


def parse_sender(mail_from: str) -> Address:
    """MAIL_FROM as `Name <address>` or a bare address."""
    name, address = parseaddr(mail_from)
    if "@" not in address:
        from signup.errors import MisconfiguredError

        raise MisconfiguredError("MAIL_FROM must be an address, optionally with a name: Name <noreply@example.nl>")
    return Address(display_name=name, addr_spec=address)


@dataclass(frozen=True)
class Recipient:
    session_id: str
    registration_id: str
    first_name: str
    infix: str
    last_name: str
    email: str
    had_seat: bool

    @classmethod
    def from_document(cls, session_id: str, registration_id: str, data: Mapping[str, Any]) -> Recipient:
        return cls(
            session_id=session_id,
            registration_id=registration_id,
            first_name=data.get("first_name", ""),
            infix=data.get("infix", ""),
            last_name=data.get("last_name", ""),
            email=data["email"],
            had_seat=data.get("confirmed_at") is not None,
        )

    @property
    def name(self) -> str:
        return full_name(self.first_name, self.infix, self.last_name)


class Composer:
    """Builds one `EmailMessage` per mail from the templates in `templates/mail/`."""

    def __init__(self, sender: Address, cancel_url: Any, directory: Path = TEMPLATES) -> None:
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
        self._sender = sender
        self._cancel_url = cancel_url

    @property
    def sender(self) -> Address:
        return self._sender

    def compose(
        self,
        kind: str,
        session: Session,
        recipient: Recipient,
        *,
        message_id: str,
        now: datetime,
        hours: float | None = None,
    ) -> EmailMessage:
        context = {
            **self._context(session, recipient, hours),
            "show_calendar": kind in ("confirmed", "promoted", "reminder"),
            "show_cancel": kind != "cancelled",
        }
        content = f"mail/{session.language}/{kind}.txt"
        text_module = self._text.get_template(content).make_module({**context, "layout": "mail/layout.txt"})
        html = self._html.get_template(content).render({**context, "layout": "mail/layout.html"})
        message = EmailMessage(policy=BODY_POLICY)
        subject = str(text_module.subject)  # type: ignore[attr-defined]
        message["Subject"] = " ".join(subject.split())
        message["From"] = self._sender
        message["To"] = Address(display_name=recipient.name, addr_spec=recipient.email)
        if session.organiser and session.organiser.email:
            message["Reply-To"] = Address(display_name=session.organiser.name, addr_spec=session.organiser.email)
        message["Date"] = now
        message["Message-ID"] = message_id
        message["Auto-Submitted"] = "auto-generated"
        message["Content-Language"] = session.language
        message.set_content(str(text_module))
        message.add_alternative(html, subtype="html")
        method = KINDS[kind]
        if method and (method == "REQUEST" or recipient.had_seat):
            ics = calendar.ics(
                session,
                recipient.registration_id,
                attendee=recipient.email,
                stamp=now,
                cancel=method == "CANCEL",
                description=context["cancel_url"] if method == "REQUEST" else "",
            )
            message.add_attachment(
                ics,
                maintype="text",
                subtype="calendar",
                filename="uitnodiging.ics" if session.language == "nl" else "invitation.ics",
                params={"method": method, "charset": "utf-8"},
            )
        # CPython folds a long header before an encoded word as ", \r\n =?utf-8?…", which unfolds to a double
        # space: generate the top-level headers unfolded up to RFC 5322's 998 characters. The parts were encoded
        # above under BODY_POLICY, so their lines stay within 76.
        message.policy = HEADERS_POLICY
        return message

    def _context(self, session: Session, recipient: Recipient, hours: float | None) -> dict[str, Any]:
        return {
            "session": session,
            "language": session.language,
            "when": dates.span(session.starts_at, session.ends_at, session.zone, session.language),
            "place": calendar.place(session),
            "map_url": calendar.map_link(session),
            "calendar_url": calendar.google_calendar_link(session),
            "cancel_url": self._cancel_url(recipient.session_id, recipient.registration_id),
            "name": recipient.name,
            "first_name": recipient.first_name,
            "had_seat": recipient.had_seat,
            "hours": hours,
            "labels": texts.section(session.language, "mail"),
        }
