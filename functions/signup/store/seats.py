"""A limited session's seats: each one its own document, handed out from a listing each instance keeps briefly.

A counter on the session document would serialise every sign-up on one hot document, which collapses under a
newsletter's burst. Instead each seat of a limited session is its own document, `sessions/{id}/seats/{n}` for n
below the capacity, created together with the registration that takes it in one batch. `create()` fails if the
seat already exists, so two sign-ups can never hold the same seat (never oversold), and contention is spread over
as many documents as there are seats (where an organiser lowered the capacity under the seats taken, fewer numbers
are handed out: `free_seats`). Each instance keeps a listing of the seats for a few seconds and hands out the seats
it showed free, one per sign-up, so that a burst does not read every seat once per sign-up (and while the
session is full, it counts them instead of listing them); a stale listing costs a failed create() or a few seconds'
wait, never an oversold seat (see `Seats._memory`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from signup.ledger import fields
from signup.ledger.session import Session
from signup.store.deadlines import ON_REQUEST

log = logging.getLogger(__name__)

# A listing of a session's seats is kept this long, per instance: sign-ups take the seats it showed free one by one
# instead of each reading every seat (5 ms of CPU per 100 seats), and once it showed the session full, each sign-up
# costs one write. What a listing this old can get wrong costs little (see `Seats._memory`).
SEAT_MEMORY_SECONDS = 5.0
# How often a sign-up tries a seat that turns out taken before it settles for the waiting list.
SEAT_TRIES = 8


@dataclass
class _Listing:
    """What one instance believes of a session's seats: those free at its last listing, less those handed out."""

    listed_at: float  # monotonic seconds
    free: list[int]
    full: bool  # the listing (or, after one that was, a count of the seats) found no seat free


