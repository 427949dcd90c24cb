"""The HTTP face of `organise`: routes, who is signed in, cross-site refusals, and errors mapped to answers here.

Every page is rendered on the server and works without JavaScript. A change is always a POST from one of our own
pages (`Sec-Fetch-Site`/`Origin`) carrying the signed-in organiser's form token; each is recorded in the session's
audit trail. No personal data goes into a URL (a search is posted) or into the log (sign-ins are named by id).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import email_validator
import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule

from signup.errors import (
    CrossSiteRequestError,
    MalformedBodyError,
    MethodNotAllowedError,
    MisconfiguredError,
    NotFoundError,
    PageNotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    SignupError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from signup.http import bodies
from signup.http.ratelimit import RateLimiter
from signup.http.web import visitor_address
from signup.keys import SIGN_IN_ADDRESSES
from signup.ledger import fields
from signup.ledger.session import Session, mailbox, normalise_origin
from signup.ledger.signin import SignIn
from signup.organise import actions, credentials, listing
from signup.organise.errors import CsrfError, NotConfirmedError, NotSignedInError
from signup.organise.pages import ASSETS, Pages
from signup.organise.texts import LANGUAGES, text
from signup.settings import Settings
from signup.store import overview
from signup.store.deadlines import NOT_NOW
from signup.store.registrations import Registrar
from signup.store.sessions import SessionStore
from signup.store.signins import SignIns
from signup.tokens import CheckInTokens

log = logging.getLogger(__name__)

# A request for a sign-in link is answered at a whole multiple of this from its start (at the earliest after one):
# the answer takes as long whether or not a link is made and stored, so that its time does not tell which addresses
# may organise.
SIGN_IN_ANSWER_SECONDS = 0.3
LANGUAGE_COOKIE = "signup-organise-language"
# Where a sign-in may go on to (`?next=`): a scanned check-in code's page, or a session's page opened before.
NEXT = "next"
_NEXT_PATH = re.compile(
    r"/check-in/[A-Za-z0-9_.-]{1,512}"
    r"|/sessions/[A-Za-z0-9][A-Za-z0-9_-]{0,127}(/(attendance|audit|edit|call-off|message|registrations/[a-z0-9-]{1,64}))?"
)
# What a registration's id can be: a keyed hash in base32 (store/ids.py), or an erased one's `erased-` and hex.
_REGISTRATION_ID = re.compile(r"[a-z0-9-]{1,64}")

ROUTES = Map(
    [
        Rule("/healthz", endpoint="health", methods=["GET"]),
        *(Rule(f"/{name}", endpoint="asset", defaults={"name": name}, methods=["GET"]) for name in ASSETS),
        Rule("/", endpoint="home", methods=["GET"]),
        Rule("/sign-in", endpoint="request_link", methods=["POST"]),
        Rule("/sign-in/<token>", endpoint="link", methods=["GET", "POST"]),
        Rule("/sign-out", endpoint="sign_out", methods=["POST"]),
        Rule("/check-in/<token>", endpoint="check_in", methods=["GET"]),
        Rule("/sessions/<session>", endpoint="session", methods=["GET", "POST"]),
        Rule("/sessions/<session>/export.csv", endpoint="export", methods=["GET"]),
        Rule("/sessions/<session>/attendance", endpoint="attendance", methods=["GET"]),
        Rule("/sessions/<session>/audit", endpoint="trail", methods=["GET"]),
        Rule("/sessions/<session>/edit", endpoint="edit", methods=["GET", "POST"]),
        Rule("/sessions/<session>/call-off", endpoint="call_off", methods=["GET", "POST"]),
        Rule("/sessions/<session>/message", endpoint="message", methods=["GET", "POST"]),
        Rule("/sessions/<session>/registrations/<registration>", endpoint="registration", methods=["GET"]),
        Rule(
            "/sessions/<session>/registrations/<registration>/<any(" + ",".join(map(repr, actions.ACTS)) + "):act>",
            endpoint="act",
            methods=["POST"],
        ),
    ],
    strict_slashes=False,
    merge_slashes=False,
)
_ADAPTER = ROUTES.bind("")

# Each domain error, its HTTP status, and the page text for it.
_ANSWERS: dict[type[SignupError], tuple[int, str]] = {
    NotFoundError: (404, "error.not_found"),
    PageNotFoundError: (404, "error.no_page"),
    MethodNotAllowedError: (405, "error.method"),
    NotSignedInError: (401, "error.not_signed_in"),
    CrossSiteRequestError: (403, "error.cross_site"),
    CsrfError: (403, "error.csrf"),
    NotConfirmedError: (409, "error.not_confirmed"),
    PayloadTooLargeError: (413, "error.too_large"),
    UnsupportedMediaTypeError: (415, "error.malformed"),
    MalformedBodyError: (400, "error.malformed"),
    RateLimitedError: (429, "error.rate_limited"),
    UnavailableError: (503, "error.unavailable"),
    MisconfiguredError: (503, "error.misconfigured"),
}


@dataclass
class Service:
    """Everything `organise` needs, built once per instance (service.py)."""

    settings: Settings
    client: Any
    sessions: SessionStore
    registrar: Registrar
    signins: SignIns
    credentials: credentials.Credentials
    visitors: RateLimiter  # sign-in requests and links per visitor
    addresses: RateLimiter  # sign-in requests per address
    clock: Callable[[], datetime]
    composer: Any = None  # the mails as notify writes them, for a message's preview (None without MAIL_FROM)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    @property
    def url(self) -> str:
        return self.settings.require_organise_url()

    @property
    def secure(self) -> bool:
        """Whether the page is served over https: everywhere but on this machine in development."""
        return urlsplit(self.url).scheme == "https"

    @property
    def cookie_name(self) -> str:
        return credentials.SECURE_COOKIE if self.secure else credentials.COOKIE

    def may_organise(self, address: str, session: Session) -> bool:
        return mailbox(address) in self.settings.organisers or session.organised_by(address)


def check_url(settings: Settings) -> None:
    """ORGANISE_URL must be https, but on this machine (development and tests)."""
    parts = urlsplit(settings.require_organise_url())
    if parts.scheme != "https" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise MisconfiguredError("ORGANISE_URL must be an https address (http only on localhost)")


@dataclass
class Exchange:
    """One request on its way through."""

    request: flask.Request
    service: Service = field(init=False)
    fields: bodies.Fields = field(default_factory=dict)
    sign_in: SignIn | None = None
    chosen_language: str | None = None

    @property
    def language(self) -> str:
        asked = self.chosen_language or self.request.cookies.get(LANGUAGE_COOKIE)
        if asked in LANGUAGES:
            return str(asked)
        return self.request.accept_languages.best_match(LANGUAGES, default=LANGUAGES[0]) or LANGUAGES[0]

    @property
    def organiser(self) -> str:
        assert self.sign_in is not None
        return self.sign_in.email

    def first(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0] if isinstance(values[0], str) else ""

    def render(self, name: str, status: int = 200, **context: Any) -> flask.Response:
        service = self.service
        html = pages().render(
            name,
            language=self.language,
            base=service.url,
            organiser=self.sign_in.email if self.sign_in else None,
            csrf=service.credentials.csrf(self.sign_in.id) if self.sign_in else "",
            csrf_field=credentials.CSRF_FIELD,
            **context,
        )
        return flask.Response(html, status=status, mimetype="text/html")

    def redirect(self, path: str) -> flask.Response:
        response = flask.Response(status=303)
        response.headers["Location"] = f"{self.service.url}{path}"
        return response


def handle(request: flask.Request, service: Callable[[], Service]) -> flask.Response:
    """Answer one request; every domain error becomes its answer here."""
    exchange = Exchange(request)
    try:
        try:
            exchange.service = service()
            response = _route(exchange)
        except NOT_NOW as error:
            log.warning("firestore unavailable: %s", type(error).__name__)
            raise UnavailableError() from error
    except SignupError as error:
        response = _error(exchange, error)
    if exchange.chosen_language:
        secure = exchange.service.secure if hasattr(exchange, "service") else True
        response.set_cookie(
            LANGUAGE_COOKIE,
            exchange.chosen_language,
            max_age=365 * 86400,
            httponly=True,
            secure=secure,
            samesite="Lax",
        )
    _secure_headers(response)
    return response


def _secure_headers(response: flask.Response) -> None:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Our own origin in a same-origin post's Origin header; nothing of our URLs (a link's token) to other sites.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"


def _route(exchange: Exchange) -> flask.Response:
    request, service = exchange.request, exchange.service
    try:
        endpoint, arguments = _ADAPTER.match(request.path, "GET" if request.method == "HEAD" else request.method)
    except MethodNotAllowed as refused:
        raise MethodNotAllowedError(tuple(m for m in refused.valid_methods or () if m != "HEAD")) from None
    except HTTPException:
        raise PageNotFoundError(request.path) from None
    if endpoint == "health":
        return flask.Response("ok\n", mimetype="text/plain")
    if endpoint == "asset":
        return _asset(arguments["name"])
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        exchange.chosen_language = asked
    posted = request.method == "POST"
    if posted:
        refuse_cross_site(request, service.url)
        body = bodies.read_limited(request.stream, request.content_length)
        if body and request.mimetype not in (bodies.FORM, bodies.MULTIPART):
            raise UnsupportedMediaTypeError(request.mimetype or "none")
        exchange.fields = bodies.parse(body, request.mimetype, request.mimetype_params) if body else {}
    exchange.sign_in = _signed_in(exchange)
    if endpoint == "home":
        if exchange.sign_in:
            return listing.sessions_page(exchange)
        return exchange.render(
            "organise/sign_in.html",
            next_path=_next_path(request.args.get(NEXT)),
            signed_out=request.args.get("signed_out") == "1",
        )
    if endpoint == "request_link":
        return _request_link(exchange)
    if endpoint == "link":
        return _link(exchange, arguments["token"], use=posted)
    if exchange.sign_in is None:
        if not posted:
            # A check-in code scanned, or a page bookmarked, before signing in: the sign-in goes on to it (a path of
            # ours, nothing personal in it).
            return exchange.redirect(f"/?{NEXT}={request.path}" if _next_path(request.path) else "/")
        raise NotSignedInError()
    if posted and not service.credentials.csrf_holds(exchange.sign_in.id, exchange.first(credentials.CSRF_FIELD)):
        raise CsrfError()
    if endpoint == "sign_out":
        return _sign_out(exchange)
    if endpoint == "check_in":
        return _check_in_code(exchange, arguments["token"])
    session = _session(exchange, arguments["session"])
    if not _REGISTRATION_ID.fullmatch(arguments.get("registration", "-")):
        raise NotFoundError("registration")  # no id of ours: Firestore need not be asked (nor refuse it)
    if endpoint == "session":
        return listing.session_page(exchange, session)
    if endpoint == "export":
        if (request.headers.get("Sec-Fetch-Site") or "").strip().lower() in ("cross-site", "same-site"):
            # Another site's link, followed with the cookie (SameSite=Lax): the session's page, where the organiser
            # downloads it if they mean to; no file and no entry in the trail on another site's behalf.
            return exchange.redirect(f"/sessions/{session.id}")
        return listing.export(exchange, session, recorded=request.method == "GET")
    if endpoint == "attendance":
        return listing.attendance(exchange, session)
    if endpoint == "trail":
        return listing.audit_page(exchange, session)
    if endpoint == "registration":
        return listing.registration_page(exchange, session, arguments["registration"])
    if endpoint == "act":
        return actions.act(exchange, session, arguments["registration"], arguments["act"])
    if endpoint == "edit":
        return actions.edit(exchange, session)
    if endpoint == "call_off":
        return actions.call_off(exchange, session)
    return actions.message(exchange, session)


def refuse_cross_site(request: flask.Request, own_url: str) -> None:
    """Only our own pages may post here. Browsers say where a post comes from: `Sec-Fetch-Site` (anything but
    same-origin, or none for a URL typed or a bookmark, is refused) and `Origin` (another origin is refused; `null`
    only with `Sec-Fetch-Site: same-origin`, which no other site can send). A client that sends neither is no
    browser another site could steer; the cookie and the form token are what grant a change."""
    site = (request.headers.get("Sec-Fetch-Site") or "").strip().lower()
    if site and site not in ("same-origin", "none"):
        raise CrossSiteRequestError(site)
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if origin.strip() == "null":
        if site != "same-origin":
            raise CrossSiteRequestError(origin)
        return
    parts = urlsplit(own_url)
    if normalise_origin(origin) != f"{parts.scheme}://{parts.netloc.lower()}":
        raise CrossSiteRequestError(origin)


def _signed_in(exchange: Exchange) -> SignIn | None:
    """The organiser's sign-in, if the request carries a cookie of ours for one that still holds."""
    service = exchange.service
    value = exchange.request.cookies.get(service.cookie_name)
    sign_in_id = service.credentials.cookie_sign_in(value) if value else None
    if sign_in_id is None:
        return None
    found = service.signins.get(sign_in_id)
    return found if found is not None and found.signed_in(service.clock()) else None


