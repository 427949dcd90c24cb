"""Sign-up attempts per visitor, per session and overall, counted in fixed windows and shared across instances.

Each instance counts locally, so a sign-up costs no database round trip, and every request does a fixed amount of
work under the lock, however many visitors there are. A first attempt only leaves a fingerprint in a table of fixed
size (`_Seen`): ordinary visitors, who try once, cost 8 bytes each at most and nothing in the database, and a
million of them take no more memory than ten thousand (the oldest are forgotten). From the second attempt on, a
visitor's count is kept exactly (at most `tracked` visitors per limit, the least recently active forgotten first)
and shared through Firestore (`ratelimits/{keyed hash}`, no hot document) by a background flush every couple of
seconds. A flush writes one increment per count that changed since the last flush and reads nothing: the write
answers with the incremented total, which is what other instances added plus ours. So its cost follows what
changed, not how many visitors are known. The shared count trails by the flush interval, and misses visitors who
tried only once on an instance; for stopping floods that is enough. Addresses are never stored or logged: document
ids are keyed hashes, and IPv6 visitors are counted per /64, the block one subscriber usually holds whole.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import firestore

from signup.errors import RateLimitedError
from signup.ledger.fields import EXPIRES_AT

log = logging.getLogger(__name__)

RATELIMITS = "ratelimits"
# Below this many attempts on one instance a visitor's count stays local.
SHARE_FROM = 2
# Fingerprints of first attempts remembered (8 bytes each, allocated once): 2 MiB, about 130,000 visitors.
SEEN_SLOTS = 1 << 18
# Visitors with repeated attempts counted exactly, per limit (a few hundred bytes each).
TRACKED = 1 << 14
# Firestore takes at most 500 writes in one batch.
BATCH = 500
_BUCKET = 4
_UNSIGNED = (1 << 64) - 1


@dataclass(frozen=True)
class Limit:
    name: str
    attempts: int
    window_seconds: int
    per_session: bool


def visitor_key(address: str) -> str:
    """Who counts as one visitor: an IPv4 address as it is, an IPv6 address by its /64."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


class _Seen:
    """A set of fingerprints in a fixed table of buckets; a full bucket forgets one of its entries.

    Forgetting errs on the lenient side: a forgotten visitor's next attempt counts as a first one. Fingerprints are
    Python's salted hashes, so nobody outside can aim at another visitor's bucket.
    """

    def __init__(self, slots: int) -> None:
        self._slots = array("Q", bytes(8 * slots))
        self._buckets = slots // _BUCKET

    def add(self, fingerprint: int) -> bool:
        """Remember `fingerprint`; whether it was remembered already."""
        fingerprint = fingerprint & _UNSIGNED or 1  # zero marks an empty slot
        start = fingerprint % self._buckets * _BUCKET
        slots = self._slots
        for slot in range(start, start + _BUCKET):
            if slots[slot] == fingerprint:
                return True
            if slots[slot] == 0:
                slots[slot] = fingerprint
                return False
        slots[start + (fingerprint >> 62) % _BUCKET] = fingerprint
        return False


class _Count:
    __slots__ = ("local", "shared", "unshared")

    def __init__(self, attempts: int) -> None:
        self.local = attempts  # attempts seen here
        self.unshared = attempts  # attempts seen here that the last shared total did not include
        self.shared = 0  # the shared total at the last flush: every instance's attempts

    @property
    def total(self) -> int:
        return self.shared + self.unshared if self.shared else self.local


class _Window:
    """One limit's exact counts in its current window, least recently active first."""

    __slots__ = ("counts", "end", "number")

    def __init__(self, number: int, end: float) -> None:
        self.number = number
        self.end = end
        self.counts: OrderedDict[tuple[str, str], _Count] = OrderedDict()


# What a flush adds to one shared count: (limit index, window number, scope, visitor).
_Key = tuple[int, int, str, str]


