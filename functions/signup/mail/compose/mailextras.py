"""Who a queued mail goes to, and what it needs beyond the session and the registration: the organiser's message
for a `message_*` mail; what changed for a change mail; for the organiser's own mails, the organiser as addressee
and what they are told."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from signup.errors import MisconfiguredError
from signup.ledger import fields, mailkeys
from signup.ledger.mailkeys import Template
from signup.ledger.session import Session
from signup.mail import digest, messages
from signup.mail.compose import notifications
from signup.mail.compose.mails import Recipient


class MailExtras:
    """Messages are read once per instance (they never change), the rest when each mail is composed."""

    def __init__(self, client: Any, seats_left: Callable[[Session], int | None]) -> None:
        self._client = client
        self._seats_left = seats_left
        self._messages: dict[tuple[str, str], messages.Message] = {}

    def addressing(
        self, kind: Template, key: str, session: Session, registration_id: str, document: Mapping[str, Any]
    ) -> tuple[Recipient, dict[str, Any]]:
        """The recipient of the mail `key` on `document` (a registration, or a day's digest), and extra context."""
        if not mailkeys.to_organiser(key):
            person = Recipient.from_document(session.id, registration_id, document)
            if kind == Template.MESSAGE:
                return person, self._message(session.id, key)
            if kind == Template.CHANGED:  # what changed, as the mail's own record keeps it (mail/changes.py)
                mail = (document.get(fields.EMAILS) or {}).get(key) or {}
                return person, {fields.BEFORE: mail.get(fields.BEFORE)}
            return person, {}
        organiser = session.organiser
        if organiser is None or not organiser.email:
            raise MisconfiguredError(f"session {session.id}: organiser_notifications needs organiser.email")
        recipient = Recipient(session.id, registration_id, organiser.name, "", "", organiser.email, had_seat=False)
        told: dict[str, Any] = {"to_organiser": True, "show_cancel": False}
        seats_left = self._seats_left(session)
        if key == mailkeys.ORGANISER_DIGEST:
            return recipient, {**told, "digest": digest.summary(self._client, session, document, seats_left)}
        return recipient, {**told, "person": notifications.person(document), "seats_left": seats_left}

    def _message(self, session_id: str, key: str) -> dict[str, Any]:
        cached = self._messages.get((session_id, key))
        if cached is None:
            cached = self._messages[(session_id, key)] = messages.load(self._client, session_id, key)
        return cached.context()
