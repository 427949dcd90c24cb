"""Read a posted body, whatever its content type, into fields of lists of values."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

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


def parse(body: bytes, mimetype: str, options: Mapping[str, str]) -> Fields:
    """Parse a body of one of the three content types a sign-up may use."""
    if mimetype == FORM:
        return _form(body)
    if mimetype == MULTIPART:
        return _multipart(body, mimetype, options)
    if mimetype == JSON or mimetype.endswith("+json"):
        return _json(body)
    raise UnsupportedMediaTypeError(mimetype or "none")


def _form(body: bytes) -> Fields:
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedBodyError("the form is not valid UTF-8 url-encoded data") from error


def _multipart(body: bytes, mimetype: str, options: Mapping[str, str]) -> Fields:
    if not options.get("boundary"):
        raise MalformedBodyError("multipart body without a boundary")
    parser = FormDataParser(max_form_memory_size=MAX_BODY, max_form_parts=MAX_FIELDS)
    try:
        _, form, _files = parser.parse(io.BytesIO(body), mimetype, len(body), dict(options))
    except RequestEntityTooLarge as error:
        raise PayloadTooLargeError(len(body)) from error
    except ValueError as error:  # what werkzeug raises for broken multipart data
        raise MalformedBodyError("the multipart body cannot be read") from error
    return {key: form.getlist(key) for key in form}


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
            self.fields.setdefault(key, []).append(value)


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    return _Object(pairs)