class RateLimiter:
    def __init__(
        self,
        client: Any,
        key: bytes,
        limits: Sequence[Limit],
        *,
        flush_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
        seen_slots: int = SEEN_SLOTS,
        tracked: int = TRACKED,
    ) -> None:
        self._client = client
        self._key = key
        self._limits = tuple(limits)
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._tracked = tracked
        self._seen = _Seen(seen_slots)
        self._windows = [_Window(-1, 0.0) for _ in self._limits]
        self._unflushed: dict[_Key, int] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._last_flush = clock()

    def hit(self, visitor: str, session_id: str) -> None:
        """Count one attempt; raise RateLimitedError (with the seconds to wait) when a limit is passed."""
        now = self._clock()
        who = visitor_key(visitor)
        wait = 0.0
        with self._lock:
            for index, limit in enumerate(self._limits):
                total = self._count(index, limit, now, session_id if limit.per_session else "*", who)
                if total > limit.attempts:
                    wait = max(wait, self._windows[index].end - now)
        if self._unflushed and now - self._last_flush >= self._flush_seconds:
            self._last_flush = now
            threading.Thread(target=self.flush, name="ratelimit-flush", daemon=True).start()
        if wait:
            raise RateLimitedError(math.ceil(wait))

    def _count(self, index: int, limit: Limit, now: float, scope: str, who: str) -> int:
        """Count an attempt against one limit (under the lock, a fixed amount of work); the visitor's total."""
        number = int(now // limit.window_seconds)
        window = self._windows[index]
        if window.number != number:
            window = self._windows[index] = _Window(number, (number + 1) * limit.window_seconds)
        count = window.counts.get((scope, who))
        if count is not None:
            window.counts.move_to_end((scope, who))
            count.local += 1
            count.unshared += 1
            added = 1
        elif self._seen.add(hash((index, number, scope, who))):
            # The second attempt here: from now on every attempt (the first included) goes to the shared count.
            count = window.counts[(scope, who)] = _Count(SHARE_FROM)
            if len(window.counts) > self._tracked:
                window.counts.popitem(last=False)
            added = SHARE_FROM
        else:
            return 1
        key = (index, number, scope, who)
        if key in self._unflushed or len(self._unflushed) < self._tracked * len(self._limits):
            self._unflushed[key] = self._unflushed.get(key, 0) + added
        # else a flush is long overdue (the database is slow): the attempt counts here, but is not shared
        return count.total

    def flush(self, wait: bool = False) -> None:
        """Add what changed since the last flush to the shared counts, and learn their totals from the answers.

        The background flush skips when one is already running; `wait` waits for it and then flushes.
        """
        if not self._flushing.acquire(blocking=wait):
            return
        try:
            with self._lock:
                changed, self._unflushed = list(self._unflushed.items()), {}
            for start in range(0, len(changed), BATCH):
                self._share(changed[start : start + BATCH])
        finally:
            self._flushing.release()

    def _share(self, changed: list[tuple[_Key, int]]) -> None:
        batch = self._client.batch()
        for (index, number, scope, who), attempts in changed:
            limit = self._limits[index]
            document = self._digest(f"{limit.name}\x00{scope}\x00{who}\x00{number}")
            expires = datetime.fromtimestamp((number + 1) * limit.window_seconds, UTC) + timedelta(hours=1)
            batch.set(
                self._client.collection(RATELIMITS).document(document),
                {"count": firestore.Increment(attempts), EXPIRES_AT: expires},
                merge=True,
            )
        try:
            results = batch.commit(timeout=5.0)
        except (google_errors.GoogleAPIError, OSError) as error:
            # Not sent again: had the write been applied after all, that would count these attempts twice.
            # They still count here.
            log.warning("rate limit counts not shared this time: %s", type(error).__name__)
            return
        with self._lock:
            for ((index, number, scope, who), attempts), result in zip(changed, results, strict=True):
                window = self._windows[index]
                count = window.counts.get((scope, who)) if window.number == number else None
                if count is not None:
                    count.unshared = max(count.unshared - attempts, 0)  # forgotten and counted afresh meanwhile
                    count.shared = int(result.transform_results[0].integer_value)

    def _digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:32]
