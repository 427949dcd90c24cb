"""The organiser's messages that a person no longer wants: `unsubscribed_at` on their registration, set by the link
in those messages (RFC 8058 one-click, or the page's button). Confirmations, changes, reminders and the notice of a
session called off still go; a fresh sign-up after cancelling starts without it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from signup.errors import UnsubscribeSupersededError
from signup.ledger import fields
from signup.ledger.registration import generation_of, unsubscribed
from signup.ledger.writes import ATTEMPTS, CONFLICTS, KeptChangingError
from signup.store.deadlines import ON_REQUEST
from signup.tokens import RegistrationRef


class Unsubscribes:
    def __init__(self, client: Any, clock: Callable[[], datetime]) -> None:
        self._client = client
        self._clock = clock

    def unsubscribed(self, ref: RegistrationRef) -> bool:
        """Whether the sign-up a link names asked for no more messages; UnsubscribeSupersededError if it is gone."""
        return unsubscribed(self._read(ref)[1])

    def unsubscribe(self, ref: RegistrationRef) -> bool:
        """No more of the organiser's messages for this sign-up; False when it had asked before (twice is harmless).

        Written on condition that the registration did not change since it was read, so that a sign-up replaced
        meanwhile (a fresh one under the same id) is never marked."""
        for _ in range(ATTEMPTS):
            snapshot, data = self._read(ref)
            if unsubscribed(data):
                return False
            option = self._client.write_option(last_update_time=snapshot.update_time)
            try:
                snapshot.reference.update({fields.UNSUBSCRIBED_AT: self._clock()}, option=option, **ON_REQUEST)
            except CONFLICTS:
                continue
            return True
        raise KeptChangingError("the registration")

    def _read(self, ref: RegistrationRef) -> tuple[Any, dict[str, Any]]:
        document = self._client.collection(fields.SESSIONS, ref.session_id, fields.REGISTRATIONS)
        snapshot = document.document(ref.registration_id).get(**ON_REQUEST)
        data = (snapshot.to_dict() or {}) if snapshot.exists else {}
        if not snapshot.exists or generation_of(data) != ref.generation or not data.get(fields.EMAIL):
            raise UnsubscribeSupersededError(ref.registration_id)
        return snapshot, data
