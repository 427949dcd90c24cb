"""Sign-up attempts per visitor, per session and overall, counted in fixed windows and shared across instances.

Each instance counts locally, so a sign-up costs no database round trip. A visitor's counts are shared through
Firestore (`ratelimits/{keyed hash}`, no hot document) only once they reach two attempts on this instance:
ordinary visitors, who try once, cost nothing at all, while a flood is summed across instances by a
background flush every couple of seconds (one batch write and one batch read, whatever the request rate). The
shared count trails by the flush interval, and misses visitors who tried only once on an instance; for stopping
floods that is enough. Addresses are never stored or logged: keys are keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import firestore

from signup.errors import RateLimitedError

log = logging.getLogger(__name__)

RATELIMITS = "ratelimits"
# Below this many attempts on one instance a visitor's count stays local.
SHARE_FROM = 2


@dataclass(frozen=True)
class Limit:
    name: str
    attempts: int
    window_seconds: int
    per_session: bool


@dataclass
class _Count:
    window_end: float
    local: int = 0  # attempts seen here, including those not yet flushed
    pending: int = 0  # attempts seen here, not yet added to the shared count
    shared: int = 0  # the shared count at the last flush, without what was pending then

    @property
    def total(self) -> int:
        return self.shared + self.pending if self.shared else self.local


class RateLimiter:
    def __init__(
        self,
        client: Any,
        key: bytes,
        limits: tuple[Limit, ...],
        *,
        flush_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._key = key
        self._limits = limits
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._counts: dict[str, _Count] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._last_flush = clock()

    def hit(self, visitor: str, session_id: str) -> None:
        """Count one attempt; raise RateLimitedError (with the seconds to wait) when a limit is passed."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for limit in self._limits:
                window = int(now // limit.window_seconds)
                scope = session_id if limit.per_session else "*"
                key = self._digest(f"{limit.name}\x00{scope}\x00{visitor}\x00{window}")
                count = self._counts.get(key)
                if count is None:
                    count = self._counts[key] = _Count(window_end=(window + 1) * limit.window_seconds)
                count.local += 1
                # From the second attempt on, every attempt here (the first included) goes to the shared count.
                count.pending += SHARE_FROM if count.local == SHARE_FROM else int(count.local > SHARE_FROM)
                if count.total > limit.attempts:
                    wait = max(wait, count.window_end - now)
        if now - self._last_flush >= self._flush_seconds:
            self._last_flush = now
            threading.Thread(target=self.flush, name="ratelimit-flush", daemon=True).start()
        if wait:
            raise RateLimitedError(math.ceil(wait))

    def flush(self, wait: bool = False) -> None:
        """Add pending attempts to the shared counts and read them back; one batch write, one batch read.

        The background flush skips when one is already running; `wait` waits for it and then flushes.
        """
        if not self._flushing.acquire(blocking=wait):
            return
        try:
            now = self._clock()
            with self._lock:
                for key in [k for k, c in self._counts.items() if c.window_end <= now]:
                    del self._counts[key]
                tracked = {k: (c.pending, c.window_end) for k, c in self._counts.items() if c.local >= SHARE_FROM}
            if not tracked:
                return
            refs = {key: self._client.collection(RATELIMITS).document(key) for key in tracked}
            pending = {key: value for key, value in tracked.items() if value[0]}
            if pending:
                batch = self._client.batch()
                for key, (attempts, window_end) in pending.items():
                    expires = datetime.fromtimestamp(window_end, UTC) + timedelta(hours=1)
                    batch.set(refs[key], {"count": firestore.Increment(attempts), "expires_at": expires}, merge=True)
                batch.commit(timeout=5.0)
                with self._lock:  # written: never add these attempts again, whatever the read below does
                    for key, (attempts, _) in pending.items():
                        if key in self._counts:
                            self._counts[key].pending -= attempts
                            self._counts[key].shared += attempts
            shared = {
                snapshot.id: int(snapshot.get("count") or 0)
                for snapshot in self._client.get_all(list(refs.values()), timeout=5.0)
                if snapshot.exists
            }
            with self._lock:
                for key in tracked:
                    count = self._counts.get(key)
                    if count is not None:
                        count.shared = shared.get(key, count.shared)
        except (google_errors.GoogleAPIError, OSError) as error:
            log.warning("rate limit counts not shared this time: %s", type(error).__name__)
        finally:
            self._flushing.release()

    def _digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:32]
