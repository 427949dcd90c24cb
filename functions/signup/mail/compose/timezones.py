"""The VTIMEZONE an invitation carries for its TZID, written as Outlook and Exchange read one.

Outlook keeps a zone as one rule for standard time and one for summer time, each "the nth (or last) weekday of a
month, at a time" (MS-OXCICAL 2.1.3.1.1.19): of several STANDARD components it takes the one with the latest
DTSTART, and one without an RRULE it takes as that single date. A VTIMEZONE of dated onsets (RDATE, what icalendar's
`Timezone.from_tzinfo` writes) thus leaves Outlook without summer time in the session's year, and a summer session
an hour off. So where the zone's changes in the years around the session follow one such rule each, the VTIMEZONE is
one STANDARD and one DAYLIGHT with a yearly RRULE, as Outlook and Google Calendar export it; a zone without summer
time is one STANDARD; anything else (rules that change meanwhile, a date no weekday rule names) keeps the dated
onsets, which every client that follows RFC 5545 reads.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

import icalendar

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# A VTIMEZONE's first onset where nothing ever changes: RFC 5545 needs a DTSTART, Google writes this one.
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class _Onset:
    """One change of offset: when, in the wall time before it, and what it changes to."""

    at: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str
    daylight: bool

    @property
    def which(self) -> int:
        """Which of its weekday in the month: 1 to 4, or -1, the last."""
        days_in_month = calendar.monthrange(self.at.year, self.at.month)[1]
        return -1 if self.at.day + 7 > days_in_month else (self.at.day - 1) // 7 + 1

    @property
    def rule(self) -> tuple[int, int, int, time, timedelta, timedelta, bool]:
        """What the onset is in every year if it follows a yearly rule: month, weekday, which one, time, offsets."""
        return (
            self.at.month,
            self.at.weekday(),
            self.which,
            self.at.time(),
            self.offset_from,
            self.offset_to,
            self.daylight,
        )


@cache
def vtimezone(zone: str, year: int) -> icalendar.Timezone:
    """The VTIMEZONE for TZID `zone` around a session in `year`; made once per zone and year."""
    tz = ZoneInfo(zone)
    years = [_onsets(tz, each) for each in (year - 1, year, year + 1)]
    if not any(years):
        return _fixed(zone, tz, year)
    if all(len(onsets) == 2 and {onset.daylight for onset in onsets} == {True, False} for onsets in years):
        rules = [sorted(onset.rule for onset in onsets) for onsets in years]
        if rules[0] == rules[1] == rules[2]:
            return _yearly(zone, years[0])
    first, last = date(year - 1, 1, 1), date(year + 1, 12, 31)
    return icalendar.Timezone.from_tzinfo(tz, tzid=zone, first_date=first, last_date=last)


def _onsets(tz: tzinfo, year: int) -> list[_Onset]:
    """The zone's changes of offset in one year: found by the day, then the hour, then the minute."""
    found = []
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    day = start
    while day < end:
        if _offset(tz, day) != _offset(tz, day + timedelta(days=1)):
            moment = day
            for step in (timedelta(hours=1), timedelta(minutes=1)):
                while _offset(tz, moment + step) == _offset(tz, day):
                    moment += step
            moment += timedelta(minutes=1)
            after = moment.astimezone(tz)
            found.append(
                _Onset(
                    at=(moment + _offset(tz, day)).replace(tzinfo=None),
                    offset_from=_offset(tz, day),
                    offset_to=_offset(tz, moment),
                    name=after.tzname() or "",
                    daylight=bool(after.dst()),
                )
            )
        day += timedelta(days=1)
    return found


def _offset(tz: tzinfo, moment: datetime) -> timedelta:
    return moment.astimezone(tz).utcoffset() or timedelta()


def _fixed(zone: str, tz: tzinfo, year: int) -> icalendar.Timezone:
    """A zone without summer time: one STANDARD, its offset from the start."""
    moment = datetime(year, 7, 1, tzinfo=UTC).astimezone(tz)
    offset = moment.utcoffset() or timedelta()
    return _component(zone, [(icalendar.TimezoneStandard(), _EPOCH, offset, offset, moment.tzname() or "", None)])


def _yearly(zone: str, onsets: list[_Onset]) -> icalendar.Timezone:
    """One STANDARD and one DAYLIGHT, each from its onset in the first year on by a yearly rule."""
    observances: list[_Observance] = []
    for onset in onsets:
        rule = {"freq": "yearly", "bymonth": onset.at.month, "byday": f"{onset.which}{_WEEKDAYS[onset.at.weekday()]}"}
        kind = icalendar.TimezoneDaylight() if onset.daylight else icalendar.TimezoneStandard()
        observances.append((kind, onset.at, onset.offset_from, onset.offset_to, onset.name, rule))
    return _component(zone, observances)


# An observance: its kind (STANDARD or DAYLIGHT), first onset, offsets from and to, name, and yearly rule if any.
_Observance = tuple[icalendar.Component, datetime, timedelta, timedelta, str, dict[str, object] | None]


def _component(zone: str, observances: list[_Observance]) -> icalendar.Timezone:
    timezone = icalendar.Timezone()
    timezone.add("tzid", zone)
    for observance, start, offset_from, offset_to, name, rule in observances:
        observance.add("dtstart", start)
        observance.add("tzoffsetfrom", offset_from)
        observance.add("tzoffsetto", offset_to)
        if name:
            observance.add("tzname", name)
        if rule is not None:
            observance.add("rrule", rule)
        timezone.add_component(observance)
    return timezone
