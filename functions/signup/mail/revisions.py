"""What a change of a session changed, for the mail that tells of it: the facts attendees were told (title, time,
place) as they were before the revision and as they are now, each one that differs named with both."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from signup import dates, texts
from signup.ledger.session import Session
from signup.mail import calendar

TITLE, STARTS_AT, ENDS_AT, LOCATION, NAME, ADDRESS = "title", "starts_at", "ends_at", "location", "name", "address"


def facts(data: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of a session document that a change mail compares: kept with each revision (mail/changes.py)."""
    location = data.get(LOCATION)
    place = location if isinstance(location, Mapping) else {}
    return {
        TITLE: _text(data.get(TITLE)),
        STARTS_AT: _moment(data.get(STARTS_AT)),
        ENDS_AT: _moment(data.get(ENDS_AT)),
        LOCATION: {NAME: _text(place.get(NAME)), ADDRESS: _text(place.get(ADDRESS))},
    }


def changes(before: object, session: Session) -> list[dict[str, str]]:
    """Each fact that changed since `before` (a `facts` map), as `{label, before, after}`; none when `before` is
    not known (a session revised before the facts were kept)."""
    if not isinstance(before, Mapping):
        return []
    was = facts(before)
    labels = texts.section(session.language, "mail")
    found = []
    if was[TITLE] and was[TITLE] != session.title:
        found.append(_change(labels["title"], _quoted(was[TITLE]), _quoted(session.title)))
    start, end = was[STARTS_AT], was[ENDS_AT]
    if start is not None and end is not None and (start, end) != (session.starts_at, session.ends_at):
        then = dates.span(start, end, session.zone, session.language)
        now = dates.span(session.starts_at, session.ends_at, session.zone, session.language)
        found.append(_change(labels["when"], then, dates.zoned(now, session.timezone, session.language)))
    place_then = calendar.place_of(was[LOCATION][NAME], was[LOCATION][ADDRESS])
    if place_then != calendar.place(session):
        nowhere = labels["nowhere"]
        found.append(_change(labels["where"], place_then or nowhere, calendar.place(session) or nowhere))
    return found


def _change(label: str, before: str, after: str) -> dict[str, str]:
    return {"label": label, "then": before, "now": after}


def _quoted(title: str) -> str:
    return f"\u201c{title}\u201d"


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _moment(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return None
