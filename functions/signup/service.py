"""Build the real dependencies once per instance, on first use, never at import time."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from signup.registrations import Registrar
from signup.sessions import SessionStore
from signup.settings import Settings
from signup.web import Service


def utc_now() -> datetime:
    return datetime.now(UTC)


def build(settings: Settings) -> Service:
    """Wire the Firestore client, and the stores for one set of settings."""
    from google.cloud import firestore

    client = firestore.Client(project=settings.project)
    return Service(
        settings=settings,
        sessions=SessionStore(client, ttl=settings.session_cache_seconds),
        registrar=Registrar(client, settings.signing_key),
        clock=utc_now,
    )


@cache
def from_environment() -> Service:
    """The instance's one Service, from the process environment."""
    return build(Settings.from_env())
