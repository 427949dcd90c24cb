"""Registrations as CSV that Dutch Excel opens correctly: UTF-8 with BOM, semicolons, Dutch sorting, no formulas."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TextIO

from signup.ledger import fields, mailkeys
from signup.ledger.registration import unsubscribed
from signup.ledger.session import Session
from signup.organise.texts import catalogue, mail_kind

# Dutch Excel splits on semicolons (the comma is its decimal separator).
DELIMITER = ";"
# Tussenvoegsels, longest first, that people sometimes type into the last name field itself.
_PREFIXES = sorted(
    (
        "van der",
        "van den",
        "van de",
        "van het",
        "van 't",
        "in 't",
        "in het",
        "op de",
        "op den",
        "op 't",
        "uit de",
        "uit den",
        "van",
        "de",
        "den",
        "der",
        "het",
        "'t",
        "ter",
        "ten",
        "te",
        "le",
        "la",
        "d'",
        "in",
        "op",
        "uit",
    ),
    key=len,
    reverse=True,
)
_HEADERS = {
    "nl": (
        "Achternaam",
        "Tussenvoegsels",
        "Voornaam",
        "Organisatie",
        "E-mailadres",
        "Status",
        "Aangemeld op",
        "Geen berichten sinds",
    ),
    "en": (
        "Last name",
        "Name prefix",
        "First name",
        "Organisation",
        "Email address",
        "Status",
        "Signed up at",
        "No messages since",
    ),
}
_MAIL = {"nl": "Mail", "en": "Mail"}
# A mail's state in a cell: a word, where the organisers' page says more (when, how often).
_STATES = {
    "nl": {
        "pending": "in de wachtrij",
        "sending": "wordt verstuurd",
        "sent": "verstuurd",
        "failed": "niet verstuurd",
        "skipped": "overgeslagen",
    },
    "en": {"pending": "queued", "sending": "being sent", "sent": "sent", "failed": "not sent", "skipped": "skipped"},
}
# Whether an organiser checked the person in at the door (the organisers' page).
_PRESENT = {"nl": ("Aanwezig", "ja"), "en": ("Present", "yes")}
# A formula sign where some reader starts a cell: at the start, or after a separator, past spaces and quotes.
_FORMULA_AT_A_CELL_START = re.compile(r"""((?:^|[,;|\s])[\s"]*)(?=[=+\-@])""")


def sort_key(row: Mapping[str, Any]) -> tuple[str, str]:
    """The Dutch way: on the last name without its tussenvoegsel ("van der Berg" under B), then the first name."""
    last = str(row.get(fields.LAST_NAME, "")).strip()
    lowered = last.lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix + " ") or (prefix.endswith("'") and lowered.startswith(prefix)):
            last = last[len(prefix) :].strip()
            break
    return _folded(last), _folded(str(row.get(fields.FIRST_NAME, "")))


def _folded(text: str) -> str:
    """Compare letters without accents and case, as a dictionary does: Ö with O, é with e."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def defuse(value: str) -> str:
    """Keep as text what a spreadsheet would run as a formula, whatever separator it splits the file on.

    A cell starts a formula with =, +, - or @ (or a tab or return first). The file is written with one separator,
    but a reader may split it on another (a comma, a semicolon, a tab, a pipe, a space), or on line breaks
    inside quotes, so every place where such a reader starts a cell counts as a start: the text's own start, and
    the place after any of those characters, past spaces and quotes. A `'` goes before each formula sign there.
    """
    value = "'" + value if value[:1] in ("\t", "\r") else value
    return _FORMULA_AT_A_CELL_START.sub("\\1'", value)


def write(
    out: TextIO, session: Session, registrations: Iterable[Mapping[str, Any]], *, delimiter: str = DELIMITER
) -> int:
    """Write one row per registration; return how many."""
    rows = sorted(registrations, key=sort_key)
    mail_keys = sorted({key for row in rows for key in (row.get(fields.EMAILS) or {})}, key=mailkeys.order)
    language = session.language if session.language in _HEADERS else "nl"
    writer = csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    present, yes = _PRESENT[language]
    words = catalogue(language)
    writer.writerow([*_HEADERS[language], present, *(f"{_MAIL[language]}: {_kind(words, key)}" for key in mail_keys)])
    for row in rows:
        # An unconfirmed or lapsed sign-up has no `created_at` (it never took effect): its time is when it was sent.
        signed_up = row.get(fields.CREATED_AT) or row.get(fields.REQUESTED_AT)
        cells = [
            *(row.get(name, "") for name in (fields.LAST_NAME, fields.INFIX, fields.FIRST_NAME, fields.ORGANISATION)),
            row.get(fields.EMAIL, ""),
            _word(words, "status.", str(row.get(fields.STATUS) or "")),
            _local(signed_up, session),
            # Who asked for no more of the organiser's messages (the link in them), and when.
            _local(row.get(fields.UNSUBSCRIBED_AT), session) if unsubscribed(row) else "",
            yes if row.get(fields.CHECKED_IN_AT) else "",
        ]
        states = [str(((row.get(fields.EMAILS) or {}).get(key) or {}).get(fields.STATE) or "") for key in mail_keys]
        cells += [_STATES[language].get(state, state) for state in states]
        writer.writerow([defuse(str(cell)) for cell in cells])
    return len(rows)


def _word(words: Mapping[str, str], prefix: str, value: str) -> str:
    """A stored value in the export's language (as the organisers' page says it); one we have no word for, as is."""
    return words.get(prefix + value, value)


def _kind(words: Mapping[str, str], key: str) -> str:
    """A mail's column, named as the organisers' page names it ("Herinnering (24 uur vooraf)")."""
    kind, hours = mail_kind(key)
    return words[kind].format(hours=hours, key=key)


def _local(moment: Any, session: Session) -> str:
    """A moment in the session's zone; what else the console may have put there, as it is."""
    if isinstance(moment, datetime):
        return moment.astimezone(session.zone).strftime("%d-%m-%Y %H:%M")
    return str(moment) if moment else ""
