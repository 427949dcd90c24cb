"""Several SMTP connections at once, never more than SMTP_MAX_CONNECTIONS per instance, at most so many mails a second.

A relay answers each message after tens to hundreds of milliseconds; one connection in series then sends ten
mails a second at best. The pool lends its connections to every sender of the instance (concurrent events and
ticks alike), so the limit holds for the instance as a whole, and keeps them open while anyone is sending.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from signup.mail.transport.smtp import Connection, SmtpTransport


class Pacer:
    """At most `per_second` sends a second across all threads: each caller gets the next free moment and waits."""

    def __init__(
        self,
        per_second: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second or None
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.per_second is None:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + 1 / self.per_second
        if slot > now:
            self._sleep(slot - now)


class ConnectionPool:
    def __init__(self, transport: SmtpTransport, size: int, pacer: Pacer | None = None) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        self.size = size
        self._transport = transport
        self._pacer = pacer or Pacer(None)
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[Connection] = []
        self._users = 0
        self._lock = threading.Lock()

    @property
    def timeout_margin(self) -> timedelta:
        return self._transport.timeout_margin

    def batch(self, most: int) -> int:
        """How many mails to claim at once: no more than the pace lets go out in a minute, so that claims stay
        far inside their lease while they wait their turn."""
        if self._pacer.per_second is None:
            return most
        return max(1, min(most, int(self._pacer.per_second * 60)))

    @contextmanager
    def sending(self) -> Iterator[None]:
        """One run that sends; connections stay open while any run does, and are closed when the last one ends."""
        with self._lock:
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                closing = self._idle if self._users == 0 else []
                if self._users == 0:
                    self._idle = []
            for connection in closing:
                connection.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection of the instance's own, waiting while all `size` are in use."""
        with self._slots:
            with self._lock:
                connection = self._idle.pop() if self._idle else Connection(self._transport)
            try:
                yield connection
            finally:
                with self._lock:
                    self._idle.append(connection)

    def pace(self) -> None:
        """Wait for this send's moment under SMTP_MAX_PER_SECOND."""
        self._pacer.wait()
