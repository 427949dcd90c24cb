"""A decline in a calendar, as http/inbound.py reads it from a reply: which registration it may act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signup.errors import NotFoundError, SupersededError
from signup.ledger.status import Status
from signup.mail.mails import UnreachableAddressError, deliverable_address
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
        ASCII, mail/mails.py), case aside."""
        try:
            sent = deliverable_address(address, smtputf8=True).addr_spec
        except UnreachableAddressError:
            sent = address
        return self.attendee.lower() in (address.lower(), sent.lower())


def cancel(decline: Decline, sessions: SessionStore, registrar: Registrar, now: datetime) -> bool:
    """Cancel the registration a decline names, if it is that sign-up (its generation), of that address, still
    holding a place, and the session has not ended; never anything else."""
    ref = decline.ref
    try:
        session = sessions.get(ref.session_id)
    except NotFoundError:
        return False
    found = registrar.find(session, ref.registration_id)
    if found is None or found.person is None or found.generation != ref.generation:
        return False
    if not decline.is_by(found.person.email) or found.status == Status.CANCELLED:
        return False
    if now >= session.ends_at:
        return False
    try:
        registrar.cancel(session, ref.registration_id, generation=ref.generation)
    except SupersededError:
        return False
    return True
