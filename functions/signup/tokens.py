"""Signed links: they name a registration and its generation, hold no address, and cannot be forged or altered.

A token is `{key id}.{signed payload}`: the key id says which live signing key made it, so that a link mailed
before a key rotation keeps working while the old key is kept as a previous one. Cancel links and confirm links
(and unsubscribe links) are signed with subkeys of their own, so that one can never be passed off as another.
"""

from __future__ import annotations

from dataclasses import dataclass

import itsdangerous

from signup.errors import NotFoundError
from signup.keys import CANCEL_LINKS, CHECK_IN_LINKS, CONFIRM_LINKS, UNSUBSCRIBE_LINKS, KeyRing, SigningKey


@dataclass(frozen=True)
class RegistrationRef:
    session_id: str
    registration_id: str
    # Which sign-up under that id: a link for a cancelled registration must not act on the person's next one.
    generation: int = 0


class SignedLinks:
    """Tokens for one purpose: its own subkey and salt."""

    purpose = CANCEL_LINKS
    salt = "signup.cancel.v2"

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    def make(self, ref: RegistrationRef) -> str:
        """A token signed with the current key."""
        key = self._keys.current
        signed = self._serializer(key).dumps([ref.session_id, ref.registration_id, ref.generation])
        return f"{key.id}.{signed}"

    def read(self, token: str) -> RegistrationRef:
        """The registration a token names; a forged, altered or malformed token, or one whose key was retired, is
        simply not found."""
        key_id, _, signed = token.partition(".")
        key = self._keys.get(key_id)
        if key is None:
            raise NotFoundError(self.purpose)
        try:
            payload = self._serializer(key).loads(signed)
        except itsdangerous.BadData:
            raise NotFoundError(self.purpose) from None
        if not (
            isinstance(payload, list)
            and len(payload) == 3
            and isinstance(payload[0], str)
            and isinstance(payload[1], str)
            and type(payload[2]) is int
        ):
            raise NotFoundError(self.purpose)
        return RegistrationRef(payload[0], payload[1], payload[2])

    def _serializer(self, key: SigningKey) -> itsdangerous.URLSafeSerializer:
        return itsdangerous.URLSafeSerializer(key.subkey(self.purpose), salt=self.salt)


class CancelTokens(SignedLinks):
    """Cancel links, in every mail that follows a registration."""


class ConfirmTokens(SignedLinks):
    """Confirm links, in the mail that asks a person to confirm their address (sessions with `confirm_email`)."""

    purpose = CONFIRM_LINKS
    salt = "signup.confirm.v1"


class UnsubscribeTokens(SignedLinks):
    """Unsubscribe links, in the organiser's messages (List-Unsubscribe, RFC 8058): no more of those messages."""

    purpose = UNSUBSCRIBE_LINKS
    salt = "signup.unsubscribe.v1"


class CheckInTokens(SignedLinks):
    """Check-in links, in the QR code of a confirmation: opened by an organiser at the door, on the organisers' page."""

    purpose = CHECK_IN_LINKS
    salt = "signup.check-in.v1"
