"""The organiser hears of sign-ups: with `organiser_notifications = "each"`, a mail of its own for each new
registration and each cancellation, queued on that registration through the outbox (so exactly once, and
retried like any other mail), addressed to `organiser.email` rather than to the person."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from signup.ledger.session import Session
from signup.mail import outbox
from signup.names import full_name

# Every mail to the organiser has a key with this prefix; such mails do not count against the daily cap of the
# address (see README: the organiser hears of sign-ups).
PREFIX = "organiser_"
CREATED = "organiser_created"
CANCELLED = "organiser_cancelled"
DIGEST = "organiser_digest"


def to_organiser(key: str) -> bool:
    return key.startswith(PREFIX)


def queued(session: Session, key: str) -> dict[str, Any]:
    """The mail to the organiser for a new registration's `emails` map, when the session asks for one."""
    return {key: outbox.new_mail()} if session.organiser_notifications == "each" else {}


def queued_update(session: Session, key: str) -> dict[str, Any]:
    """The same, as fields of an update that also does other things (a cancellation)."""
    return {f"emails.{name}": mail for name, mail in queued(session, key).items()}


def person(data: Mapping[str, Any]) -> dict[str, str]:
    """What the organiser is told of one registration: name, organisation and status (no address)."""
    return {
        "name": full_name(data.get("first_name", ""), data.get("infix", ""), data.get("last_name", "")),
        "organisation": str(data.get("organisation") or ""),
        "status": str(data.get("status") or ""),
    }
