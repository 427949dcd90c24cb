"""Sign-up benchmark: `register` against floor functions on the same server and emulator.

Run with `make bench`. The floors (bench/floor.py): the fair floor stores the very record `register` stores for a
sign-up and does nothing else, so that a ratio to it is the cost of our code, not of the record; the bare floor does
one `create()` of `{"n": 1}`, what the database costs at the least (a second line). Ratios are to the fair floor.
The load comes from Debian's `wrk` (bench/visitors.lua), 16 connections, every request a new visitor. Printed, each
as a ratio to the fair floor measured in the same run, in two modes: throughput and CPU seconds per request of the
serving process, p50 and p99 latency, the emulator's CPU per request and peak memory.

- Burst: what a newsletter's burst meets. Each kind's one server, warmed up and then kept, takes the load alone for
  STEADY_SECONDS (10 s) a round, the others idle beside it, over six rotated rounds: a minute of load and some
  40,000 sign-ups in one session per server, so that whatever builds up over a minute (garbage, caches and
  listings refreshed, a session's growing collection) shows in the tail. Each round's ratios are printed too.
- Turns: six short rounds, in each of which fresh servers of the kinds run side by side and take turns a second at a
  time; the ratio within a round compares seconds next to each other, which this machine's drifting speed needs, but
  anything that builds up over seconds rarely lands inside a turn.

The sessions: an open one, and a full one (100 seats, all taken during its warm-up: every later sign-up goes to the
waiting list). Then cold start (process start to first stored registration, the floors and register alternated),
and what one instance sustains at the deployed settings (THREADS = concurrency = 80, one CPU, the database's
answers delayed as Firestore's are), against functions-framework's default of 4 threads.
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import BENCH_SIGNING_KEY, procs, wrk
from dev import emulator, processes

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-signup-bench"
CONNECTIONS = 16
SECONDS = float(os.environ.get("BENCH_SECONDS", "18"))
COLD_STARTS = 7
# Many short rounds, each measuring every kind back to back: a ratio is taken within a round, where the machine's
# other load and the emulator's state are alike for both, and the median over the rounds is reported.
ROUNDS = 6
# Within a round the kinds' servers run side by side and take turns a second at a time, so that a ratio compares
# seconds next to each other: this machine's speed changes by a fifth within seconds (other guests' load).
SLICES = 3
WARM_UP_SECONDS = 6.0  # per kind
# The burst mode: each kind alone for this long in each of its rounds, on a server kept for all of them.
STEADY_SECONDS = float(os.environ.get("BENCH_STEADY_SECONDS", "10"))
STEADY_ROUNDS = 6
# As deployed (infra/variables.tf): one vCPU, 80 requests at a time.
CONCURRENCY = 80
DEPLOYED_SECONDS = 8.0
# What a commit to Firestore in eur3 takes from Cloud Run, roughly; the emulator answers within a millisecond, at
# which 4 threads already keep one core busy and the threads' worth would not show.
LATENCY_MS = "30"


@dataclass(frozen=True)
class Kind:
    target: str
    source: str
    path: str


@dataclass(frozen=True)
class Server:
    url: str
    group: int  # its process group


@dataclass(frozen=True)
class Run:
    result: wrk.Result
    server_cpu: float  # CPU seconds of the serving process group during the measured run
    emulator_cpu: float
    memory_kib: int

    @property
    def server_ms(self) -> float:
        return 1000 * self.server_cpu / max(self.result.requests, 1)

    @property
    def emulator_ms(self) -> float:
        return 1000 * self.emulator_cpu / max(self.result.requests, 1)


def serve(kind: Kind, port: int, env: dict[str, str], cpus: str | None = None) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "functions_framework", f"--target={kind.target}", f"--source={kind.source}"]
    argv += [f"--port={port}", "--host=127.0.0.1"]
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    return processes.start(argv, env=env, log=Path(os.devnull), cwd=ROOT)


@contextmanager
def serving(
    kind: Kind, env: dict[str, str], *, cpus: str | None = None, load_cpus: str | None = None
) -> Iterator[Server]:
    """A server of `kind`, answering and warmed up, for as long as the block lasts."""
    port = processes.free_port()
    process = serve(kind, port, env, cpus)
    try:
        processes.wait_until(processes.answers(f"http://127.0.0.1:{port}/healthz"), process, kind.target)
        url = f"http://127.0.0.1:{port}{kind.path}"
        wrk.run(url, connections=CONNECTIONS, seconds=1, cpus=load_cpus)
        yield Server(url, process.pid)
    finally:
        processes.stop(process)


def sample(
    server: Server,
    database: emulator.Emulator,
    seconds: float,
    *,
    connections: int = CONNECTIONS,
    load_cpus: str | None = None,
) -> Run:
    """Load the server for `seconds`: what it answered, and what it and the emulator spent meanwhile."""
    before, database_before = procs.cpu_seconds(server.group), procs.cpu_seconds(database.process.pid)
    result = wrk.run(server.url, connections=connections, seconds=seconds, cpus=load_cpus)
    return Run(
        result,
        procs.cpu_seconds(server.group) - before,
        procs.cpu_seconds(database.process.pid) - database_before,
        procs.peak_memory_kib(server.group),
    )


def measure(
    kind: Kind,
    env: dict[str, str],
    database: emulator.Emulator,
    seconds: float,
    *,
    connections: int = CONNECTIONS,
    cpus: str | None = None,
    load_cpus: str | None = None,
) -> Run:
    with serving(kind, env, cpus=cpus, load_cpus=load_cpus) as server:
        return sample(server, database, seconds, connections=connections, load_cpus=load_cpus)


def combine(runs: list[Run]) -> Run:
    """Several rounds of one kind as one: pooled requests and latencies, summed CPU, the highest memory peak."""
    return Run(
        wrk.pool([run.result for run in runs]),
        sum(run.server_cpu for run in runs),
        sum(run.emulator_cpu for run in runs),
        max(run.memory_kib for run in runs),
    )


def post(url: str, payload: bytes) -> int:
    request = urllib.request.Request(url, data=payload, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def compile_sources() -> None:
    """Byte-compile both functions' sources as they are on Google: the buildpack for Cloud Functions runs
    `python3 -m compileall -f -q .` (cmd/python/functions_framework of GoogleCloudPlatform/buildpacks), and infra/
    sets SOURCE_DATE_EPOCH for the build, so the .pyc are checked by hash. Where PYTHONDONTWRITEBYTECODE is set, as
    on these machines, nothing else would write them, and every start would compile the sources afresh."""
    for source in ("functions", "bench"):
        compileall.compile_dir(
            ROOT / source, quiet=1, force=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        )


def cold_start(kind: Kind, env: dict[str, str]) -> float:
    """Seconds from process start to the first 201 (the first stored registration)."""
    port = processes.free_port()
    payload = json.dumps(
        {"first_name": "Koud", "infix": "van", "last_name": "Start", "email": f"{uuid.uuid4().hex}@example.nl"}
    )
    began = time.perf_counter()
    process = serve(kind, port, env)
    try:
        while post(f"http://127.0.0.1:{port}{kind.path}", payload.encode()) != 201:
            if process.poll() is not None or time.perf_counter() - began > 60:
                raise RuntimeError(f"{kind.target} did not start")
            time.sleep(0.005)
        return time.perf_counter() - began
    finally:
        processes.stop(process)


def environment(database: emulator.Emulator) -> dict[str, str]:
    """The servers' environment, set in this process too (for its own client of the emulator)."""
    env = {
        **os.environ,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": database.host,
        "PUBLIC_BASE_URL": "http://127.0.0.1",
        "SIGNING_KEY": BENCH_SIGNING_KEY,
        "EMAIL_CHECK_DELIVERABILITY": "false",
    }
    os.environ.update(env)
    return env


