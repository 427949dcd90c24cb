"""The signing keys: a subkey per purpose from each root key (HKDF, RFC 5869), and the versions a rotation keeps.

SIGNING_KEY holds the keys, separated by commas: the first is the current one, which makes everything new; the
others are previous ones, still accepted while a rotation runs. Each is at least 32 random bytes. Nothing is keyed
with a root key itself: registration ids, cancel, confirm and unsubscribe links, form tokens, rate-limit and mail-cap
hashes each get their own subkey, so that one purpose's outputs say nothing about another's. A key's version is its
id, a short fingerprint derived from it: a cancel link names the version it was signed with, and stays good for as
long as that key is kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from functools import cached_property

from signup.errors import MisconfiguredError

MIN_BYTES = 32

# The purposes, each with its own subkey. Renaming one changes every value made with it.
REGISTRATION_IDS = "registration-ids"
CANCEL_LINKS = "cancel-links"
CONFIRM_LINKS = "confirm-links"
UNSUBSCRIBE_LINKS = "unsubscribe-links"
INBOUND_MAIL = "inbound-mail"
FORMS = "forms"
RATE_LIMITS = "rate-limits"
MAIL_CAPS = "mail-caps"
# The organisers' page: its mailed sign-in links, its cookie, its forms' CSRF tokens, and the check-in links of the
# confirmation mail's QR code.
SIGN_IN_LINKS = "organiser-sign-in-links"
ORGANISER_COOKIES = "organiser-cookies"
ORGANISER_FORMS = "organiser-forms"
SIGN_IN_ADDRESSES = "organiser-sign-in-addresses"  # who counts as one address for the sign-in rate limit
CHECK_IN_LINKS = "check-in-links"
_KEY_ID = "key-id"

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def hkdf(key: bytes, info: bytes, length: int = 32, salt: bytes = b"") -> bytes:
    """HKDF-SHA256 (RFC 5869): extract, then expand to `length` bytes bound to `info`."""
    prk = hmac.new(salt or bytes(hashlib.sha256().digest_size), key, hashlib.sha256).digest()
    blocks, block = b"", b""
    counter = 1
    while len(blocks) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        blocks += block
        counter += 1
    return blocks[:length]


def decode_key(text: str, name: str) -> bytes:
    """The key's bytes from hex or base64 (standard or URL-safe alphabet, padding optional); `name` is the setting."""
    text = text.strip()
    raw: bytes | None = None
    if _HEX.fullmatch(text):
        raw = bytes.fromhex(text)
    elif _BASE64.fullmatch(text):
        try:
            unpadded = text.rstrip("=").replace("+", "-").replace("/", "_")
            raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) < MIN_BYTES:
        raise MisconfiguredError(
            f"{name} must be at least {MIN_BYTES} random bytes, written as base64 or hex "
            "(make one with `openssl rand -base64 32`)"
        )
    return raw


@dataclass(frozen=True)
class SigningKey:
    """One root key; never used to key anything directly."""

    root: bytes = field(repr=False)

    @cached_property
    def id(self) -> str:
        """The key's version as links carry it: eight characters that reveal nothing of the key."""
        return base64.b32encode(hkdf(self.root, _KEY_ID.encode(), length=5)).decode().lower()

    def subkey(self, purpose: str) -> bytes:
        return hkdf(self.root, purpose.encode())


@dataclass(frozen=True)
class KeyRing:
    """The current key, which makes everything new, and the previous ones, still accepted while they are kept."""

    current: SigningKey
    previous: tuple[SigningKey, ...] = ()

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """The ring from SIGNING_KEY: the current key, then any previous ones, separated by commas."""
        parts = text.split(",")
        named = (
            ["SIGNING_KEY"]
            if len(parts) == 1
            else [f"SIGNING_KEY (key {n} of {len(parts)})" for n in range(1, len(parts) + 1)]
        )
        now, *older = (SigningKey(decode_key(part, name)) for part, name in zip(parts, named, strict=True))
        return cls(now, tuple({key.id: key for key in older if key.id != now.id}.values()))

    @property
    def all(self) -> tuple[SigningKey, ...]:
        """Every live key, the current one first."""
        return (self.current, *self.previous)

    def subkey(self, purpose: str) -> bytes:
        """The current key's subkey for a purpose: what everything new is made with."""
        return self.current.subkey(purpose)

    def subkeys(self, purpose: str) -> tuple[bytes, ...]:
        """The subkeys of every live key for a purpose, the current one first: for finding what older keys made."""
        return tuple(key.subkey(purpose) for key in self.all)

    def get(self, key_id: str) -> SigningKey | None:
        """The live key with this version, if it is still kept."""
        return next((key for key in self.all if key.id == key_id), None)