class Seats:
    """Hands out seats believed free, and counts the free ones for pages; safe across threads."""

    def __init__(
        self,
        client: Any,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        left_ttl: float = 0.0,
    ) -> None:
        self._client = client
        self._monotonic = monotonic
        self._rng = rng or random.SystemRandom()
        self._listings: dict[tuple[str, int], _Listing] = {}
        self._listing_now: dict[tuple[str, int], threading.Event] = {}
        self._left_ttl = left_ttl
        self._left: dict[tuple[str, int], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def session_ref(self, session_id: str) -> Any:
        return self._client.collection(fields.SESSIONS).document(session_id)

    def seat_ref(self, session_id: str, seat: int) -> Any:
        return self._client.collection(fields.SESSIONS, session_id, fields.SEATS).document(str(seat))

    def take(self, session: Session) -> int | None:
        """A seat believed free, handed to this sign-up alone; None when the session is believed full.

        The seat leaves this instance's memory whether or not its create() then succeeds: one still free after
        all (the sign-up turned out a repeat, or failed) is found again by the next listing, made as soon as the
        memory runs out.
        """
        assert session.capacity is not None
        for _ in range(SEAT_TRIES):
            listing = self._memory(session.id, session.capacity)
            with self._lock:
                if listing.full:
                    return None
                if listing.free:
                    # At random, so that instances listing at the same moment mostly try different seats.
                    index = self._rng.randrange(len(listing.free))
                    listing.free[index], listing.free[-1] = listing.free[-1], listing.free[index]
                    return listing.free.pop()
            # other sign-ups here took the rest meanwhile: list again
        return None

    def believed_free(self, session: Session) -> bool:
        """Whether this instance believes a seat is free (its listing, or a new one)."""
        assert session.capacity is not None
        return bool(self._memory(session.id, session.capacity).free)

    def forget(self, session: Session) -> None:
        """Seats were freed (a cancellation) or taken (a promotion): the next sign-up here lists them afresh."""
        if session.capacity is not None:
            with self._lock:
                self._listings.pop((session.id, session.capacity), None)

    def free_now(self, session: Session) -> list[int]:
        """The seats free right now: every seat document's id is read (not their fields)."""
        assert session.capacity is not None
        return self._list(session.id, session.capacity)

    def left(self, session: Session) -> int | None:
        """How many seats are free (None: unlimited), for pages, not sign-ups: one aggregation query, kept for
        `left_ttl` seconds as the session document is, so that a newsletter's readers cost one, not one each."""
        if session.capacity is None:
            return None
        key = (session.id, session.capacity)
        now = self._monotonic()
        cached = self._left.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        left = max(session.capacity - self._taken(session.id), 0)
        if self._left_ttl > 0:
            self._left[key] = (now + self._left_ttl, left)
        return left

    def _memory(self, session_id: str, capacity: int) -> _Listing:
        """The seats this instance believes free: its last listing, while that is younger than SEAT_MEMORY_SECONDS
        and not used up; otherwise a new listing.

        A listing this old can be wrong both ways, and neither oversells, for a seat is taken only by its create().
        A seat another instance took meanwhile costs the sign-up that tries it one failed create(), and it tries
        the next. A seat freed meanwhile by a cancellation elsewhere is not offered here until the next listing, so
        a newcomer may be waitlisted beside a free seat for up to SEAT_MEMORY_SECONDS: that cancellation's own
        promotion gives the seat to the first on the waiting list at once, and if nobody was waiting yet the next
        sweep's promotion gives it to the newcomer, unless a sign-up after those seconds took it first. A
        cancellation here makes the promotion forget the listing.

        One sign-up per session lists at a time: the others meanwhile go on with the old listing, or, with none
        left to go on with (the first burst, or all handed out), wait for the new one, so that a burst of sign-ups
        costs one listing, not one each. A listing that found the session full is followed by a count of the seats
        (an aggregation: one read per thousand seats, where a listing reads each): only a count below the capacity
        lists them again.
        """
        key = (session_id, capacity)
        while True:
            with self._lock:
                listing = self._listings.get(key)
                usable = listing is not None and (listing.full or bool(listing.free))
                if listing is not None and usable and self._monotonic() < listing.listed_at + SEAT_MEMORY_SECONDS:
                    return listing
                running = self._listing_now.get(key)
                if running is None:
                    running = self._listing_now[key] = threading.Event()
                    break
                if listing is not None and usable:
                    return listing
            running.wait()
        try:
            listed_at = self._monotonic()
            if listing is not None and listing.full and self._taken(session_id) >= capacity:
                # Still full, as a burst on a full session finds it every few seconds: counting the seats costs a
                # read per thousand of them, listing them one per seat.
                free = []
            else:
                free = self._list(session_id, capacity)
            listing = _Listing(listed_at, free, full=not free)
            with self._lock:
                self._listings[key] = listing
            return listing
        finally:
            with self._lock:
                del self._listing_now[key]
            running.set()

    def _taken(self, session_id: str) -> int:
        taken = int(self.session_ref(session_id).collection(fields.SEATS).count().get(**ON_REQUEST)[0][0].value)
        log.debug("counted seats session=%s taken=%d", session_id, taken)
        return taken

    def _list(self, session_id: str, capacity: int) -> list[int]:
        seats = self.session_ref(session_id).collection(fields.SEATS).select([]).stream(**ON_REQUEST)
        numbers = {int(snapshot.id) for snapshot in seats if snapshot.id.isascii() and snapshot.id.isdigit()}
        free = free_seats(numbers, capacity)
        log.debug("listed seats session=%s free=%d", session_id, len(free))
        return free


def free_seats(taken: set[int], capacity: int) -> list[int]:
    """The seat numbers a sign-up may take: those free below `limit`, where `limit` is the capacity unless an
    organiser lowered it under seats already taken. Those seats stay with their holders, so `limit` is lowered until
    the seats at or above it and all the numbers below it together are no more than the capacity: each number is
    created once at most, so the session never holds more."""
    limit, excess = capacity, sum(1 for seat in taken if seat >= capacity)
    while excess > 0 and limit > 0:
        limit -= 1
        if limit not in taken:
            excess -= 1  # one number fewer to give out; a taken one was counted among those above already
    return [seat for seat in range(limit) if seat not in taken]
