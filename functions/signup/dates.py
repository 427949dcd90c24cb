"""Dates and times as people write them: "dinsdag 9 juni 2026, 16:00–18:00"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

_DAYS = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "nl": (
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def day(moment: datetime, language: str) -> str:
    """`dinsdag 9 juni 2026` / `Tuesday 9 June 2026`."""
    days, months = _DAYS.get(language, _DAYS["nl"]), _MONTHS.get(language, _MONTHS["nl"])
    return f"{days[moment.weekday()]} {moment.day} {months[moment.month - 1]} {moment.year}"


def span(starts_at: datetime, ends_at: datetime, zone: ZoneInfo, language: str) -> str:
    """A session's date and times in its own time zone, with an en dash between the times."""
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    if start.date() == end.date():
        return f"{day(start, language)}, {start:%H:%M}\u2013{end:%H:%M}"
    return f"{day(start, language)}, {start:%H:%M} \u2013 {day(end, language)}, {end:%H:%M}"


def moment(at: datetime, zone: ZoneInfo, language: str) -> str:
    """One moment in the session's time zone: `dinsdag 9 juni 2026, 16:00`."""
    local = at.astimezone(zone)
    return f"{day(local, language)}, {local:%H:%M}"


# Where a session's readers live, its times need no word on the zone they are in.
_HOME_ZONES = {"nl": "Europe/Amsterdam"}
_ZONE_NOTE = {"nl": "{} (tijd in {})", "en": "{} ({} time)"}


def zoned(when: str, zone: str, language: str) -> str:
    """`when` with the zone it is in named by its city ("… (Amsterdam time)"), unless the readers live there."""
    if _HOME_ZONES.get(language) == zone:
        return when
    city = zone.rsplit("/", 1)[-1].replace("_", " ")
    return _ZONE_NOTE.get(language, _ZONE_NOTE["en"]).format(when, city)
