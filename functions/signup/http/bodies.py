"""Read a posted body, whatever its content type, into fields of lists of values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, MultipartDecoder

from signup.errors import MalformedBodyError, PayloadTooLargeError, UnsupportedMediaTypeError

MAX_BODY = 64 * 1024
MAX_FIELDS = 100

Fields = Mapping[str, list[Any]]

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"


def read_limited(stream: Any, content_length: int | None) -> bytes:
    """Read at most MAX_BODY bytes; a longer body is refused before or while reading it."""
    if content_length is not None and content_length > MAX_BODY:
        raise PayloadTooLargeError(content_length)
    body: bytes = stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise PayloadTooLargeError(len(body))
    return body


def is_json(mimetype: str) -> bool:
    """`application/json`, or a type with the `+json` suffix (RFC 6839): read and answered as JSON alike."""
    return mimetype == JSON or mimetype.endswith("+json")


def parse(body: bytes, mimetype: str, options: Mapping[str, str]) -> Fields:
    """Parse a body of one of the three content types a sign-up may use; each must be UTF-8 text throughout."""
    if mimetype == FORM:
        return _form(body)
    if mimetype == MULTIPART:
        return _multipart(body, options)
    if is_json(mimetype):
        return _json(body)
    raise UnsupportedMediaTypeError(mimetype or "none")


def _form(body: bytes) -> Fields:
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedBodyError("the form is not valid UTF-8 url-encoded data") from error


def _multipart(body: bytes, options: Mapping[str, str]) -> Fields:
    """The fields of a multipart body, each value UTF-8 as in a url-encoded one (werkzeug's own parser would put
    U+FFFD for what is not); files are not fields and are left out."""
    boundary = options.get("boundary", "")
    if not boundary or not boundary.isascii():
        raise MalformedBodyError("multipart body without a boundary")
    decoder = MultipartDecoder(boundary.encode("ascii"), max_form_memory_size=MAX_BODY, max_parts=MAX_FIELDS)
    fields: dict[str, list[Any]] = {}
    name, value = None, bytearray()
    try:
        decoder.receive_data(body)
        decoder.receive_data(None)
        while not isinstance(event := decoder.next_event(), Epilogue):
            if isinstance(event, Field):
                name, value = event.name, bytearray()
            elif isinstance(event, Data) and name is not None:
                value += event.data
                if not event.more_data:
                    fields.setdefault(name, []).append(value.decode("utf-8"))
                    name = None
            elif not isinstance(event, Data):  # the preamble, or a file
                name = None
    except RequestEntityTooLarge as error:
        raise PayloadTooLargeError(len(body)) from error
    except ValueError as error:  # broken multipart data, or a value that is not UTF-8
        raise MalformedBodyError("the multipart body cannot be read as UTF-8 fields") from error
    return fields


def _json(body: bytes) -> Fields:
    try:
        document = json.loads(body, object_pairs_hook=_pairs)
    except (ValueError, RecursionError) as error:
        raise MalformedBodyError("the body is not valid JSON") from error
    if not isinstance(document, _Object):
        raise MalformedBodyError("the body must be a JSON object")
    return document.fields


class _Object:
    """A JSON object whose keys keep every value they were given (duplicates included)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.fields: dict[str, list[Any]] = {}
        for key, value in pairs:
            _unicode(key)
            _unicode(value)
            self.fields.setdefault(key, []).append(value)


def _unicode(value: Any) -> None:
    """Raise ValueError for text no UTF-8 can hold: JSON may escape a lone surrogate (`"\\ud800"`), which
    every later step (a form token's check, Turnstile's request, a page that shows it again) would fail to encode.
    An object within is checked as it is made."""
    if isinstance(value, str):
        if not value.isascii():
            value.encode("utf-8")  # UnicodeEncodeError is a ValueError
    elif isinstance(value, list):
        for item in value:
            _unicode(item)


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    return _Object(pairs)
