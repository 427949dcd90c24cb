"""Build the real dependencies once per instance, on first use, never at import time.

`register` and `notify` share this module (and functions/main.py), but `register` never sends mail: the mail side
(icalendar, the composer, SMTP, the notifier) is imported only when `notify`'s service is built, so that it does not
slow `register`'s cold start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from signup.formtokens import FormTokens
from signup.ratelimit import Limit, RateLimiter
from signup.registrations import Registrar
from signup.sessions import SessionStore
from signup.settings import Settings
from signup.tokens import CancelTokens, RegistrationRef
from signup.turnstile import Turnstile
from signup.web import Service

if TYPE_CHECKING:
    from signup.notifier import Notifier


def utc_now() -> datetime:
    return datetime.now(UTC)


def firestore_client(settings: Settings) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=settings.project)


def build(settings: Settings, client: Any = None) -> Service:
    """Wire the Firestore client and the stores for `register`."""
    client = client or firestore_client(settings)
    return Service(
        settings=settings,
        sessions=SessionStore(client, ttl=settings.session_cache_seconds),
        registrar=Registrar(client, settings.signing_key, seats_left_ttl=settings.session_cache_seconds),
        limiter=RateLimiter(
            client,
            settings.signing_key,
            (
                Limit("session", settings.rate_limit_per_session, settings.rate_limit_window, per_session=True),
                Limit("overall", settings.rate_limit_overall, settings.rate_limit_window, per_session=False),
            ),
        ),
        tokens=CancelTokens(settings.signing_key),
        forms=FormTokens(settings.signing_key),
        turnstile=Turnstile(settings.turnstile_secret_key, settings.turnstile_verify_url),
        clock=utc_now,
    )


def build_notifier(settings: Settings, client: Any = None, lease: timedelta | None = None) -> Notifier:
    """Wire `notify`: Firestore, the outbox, templates and the SMTP transport."""
    from signup.mailcap import MailCap
    from signup.mails import Composer, parse_sender
    from signup.notifier import Notifier
    from signup.outbox import Outbox
    from signup.smtp import SmtpServer, SmtpTransport

    mail_from, smtp_url = settings.require_mail()
    client = client or firestore_client(settings)
    sender = parse_sender(mail_from)
    tokens = CancelTokens(settings.signing_key)
    return Notifier(
        client=client,
        sessions=SessionStore(client, ttl=settings.session_cache_seconds),
        registrar=Registrar(client, settings.signing_key),
        # A claim holds for five minutes (longer with slow mail servers); what it does not cover is not sent.
        mailbox=Outbox(
            client,
            lease=lease or timedelta(seconds=max(300.0, 10 * settings.smtp_timeout)),
            message_domain=sender.domain,
        ),
        composer=Composer(
            sender, lambda session_id, registration_id: cancel_url(settings, tokens, session_id, registration_id)
        ),
        transport=SmtpTransport(SmtpServer.from_url(smtp_url, settings.smtp_password), settings.smtp_timeout),
        cap=MailCap(client, settings.signing_key, settings.mail_cap_per_day),
        clock=utc_now,
        sweep_limit=settings.sweep_limit,
    )


def cancel_url(settings: Settings, tokens: CancelTokens, session_id: str, registration_id: str) -> str:
    return f"{settings.public_base_url}/cancel/{tokens.make(RegistrationRef(session_id, registration_id))}"


@cache
def from_environment() -> Service:
    """The instance's one `register` service, from the process environment."""
    return build(Settings.from_env())


@cache
def notifier_from_environment() -> Notifier:
    """The instance's one `notify` service, from the process environment."""
    return build_notifier(Settings.from_env())
