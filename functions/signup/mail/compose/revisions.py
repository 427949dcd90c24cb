"""What a change of a session changed, for the mail that tells of it: the facts attendees were told (title, time,
place) as they were before the revision and as they are now, each one that differs named with both."""

from __future__ import annotations

from collections.abc import Mapping

from signup import dates, texts
from signup.ledger.session import ENDS_AT, LOCATION, PLACE_ADDRESS, PLACE_NAME, STARTS_AT, TITLE, Session, facts
from signup.mail.compose import calendar
from signup.mail.compose.paragraphs import plain_quoted


def changes(before: object, session: Session) -> list[dict[str, str]]:
    """Each fact that changed since `before` (the facts of a revision, ledger/session.py), as `{label, before,
    after}`; none when `before` is not known (a session revised before the facts were kept)."""
    if not isinstance(before, Mapping):
        return []
    was = facts(before)
    labels = texts.section(session.language, "mail")
    found = []
    if was[TITLE] and was[TITLE] != session.title:
        found.append(_change(labels["title"], plain_quoted(was[TITLE]), plain_quoted(session.title)))
    start, end = was[STARTS_AT], was[ENDS_AT]
    if start is not None and end is not None and (start, end) != (session.starts_at, session.ends_at):
        then = dates.span(start, end, session.zone, session.language)
        now = dates.span(session.starts_at, session.ends_at, session.zone, session.language)
        found.append(_change(labels["when"], then, dates.zoned(now, session.timezone, session.language)))
    place_then = calendar.place_of(was[LOCATION][PLACE_NAME], was[LOCATION][PLACE_ADDRESS])
    if place_then != calendar.place(session):
        nowhere = labels["nowhere"]
        found.append(_change(labels["where"], place_then or nowhere, calendar.place(session) or nowhere))
    return found


def _change(label: str, before: str, after: str) -> dict[str, str]:
    return {"label": label, "then": before, "now": after}
