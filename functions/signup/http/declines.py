"""A decline in a calendar, as http/inbound.py reads it from a reply: the person is asked by mail whether to cancel.

A decline never cancels by itself. Its mail's From is not checked (anyone can write any From), so its UID is all
that names the registration, and a UID is no secret: it is in calendar entries that people share and forward, and
its registration part is in every JSON answer for the person's address. Calendars also decline by themselves
(Outlook's "decline conflicting meetings", Google's out-of-office). So the person gets a mail at their own address
with the cancel link, whose page asks and whose POST cancels: a forged decline costs them one mail, at most once per
sign-up, within the daily cap of their address, and cancels nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signup.errors import NotFoundError
from signup.mail.compose.mails import UnreachableAddressError, deliverable_address
from signup.store.registrations import Registrar
from signup.store.sessions import SessionStore
from signup.tokens import RegistrationRef


@dataclass(frozen=True)
class Decline:
    """One declined invitation: the registration generation its UID names, and the address that declined it."""

    ref: RegistrationRef
    attendee: str

    def is_by(self, address: str) -> bool:
        """Whether the ATTENDEE who declined is this address: as typed, or as our invitation wrote it (the domain in
        ASCII, mail/compose/mails.py), case aside."""
        try:
            sent = deliverable_address(address, smtputf8=True).addr_spec
        except UnreachableAddressError:
            sent = address
        return self.attendee.lower() in (address.lower(), sent.lower())


def ask(decline: Decline, sessions: SessionStore, registrar: Registrar, now: datetime) -> bool:
    """Queue the mail that asks whether to cancel, if the decline names a sign-up (its generation) of that address
    that holds its place, of a session that takes place and has not ended, and it was not asked before; whether
    it was queued."""
    ref = decline.ref
    try:
        session = sessions.get(ref.session_id)
    except NotFoundError:
        return False
    if session.cancelled or now >= session.ends_at:
        return False
    found = registrar.find(session, ref.registration_id)
    if found is None or found.person is None or found.generation != ref.generation:
        return False
    if not decline.is_by(found.person.email):
        return False
    return registrar.ask_to_cancel(session, ref.registration_id, ref.generation)
