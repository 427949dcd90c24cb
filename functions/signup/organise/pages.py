"""The organisers' pages through Jinja2, autoescaped, in Dutch or English."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from signup import dates
from signup.http.pages import TEMPLATES, page_environment
from signup.ledger.session import Session
from signup.organise.texts import catalogue

# The files the page serves beside its pages: the form's own stylesheet (the design language it shares) and its
# own additions, and the script that enhances what works without it.
ASSETS = {
    "signup.css": (TEMPLATES / "signup.css", "text/css"),
    "organise.css": (TEMPLATES / "organise" / "organise.css", "text/css"),
    "organise.js": (TEMPLATES / "organise" / "organise.js", "text/javascript"),
}


class Pages:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self._env = page_environment(directory)

    def render(self, name: str, *, language: str, **context: Any) -> str:
        def when(session: Session) -> str:
            return dates.span(session.starts_at, session.ends_at, session.zone, language)

        def moment(at: datetime | None, session: Session) -> str:
            return dates.moment(at, session.zone, language) if isinstance(at, datetime) else ""

        def readable(value: object, session: Session) -> str:
            """A value as the trail keeps it, as a person reads it: a moment in the session's time, none as a dash."""
            if isinstance(value, datetime):
                return moment(value, session)
            return "–" if value is None or value == "" else str(value)

        return self._env.get_template(name).render(
            t=catalogue(language), language=language, when=when, moment=moment, readable=readable, **context
        )
