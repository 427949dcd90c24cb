"""What the organiser is told of one registration, in the mails they get about sign-ups (docs/mail.md: the
organiser's mail): with `organiser_notifications = "each"` a mail of its own for each new registration and each
cancellation, queued on that registration through the outbox, addressed to `organiser.email`; with "daily", a
digest (digest.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from signup.ledger import fields
from signup.ledger.registration import Registration
from signup.names import full_name


def person(data: Mapping[str, Any]) -> dict[str, str]:
    """Name, organisation and status (no address)."""
    registration = Registration.from_document("", data)
    someone = registration.person
    return {
        "name": full_name(someone.first_name, someone.infix, someone.last_name) if someone else "",
        fields.ORGANISATION: someone.organisation if someone else "",
        fields.STATUS: registration.status.value,
    }
