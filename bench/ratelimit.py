"""Rate limiter under a crowd: memory and time per attempt for 10^4, 10^5 and 10^6 distinct visitors.

`python -m bench.ratelimit` (part of `make bench`). Pure Python, no database (no flush runs): what one instance
holds in memory, and how long one attempt takes under the lock, at the first attempt of every visitor (a
newsletter's readers, or a botnet of one-time addresses) and when each visitor tries twice (then their counts are
kept exactly and shared). Each crowd runs in a process of its own.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from signup.http.ratelimit import Limit, RateLimiter

LIMITS = (Limit("session", 20, 600, per_session=True), Limit("overall", 60, 600, per_session=False))
CROWDS = (10_000, 100_000, 1_000_000)
_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    gc.collect()
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE


def crowd(visitors: int, attempts: int) -> tuple[float, float]:
    """MiB the limiter grew by, and CPU µs per attempt, after `visitors` made `attempts` attempts each."""
    addresses = [f"{10 + (n >> 24)}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in range(visitors)]
    before = resident_bytes()
    limiter = RateLimiter(None, b"bench-key-0123456789", LIMITS, flush_seconds=float("inf"))
    began = time.process_time()
    for address in addresses:
        for _ in range(attempts):
            limiter.hit(address, "bench")
    cpu = (time.process_time() - began) / (visitors * attempts)
    return (resident_bytes() - before) / 2**20, cpu * 1e6


def main() -> int:
    if len(sys.argv) == 3:  # one crowd, in a fresh process so that memory freed by another cannot hide growth
        print(json.dumps(crowd(int(sys.argv[1]), int(sys.argv[2]))))
        return 0
    print("\nrate limiter, distinct visitors in one window (resident memory it adds; CPU per attempt, no flush)\n")
    print("| visitors | attempts each | memory MiB | CPU µs per attempt |\n|---:|---:|---:|---:|")
    for visitors in CROWDS:
        for attempts in (1, 2):
            out = subprocess.run(
                [sys.executable, "-m", "bench.ratelimit", str(visitors), str(attempts)],
                check=True,
                capture_output=True,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
            ).stdout
            memory, cpu = json.loads(out)
            print(f"| {visitors:,} | {attempts} | {memory:.1f} | {cpu:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
