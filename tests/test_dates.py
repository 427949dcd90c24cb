"""Dates and times written the Dutch (or English) way, in the session's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from signup.dates import span

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("starts", "ends", "language", "written"),
    [
        (
            datetime(2026, 6, 9, 14, tzinfo=UTC),
            datetime(2026, 6, 9, 16, tzinfo=UTC),
            "nl",
            "dinsdag 9 juni 2026, 16:00–18:00",
        ),
        (
            datetime(2026, 6, 9, 14, tzinfo=UTC),
            datetime(2026, 6, 9, 16, tzinfo=UTC),
            "en",
            "Tuesday 9 June 2026, 16:00–18:00",
        ),
        (
            datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
            datetime(2026, 12, 1, 10, tzinfo=UTC),
            "nl",
            "dinsdag 1 december 2026, 09:30–11:00",
        ),
        (
            datetime(2026, 3, 28, 20, tzinfo=UTC),
            datetime(2026, 3, 29, 8, tzinfo=UTC),
            "nl",
            "zaterdag 28 maart 2026, 21:00 – zondag 29 maart 2026, 10:00",
        ),
    ],
)
def test_a_span_is_written_in_the_sessions_zone(starts: datetime, ends: datetime, language: str, written: str) -> None:
    assert span(starts, ends, AMSTERDAM, language) == written