def _session(exchange: Exchange, session_id: str) -> Session:
    """The session, if this organiser may organise it; one they may not is as not found (it tells them nothing)."""
    session = exchange.service.sessions.get(session_id)
    if session.check_session or not exchange.service.may_organise(exchange.organiser, session):
        raise NotFoundError(session_id)
    return session


def _check_in_code(exchange: Exchange, token: str) -> flask.Response:
    """The QR code of a confirmation, scanned at the door: that person's check-in, for who may organise the session.
    The code names a registration and its generation, nothing personal; one for an earlier sign-up is not found."""
    ref = CheckInTokens(exchange.service.credentials.keys).read(token)
    session = _session(exchange, ref.session_id)
    found = exchange.service.registrar.find(session, ref.registration_id)
    if found is None or found.generation != ref.generation:
        raise NotFoundError(ref.registration_id)
    return listing.registration_page(exchange, session, ref.registration_id, found)


def _request_link(exchange: Exchange) -> flask.Response:
    """Mail a sign-in link to an address that may organise; answer everyone the same, in the same time."""
    service, request = exchange.service, exchange.request
    started = service.monotonic()
    service.visitors.hit(visitor_address(request, service.settings.trusted_proxy_hops), "*")
    typed = exchange.first(fields.EMAIL).strip()
    try:
        address = email_validator.validate_email(typed, check_deliverability=False).normalized
    except email_validator.EmailNotValidError:
        error = text(exchange.language, "sign_in.invalid")
        next_path = _next_path(exchange.first(NEXT))
        return exchange.render("organise/sign_in.html", status=422, error=error, typed=typed, next_path=next_path)
    service.addresses.hit(_address_key(service, address), "*")
    if _may_sign_in(service, address):
        sign_in_id = service.signins.request(
            address, exchange.language, service.clock(), _next_path(exchange.first(NEXT))
        )
        log.info("sign-in link asked for sign_in=%s", sign_in_id)
    else:
        service.signins.request_refused(address, exchange.language, service.clock(), _next_path(exchange.first(NEXT)))
        log.info("sign-in link asked for an address that may organise nothing: none sent")
    taken = service.monotonic() - started
    service.sleep(SIGN_IN_ANSWER_SECONDS - taken % SIGN_IN_ANSWER_SECONDS)
    return exchange.render("organise/sign_in_sent.html")


