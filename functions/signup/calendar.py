"""Calendar entries for a registration: an RFC 5545 `.ics` (via icalendar) and an "add to Google Calendar" link."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import icalendar

from signup.sessions import Session

PRODUCT_ID = "-//signup//session registration//NL"


def uid(session_id: str, registration_id: str) -> str:
    """One UID per registration, so that a later CANCEL removes exactly that entry."""
    return f"{registration_id}.{session_id}@signup"


def place(session: Session) -> str:
    return ", ".join(part for part in (session.location.name, session.location.address) if part)


def ics(
    session: Session,
    registration_id: str,
    *,
    attendee: str,
    stamp: datetime,
    cancel: bool = False,
    description: str = "",
) -> bytes:
    """A REQUEST for the session, or the CANCEL of that same entry."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "REQUEST")
    event = icalendar.Event()
    event.add("uid", uid(session.id, registration_id))
    event.add("sequence", session.revision + (1 if cancel else 0))  # each revision of the session a newer version
    event.add("dtstamp", stamp)
    event.add("dtstart", session.starts_at)
    event.add("dtend", session.ends_at)
    event.add("summary", session.title)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    if place(session):
        event.add("location", place(session))
    if description:
        event.add("description", description)
    if session.organiser and session.organiser.email:
        organiser = icalendar.vCalAddress(f"mailto:{session.organiser.email}")
        organiser.params["cn"] = icalendar.vText(session.organiser.name or session.organiser.email)
        event.add("organizer", organiser)
    guest = icalendar.vCalAddress(f"mailto:{attendee}")
    guest.params["role"] = icalendar.vText("REQ-PARTICIPANT")
    guest.params["partstat"] = icalendar.vText("DECLINED" if cancel else "ACCEPTED")
    event.add("attendee", guest)
    calendar.add_component(event)
    return bytes(calendar.to_ical())


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
