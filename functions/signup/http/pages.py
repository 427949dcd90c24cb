"""HTML pages through Jinja2 with autoescaping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from signup import dates
from signup.ledger.session import Session
from signup.texts import DEFAULT_LANGUAGE, catalogue

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


def page_environment(directory: Path = TEMPLATES) -> jinja2.Environment:
    """The pages' Jinja2, register's and organise's alike: HTML escaped, a name the template lacks an error."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Pages:
    """Renders the templates in `templates/`; HTML is always escaped."""

    def __init__(self, directory: Path = TEMPLATES) -> None:
        self._env = page_environment(directory)

    def render(self, name: str, *, session: Session | None = None, language: str | None = None, **context: Any) -> str:
        language = language or (session.language if session else DEFAULT_LANGUAGE)
        when = dates.span(session.starts_at, session.ends_at, session.zone, language) if session else ""
        return self._env.get_template(name).render(
            t=catalogue(language), language=language, session=session, when=when, **context
        )
