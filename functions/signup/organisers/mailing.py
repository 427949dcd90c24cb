"""`signup mail`: the organiser writes to everyone signed up. The command stores the message and queues one mail
per person; `notify` composes and sends them like any other mail, each exactly once."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, TextIO

from signup.errors import MisconfiguredError
from signup.ledger.mailkeys import Template
from signup.ledger.session import Session
from signup.mail import messages
from signup.mail.compose.mails import Composer, Recipient
from signup.organisers.asking import agreed
from signup.service import Toolbox


def run(tools: Toolbox, options: argparse.Namespace, out: TextIO, answers: TextIO) -> None:
    session = tools.sessions.get(options.session)
    client = tools.client
    text = messages.message(options.subject, _read(options.body_file), options.to)
    recipients = list(messages.recipients(client, session, text))
    _left_out(messages.unsubscribed(client, session, text), out)
    if options.dry_run:
        print(f"dry run, nothing sent: {len(recipients)} would get “{text.subject}”", file=out)
        if recipients:
            print(_preview(tools.composer(), session, recipients[0], text), file=out)
        return
    if not recipients:
        print("nobody to send it to: everyone it is for has it already, or nobody is signed up", file=out)
        return
    if not options.yes and not _agreed(session, text, len(recipients), out, answers):
        print("nothing sent", file=out)
        return
    messages.store(client, session, text, datetime.now(UTC))
    queued = messages.queue(client, text, recipients)
    print(f"queued {queued} mails; notify sends them within minutes (`signup sessions list` shows progress)", file=out)


def _left_out(snapshots: list[Any], out: TextIO) -> None:
    """Who asked for no more of the organiser's messages (the link in them): named, so the organiser knows."""
    if not snapshots:
        return
    print(f"left out, unsubscribed from your messages ({len(snapshots)}):", file=out)
    for snapshot in snapshots:
        person = Recipient.from_document("", snapshot.id, snapshot.to_dict() or {})
        print(f"  {person.name} <{person.email}>", file=out)


def _read(path: Any) -> str:
    try:
        body: str = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MisconfiguredError(f"{path}: cannot be read as UTF-8 text: {error}") from None
    return body


def _agreed(session: Session, text: messages.Message, count: int, out: TextIO, answers: TextIO) -> bool:
    return agreed(f"Send “{text.subject}” to {count} people of {session.id}?", "not sending", out, answers)


def _preview(composer: Composer, session: Session, snapshot: Any, text: messages.Message) -> str:
    """What the first person would get, as the plain-text part reads, with the headers that matter."""
    recipient = Recipient.from_document(session.id, snapshot.id, snapshot.to_dict() or {})
    mail = composer.compose(
        Template.MESSAGE,
        session,
        recipient,
        message_id=make_msgid(domain=composer.sender.domain),
        now=datetime.now(UTC),
        extra=text.context(),
    )
    return "\n".join(
        [*(f"{name}: {mail[name]}" for name in ("From", "Reply-To", "To", "Subject") if mail[name]), "", _text(mail)]
    )


def _text(mail: EmailMessage) -> str:
    part = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8") if isinstance(payload, bytes) else ""
