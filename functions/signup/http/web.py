"""The HTTP face of `register`: routes, content negotiation, CORS, and errors mapped to answers in one place."""

from __future__ import annotations

import json
import logging
import math
import secrets
from base64 import b32encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property, lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import BaseConverter, Map, Rule

from signup.errors import (
    CrossSiteConfirmError,
    CrossSiteRequestError,
    CrossSiteUnsubscribeError,
    FormReplayedError,
    MalformedBodyError,
    MethodNotAllowedError,
    MisconfiguredError,
    NotFoundError,
    OriginNotAllowedError,
    PageNotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RegistrationClosedError,
    SessionCancelledError,
    SignupError,
    SupersededError,
    TurnstileUnavailableError,
    UnavailableError,
    UnsubscribeSupersededError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from signup.http import bodies, formtokens, turnstile, validation
from signup.http.pages import TEMPLATES, Pages
from signup.http.ratelimit import RateLimiter
from signup.ledger import fields
from signup.ledger.session import Session, normalise_origin
from signup.ledger.status import CHECK_EMAIL, Status
from signup.settings import Settings
from signup.store.deadlines import NOT_NOW
from signup.store.registrations import Registrar
from signup.store.sessions import SessionStore
from signup.store.unsubscribes import Unsubscribes
from signup.texts import DEFAULT_LANGUAGE, text
from signup.tokens import CancelTokens, ConfirmTokens, UnsubscribeTokens

if TYPE_CHECKING:
    from signup.http.deliverability import Deliverability

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30


class _Token(BaseConverter):
    """A signed link's token (tokens.py): what itsdangerous writes, never longer than a link can sensibly be."""

    regex = r"[A-Za-z0-9_.-]{1,512}"


# What `register` serves: each path, the methods it answers, and the endpoint that answers (a trailing slash is
# the same path). Anything else is 404, a method not listed 405 with the ones that are.
ROUTES = Map(
    [
        Rule("/healthz", endpoint="health", methods=["GET"]),
        Rule("/embed.js", endpoint="embed.js", methods=["GET"]),
        Rule("/signup.css", endpoint="signup.css", methods=["GET"]),
        Rule("/cancel/<token:token>", endpoint="cancel", methods=["GET", "POST"]),
        Rule("/confirm/<token:token>", endpoint="confirm", methods=["GET", "POST"]),
        Rule("/unsubscribe/<token:token>", endpoint="unsubscribe", methods=["GET", "POST"]),
        Rule("/inbound/<token:token>", endpoint="inbound", methods=["POST"]),
        Rule("/sessions/<session_id>", endpoint="session", methods=["GET"]),
        Rule("/sessions/<session_id>/form", endpoint="form", methods=["GET"]),
        Rule("/sessions/<session_id>/thanks", endpoint="thanks", methods=["GET"]),
        Rule("/sessions/<session_id>/registrations", endpoint="registrations", methods=["POST", "OPTIONS"]),
    ],
    converters={"token": _Token},
    strict_slashes=False,
    merge_slashes=False,
)
# The adapter only reads the map: one for every request of the instance. A burst posts to one path over and over,
# and werkzeug's matcher takes twenty times a regular expression's time: its answers are kept, for paths no longer
# than ours get, so that what strangers send can take no more than a bounded memory.
_ADAPTER = ROUTES.bind("")
_KEPT_MATCH = lru_cache(maxsize=1024)(_ADAPTER.match)
_KEPT_PATH_LENGTH = 512


def _match(path: str, method: str) -> tuple[Any, Mapping[str, Any]]:
    return (_KEPT_MATCH if len(path) <= _KEPT_PATH_LENGTH else _ADAPTER.match)(path, method)


_ASSETS = {"embed.js": "text/javascript", "signup.css": "text/css"}
# What the confirm page says, and answers with, for the state the registration is in after a GET or a POST.
_CONFIRM_PAGES: dict[str, tuple[int, str]] = {
    Status.CONFIRMED: (200, "confirm.confirmed"),
    Status.WAITLISTED: (200, "confirm.waitlisted"),
    Status.EXPIRED: (410, "confirm.lapsed"),
}
_SAFE_REQUEST_HEADERS = frozenset({"content-type", "accept", "accept-language"})

# Each domain error, its HTTP status, and the page text people read for it.
_ANSWERS: dict[type[SignupError], tuple[int, str, str]] = {
    NotFoundError: (404, "page.not_found_title", "page.not_found"),
    PageNotFoundError: (404, "page.no_page_title", "page.no_page"),
    MethodNotAllowedError: (405, "page.error_title", "page.method"),
    OriginNotAllowedError: (403, "page.error_title", "page.origin"),
    CrossSiteRequestError: (403, "cancel.title", "cancel.cross_site"),
    CrossSiteConfirmError: (403, "confirm.title", "confirm.cross_site"),
    CrossSiteUnsubscribeError: (403, "unsubscribe.title", "unsubscribe.cross_site"),
    SupersededError: (410, "cancel.title", "cancel.superseded"),
    UnsubscribeSupersededError: (410, "unsubscribe.title", "unsubscribe.superseded"),
    PayloadTooLargeError: (413, "page.error_title", "page.too_large"),
    UnsupportedMediaTypeError: (415, "page.error_title", "page.media_type"),
    MalformedBodyError: (400, "page.error_title", "page.malformed"),
    RegistrationClosedError: (409, "page.closed_title", "page.closed"),
    SessionCancelledError: (409, "page.cancelled_title", "page.cancelled"),
    ValidationError: (422, "page.error_title", "form.has_errors"),
    UnavailableError: (503, "page.error_title", "page.unavailable"),
    RateLimitedError: (429, "page.error_title", "page.rate_limited"),
    TurnstileUnavailableError: (503, "page.error_title", "page.turnstile_unavailable"),
    MisconfiguredError: (503, "page.error_title", "page.misconfigured"),
}


@dataclass
class Service:
    """Everything `register` needs, built once per instance and passed in."""

    settings: Settings
    sessions: SessionStore
    registrar: Registrar
    limiter: RateLimiter
    forms: formtokens.FormTokens
    turnstile: turnstile.Turnstile
    tokens: CancelTokens
    confirms: ConfirmTokens
    unsubscribe_links: UnsubscribeTokens
    unsubscribes: Unsubscribes
    clock: Callable[[], datetime]
    deliverability: Deliverability | None = None  # the DNS check of addresses; None: none


@dataclass
class _Exchange:
    """One request on its way through: what we have learned so far shapes the error answer."""

    request: flask.Request
    service: Service = field(init=False)
    session: Session | None = None
    fields: bodies.Fields = field(default_factory=dict)
    # Fetched by other sites' pages (the form fragment, embed.js), not shown as a page of ours.
    embedded: bool = False

    @property
    def language(self) -> str:
        return self.session.language if self.session else DEFAULT_LANGUAGE

    @property
    def origin(self) -> str | None:
        return self.request.headers.get("Origin")

    @cached_property
    def wants_json(self) -> bool:
        if bodies.is_json(self.request.mimetype):
            return True
        accept = self.request.accept_mimetypes
        return accept.quality("application/json") > accept.quality("text/html")


def handle(request: flask.Request, service: Callable[[], Service]) -> flask.Response:
    """Answer one request; every domain error becomes its HTTP answer here."""
    exchange = _Exchange(request)
    try:
        try:
            exchange.service = service()
            response = _route(exchange)
        except NOT_NOW as error:
            log.warning("firestore unavailable: %s", type(error).__name__)
            raise UnavailableError() from error
    except SignupError as error:
        response = _error(exchange, error)
    return _finish(exchange, response)


def unrouted(request: flask.Request) -> flask.Response:
    """Our 404 for a path that functions-framework routes nowhere itself (one with a line break in it), so that it
    carries our headers as every other answer does."""
    exchange = _Exchange(request)
    return _finish(exchange, _error(exchange, PageNotFoundError(request.path)))


def _finish(exchange: _Exchange, response: flask.Response) -> flask.Response:
    """The headers every answer carries."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    own_page = response.mimetype == "text/html" and not exchange.embedded
    # A link's token is in our URLs: no page of ours hands its address to another site. To ourselves it may: then a
    # browser that sends no Sec-Fetch-Site (Safari before 16.4) still names our origin when our own page posts,
    # where under no-referrer it says `null` and could not be told from another site's sandboxed frame.
    response.headers["Referrer-Policy"] = "same-origin" if own_page else "no-referrer"
    if own_page:
        # Our own pages are never shown inside another site's frame, where a click could be stolen.
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    if exchange.session is not None:
        _allow_cors(exchange, response)
    return response


def _route(exchange: _Exchange) -> flask.Response:
    request = exchange.request
    try:
        endpoint, arguments = _match(request.path, "GET" if request.method == "HEAD" else request.method)
    except MethodNotAllowed as refused:
        raise MethodNotAllowedError(tuple(m for m in refused.valid_methods or () if m != "HEAD")) from None
    except HTTPException:  # NotFound, or a path no rule can take
        raise PageNotFoundError(request.path) from None
    if endpoint == "health":
        return flask.Response("ok\n", mimetype="text/plain")
    if endpoint in _ASSETS:
        return _asset(endpoint, _ASSETS[endpoint])
    if endpoint in _LINKS:
        return _LINKS[endpoint](exchange, arguments["token"], confirm=request.method == "POST")
    if endpoint == "inbound":
        return _inbound(exchange, arguments["token"])
    exchange.embedded = endpoint == "form"
    exchange.session = exchange.service.sessions.get(arguments[fields.SESSION_ID])
    if endpoint in ("session", "form"):
        return _session_page(exchange, template="fragment.html" if endpoint == "form" else "session.html")
    if endpoint == "thanks":
        return _thanks_page(exchange)
    if request.method == "OPTIONS":
        return _preflight(exchange)
    return _register(exchange)


def _session_page(
    exchange: _Exchange, *, status: int = 200, errors: dict[str, str] | None = None, template: str = "session.html"
) -> flask.Response:
    service, session = exchange.service, exchange.session
    assert session is not None
    is_open = session.is_open(service.clock())
    html = _pages().render(
        template,
        session=session,
        is_open=is_open,
        seats_left=service.registrar.seats_left(session) if is_open else None,
        action=f"{service.settings.public_base_url}/sessions/{session.id}/registrations",
        errors=errors or {},
        form_token=service.forms.renew(_first_text(exchange.fields, formtokens.FIELD), session.id, service.clock()),
        values={name: _first_text(exchange.fields, name) for name in (*validation.MAX_LENGTH, fields.CONSENT)},
        fields=tuple(validation.MAX_LENGTH),
        turnstile_script=turnstile.SCRIPT_URL,
        stylesheet=f"{service.settings.public_base_url}/signup.css",
        required=validation.REQUIRED,
    )
    return flask.Response(html, status=status, mimetype="text/html")


def _thanks_page(exchange: _Exchange) -> flask.Response:
    asked = exchange.request.args.get(fields.STATUS)
    status = asked if asked in (Status.WAITLISTED, CHECK_EMAIL) else Status.CONFIRMED.value
    html = _pages().render("thanks.html", session=exchange.session, status=status)
    return flask.Response(html, mimetype="text/html")


def _cancel(exchange: _Exchange, token: str, *, confirm: bool) -> flask.Response:
    """GET asks (mail scanners open links, so it changes nothing); POST cancels. Twice is harmless.

    A link works for the one sign-up it was made for (its generation), and only until the session has ended.
    """
    service = exchange.service
    if confirm:
        _refuse_cross_site(exchange)
    ref = service.tokens.read(token)
    exchange.session = session = service.sessions.get(ref.session_id)
    if service.clock() >= session.ends_at:
        return _link_page(exchange, "cancel", None, "cancel.over", status=409)
    registration = service.registrar.find(session, ref.registration_id)
    if registration is None or registration.generation != ref.generation:
        raise SupersededError(ref.registration_id)
    if registration.status == Status.CANCELLED:
        return _link_page(exchange, "cancel", Status.CANCELLED, "cancel.already")
    if not confirm:
        return _link_page(
            exchange, "cancel", None, "cancel.question", action=f"{service.settings.public_base_url}/cancel/{token}"
        )
    service.registrar.cancel(session, ref.registration_id, generation=ref.generation)
    return _link_page(exchange, "cancel", Status.CANCELLED, "cancel.done")


def _confirm(exchange: _Exchange, token: str, *, confirm: bool) -> flask.Response:
    """GET asks (mail scanners open links, so it changes nothing); POST confirms the address, and the registration
    takes a seat or a place on the waiting list as a sign-up at this moment would. Twice is harmless.

    A link works for the one sign-up it was made for (its generation), until its `confirm_by` and while the
    session is open for registration; a lapsed or superseded one says so and offers to sign up again.
    """
    service = exchange.service
    if confirm:
        _refuse_cross_site(exchange, CrossSiteConfirmError)
    ref = service.confirms.read(token)
    exchange.session = session = service.sessions.get(ref.session_id)
    if not session.is_open(service.clock()):
        raise RegistrationClosedError(session.id)
    registration = service.registrar.find(session, ref.registration_id)
    if registration is None or registration.generation != ref.generation or registration.status == Status.CANCELLED:
        return _link_page(exchange, "confirm", None, "confirm.superseded", status=410)
    if registration.status in (Status.CONFIRMED, Status.WAITLISTED):
        return _link_page(exchange, "confirm", registration.status, "confirm.already")
    if registration.lapsed(service.clock()):
        status = Status.EXPIRED
    elif not confirm:
        action = f"{service.settings.public_base_url}/confirm/{token}"
        return _link_page(exchange, "confirm", Status.UNCONFIRMED, "confirm.question", action=action)
    else:
        try:
            status = service.registrar.confirm(session, ref.registration_id, ref.generation)
        except SupersededError:
            return _link_page(exchange, "confirm", None, "confirm.superseded", status=410)
    code, message_key = _CONFIRM_PAGES[status]
    return _link_page(exchange, "confirm", status, message_key, status=code)


def _unsubscribe(exchange: _Exchange, token: str, *, confirm: bool) -> flask.Response:
    """GET asks (mail scanners open links, so it changes nothing); POST stops the organiser's messages to this
    sign-up, whether our page's button posts it or a mail provider does (RFC 8058 one-click: a POST with
    `List-Unsubscribe=One-Click` from its servers, with no Origin and no cookies). Twice is harmless.

    A link works for the one sign-up it was made for (its generation), also after the session."""
    service = exchange.service
    if confirm:
        _refuse_cross_site(exchange, CrossSiteUnsubscribeError)
    ref = service.unsubscribe_links.read(token)
    exchange.session = service.sessions.get(ref.session_id)
    if service.unsubscribes.unsubscribed(ref):
        return _link_page(exchange, "unsubscribe", UNSUBSCRIBED, "unsubscribe.already")
    if not confirm:
        action = f"{service.settings.public_base_url}/unsubscribe/{token}"
        return _link_page(exchange, "unsubscribe", None, "unsubscribe.question", action=action)
    service.unsubscribes.unsubscribe(ref)
    return _link_page(exchange, "unsubscribe", UNSUBSCRIBED, "unsubscribe.done")


def _inbound(exchange: _Exchange, token: str) -> flask.Response:
    """A mail to CALENDAR_REPLY_ADDRESS, posted by the mail provider (http/inbound.py): each calendar's decline in
    it asks its registration's person by mail whether to cancel (http/declines.py); anything else in it is ignored.
    The URL is the secret."""
    from signup.http import declines, inbound

    service, request = exchange.service, exchange.request
    if not inbound.is_ours(token, service.settings.keys):
        raise PageNotFoundError(request.path)
    mails = inbound.read_mail(request.stream, request.content_length, request.mimetype, dict(request.mimetype_params))
    declined = inbound.declines(mails)
    asked = sum(declines.ask(each, service.sessions, service.registrar, service.clock()) for each in declined)
    log.info("calendar reply: %d declines, %d asked whether to cancel", len(declined), asked)
    return flask.jsonify(declined=len(declined), asked=asked)


def _refuse_cross_site(exchange: _Exchange, refusal: type[CrossSiteRequestError] = CrossSiteRequestError) -> None:
    """Only our own page may post a cancellation (or a confirmation). Browsers say where a post comes from
    (`Sec-Fetch-Site`, `Origin`); a client that says neither (curl, a mail client's preview, an old browser) is let
    through: the token is what grants the right, and these headers guard only against another site making a
    visitor's browser post it."""
    site = exchange.request.headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        raise refusal(site)
    origin = exchange.origin
    if origin is None or _from_our_own_page(exchange):
        return
    if normalise_origin(origin) != exchange.service.settings.public_origin:
        raise refusal(origin)


# The links in mails, each answered by a page that asks (GET) and a POST that acts.
_LINKS: dict[str, Callable[..., flask.Response]] = {"cancel": _cancel, "confirm": _confirm, "unsubscribe": _unsubscribe}
# What a JSON client is told an unsubscribed registration is.
UNSUBSCRIBED = "unsubscribed"


def _from_our_own_page(exchange: _Exchange) -> bool:
    """A post from one of our own pages served under `Referrer-Policy: no-referrer` (before it was `same-origin`, and
    still open in a tab): browsers send `Origin: null` with it, and `Sec-Fetch-Site: same-origin`, which no page can
    forge (another site's sandboxed frame says `cross-site`)."""
    headers = exchange.request.headers
    return (headers.get("Origin") or "").strip() == "null" and (
        headers.get("Sec-Fetch-Site") or ""
    ).strip().lower() == "same-origin"


def _link_page(
    exchange: _Exchange,
    kind: str,
    state: str | None,
    message_key: str,
    *,
    status: int = 200,
    action: str | None = None,
) -> flask.Response:
    """The page a mailed link (`kind`: cancel, confirm or unsubscribe) leads to; JSON clients get the registration's
    `state`. A confirm link that no longer works (410) offers to sign up again."""
    session = exchange.session
    assert session is not None
    language = exchange.language
    if exchange.wants_json:
        response = flask.jsonify(status=state, message=text(language, message_key))
        response.status_code = status
        return response
    signup_url = None
    if kind == "confirm" and status == 410:
        signup_url = f"{exchange.service.settings.public_base_url}/sessions/{session.id}"
    html = _pages().render(
        "link.html",
        session=session,
        kind=kind,
        message=text(language, message_key),
        action=action,
        signup_url=signup_url,
    )
    return flask.Response(html, status=status, mimetype="text/html")


def _preflight(exchange: _Exchange) -> flask.Response:
    assert exchange.session is not None
    if not exchange.origin or not exchange.session.allows_origin(exchange.origin):
        raise OriginNotAllowedError(exchange.origin or "")
    response = flask.Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    requested = exchange.request.headers.get("Access-Control-Request-Headers", "")
    asked = [h.strip() for h in requested.split(",") if h.strip()]
    response.headers["Access-Control-Allow-Headers"] = (
        ", ".join(h for h in asked if h.lower() in _SAFE_REQUEST_HEADERS) or "Content-Type"
    )
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def _register(exchange: _Exchange) -> flask.Response:
    request, service, session = exchange.request, exchange.service, exchange.session
    assert session is not None
    origin = _permitted_origin(exchange)
    service.limiter.hit(visitor_address(request, service.settings.trusted_proxy_hops), session.id)
    body = bodies.read_limited(request.stream, request.content_length)
    exchange.fields = bodies.parse(body, request.mimetype, request.mimetype_params)
    if session.cancelled:
        raise SessionCancelledError(session.id)
    if not session.is_open(service.clock()):
        raise RegistrationClosedError(session.id)
    if validation.is_bot(exchange.fields):
        log.info("honeypot filled session=%s", session.id)
        return _registered(
            exchange, b32encode(secrets.token_bytes(20)).decode().lower(), service.registrar.newcomer_status(session)
        )
    nonce = _form_nonce(exchange)
    if session.turnstile_site_key:
        try:
            visitor = visitor_address(request, service.settings.trusted_proxy_hops)
            service.turnstile.verify(_first_text(exchange.fields, turnstile.FIELD), visitor)
        except turnstile.TurnstileRejectedError:
            raise ValidationError({turnstile.FIELD: text(session.language, "error.turnstile")}) from None
    signup = validation.validate(
        exchange.fields,
        language=session.language,
        consent_required=session.privacy_url is not None,
        smtputf8=service.settings.smtp_utf8,
        deliverability=service.deliverability,
    )
    try:
        registration = service.registrar.register(session, signup, origin=origin, form_nonce=nonce)
    except FormReplayedError:
        log.info("form token replayed session=%s", session.id)
        raise ValidationError({formtokens.FIELD: text(session.language, "error.form_replayed")}) from None
    # Debug: the platform's request log already has a line for every sign-up, and the registration is in Firestore.
    log.debug(
        "registration session=%s id=%s status=%s repeat=%s",
        session.id,
        registration.id,
        registration.status,
        registration.repeat,
    )
    return _registered(exchange, registration.id, service.registrar.answer(session, registration))


def _form_nonce(exchange: _Exchange) -> str | None:
    """Check the form token, when there is one (or the session requires one); its nonce guards against replay."""
    session = exchange.session
    assert session is not None
    token = _first_text(exchange.fields, formtokens.FIELD)
    if not token and not session.require_form_token:
        return None  # API clients post without a form; the rate limits still hold for them
    try:
        return exchange.service.forms.check(token, session.id, exchange.service.clock())
    except formtokens.FormTokenError as error:
        log.info("form token refused session=%s reason=%s", session.id, error.reason)
        raise ValidationError({formtokens.FIELD: text(session.language, f"error.form_{error.reason}")}) from None


def visitor_address(request: flask.Request, trusted_hops: int) -> str:
    """The client's address as Google's front end reports it: the X-Forwarded-For entry it appended, which is the
    last one, or `trusted_hops` before the last behind that many trusted proxies (a load balancer appends its own
    address after the client's). Entries before it are whatever the client sent, so they cannot be trusted; the
    socket's peer when there is no such header."""
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    return forwarded[max(len(forwarded) - 1 - trusted_hops, 0)] if forwarded else (request.remote_addr or "unknown")


def _permitted_origin(exchange: _Exchange) -> str | None:
    """The site a browser posted from, if it may; our own pages always may, other clients send none."""
    assert exchange.session is not None
    if exchange.origin is None:
        return None
    if _from_our_own_page(exchange):
        return exchange.service.settings.public_origin
    origin = normalise_origin(exchange.origin)
    if origin and (origin == exchange.service.settings.public_origin or exchange.session.allows_origin(origin)):
        return origin
    raise OriginNotAllowedError(exchange.origin)


def _registered(exchange: _Exchange, registration_id: str, status: str) -> flask.Response:
    session = exchange.session
    assert session is not None
    if exchange.wants_json:
        answer = {"id": registration_id, fields.STATUS: status}
        return flask.Response(json.dumps(answer), 201, mimetype=bodies.JSON)
    target = session.thank_you_url or f"{exchange.service.settings.public_base_url}/sessions/{session.id}/thanks"
    return flask.redirect(_with_query(target, status=status), code=303)  # type: ignore[return-value]


def _error(exchange: _Exchange, error: SignupError) -> flask.Response:
    status, title_key, message_key = _ANSWERS.get(type(error), (500, "page.error_title", "page.unavailable"))
    if isinstance(error, MisconfiguredError):
        log.error("misconfigured: %s", error)
    language = exchange.language
    params = {"minutes": math.ceil(error.retry_after / 60)} if isinstance(error, RateLimitedError) else {}
    message = text(language, message_key, **params)
    if exchange.wants_json:
        payload: dict[str, Any] = {"error": error.code, "message": message}
        if isinstance(error, ValidationError):
            payload["errors"] = error.errors
        response = flask.jsonify(payload)
        response.status_code = status
    elif isinstance(error, ValidationError) and exchange.session is not None:
        response = _session_page(exchange, status=status, errors=error.errors)
    else:
        html = _pages().render(
            "message.html",
            session=exchange.session,
            language=language,
            title=text(language, title_key),
            message=message,
        )
        response = flask.Response(html, status=status, mimetype="text/html")
    if isinstance(error, MethodNotAllowedError):
        response.headers["Allow"] = ", ".join(error.allowed)
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(error, RateLimitedError):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _asset(name: str, mimetype: str) -> flask.Response:
    """A file that host pages load (the embed script, the form's stylesheet); browsers may keep it a while."""
    response = flask.Response(_asset_text(name), mimetype=mimetype)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@cache
def _asset_text(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


@cache
def _pages() -> Pages:
    """The templates, loaded once per instance."""
    return Pages()


def _allow_cors(exchange: _Exchange, response: flask.Response) -> None:
    """Grant the exact origin when the session lists it; never `*`, never `null`."""
    # A Vary field of its own (a list-valued header may come in several fields): werkzeug's `vary` set parses and
    # rewrites the header, at a visible share of a sign-up's time.
    response.headers.add("Vary", "Origin")
    assert exchange.session is not None
    # The listed origin, as browsers write it, never the header as it came (another spelling, a path after it).
    origin = normalise_origin(exchange.origin or "")
    if origin in exchange.session.allowed_origins:
        response.headers["Access-Control-Allow-Origin"] = origin


def _first_text(fields: bodies.Fields, name: str) -> str:
    values = fields.get(name) or [""]
    return values[0] if isinstance(values[0], str) else ""


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, (parts.query, urlencode(params))))
    return urlunsplit(parts._replace(query=query))