def _next_path(asked: str | None) -> str | None:
    """Where to go on to after signing in: a check-in code's page or a session's page of ours, or nowhere (never
    another site)."""
    return asked if asked and _NEXT_PATH.fullmatch(asked) else None


def _may_sign_in(service: Service, address: str) -> bool:
    """Whether the address may organise anything; the sessions are read for every address alike."""
    organises = [session for session in overview.sessions_by_date(service.client) if session.organised_by(address)]
    return mailbox(address) in service.settings.organisers or bool(organises)


def _address_key(service: Service, address: str) -> str:
    """Who counts as one address for the rate limit: as may organise it (a lookalike uses up none of the
    organiser's requests), and never the address itself."""
    key = service.credentials.keys.subkey(SIGN_IN_ADDRESSES)
    return hmac.new(key, mailbox(address).encode(), hashlib.sha256).hexdigest()


def _link(exchange: Exchange, token: str, *, use: bool) -> flask.Response:
    """GET shows a button and changes nothing (mail scanners open links); POST signs in, once."""
    service = exchange.service
    sign_in_id = service.credentials.sign_in_id(token)
    now = service.clock()
    if not use:
        found = service.signins.get(sign_in_id) if sign_in_id else None
        if found is None or not found.link_usable(now):
            return exchange.render("organise/link.html", status=410, usable=False)
        return exchange.render("organise/link.html", usable=True, action=f"{service.url}/sign-in/{token}")
    service.visitors.hit(visitor_address(exchange.request, service.settings.trusted_proxy_hops), "*")
    signed = service.signins.use(sign_in_id, now) if sign_in_id else None
    if signed is None:
        return exchange.render("organise/link.html", status=410, usable=False)
    log.info("signed in sign_in=%s", signed.id)
    response = exchange.redirect(_next_path(signed.next_path) or "/")
    response.set_cookie(
        service.cookie_name,
        service.credentials.cookie(signed.id),
        max_age=int((signed.expires_at - now).total_seconds()),
        path="/",
        secure=service.secure,
        httponly=True,
        samesite="Lax",
    )
    return response


