"""Signed cancel links: they name a registration, hold no address, and cannot be forged or altered."""

from __future__ import annotations

from dataclasses import dataclass

import itsdangerous

from signup.errors import NotFoundError

_SALT = "signup.cancel.v1"


@dataclass(frozen=True)
class RegistrationRef:
    session_id: str
    registration_id: str


class CancelTokens:
    def __init__(self, key: bytes) -> None:
        self._serializer = itsdangerous.URLSafeSerializer(key, salt=_SALT)

    def make(self, ref: RegistrationRef) -> str:
        return str(self._serializer.dumps([ref.session_id, ref.registration_id]))

    def read(self, token: str) -> RegistrationRef:
        """The registration a token names; a forged, altered or malformed token is simply not found."""
        try:
            payload = self._serializer.loads(token)
        except itsdangerous.BadData:
            raise NotFoundError("cancel token") from None
        if not (isinstance(payload, list) and len(payload) == 2 and all(isinstance(p, str) for p in payload)):
            raise NotFoundError("cancel token")
        return RegistrationRef(payload[0], payload[1])
