"""Build the real dependencies once per instance, on first use, never at import time.

`register` and `notify` share this module (and functions/main.py), but `register` never sends mail: the mail side
(icalendar, the composer, SMTP, the notifier) is imported only when `notify`'s service is built, so that it does not
slow `register`'s cold start.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any, TypeVar

from signup import logs
from signup.errors import MisconfiguredError
from signup.http.deliverability import Deliverability
from signup.http.formtokens import FormTokens
from signup.http.ratelimit import Limit, RateLimiter
from signup.http.turnstile import Turnstile
from signup.http.web import Service
from signup.keys import FORMS, MAIL_CAPS, RATE_LIMITS, REGISTRATION_IDS
from signup.settings import OrganiserSettings, Settings
from signup.store.ids import RegistrationIds
from signup.store.registrations import Registrar
from signup.store.sessions import SessionStore
from signup.store.unsubscribes import Unsubscribes
from signup.tokens import CancelTokens, CheckInTokens, ConfirmTokens, RegistrationRef, UnsubscribeTokens

if TYPE_CHECKING:
    from signup.mail.compose.mails import Composer
    from signup.mail.notifier import Notifier
    from signup.mail.signins import SignInMailer
    from signup.mail.transport.smtp import SmtpTransport
    from signup.organise.web import Service as OrganiseService

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def firestore_client(settings: Settings) -> Any:
    return firestore_client_for(settings.project)


def firestore_client_for(project: str) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=project)


def build(settings: Settings, client: Any = None) -> Service:
    """Wire the Firestore client and the stores for `register`."""
    client = client or firestore_client(settings)
    return Service(
        settings=settings,
        sessions=SessionStore(client, ttl=settings.session_cache_seconds),
        registrar=Registrar(
            client, settings.keys.subkeys(REGISTRATION_IDS), seats_left_ttl=settings.session_cache_seconds
        ),
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
        unsubscribe_links=UnsubscribeTokens(settings.keys),
        unsubscribes=Unsubscribes(client, utc_now),
        forms=FormTokens(settings.keys.subkeys(FORMS)),
        turnstile=Turnstile(settings.turnstile_secret_key, settings.turnstile_verify_url),
        clock=utc_now,
        deliverability=Deliverability() if settings.check_deliverability else None,
    )


def build_notifier(
    settings: Settings,
    client: Any = None,
    lease: timedelta | None = None,
    transport: SmtpTransport | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Notifier:
    """Wire `notify`: Firestore, the outbox, templates and the SMTP transport (SMTP_URL's, unless one is given)."""
    from signup.mail.changes import Announcer
    from signup.mail.compose.mails import parse_sender
    from signup.mail.notifier import Notifier
    from signup.mail.transport.mailcap import MailCap
    from signup.mail.transport.smtp import SmtpServer, SmtpTransport
    from signup.mail.transport.smtppool import ConnectionPool, Pacer
    from signup.store.outbox import Outbox

    mail_from, smtp_url = settings.require_mail()
    client = client or firestore_client(settings)
    sender = parse_sender(mail_from)
    return Notifier(
        client=client,
        # Mails are composed from the session as it is now, not as an instance cached it: a mail composed seconds
        # after an organiser's change (on another instance than the one that announced it) would otherwise give
        # the old time, or a calendar CANCEL below the invitation it is to cancel. One read per mail event.
        sessions=SessionStore(client, ttl=0),
        registrar=Registrar(client, settings.keys.subkeys(REGISTRATION_IDS)),
        # A claim holds for five minutes (longer with slow mail servers); what it does not cover is not sent.
        mailbox=Outbox(
            client,
            lease=lease or _lease(settings),
            message_domain=sender.domain,
        ),
        composer=build_composer(settings),
        transport=ConnectionPool(
            transport or SmtpTransport(SmtpServer.from_url(smtp_url, settings.smtp_password), settings.smtp_timeout),
            settings.smtp_max_connections,
            Pacer(settings.smtp_max_per_second),
        ),
        cap=MailCap(client, settings.keys.subkey(MAIL_CAPS), settings.mail_cap_per_day),
        clock=clock,
        sweep_limit=settings.sweep_limit,
        announcer=Announcer(client, clock, cache_seconds=settings.session_cache_seconds),
    )


def _lease(settings: Settings) -> timedelta:
    """How long a claimed mail is its sender's: five minutes, longer with slow mail servers."""
    return timedelta(seconds=max(300.0, 10 * settings.smtp_timeout))


def build_composer(settings: Settings) -> Composer:
    """The mails as `notify` writes them (MAIL_FROM, cancel links signed with SIGNING_KEY)."""
    from email.headerregistry import Address

    from signup.mail.compose.mails import Composer, parse_sender

    if not settings.mail_from:
        raise MisconfiguredError("Missing required setting MAIL_FROM")
    replies = settings.calendar_reply_address
    tokens = CancelTokens(settings.keys)
    confirms = ConfirmTokens(settings.keys)
    unsubscribes = UnsubscribeTokens(settings.keys)
    check_ins = CheckInTokens(settings.keys)
    organise_url = settings.organise_url
    return Composer(
        parse_sender(settings.mail_from),
        lambda ref: cancel_url(settings, tokens, ref),
        session_url=lambda session_id: f"{settings.public_base_url}/sessions/{session_id}",
        smtputf8=settings.smtp_utf8,
        confirm_url=lambda ref: f"{settings.public_base_url}/confirm/{confirms.make(ref)}",
        unsubscribe_url=lambda ref: f"{settings.public_base_url}/unsubscribe/{unsubscribes.make(ref)}",
        calendar_replies=Address(addr_spec=replies) if replies else None,
        # Without the organisers' page, nobody could scan the code: then there is none.
        check_in_url=(lambda ref: f"{organise_url}/check-in/{check_ins.make(ref)}") if organise_url else None,
    )


def cancel_url(settings: Settings, tokens: CancelTokens, ref: RegistrationRef) -> str:
    return f"{settings.public_base_url}/cancel/{tokens.make(ref)}"


# The organisers' page counts sign-in requests and link posts per visitor, and sign-in requests per address, in
# windows of this many seconds; a flood of requests for links to one inbox is stopped by the second.
SIGN_IN_WINDOW = 900
SIGN_IN_PER_VISITOR = 20
SIGN_IN_PER_ADDRESS = 5


def build_organise(settings: Settings, client: Any = None, clock: Callable[[], datetime] = utc_now) -> OrganiseService:
    """Wire `organise`: Firestore, the stores it shares with `register` and `signup`, its credentials and limits.
    It sends no mail (a sign-in's link is queued for `notify`); with MAIL_FROM it previews a message as sent."""
    from signup.organise.credentials import Credentials
    from signup.organise.web import Service as OrganiseService
    from signup.organise.web import check_url
    from signup.store.signins import SignIns

    check_url(settings)
    client = client or firestore_client(settings)
    key = settings.keys.subkey(RATE_LIMITS)
    return OrganiseService(
        settings=settings,
        client=client,
        sessions=SessionStore(client, ttl=0),  # an organiser sees the session as it is now
        registrar=Registrar(client, settings.keys.subkeys(REGISTRATION_IDS)),
        signins=SignIns(client),
        credentials=Credentials(settings.keys),
        visitors=RateLimiter(client, key, (Limit("organise-visitor", SIGN_IN_PER_VISITOR, SIGN_IN_WINDOW, False),)),
        addresses=RateLimiter(client, key, (Limit("organise-address", SIGN_IN_PER_ADDRESS, SIGN_IN_WINDOW, False),)),
        clock=clock,
        composer=build_composer(settings) if settings.mail_from else None,
    )


def build_sign_in_mailer(
    settings: Settings,
    client: Any = None,
    transport: SmtpTransport | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> SignInMailer:
    """Wire the sender of the organisers' sign-in links: `notify`'s outbox and SMTP transport, ORGANISE_URL's links."""
    from signup.mail.compose.mails import parse_sender
    from signup.mail.signins import SignInMailer
    from signup.mail.transport.smtp import SmtpServer, SmtpTransport
    from signup.mail.transport.smtppool import ConnectionPool, Pacer
    from signup.organise.credentials import Credentials
    from signup.store.outbox import Outbox

    mail_from, smtp_url = settings.require_mail()
    client = client or firestore_client(settings)
    sender = parse_sender(mail_from)
    credentials = Credentials(settings.keys)
    organise_url = settings.require_organise_url()
    return SignInMailer(
        client=client,
        outbox=Outbox(
            client, lease=timedelta(seconds=max(300.0, 10 * settings.smtp_timeout)), message_domain=sender.domain
        ),
        transport=ConnectionPool(
            transport or SmtpTransport(SmtpServer.from_url(smtp_url, settings.smtp_password), settings.smtp_timeout),
            1,
            Pacer(settings.smtp_max_per_second),
        ),
        sender=sender,
        link=lambda sign_in_id: f"{organise_url}/sign-in/{credentials.sign_in_link(sign_in_id)}",
        clock=clock,
        smtputf8=settings.smtp_utf8,
    )


def once_per_instance(build: Callable[[], T]) -> Callable[[], T]:
    """`build`, made by the first call and kept; calls meanwhile wait for it, and a build that fails is tried again.

    Once built, what the instance has loaded and built lives as long as it does, and is frozen out of the garbage
    collector's sight: otherwise every full collection under load goes through the whole of it (the client library,
    the templates), tens of milliseconds in which no request moves, the slowest sign-ups' wait. A second service
    built by a request arriving meanwhile would be frozen too, for good: hence the lock.
    """
    built: list[T] = []
    building = threading.Lock()

    @wraps(build)
    def get() -> T:
        if not built:
            with building:
                if not built:
                    built.append(build())
                    gc.freeze()
        return built[0]

    return get


@once_per_instance
def from_environment() -> Service:
    """The instance's one `register` service, from the process environment."""
    return build(_instance_settings())


@once_per_instance
def notifier_from_environment() -> Notifier:
    """The instance's one `notify` service, from the process environment."""
    return build_notifier(_instance_settings())


@once_per_instance
def sign_in_mailer_from_environment() -> SignInMailer:
    """The instance's one sender of sign-in links (`notify`), from the process environment."""
    return build_sign_in_mailer(_instance_settings())


@once_per_instance
def organise_from_environment() -> OrganiseService:
    """The instance's one `organise` service, from the process environment."""
    return build_organise(_instance_settings())


def _instance_settings() -> Settings:
    """The settings from the process environment, with the instance's logging set up by them."""
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    return settings


@dataclass(frozen=True)
class Toolbox:
    """What the organisers' command works with: the functions' own stores on one client."""

    client: Any
    settings: OrganiserSettings

    @cached_property
    def sessions(self) -> SessionStore:
        return SessionStore(self.client, ttl=0)  # an organiser sees the session as it is now

    @cached_property
    def registrar(self) -> Registrar:
        """Cancelling and promoting need no key; finding a person's registration by address does (see `ids`)."""
        keys = self.settings.keys
        return Registrar(self.client, keys.subkeys(REGISTRATION_IDS) if keys else ())

    @cached_property
    def ids(self) -> RegistrationIds:
        """Where a person's registrations are, under every live key."""
        return RegistrationIds(self.client, self.settings.require_keys().subkeys(REGISTRATION_IDS))

    def notifier(self) -> Notifier:
        return build_notifier(self.settings.functions, client=self.client)

    def composer(self) -> Composer:
        return build_composer(self.settings.functions)


def toolbox(settings: OrganiserSettings) -> Toolbox:
    """The organisers' toolbox: the emulator when FIRESTORE_EMULATOR_HOST is set, else application-default
    credentials."""
    return Toolbox(firestore_client_for(settings.project), settings)
