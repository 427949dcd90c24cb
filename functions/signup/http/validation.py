"""Turn the fields of a sign-up post into a clean `SignUp`, or say what is wrong with each."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import email_validator
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from signup.errors import ValidationError
from signup.ledger.fields import CONSENT, EMAIL, FIRST_NAME, INFIX, LAST_NAME, ORGANISATION
from signup.ledger.registration import SignUp
from signup.texts import text

if TYPE_CHECKING:
    from signup.http.deliverability import Deliverability

# The form's fields are the registration's own. Longest value per field, in characters after NFC normalisation.
MAX_LENGTH: Mapping[str, int] = {
    ORGANISATION: 200,
    FIRST_NAME: 100,
    INFIX: 40,
    LAST_NAME: 100,
    EMAIL: 254,
}
REQUIRED = frozenset({FIRST_NAME, LAST_NAME, EMAIL})
# Fields whose text we put into mails that go out under our name: no web addresses in them (see `_has_web_address`).
NAMES = (ORGANISATION, FIRST_NAME, INFIX, LAST_NAME)
HONEYPOT = "website"

_CONSENT_YES = {"on", "true", "1", "yes", "ja"}
# Characters that never belong in a name or an address: control characters
# (CR, LF, NUL, tab …), line and paragraph separators, lone surrogates,
# private-use characters and the bidirectional overrides used to spoof text.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# A web address in a name, as a mail program would make a link of it: a scheme, `www.`, or a host name (labels joined
# by dots, ending in a top-level domain of letters). Matched on the NFKC case-folded text, so that full-width
# letters and dots count too; the ideographic full stop is a dot in host names as well.
_SCHEME = re.compile(r"[^\W\d_][\w+.-]*://")
_WWW = re.compile(r"(?<![\w.-])www\.")
_HOST = re.compile(r"(?<![\w.-])((?:[\w-]+\.)+[^\W\d_]{2,63})(?![\w-])(/|:\d)?")
_IP = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.]*\w)")
_IDEOGRAPHIC_DOTS = str.maketrans("\u3002\uff61", "..")
# An address split at its one @-sign, with nothing but ASCII letters, digits, dots and hyphens after it.
_PLAIN = re.compile(r"([^@]+)@([A-Za-z0-9.-]+)")


def is_bot(fields: Mapping[str, Sequence[object]]) -> bool:
    """True when the field that people never see was filled in."""
    return any(value not in ("", None) for value in fields.get(HONEYPOT, ()))


def validate(
    fields: Mapping[str, Sequence[object]],
    *,
    language: str,
    consent_required: bool,
    smtputf8: bool,
    deliverability: Deliverability | None,
) -> SignUp:
    """Validate every field at once, so that a person sees all their mistakes together.

    `smtputf8`: the relay takes non-ASCII local parts; `deliverability`: the DNS check, or None for none."""
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    for name, limit in MAX_LENGTH.items():
        value, error = _clean_text(fields.get(name, ()), limit)
        if error is None and not value and name in REQUIRED:
            error = ("error.required", {})
        if error is not None:
            key, params = error
            errors[name] = text(language, key, **params)
        values[name] = value
    for name in NAMES:
        if name not in errors and _has_web_address(values[name]):
            errors[name] = text(language, "error.web_address")
    if EMAIL not in errors:
        try:
            values[EMAIL] = _check_email(values[EMAIL], smtputf8=smtputf8, deliverability=deliverability)
        except _UnreachableError:
            errors[EMAIL] = text(language, "error.email_ascii")
        except email_validator.EmailNotValidError:
            errors[EMAIL] = text(language, "error.email")
    consent = _consented(fields.get(CONSENT, ()))
    if consent_required and not consent:
        errors[CONSENT] = text(language, "error.consent")
    if errors:
        raise ValidationError(errors)
    return SignUp(
        organisation=values[ORGANISATION],
        first_name=values[FIRST_NAME],
        infix=values[INFIX],
        last_name=values[LAST_NAME],
        email=values[EMAIL],
        consent=consent,
    )


def _clean_text(raw: Sequence[object], limit: int) -> tuple[str, tuple[str, dict[str, int]] | None]:
    """NFC-normalise and trim one field; return the value and the error (key, params), if any."""
    if len(raw) > 1:
        return "", ("error.multiple", {})
    if not raw or raw[0] is None:
        return "", None
    value = raw[0]
    if not isinstance(value, str):
        return "", ("error.not_text", {})
    # Every forbidden character is unprintable: most text is let through without a look at each character.
    if not value.isprintable() and any(_forbidden(ch) for ch in value):
        return value, ("error.control", {})
    value = " ".join(unicodedata.normalize("NFC", value).split())
    if len(value) > limit:
        return value, ("error.too_long", {"max": limit})
    return value, None


class _UnreachableError(Exception):
    """A non-ASCII local part, which only a relay that speaks SMTPUTF8 can carry."""


def _check_email(address: str, *, smtputf8: bool, deliverability: Deliverability | None) -> str:
    """The address, normalised; raise when it is invalid or our mail cannot reach it."""
    checked = read_address(address)
    if checked.smtputf8 and not smtputf8:
        raise _UnreachableError
    if deliverability is not None:
        deliverability.check(checked.ascii_domain, checked.domain)
    return checked.normalized


@dataclass(frozen=True)
class Address:
    """What email-validator makes of an address, as far as a sign-up needs it."""

    normalized: str
    ascii_domain: str
    domain: str
    smtputf8: bool


def read_address(address: str) -> Address:
    """Check and normalise `address` as `email_validator.validate_email` does (tests/test_properties.py holds the
    two equal), raising its EmailNotValidError.

    Its domain check (IDNA mapping, special-use names) is three fifths of the time it takes, and sign-ups come
    from a handful of domains: for the address most people type, a plain ASCII local part and an ASCII domain,
    each domain is checked once per instance, and only the library's rules for a plain local part apply to the rest.
    """
    plain = _PLAIN.fullmatch(address)
    if plain is None or not DOT_ATOM_TEXT.match(plain[1]):
        checked = email_validator.validate_email(address, check_deliverability=False, allow_smtputf8=True)
        return Address(str(checked.normalized), str(checked.ascii_domain), str(checked.domain), checked.smtputf8)
    local = plain[1]
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        local = local.lower()
    domain, ascii_domain = _checked_domain(plain[2])
    normalized = f"{local}@{domain}"
    # Measured as the library does, in UTF-8: as typed (in ASCII, as long as its IDNA form) and as normalised,
    # which a domain given in IDNA's ASCII form may make longer.
    if max(len(address), len(normalized.encode())) > EMAIL_MAX_LENGTH:
        raise email_validator.EmailSyntaxError("The email address is too long.")
    return Address(normalized, ascii_domain, domain, smtputf8=False)


@lru_cache(maxsize=1024)
def _checked_domain(domain: str) -> tuple[str, str]:
    """The domain as the library normalises it, and in ASCII; the shortest address on it is checked, so a domain
    too long for any address is refused here."""
    checked = email_validator.validate_email(f"a@{domain}", check_deliverability=False)
    return str(checked.domain), str(checked.ascii_domain)


def _has_web_address(value: str) -> bool:
    """True for a scheme (`https://`), `www.` or a host name (`evil.example`); initials such as `J.Th.` pass."""
    if value.isascii() and "." not in value and ":" not in value:
        return False  # each pattern needs a dot or a colon, and folding ASCII text makes neither
    return _names_a_web_address(value)


def _names_a_web_address(value: str) -> bool:
    folded = unicodedata.normalize("NFKC", value).casefold().translate(_IDEOGRAPHIC_DOTS)
    if _SCHEME.search(folded) or _WWW.search(folded) or _IP.search(folded):
        return True
    return any(match[2] or not _initials(match[1]) for match in _HOST.finditer(folded))


def _initials(host: str) -> bool:
    """`j.th`, `m.sc`: short labels, one of them a single letter; a host followed by a path never passes."""
    labels = host.split(".")
    return all(len(label) <= 3 for label in labels) and any(len(label) == 1 for label in labels)


def _forbidden(ch: str) -> bool:
    return unicodedata.category(ch) in _FORBIDDEN_CATEGORIES or ch in _BIDI_CONTROLS


def _consented(raw: Sequence[object]) -> bool:
    if len(raw) != 1:
        return False
    value = raw[0]
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in _CONSENT_YES
