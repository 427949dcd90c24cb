"""Signed cancel links: they name a registration and its generation, hold no address, and cannot be forged or altered.

A token is `{key id}.{signed payload}`: the key id says which live signing key made it, so that a link mailed
before a key rotation keeps working while the old key is kept as a previous one.
"""

from __future__ import annotations

from dataclasses import dataclass

import itsdangerous

from signup.errors import NotFoundError
from signup.keys import CANCEL_LINKS, KeyRing, SigningKey

_SALT = "signup.cancel.v2"


@dataclass(frozen=True)
class RegistrationRef:
    session_id: str
    registration_id: str
    # Which sign-up under that id: a link for a cancelled registration must not cancel the person's next one.
    generation: int = 0


class CancelTokens:
    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    def make(self, ref: RegistrationRef) -> str:
        """A token signed with the current key."""
        key = self._keys.current
        signed = _serializer(key).dumps([ref.session_id, ref.registration_id, ref.generation])
        return f"{key.id}.{signed}"

    def read(self, token: str) -> RegistrationRef:
        """The registration a token names; a forged, altered or malformed token, or one whose key was retired, is
        simply not found."""
        key_id, _, signed = token.partition(".")
        key = self._keys.get(key_id)
        if key is None:
            raise NotFoundError("cancel token")
        try:
            payload = _serializer(key).loads(signed)
        except itsdangerous.BadData:
            raise NotFoundError("cancel token") from None
        if not (
            isinstance(payload, list)
            and len(payload) == 3
            and isinstance(payload[0], str)
            and isinstance(payload[1], str)
            and type(payload[2]) is int
        ):
            raise NotFoundError("cancel token")
        return RegistrationRef(payload[0], payload[1], payload[2])


def _serializer(key: SigningKey) -> itsdangerous.URLSafeSerializer:
    return itsdangerous.URLSafeSerializer(key.subkey(CANCEL_LINKS), salt=_SALT)
