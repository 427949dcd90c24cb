"""A small closed-loop HTTP load generator: N clients on keep-alive connections, for a fixed time."""

from __future__ import annotations

import http.client
import itertools
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

# Shared by every run of a process, so that no visitor comes twice, not even between a warm-up and its run.
counter = itertools.count()


@dataclass(frozen=True)
class Result:
    requests: int
    failures: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")


def run(url: str, body: Callable[[int], bytes], *, clients: int, seconds: float, expect: int = 201) -> Result:
    """Send POSTs from `clients` threads for `seconds`; `body(n)` makes the n-th request's JSON body.

    Each request comes from another visitor (its own X-Forwarded-For), as a newsletter's readers do.
    """
    target = urlsplit(url)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
        while time.perf_counter() < stop_at:
            n = next(counter)
            payload = body(n)
            visitor = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            started = time.perf_counter()
            try:
                connection.request(
                    "POST",
                    target.path,
                    body=payload,
                    headers={"Content-Type": "application/json", "X-Forwarded-For": visitor},
                )
                response = connection.getresponse()
                response.read()
                ok = response.status == expect
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
                ok = False
            latencies[index].append(time.perf_counter() - started)
            if not ok:
                failures[index] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    flat = [latency for per_client in latencies for latency in per_client]
    return Result(requests=len(flat), failures=sum(failures), seconds=elapsed, latencies=flat)
