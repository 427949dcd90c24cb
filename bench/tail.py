"""What the slowest sign-ups wait for: `register` under load, each request's steps and the garbage collector timed.

    python -m bench.tail [--seats N] [--seconds S | --turns] [--unfreeze] [--records FILE]

Serves bench/tail_probe.py (`register` itself, with a stopwatch on its steps) on a session of its own, after 15 s
of warming the emulator up on another server, and loads it with `wrk` as bench/register.py does: for --seconds
without a break (its steady mode), or in one-second turns two seconds apart (its turns mode). Prints wrk's p50 and
p99 beside the handler's own, and for the median requests and for the slowest 1 %, the mean time in each step,
the collector's pauses that fell inside them, and the rest: our own code and the wait for the GIL. --unfreeze
thaws what the instance froze once its service was built, to see what the collector costs without.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from bench import TAIL_STEPS as STEPS
from bench import wrk
from bench.register import CONNECTIONS, PROJECT, Kind, environment, make_session, measure, serving
from dev import emulator

WARM_UP_SECONDS = 15.0
TURNS = 3

Request = tuple[float, float, dict[str, float]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tail", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seats", type=int, default=None, help="a limited session of this many seats")
    load = parser.add_mutually_exclusive_group()
    load.add_argument("--seconds", type=float, default=10.0, help="the steady load's length (default 10)")
    load.add_argument("--turns", action="store_true", help=f"{TURNS} one-second turns, two seconds apart")
    parser.add_argument("--unfreeze", action="store_true", help="thaw what the instance froze")
    parser.add_argument("--records", type=Path, help="keep every timed request and collection here, as JSON")
    args = parser.parse_args(argv)
    database = emulator.start(PROJECT, log=Path(os.devnull))
    try:
        env = environment(database)
        if args.unfreeze:
            env["PROBE_UNFREEZE"] = "1"
        from google.cloud import firestore

        db = firestore.Client(project=PROJECT)
        probe = "bench/tail_probe.py"
        measure(
            Kind("register", probe, f"/sessions/{make_session(db, None)}/registrations"), env, database, WARM_UP_SECONDS
        )
        kind = Kind("register", probe, f"/sessions/{make_session(db, args.seats)}/registrations")
        with serving(kind, env) as server:
            began = time.monotonic()
            if args.turns:
                results = []
                for _ in range(TURNS):
                    results.append(wrk.run(server.url, connections=CONNECTIONS, seconds=1))
                    time.sleep(2)
                result = wrk.pool(results)
            else:
                result = wrk.run(server.url, connections=CONNECTIONS, seconds=args.seconds)
            address = urlsplit(server.url)
            with urllib.request.urlopen(f"{address.scheme}://{address.netloc}/__records", timeout=30) as answer:
                records = json.load(answer)
        if args.records:
            args.records.write_text(json.dumps({**records, "began": began}))
    finally:
        database.stop()
    mode = f"{TURNS} one-second turns" if args.turns else f"{args.seconds:.0f} s steady"
    seats = f"{args.seats} seats" if args.seats else "open session"
    print(f"{mode}, {seats}, {CONNECTIONS} connections{', thawed' if args.unfreeze else ''}")
    print(f"wrk: {result.requests} requests, p50 {result.percentile(50):.1f} ms, p99 {result.percentile(99):.1f} ms")
    print(report([r for r in records["requests"] if r[0] >= began], records["collections"], records["flushes"]))
    return 0


def report(requests: list[Request], collections: list[list[float]], flushes: list[list[float]]) -> str:
    if not requests:
        return "no request was timed"
    requests.sort(key=lambda r: r[1] - r[0])
    count = len(requests)
    starts, ends = [c[0] for c in collections], [c[1] for c in collections]
    lines = [
        f"handler: {count} requests, p50 {_ms(_took(requests[count // 2]))} ms, "
        f"p99 {_ms(_took(requests[min(count - 1, count * 99 // 100)]))} ms"
    ]
    middle = count * 45 // 100
    groups = {"the median requests (45-55 %)": requests[middle : max(count * 55 // 100, middle + 1)]}
    groups["the slowest 1 %"] = requests[count * 99 // 100 :]
    lines.append(f"| ms, mean | total | {' | '.join(STEPS)} | collector | rest |")
    lines.append("|---|" + "---:|" * (len(STEPS) + 3))
    for name, group in groups.items():
        total = statistics.fmean(_took(r) for r in group)
        steps = [statistics.fmean(r[2].get(step, 0.0) for r in group) for step in STEPS]
        paused = statistics.fmean(_paused(r, starts, ends, collections) for r in group)
        cells = " | ".join(_ms(value) for value in (total, *steps, paused, total - sum(steps)))
        lines.append(f"| {name} | {cells} |")
    first, last = min(r[0] for r in requests), max(r[1] for r in requests)
    within = [c for c in collections if first <= c[0] <= last]
    for generation in (0, 1, 2):
        pauses = [c[1] - c[0] for c in within if c[2] == generation]
        if pauses:
            lines.append(
                f"collections of generation {generation}: {len(pauses)}, longest {_ms(max(pauses))} ms, "
                f"{_ms(sum(pauses))} ms in all"
            )
    shared = [f[1] - f[0] for f in flushes if first <= f[0] <= last]
    if shared:
        lines.append(f"rate limit flushes: {len(shared)}, longest {_ms(max(shared))} ms")
    lines.append("(the collector's pauses fall inside the steps or the rest; the rest is our code and the GIL's wait)")
    return "\n".join(lines)


def _took(request: Request) -> float:
    return request[1] - request[0]


def _paused(request: Request, starts: list[float], ends: list[float], collections: list[list[float]]) -> float:
    """Seconds of collections while the request was in flight (one at a time: each holds the GIL)."""
    low, high = bisect.bisect_right(ends, request[0]), bisect.bisect_left(starts, request[1])
    return sum(min(c[1], request[1]) - max(c[0], request[0]) for c in collections[low:high])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
