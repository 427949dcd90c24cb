"""Text that people typed, as paragraphs in the HTML part of a mail: escaped first, then given line breaks and
(for the organiser's own words only) links. Never HTML built by hand: markupsafe escapes every piece."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from markupsafe import Markup, escape

_LINK = Markup('<a href="{0}" class="mail-link" style="color:#1a5fb4;">{0}</a>')
# A title inside a sentence is quoted, so that "aangemeld voor “Gratis strategiesessie”" reads as a name.
_QUOTED = Markup("\u201c{0}\u201d")
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def linkify(text: str) -> Markup:
    """Paragraphs for HTML: everything escaped, line breaks kept, and http(s) addresses made into links."""
    return _paragraphs(text, _links)


def lines(text: str) -> Markup:
    """Paragraphs for HTML with their line breaks kept and nothing made a link (for text others typed)."""
    return _paragraphs(text, escape)


def _paragraphs(text: str, line: Callable[[str], Markup]) -> Markup:
    """Blank lines stay paragraph breaks (the mail layout makes them <p>); a single line break becomes <br>."""
    body = text.strip("\n")
    start = text.index(body) if body else len(text)
    html = Markup("\n\n").join(
        Markup("<br>\n").join(line(part) for part in paragraph.split("\n")) for paragraph in body.split("\n\n")
    )
    return escape(text[:start]) + html + escape(text[start + len(body) :])


def quoted(text: str) -> Markup:
    """A name in a sentence, between quotation marks, escaped."""
    return _QUOTED.format(text)


def plain_quoted(text: str) -> str:
    """The plain-text part's counterpart of `quoted`."""
    return f"\u201c{text}\u201d"


def plain(text: str) -> str:
    """The plain-text part's counterpart of `linkify` and `lines`: the text as it is."""
    return text


def _links(line: str) -> Markup:
    parts: list[Markup] = []
    position = 0
    for match in _URL.finditer(line):
        url = _trim(match.group())
        parts.append(escape(line[position : match.start()]))
        parts.append(_LINK.format(url) if _is_link(url) else escape(url))
        position = match.start() + len(url)
    parts.append(escape(line[position:]))
    return Markup("").join(parts)


def _trim(url: str) -> str:
    """A sentence's full stop or closing bracket after an address is not part of it."""
    while url and (url[-1] in ".,;:!?" or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


def _is_link(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
