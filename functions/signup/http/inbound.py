"""Calendar replies, delivered by the mail provider's inbound webhook: the declines in a mail.

With CALENDAR_REPLY_ADDRESS set, our invitations name that address as their ORGANIZER, so that the "No" a person
clicks in Gmail or Outlook (an iMIP REPLY, RFC 6047, sent to the ORGANIZER) comes back to us: the mail provider
posts each mail to that address, as raw MIME, to `{PUBLIC_BASE_URL}/inbound/{secret}` (the secret is derived from
SIGNING_KEY; `signup calendar-replies` prints the URL). A REPLY whose ATTENDEE declined names a registration and its
generation by its UID; http/declines.py asks that person whether to cancel. Everything else in the mail is ignored:
an acceptance, another kind of mail, a UID of no registration of ours.

Imported only when such a post comes: `register`'s cold start does without icalendar.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hmac
import io
import logging
from collections.abc import Iterator
from typing import Any

import icalendar
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from signup.errors import MalformedBodyError, PayloadTooLargeError
from signup.http.declines import Decline
from signup.keys import INBOUND_MAIL, KeyRing, hkdf
from signup.mail.compose import calendar

log = logging.getLogger(__name__)

# A reply with its HTML and the invitation attached again; larger mails are no calendar reply.
MAX_MAIL = 1024 * 1024
# Gmail and Outlook decline one invitation a mail (twice over: as an alternative and as a file). A mail of more is no
# calendar's reply but guesses, each of which would cost a read: only the first few are tried.
MAX_DECLINES = 4


def secret(key: bytes) -> str:
    """The inbound URL's last part for one root key: unguessable, and nothing else can be derived from it."""
    return base64.b32encode(hkdf(key, INBOUND_MAIL.encode(), length=20)).decode().lower()


def url_secret(keys: KeyRing) -> str:
    return secret(keys.current.root)


def is_ours(token: str, keys: KeyRing) -> bool:
    """The inbound URL of any live key (a rotation keeps the provider's setting working until it is changed)."""
    return any(hmac.compare_digest(token, secret(key.root)) for key in keys.all)


def read_mail(stream: Any, content_length: int | None, mimetype: str, options: dict[str, str]) -> list[bytes]:
    """The raw message a provider posted: the body itself, or what its form's fields carry (SendGrid's Inbound Parse
    puts it in `email`, Mailgun in `body-mime`; each field is read, so that the name matters to no one)."""
    if content_length is not None and content_length > MAX_MAIL:
        raise PayloadTooLargeError(content_length)
    body: bytes = stream.read(MAX_MAIL + 1)
    if len(body) > MAX_MAIL:
        raise PayloadTooLargeError(len(body))
    if mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return [body]
    parser = FormDataParser(max_form_memory_size=MAX_MAIL, max_form_parts=100)
    try:
        _, form, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    except RequestEntityTooLarge as error:
        raise PayloadTooLargeError(len(body)) from error
    except ValueError as error:
        raise MalformedBodyError("the form cannot be read") from error
    values = [value.encode("utf-8", "surrogateescape") for value in form.values()]
    return values + [file.read() for file in files.values()]


def declines(mails: list[bytes]) -> list[Decline]:
    """The invitations the mails decline: each iMIP REPLY in them whose ATTENDEE's PARTSTAT is DECLINED, at most
    MAX_DECLINES."""
    found: dict[Decline, None] = {}  # the same REPLY comes as an alternative and as an attachment
    for ics in (part for raw in mails for part in _calendars(raw)):
        for decline in _declined(ics):
            found[decline] = None
            if len(found) == MAX_DECLINES:
                return list(found)
    return list(found)


def _calendars(raw: bytes) -> list[bytes]:
    """The calendar parts of one mail, whatever a stranger put in it.

    compat32 reads only the headers it is asked for, and those simply: the default policy's header parser takes
    quadratic time over a long Content-Type (minutes for a megabyte) and recurses into nested comments. A mail nested
    deeper than the parser recurses is no calendar's reply."""
    try:
        parts = list(email.message_from_bytes(raw, policy=email.policy.compat32).walk())
    except RecursionError:
        log.info("calendar reply: a mail nested too deep to read")
        return []
    types = ("text/calendar", "application/ics")
    payloads = (part.get_payload(decode=True) for part in parts if part.get_content_type() in types)
    return [payload for payload in payloads if isinstance(payload, bytes)]


def _declined(ics: bytes) -> Iterator[Decline]:
    try:
        reply = icalendar.Calendar.from_ical(ics)
    except Exception:  # a stranger's calendar: icalendar's errors on junk are not listed
        return
    if str(reply.get("METHOD", "")).upper() != "REPLY":
        return
    for event in reply.walk("VEVENT"):
        ref = calendar.registration_of(str(event.get("UID", "")))
        attendees = event.get("ATTENDEE", [])
        for attendee in attendees if isinstance(attendees, list) else [attendees]:
            if ref is None or str(attendee.params.get("PARTSTAT", "")).upper() != "DECLINED":
                continue
            address = str(attendee)
            yield Decline(ref, address[len("mailto:") :] if address.lower().startswith("mailto:") else address)
