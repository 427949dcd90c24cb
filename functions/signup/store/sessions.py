"""Sessions read from Firestore, each kept for a few seconds so that a burst costs one read, not thousands."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from google.cloud import firestore

from signup.errors import NotFoundError
from signup.ledger.fields import SESSIONS
from signup.ledger.session import Session, parse_session, valid_session_id
from signup.store.deadlines import ON_REQUEST


class SessionStore:
    """Reads sessions, keeping each for a few seconds so that a burst costs one read, not thousands."""

    def __init__(self, client: Any, ttl: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._ttl = ttl
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Session]] = {}
        self._reading: set[str] = set()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session:
        """The session, from the cache while it is younger than `ttl` seconds.

        When it has aged, one request reads it again while the others go on with what the cache has, so that a
        burst does not queue every request behind a read every few seconds; an edit is seen a read later.
        """
        if not valid_session_id(session_id):
            raise NotFoundError(session_id)
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(session_id)
            if cached is not None and (cached[0] > now or session_id in self._reading):
                return cached[1]
            self._reading.add(session_id)
        try:
            snapshot = self._client.collection(SESSIONS).document(session_id).get(**ON_REQUEST)
            if not snapshot.exists:
                raise NotFoundError(session_id)
            session = parse_session(session_id, snapshot.to_dict() or {})
        except Exception:
            # A read that fails (or an edit that broke the session) ends the cached copy: the next request reads
            # again and answers as the database does, rather than some with the old session and some with an error.
            with self._lock:
                self._cache.pop(session_id, None)
            raise
        else:
            if self._ttl > 0:
                with self._lock:
                    self._cache[session_id] = (now + self._ttl, session)
            return session
        finally:
            with self._lock:
                self._reading.discard(session_id)


def save(
    client: Any,
    session_id: str,
    values: dict[str, Any],
    remove: frozenset[str] = frozenset(),
    *,
    create: bool = True,
) -> dict[str, Any] | None:
    """Create the session, or merge `values` into it, taking off the fields in `remove`; the session as it was
    (None: it is new). Without `create`, a session that is gone is not found rather than made anew from `values`
    (an edit on the organisers' page of a session deleted since the page read it).

    A field left out keeps the value it has (one set in the console, one the functions keep). The session as it
    will be is checked by the functions' own reading before anything is written, in one transaction with the
    writing, so a change made meanwhile (in the console, on the organisers' page) is not overwritten unseen.
    """
    ref = client.collection(SESSIONS).document(session_id)

    @firestore.transactional
    def merge(transaction: Any) -> dict[str, Any] | None:
        existing = ref.get(transaction=transaction)
        if not existing.exists and not create:
            raise NotFoundError(session_id)
        current: dict[str, Any] = (existing.to_dict() or {}) if existing.exists else {}
        merged = {name: value for name, value in {**current, **values}.items() if name not in remove}
        parse_session(session_id, merged)  # what it refuses, the functions could not use
        if existing.exists:
            transaction.update(ref, {**values, **dict.fromkeys(remove, firestore.DELETE_FIELD)})
            return current
        transaction.create(ref, values)
        return None

    before: dict[str, Any] | None = merge(client.transaction())
    return before
