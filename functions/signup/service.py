"""Build the real dependencies once per instance, on first use, never at import time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from signup.deliverability import Deliverability
from signup.errors import MisconfiguredError
from signup.formtokens import FormTokens
from signup.keys import FORMS, MAIL_CAPS, RATE_LIMITS, REGISTRATION_IDS
from signup.mailcap import MailCap
from signup.mails import Composer, parse_sender
from signup.notifier import Notifier
from signup.outbox import Outbox
from signup.ratelimit import Limit, RateLimiter
from signup.registrations import Registrar
from signup.sessions import SessionStore
from signup.settings import Settings
from signup.smtp import SmtpServer, SmtpTransport
from signup.tokens import CancelTokens, ConfirmTokens, RegistrationRef
from signup.turnstile import Turnstile
from signup.web import Service


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
        registrar=Registrar(client, settings.keys.subkeys(REGISTRATION_IDS)),
        limiter=RateLimiter(
            client,
            settings.keys.subkey(RATE_LIMITS),
            (
                Limit("session", settings.rate_limit_per_session, settings.rate_limit_window, per_session=True),
                Limit("overall", settings.rate_limit_overall, settings.rate_limit_window, per_session=False),
            ),
        ),
        tokens=CancelTokens(settings.keys),
        confirms=ConfirmTokens(settings.keys),
        forms=FormTokens(settings.keys.subkey(FORMS)),
        turnstile=Turnstile(settings.turnstile_secret_key, settings.turnstile_verify_url),
        clock=utc_now,
        deliverability=Deliverability() if settings.check_deliverability else None,
    )


def build_notifier(
    settings: Settings, client: Any = None, lease: timedelta | None = None, transport: SmtpTransport | None = None
) -> Notifier:
    """Wire `notify`: Firestore, the outbox, templates and the SMTP transport (SMTP_URL's, unless one is given)."""
    mail_from, smtp_url = settings.require_mail()
    client = client or firestore_client(settings)
    sender = parse_sender(mail_from)
    return Notifier(
        client=client,
        sessions=SessionStore(client, ttl=settings.session_cache_seconds),
        registrar=Registrar(client, settings.keys.subkeys(REGISTRATION_IDS)),
        # A claim holds for five minutes (longer with slow mail servers); what it does not cover is not sent.
        mailbox=Outbox(
            client,
            lease=lease or timedelta(seconds=max(300.0, 10 * settings.smtp_timeout)),
            message_domain=sender.domain,
        ),
        composer=build_composer(settings),
        transport=transport
        or SmtpTransport(SmtpServer.from_url(smtp_url, settings.smtp_password), settings.smtp_timeout),
        cap=MailCap(client, settings.keys.subkey(MAIL_CAPS), settings.mail_cap_per_day),
        clock=utc_now,
        sweep_limit=settings.sweep_limit,
    )


def build_composer(settings: Settings) -> Composer:
    """The mails as `notify` writes them (MAIL_FROM, cancel links signed with SIGNING_KEY)."""
    if not settings.mail_from:
        raise MisconfiguredError("Missing required setting MAIL_FROM")
    tokens = CancelTokens(settings.keys)
    confirms = ConfirmTokens(settings.keys)
    return Composer(
        parse_sender(settings.mail_from),
        lambda ref: cancel_url(settings, tokens, ref),
        smtputf8=settings.smtp_utf8,
        confirm_url=lambda ref: f"{settings.public_base_url}/confirm/{confirms.make(ref)}",
    )


def cancel_url(settings: Settings, tokens: CancelTokens, ref: RegistrationRef) -> str:
    return f"{settings.public_base_url}/cancel/{tokens.make(ref)}"


@cache
def from_environment() -> Service:
    """The instance's one `register` service, from the process environment."""
    return build(Settings.from_env())


@cache
def notifier_from_environment() -> Notifier:
    """The instance's one `notify` service, from the process environment."""
    return build_notifier(Settings.from_env())
