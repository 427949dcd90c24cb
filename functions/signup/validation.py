"""Turn the fields of a sign-up post into a clean `SignUp`, or say what is wrong with each."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import email_validator

from signup.errors import ValidationError
from signup.texts import text

# Longest value per field, in characters after NFC normalisation.
MAX_LENGTH: Mapping[str, int] = {
    "organisation": 200,
    "first_name": 100,
    "infix": 40,
    "last_name": 100,
    "email": 254,
}
REQUIRED = frozenset({"first_name", "last_name", "email"})
HONEYPOT = "website"
CONSENT = "consent"

_CONSENT_YES = {"on", "true", "1", "yes", "ja"}
# Characters that never belong in a name or an address: control characters
# (CR, LF, NUL, tab …), line and paragraph separators, lone surrogates,
# private-use characters and the bidirectional overrides used to spoof text.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


@dataclass(frozen=True)
class SignUp:
    """A validated sign-up, ready to store."""

    organisation: str
    first_name: str
    infix: str
    last_name: str
    email: str
    consent: bool

    @property
    def email_key(self) -> str:
        """The address as compared for duplicates: case does not matter."""
        return self.email.lower()


def is_bot(fields: Mapping[str, Sequence[object]]) -> bool:
    """True when the field that people never see was filled in."""
    return any(value not in ("", None) for value in fields.get(HONEYPOT, ()))


def validate(
    fields: Mapping[str, Sequence[object]],
    *,
    language: str,
    consent_required: bool,
    check_deliverability: bool,
) -> SignUp:
    """Validate every field at once, so that a person sees all their mistakes together."""
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
    if "email" not in errors:
        try:
            checked = email_validator.validate_email(values["email"], check_deliverability=check_deliverability)
            values["email"] = checked.normalized
        except email_validator.EmailNotValidError:
            errors["email"] = text(language, "error.email")
    consent = _consented(fields.get(CONSENT, ()))
    if consent_required and not consent:
        errors[CONSENT] = text(language, "error.consent")
    if errors:
        raise ValidationError(errors)
    return SignUp(
        organisation=values["organisation"],
        first_name=values["first_name"],
        infix=values["infix"],
        last_name=values["last_name"],
        email=values["email"],
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
    if any(_forbidden(ch) for ch in value):
        return value, ("error.control", {})
    value = " ".join(unicodedata.normalize("NFC", value).split())
    if len(value) > limit:
        return value, ("error.too_long", {"max": limit})
    return value, None


def _forbidden(ch: str) -> bool:
    return unicodedata.category(ch) in _FORBIDDEN_CATEGORIES or ch in _BIDI_CONTROLS


def _consented(raw: Sequence[object]) -> bool:
    if len(raw) != 1:
        return False
    value = raw[0]
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in _CONSENT_YES
