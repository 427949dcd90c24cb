"""Signed form tokens: every form we render carries one, so that a submission that comes too fast after the form
was made, too late, or a second time for someone else, can be told from a person's."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import itsdangerous

FIELD = "form_token"
# A person needs a few seconds to fill in the form; a bot posting a harvested form does not wait.
MIN_SECONDS = 2.0
MAX_SECONDS = 24 * 3600.0
_SALT = "signup.form.v1"


class FormTokenError(Exception):
    """The token cannot be used; `reason` is one of too_fast, expired, invalid."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FormTokens:
    """`keys`: the form subkeys of every live signing key, the current one first. Tokens are made with the current
    one; a form shown before a key rotation still posts after it."""

    keys: tuple[bytes, ...]

    @cached_property
    def _serializer(self) -> itsdangerous.URLSafeSerializer:
        # itsdangerous signs with the last key of its list and accepts every one.
        return itsdangerous.URLSafeSerializer(list(reversed(self.keys)), salt=_SALT)

    def issue(self, session_id: str, now: datetime) -> str:
        return str(self._serializer.dumps([session_id, round(now.timestamp(), 3), secrets.token_hex(12)]))

    def renew(self, token: str, session_id: str, now: datetime) -> str:
        """The token for a form shown again after a mistake: the same one while it holds, so the clock keeps
        running from when the person first saw the form; a new one otherwise."""
        try:
            self.check(token, session_id, now)
        except FormTokenError as error:
            if error.reason != "too_fast":
                return self.issue(session_id, now)
        return token

    def check(self, token: str, session_id: str, now: datetime) -> str:
        """The token's nonce, if the token was made by us, for this session, long enough ago and not too long."""
        try:
            payload = self._serializer.loads(token)
        except itsdangerous.BadData:
            raise FormTokenError("invalid") from None
        if not (
            isinstance(payload, list)
            and len(payload) == 3
            and payload[0] == session_id
            and isinstance(payload[1], int | float)
            and isinstance(payload[2], str)
        ):
            raise FormTokenError("invalid")
        age = now.timestamp() - payload[1]
        if age < MIN_SECONDS:
            raise FormTokenError("too_fast")
        if age > MAX_SECONDS:
            raise FormTokenError("expired")
        return payload[2]
