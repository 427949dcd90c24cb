"""Calendar entries for a registration: an RFC 5545 `.ics` (via icalendar) and an "add to Google Calendar" link.

A calendar keeps, per UID, the entry with the highest SEQUENCE and ignores what comes with a lower one
(RFC 5545 3.8.7.4, RFC 5546 2.1.4-2.1.5). So that every update and cancellation lands, and nothing stale does:

- **One UID per registration generation**: `{registration}.{generation}.{session}@{mail domain}`. The
  registration's `generation` (the sign-up's moment in microseconds; absent, on old ones: 0) is higher each time
  someone who cancelled signs up again, so the new sign-up is a new entry, never a cancelled one brought back.
  Nothing is sent for a UID after its CANCEL.
- **SEQUENCE from the session's `revision`** (absent: 0; one up for each change of time, place or title that
  attendees must hear of): a REQUEST at revision r carries 2r, a CANCEL 2r + 1. SEQUENCE grows with every change;
  a CANCEL is above every REQUEST sent for its UID, since those were made at a revision no higher (it only grows);
  the same mail made again at the same revision (a retry, a resend) repeats its SEQUENCE, a refresh, not a change.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.headerregistry import Address
from urllib.parse import urlencode

import icalendar

from signup.ledger.session import Session
from signup.mail.compose import timezones
from signup.tokens import RegistrationRef

PRODUCT_ID = "-//signup//session registration//NL"
# A UID of ours, as a calendar's reply echoes it: ids as Firestore takes them (no `/`, no `__…__`) and a
# generation that is a number of microseconds, whatever the domain.
_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
_UID = re.compile(rf"({_ID})\.([0-9]{{1,20}})\.({_ID})@.+", re.ASCII)


def uid(session_id: str, registration_id: str, generation: int, domain: str) -> str:
    """One UID per registration generation, in our own mail domain (RFC 5545 suggests a domain one controls)."""
    return f"{registration_id}.{generation}.{session_id}@{domain.encode('idna').decode('ascii')}"


def registration_of(event_uid: str) -> RegistrationRef | None:
    """The registration generation a UID of ours names (`uid` read back); None for any other UID."""
    match = _UID.fullmatch(event_uid)
    if match is None:
        return None
    registration_id, generation, session_id = match.groups()
    return RegistrationRef(session_id, registration_id, int(generation))


def sequence(revision: int, *, cancel: bool) -> int:
    """2 × revision for a REQUEST, one more for a CANCEL (see the module's docstring)."""
    return 2 * revision + (1 if cancel else 0)


def place(session: Session) -> str:
    return place_of(session.location.name, session.location.address)


def place_of(name: str, address: str) -> str:
    """A place as mails and calendars write it: its name, then its address."""
    return ", ".join(part for part in (name, address) if part)


def ics(
    session: Session,
    *,
    uid: str,
    attendee: Address,
    sender: Address,
    stamp: datetime,
    replies: Address | None = None,
    organizer: str | None = None,
    cancel: bool = False,
    description: str = "",
) -> bytes:
    """A REQUEST for the session, or the CANCEL of that same entry, in the session's own time zone.

    `organizer` is the ORGANIZER the entry was first sent with, where it was (see `organizer_address`)."""
    organizer = organizer or organizer_address(session, sender, replies)
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "REQUEST")
    calendar.add_component(timezones.vtimezone(session.timezone, session.starts_at.astimezone(session.zone).year))
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("sequence", sequence(session.revision, cancel=cancel))
    event.add("dtstamp", stamp)
    event.add("dtstart", session.starts_at.astimezone(session.zone))
    event.add("dtend", session.ends_at.astimezone(session.zone))
    event.add("summary", session.title)
    event.add("STATUS", "CANCELLED" if cancel else "CONFIRMED")
    if place(session):
        event.add("location", place(session))
    if description:
        event.add("description", description)
    event.add("organizer", _organizer(session, sender, organizer, replies))
    guest = icalendar.vCalAddress(f"mailto:{attendee.addr_spec}")
    if attendee.display_name:
        guest.params["cn"] = icalendar.vText(attendee.display_name)
    guest.params["role"] = icalendar.vText("REQ-PARTICIPANT")
    guest.params["partstat"] = icalendar.vText("DECLINED" if cancel else "ACCEPTED")
    # A reply reaches us only where calendar replies come back to us (docs/calendars.md: a decline).
    ours = replies is not None and _same(organizer, replies.addr_spec)
    guest.params["rsvp"] = icalendar.vText("TRUE" if ours and not cancel else "FALSE")
    event.add("attendee", guest)
    calendar.add_component(event)
    return bytes(calendar.to_ical())


def organizer_address(session: Session, sender: Address, replies: Address | None) -> str:
    """Where a new entry's calendar sends its reply (RFC 5546: to the ORGANIZER).

    With calendar replies set up, our own reply address, so that a decline comes back to us; else the organiser, or
    our sender. An entry keeps the ORGANIZER it was first sent with (mail/notifier.py): RFC 6638 has CalDAV servers
    refuse an update that changes it, and clients may file such an update as an entry of its own."""
    if replies is not None:
        return replies.addr_spec
    if session.organiser and session.organiser.email:
        return session.organiser.email
    return sender.addr_spec


def _organizer(session: Session, sender: Address, address: str, replies: Address | None) -> icalendar.vCalAddress:
    """The ORGANIZER at `address`, named for the organiser (MAIL_FROM standing for itself: for our sender).

    Mail from MAIL_FROM on another address's behalf says so with SENT-BY (RFC 6047 2.3), or receivers may refuse
    updates and cancellations that do not come from the ORGANIZER."""
    name, own_address = (session.organiser.name, session.organiser.email) if session.organiser else ("", "")
    own = bool(own_address) and _same(address, own_address)
    ours = replies is not None and _same(address, replies.addr_spec)
    if _same(address, sender.addr_spec) and not own and not ours:
        name = sender.display_name or address
    else:
        name = name or (address if own else sender.display_name) or address
    organizer = icalendar.vCalAddress(f"mailto:{address}")
    organizer.params["cn"] = icalendar.vText(name)
    if not _same(address, sender.addr_spec):
        organizer.params["sent-by"] = icalendar.vText(f"mailto:{sender.addr_spec}")
    return organizer


def _same(one: str, other: str) -> bool:
    return one.lower() == other.lower()


def google_calendar_link(session: Session, details: str = "") -> str:
    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y%m%dT%H%M%SZ")

    query = {
        "action": "TEMPLATE",
        "text": session.title,
        "dates": f"{stamp(session.starts_at)}/{stamp(session.ends_at)}",
        "location": place(session),
        "details": details,
        "ctz": session.timezone,
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def map_link(session: Session) -> str:
    return "https://www.google.com/maps/search/?" + urlencode({"api": "1", "query": place(session)})
