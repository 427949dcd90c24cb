"""Load from Debian's `wrk` with bench/visitors.lua: every request a new visitor; results that can be pooled."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("visitors.lua")
MISSING = "wrk is not installed: `apt-get install wrk` (make bench installs it)"
# Numbers the runs of one process, so that no visitor comes twice, not even between a warm-up and its run.
_runs = itertools.count()


@dataclass(frozen=True)
class Result:
    requests: int
    failures: int
    seconds: float
    quantiles_ms: tuple[float, ...]  # 1,000 evenly spaced quantiles of the latency

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        return self.quantiles_ms[min(len(self.quantiles_ms) - 1, int(len(self.quantiles_ms) * p / 100))]


def run(url: str, *, connections: int, seconds: float, threads: int = 2, cpus: str | None = None) -> Result:
    """POST sign-ups to `url` over `connections` keep-alive connections for `seconds` (pinned to `cpus` if given)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError(MISSING)
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
    argv += ["-s", str(SCRIPT), url, "--", str(next(_runs))]
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    summary = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    return Result(
        requests=summary["requests"],
        failures=summary["failed"],
        seconds=summary["seconds"],
        quantiles_ms=tuple(summary["quantiles_ms"]),
    )


def pool(results: Sequence[Result]) -> Result:
    """Several runs of one kind as one: all requests over all seconds, each run's quantiles weighted by its size."""
    points = sorted((q, r.requests / len(r.quantiles_ms)) for r in results if r.requests for q in r.quantiles_ms)
    total = sum(weight for _, weight in points)
    quantiles: list[float] = []
    cumulative = 0.0
    for value, weight in points:
        cumulative += weight
        while len(quantiles) < 1000 and cumulative >= (len(quantiles) + 0.5) / 1000 * total:
            quantiles.append(value)
    return Result(
        requests=sum(r.requests for r in results),
        failures=sum(r.failures for r in results),
        seconds=sum(r.seconds for r in results),
        quantiles_ms=tuple(quantiles) or (float("nan"),),
    )