def _sign_out(exchange: Exchange) -> flask.Response:
    service = exchange.service
    assert exchange.sign_in is not None
    service.signins.end(exchange.sign_in.id, service.clock())
    log.info("signed out sign_in=%s", exchange.sign_in.id)
    exchange.sign_in = None
    response = exchange.redirect("/?signed_out=1")
    response.delete_cookie(service.cookie_name, path="/", secure=service.secure, httponly=True, samesite="Lax")
    return response


def _error(exchange: Exchange, error: SignupError) -> flask.Response:
    status, message_key = _ANSWERS.get(type(error), (500, "error.unavailable"))
    if isinstance(error, MisconfiguredError):
        log.error("misconfigured: %s", error)
    language = exchange.language
    params = {"minutes": max(1, -(-error.retry_after // 60))} if isinstance(error, RateLimitedError) else {}
    html = pages().render(
        "organise/error.html",
        language=language,
        base=exchange.service.settings.organise_url or "" if hasattr(exchange, "service") else "",
        organiser=None,
        csrf="",
        csrf_field=credentials.CSRF_FIELD,
        title=text(language, "error.title"),
        message=text(language, message_key, **params),
    )
    response = flask.Response(html, status=status, mimetype="text/html")
    if isinstance(error, MethodNotAllowedError):
        response.headers["Allow"] = ", ".join(error.allowed)
    if isinstance(error, RateLimitedError):
        response.headers["Retry-After"] = str(error.retry_after)
    elif status == 503:
        response.headers["Retry-After"] = "30"
    return response


def _asset(name: str) -> flask.Response:
    response = flask.Response(_asset_text(name), mimetype=ASSETS[name][1])
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@cache
def _asset_text(name: str) -> str:
    return ASSETS[name][0].read_text(encoding="utf-8")


@cache
def pages() -> Pages:
    return Pages()
