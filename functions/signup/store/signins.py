"""The organisers' sign-ins in Firestore: asked for, used once (a precondition write), read, ended."""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime
from typing import Any

from signup.ledger import fields
from signup.ledger.signin import SignIn, requested, signed_out, used
from signup.ledger.writes import ATTEMPTS, CONFLICTS, GONE
from signup.store.deadlines import ON_REQUEST


class SignIns:
    def __init__(self, client: Any) -> None:
        self._client = client

    def _ref(self, sign_in_id: str) -> Any:
        return self._client.collection(fields.SIGNINS).document(sign_in_id)

    def request(self, email: str, language: str, now: datetime, next_path: str | None = None) -> str:
        """Store a new sign-in for `email`, its link's mail queued for `notify`; its id."""
        sign_in_id = secrets.token_hex(16)
        self._ref(sign_in_id).create(requested(email, language, now, next_path), **ON_REQUEST)
        return sign_in_id

    def request_refused(self, email: str, language: str, now: datetime, next_path: str | None = None) -> None:
        """The write of `request`, of the same size, which Firestore refuses (an update of a document that is not
        there): a request for an address that may organise nothing takes the time of one that may, and nothing is
        stored, nothing triggered, and no address sent."""
        document = requested("x" * len(email.encode()), language, now, next_path)
        with contextlib.suppress(*GONE):
            self._ref(secrets.token_hex(16)).update(document, **ON_REQUEST)

    def get(self, sign_in_id: str) -> SignIn | None:
        if not valid_id(sign_in_id):
            return None
        snapshot = self._ref(sign_in_id).get(**ON_REQUEST)
        return SignIn.from_document(snapshot.id, snapshot.to_dict() or {}) if snapshot.exists else None

    def use(self, sign_in_id: str, now: datetime) -> SignIn | None:
        """Sign in with the link of `sign_in_id`: once, before it runs out; None when it cannot (any more).

        The write holds only if the document is as it was read (a second click at the same moment loses); a
        change by `notify` recording the link's mail meanwhile is read again."""
        if not valid_id(sign_in_id):
            return None
        ref = self._ref(sign_in_id)
        for _ in range(ATTEMPTS):
            snapshot = ref.get(**ON_REQUEST)
            if not snapshot.exists:
                return None
            found = SignIn.from_document(snapshot.id, snapshot.to_dict() or {})
            if not found.link_usable(now):
                return None
            update = used(now)
            try:
                ref.update(update, option=self._client.write_option(last_update_time=snapshot.update_time))
            except CONFLICTS:
                continue
            except GONE:
                return None
            return SignIn.from_document(snapshot.id, {**(snapshot.to_dict() or {}), **update})
        return None

    def end(self, sign_in_id: str, now: datetime) -> None:
        """Sign out: the session ends for every copy of its cookie."""
        if not valid_id(sign_in_id):
            return
        with contextlib.suppress(*GONE):
            self._ref(sign_in_id).update(signed_out(now), **ON_REQUEST)


def valid_id(sign_in_id: str) -> bool:
    return len(sign_in_id) == 32 and all(c in "0123456789abcdef" for c in sign_in_id)
