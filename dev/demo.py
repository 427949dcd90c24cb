"""The demo session of `make dev`, modelled on the invitation: a strategy session a few weeks ahead."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DEMO_SESSION_ID = "strategiesessie"
# Who may organise the demo session on the organisers' page (make dev prints it).
DEMO_ORGANISER = "organisator@example.nl"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def next_tuesday(today: date, weeks_ahead: int = 3) -> date:
    """A Tuesday at least `weeks_ahead` weeks from today."""
    start = today + timedelta(weeks=weeks_ahead)
    return start + timedelta(days=(1 - start.weekday()) % 7)


def demo_session(today: date, demo_site: str) -> dict[str, Any]:
    day = next_tuesday(today)
    starts = datetime.combine(day, time(16, 0), tzinfo=AMSTERDAM)
    return {
        "title": "Gratis strategiesessie",
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "timezone": "Europe/Amsterdam",
        "location": {
            "name": "Grand Café Genieten bij stadsdeelkantoor Oost",
            "address": "Oranje-Vrijstaatplein 2, 1093 NG Amsterdam",
        },
        "capacity": 20,
        "allowed_origins": [demo_site],
        "language": "nl",
        "reminder_hours": [24],
        "organiser": {"name": "Demo Organisator", "email": DEMO_ORGANISER},
    }


def ensure(client: Any, demo_site: str) -> str:
    """Create the demo session unless it exists; move it ahead once its date has passed."""
    ref = client.collection("sessions").document(DEMO_SESSION_ID)
    snapshot = ref.get()
    today = datetime.now(AMSTERDAM).date()
    if not snapshot.exists or snapshot.get("starts_at") < datetime.now(AMSTERDAM):
        ref.set(demo_session(today, demo_site))
    return DEMO_SESSION_ID