def make_session(db: Any, capacity: int | None) -> str:
    session_id = f"bench-{uuid.uuid4().hex[:8]}"
    starts = datetime.now(UTC) + timedelta(days=30)
    db.collection("sessions").document(session_id).set(
        {"title": "Bench", "starts_at": starts, "ends_at": starts + timedelta(hours=2), "capacity": capacity}
    )
    return session_id


def throughput(run: Run) -> float:
    return run.result.rate


def cpu_per_request(run: Run) -> float:
    return run.server_ms


def p99(run: Run) -> float:
    return run.result.percentile(99)


def ratios(rounds: dict[str, list[Run]], floor: str, figure: Callable[[Run], float]) -> dict[str, list[float]]:
    """Each kind's figure as a ratio to the floor's in the same round, round by round."""
    return {
        name: [figure(run) / figure(base) for run, base in zip(runs, rounds[floor], strict=True)]
        for name, runs in rounds.items()
    }


def paired(rounds: dict[str, list[Run]], floor: str, figure: Callable[[Run], float]) -> dict[str, float]:
    """Each kind's ratio to the floor within a round, the median over the rounds."""
    return {name: statistics.median(values) for name, values in ratios(rounds, floor, figure).items()}


def table(rounds: dict[str, list[Run]], floor: str) -> str:
    """A Markdown table, ready for the README: each figure over all rounds, and its ratio to the floor (throughput
    and CPU: the median of the ratios within rounds; p99 and memory: of the figures over all rounds)."""
    runs = {name: combine(kind_rounds) for name, kind_rounds in rounds.items()}
    base = runs[floor]
    rate, per_request = paired(rounds, floor, throughput), paired(rounds, floor, cpu_per_request)
    lines = [
        "| run | req/s | × fair floor | p50 ms | p99 ms | × fair floor | failed | CPU ms/req | × fair floor "
        "| emulator CPU ms/req | peak MiB | × fair floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        result = run.result
        lines.append(
            f"| {name} | {result.rate:.0f} | {rate[name]:.2f} | {result.percentile(50):.1f} "
            f"| {result.percentile(99):.1f} | {result.percentile(99) / base.result.percentile(99):.2f} "
            f"| {result.failures} | {run.server_ms:.2f} | {per_request[name]:.2f} "
            f"| {run.emulator_ms:.2f} | {run.memory_kib / 1024:.1f} | {run.memory_kib / base.memory_kib:.2f} |"
        )
    return "\n".join(lines)


def as_deployed(kind: Kind, env: dict[str, str], database: emulator.Emulator) -> None:
    """One instance as deployed: the server on one core, 80 connections; on the other core the load generator and
    a proxy that delays the emulator's answers as Firestore's would be. With functions-framework's 4 threads per
    CPU, and with THREADS as infra/ sets it."""
    proxy_port = processes.free_port()
    target_port = database.host.rsplit(":", 1)[1]
    proxy = processes.start(
        ["taskset", "-c", "1", sys.executable, "-m", "bench.latency", str(proxy_port), target_port, LATENCY_MS],
        log=Path(os.devnull),
        cwd=ROOT,
    )
    print(
        f"\none instance as deployed: server pinned to one core (taskset), {CONCURRENCY} connections, "
        f"{DEPLOYED_SECONDS:.0f} s, open session, every database answer {LATENCY_MS} ms later\n"
    )
    print("| THREADS | req/s | p50 ms | p99 ms | failed | CPU ms/req |\n|---|---:|---:|---:|---:|---:|")
    try:
        for threads, label in (("4", "4 (functions-framework's default on 1 CPU)"), (str(CONCURRENCY), "80 (infra/)")):
            delayed = {**env, "THREADS": threads, "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{proxy_port}"}
            run = measure(kind, delayed, database, DEPLOYED_SECONDS, connections=CONCURRENCY, cpus="0", load_cpus="1")
            print(
                f"| {label} | {run.result.rate:.0f} | {run.result.percentile(50):.1f} | "
                f"{run.result.percentile(99):.1f} | {run.result.failures} | {run.server_ms:.2f} |"
            )
    finally:
        processes.stop(proxy)


def turns(kinds: dict[str, Kind], database: emulator.Emulator, env: dict[str, str]) -> dict[str, list[Run]]:
    """Rotated rounds in which fresh servers of the kinds run side by side and take turns under load, SLICES times
    each."""
    rounds: dict[str, list[Run]] = {name: [] for name in kinds}
    for order in rotated(list(kinds), ROUNDS):
        with ExitStack() as servers:
            running = {name: servers.enter_context(serving(kinds[name], env)) for name in order}
            slices: dict[str, list[Run]] = {name: [] for name in order}
            for _ in range(SLICES):
                for name in order:
                    slices[name].append(sample(running[name], database, SECONDS / ROUNDS / SLICES))
        for name in order:
            rounds[name].append(combine(slices[name]))
    return rounds


def burst(kinds: dict[str, Kind], database: emulator.Emulator, env: dict[str, str]) -> dict[str, list[Run]]:
    """Each kind's one server, warmed up and kept, alone under load for STEADY_SECONDS a round, in rotated rounds."""
    rounds: dict[str, list[Run]] = {name: [] for name in kinds}
    with ExitStack() as servers:
        running = {name: servers.enter_context(serving(kind, env)) for name, kind in kinds.items()}
        for server in running.values():
            sample(server, database, WARM_UP_SECONDS)  # its channel, caches and first listings: thrown away
        for order in rotated(list(kinds), STEADY_ROUNDS):
            for name in order:
                rounds[name].append(sample(running[name], database, STEADY_SECONDS))
    return rounds


def rotated(names: list[str], rounds: int) -> Iterator[list[str]]:
    """The kinds' order in each round, each kind first in turn."""
    for round_ in range(rounds):
        turn = round_ % len(names)
        yield names[turn:] + names[:turn]


def report(rounds: dict[str, list[Run]], names: list[str]) -> None:
    print(table(rounds, names[0]))
    print("\nthe rounds' ratios to the fair floor, in the order they ran, throughput / CPU / p99:")
    rates, cpu = ratios(rounds, names[0], throughput), ratios(rounds, names[0], cpu_per_request)
    tail = ratios(rounds, names[0], p99)
    for name in names[1:]:
        triples = zip(rates[name], cpu[name], tail[name], strict=True)
        print(f"- {name}: {' '.join(f'{rate:.2f}/{used:.2f}/{late:.2f}' for rate, used, late in triples)}")
    print("each round's p99 in ms:")
    for name in names:
        print(f"- {name}: {' '.join(f'{p99(run):.0f}' for run in rounds[name])}")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


FAIR, BARE, OPEN, FULL = (
    "fair floor (the same record)",
    "bare floor (one create of {n: 1})",
    "register, open session",
    "register, full (100 seats taken)",
)


def main() -> int:
    database = emulator.start(PROJECT, log=Path(os.devnull))
    try:
        env = environment(database)
        from google.cloud import firestore

        db = firestore.Client(project=PROJECT)
        full_session = make_session(db, 100)
        kinds = {
            FAIR: Kind("fair_floor", "bench/floor.py", f"/sessions/{make_session(db, None)}/registrations"),
            BARE: Kind("floor", "bench/floor.py", "/"),
            OPEN: Kind("register", "functions/main.py", f"/sessions/{make_session(db, None)}/registrations"),
            FULL: Kind("register", "functions/main.py", f"/sessions/{full_session}/registrations"),
        }
        print(f"load average before: {load_average()} (2 cores, shared)")
        # The emulator's JVM keeps compiling for a good while under load, so one run after another would favour
        # whatever runs last: warm it up and throw that away, then interleave the kinds over rotated rounds. Each
        # kind warms up the code it runs in the emulator (a registration's transforms and queries are not the
        # floor's), else the JVM would still be compiling them in the first measured rounds. The full session's
        # warm-up takes its 100 seats.
        names = list(kinds)
        for name in names:
            measure(kinds[name], env, database, WARM_UP_SECONDS)
        still = burst(kinds, database, env)
        print(
            f"\nburst: wrk, {CONNECTIONS} connections, every request a new visitor; each kind's one server, warmed up "
            f"for {WARM_UP_SECONDS:.0f} s and kept, alone under load for {STEADY_SECONDS:.0f} s a round, "
            f"{STEADY_ROUNDS} rotated rounds; CPU is user + system time of each process group per request; "
            "× fair floor for throughput and CPU is the median over the rounds of the ratio within each round, for "
            "p99 and memory the ratio of the figures over all rounds\n"
        )
        report(still, names)
        rounds = turns(kinds, database, env)
        print(
            f"\nturns: {SECONDS:.0f} s per kind in {ROUNDS} rotated rounds, fresh servers side by side in each "
            f"round taking turns {SLICES} times; otherwise as above\n"
        )
        report(rounds, names)
        seats = db.collection("sessions").document(full_session).collection("seats").count().get()[0][0].value
        print(f"\nthe full session: {seats} seats taken")

        compile_sources()
        # Alternated, so that a change in the machine's load meanwhile falls on all alike.
        colds: dict[str, list[float]] = {FAIR: [], BARE: [], OPEN: []}
        for _ in range(COLD_STARTS):
            for name, cold in colds.items():
                cold.append(cold_start(kinds[name], env))
        fair_cold, bare_cold, ours_cold = (statistics.median(colds[name]) for name in (FAIR, BARE, OPEN))
        print(
            f"cold start to first stored registration (median of {COLD_STARTS}): fair floor {fair_cold:.2f} s, "
            f"bare floor {bare_cold:.2f} s, register {ours_cold:.2f} s; ratio {ours_cold / fair_cold:.2f} to the fair "
            f"floor, {ours_cold / bare_cold:.2f} to the bare one"
        )

        as_deployed(kinds[OPEN], env, database)
        print(f"\nload average after: {load_average()}")
        # The deployed run drives one core to its limit on purpose: its failures are reported, not fatal.
        failed = any(run.result.failures for mode in (rounds, still) for runs in mode.values() for run in runs)
        return 1 if failed or seats != 100 else 0
    finally:
        database.stop()


if __name__ == "__main__":
    raise SystemExit(main())
