"""bench.tail's arithmetic: which garbage collections a request waited through, and the report of the slowest."""

from __future__ import annotations

import pytest

from bench.tail import report

COLLECTIONS = [[1.0, 1.1, 0], [2.0, 2.5, 2], [3.0, 3.01, 1]]


@pytest.mark.parametrize(
    ("start", "end", "paused_ms"),
    [
        (0.0, 0.9, "0.0"),  # before any
        (0.9, 1.2, "100.0"),  # one whole collection inside
        (2.25, 2.75, "250.0"),  # from the middle of one
        (0.5, 3.5, "610.0"),  # through all three
    ],
)
def test_a_request_waits_through_the_collections_that_overlap_it(start: float, end: float, paused_ms: str) -> None:
    lines = report([(start, end, {"commit": 0.01})], COLLECTIONS, []).splitlines()

    slowest = next(line for line in lines if line.startswith("| the slowest 1 %"))
    assert slowest.split(" | ")[-2] == paused_ms


def test_the_slowest_one_percent_are_told_apart_from_the_median() -> None:
    fast = [(float(n), n + 0.008, {"commit": 0.007}) for n in range(99)]
    slow = [(200.0, 200.030, {"commit": 0.029, "session": 0.001})]

    lines = report(fast + slow, [], [[5.0, 5.2]]).splitlines()

    assert lines[0] == "handler: 100 requests, p50 8.0 ms, p99 30.0 ms"
    assert "| the median requests (45-55 %) | 8.0 | 0.0 | 0.0 | 0.0 | 7.0 | 0.0 | 0.0 | 1.0 |" in lines
    assert "| the slowest 1 % | 30.0 | 1.0 | 0.0 | 0.0 | 29.0 | 0.0 | 0.0 | 0.0 |" in lines
    assert "rate limit flushes: 1, longest 200.0 ms" in lines
