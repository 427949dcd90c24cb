"""Sign-up benchmark: `register` against a floor function doing one bare `create()`, same server, same emulator.

Run with `make bench`. Prints throughput and latency at 16 clients (open and 100-seat sessions), cold start
(process start to first stored registration) and peak memory of the serving process, each as a ratio to the floor.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import BENCH_SIGNING_KEY, load
from dev import emulator, processes

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-signup-bench"
CLIENTS = 16
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
COLD_STARTS = 5
ROUNDS = 3
WARM_UP_SECONDS = 15.0


def serve(target: str, source: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return processes.serve_function(target, port, env, source=source, log=Path(os.devnull))


def peak_memory_kib(process: subprocess.Popen[bytes]) -> int:
    """Peak resident memory (VmHWM) summed over the server's process group."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if os.getpgid(int(status.parent.name)) != process.pid:
                continue
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            total += int(fields["VmHWM"].split()[0])
        except (OSError, KeyError, ValueError):
            continue
    return total


def post(url: str, payload: bytes) -> int:
    request = urllib.request.Request(url, data=payload, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def cold_start(target: str, source: str, path: str, env: dict[str, str]) -> float:
    """Seconds from process start to the first 201 (the first stored registration)."""
    port = processes.free_port()
    payload = json.dumps({"first_name": "Koud", "last_name": "Start", "email": f"{uuid.uuid4().hex}@example.nl"})
    began = time.perf_counter()
    process = serve(target, source, port, env)
    try:
        while post(f"http://127.0.0.1:{port}{path}", payload.encode()) != 201:
            if process.poll() is not None or time.perf_counter() - began > 60:
                raise RuntimeError(f"{target} did not start")
            time.sleep(0.005)
        return time.perf_counter() - began
    finally:
        processes.stop(process)


def make_session(db: Any, capacity: int | None) -> str:
    session_id = f"bench-{uuid.uuid4().hex[:8]}"
    starts = datetime.now(UTC) + timedelta(days=30)
    db.collection("sessions").document(session_id).set(
        {"title": "Bench", "starts_at": starts, "ends_at": starts + timedelta(hours=2), "capacity": capacity}
    )
    return session_id


def body(n: int) -> bytes:
    return json.dumps(
        {
            "first_name": "Bench",
            "infix": "van",
            "last_name": f"Visitor {n}",
            "email": f"visitor{n}.{uuid.uuid4().hex[:6]}@example.nl",
        }
    ).encode()


def combine(runs: list[tuple[load.Result, int]]) -> tuple[load.Result, int]:
    """Several rounds of one kind as one result: all requests over all seconds, the highest memory peak."""
    return (
        load.Result(
            requests=sum(r.requests for r, _ in runs),
            failures=sum(r.failures for r, _ in runs),
            seconds=sum(r.seconds for r, _ in runs),
            latencies=[latency for r, _ in runs for latency in r.latencies],
        ),
        max(memory for _, memory in runs),
    )


def measure(target: str, source: str, path: str, env: dict[str, str], seconds: float) -> tuple[load.Result, int]:
    port = processes.free_port()
    process = serve(target, source, port, env)
    try:
        processes.wait_until(processes.answers(f"http://127.0.0.1:{port}/healthz"), process, target)
        load.run(f"http://127.0.0.1:{port}{path}", body, clients=CLIENTS, seconds=1)  # warm up
        result = load.run(f"http://127.0.0.1:{port}{path}", body, clients=CLIENTS, seconds=seconds)
        return result, peak_memory_kib(process)
    finally:
        processes.stop(process)


def table(results: dict[str, tuple[load.Result, int]], floor_rate: float, floor_memory: int) -> str:
    """A Markdown table, ready for the README."""
    lines = [
        "| run | req/s | × floor | p50 ms | p99 ms | failed | peak MiB | × floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (result, memory) in results.items():
        lines.append(
            f"| {name} | {result.rate:.0f} | {result.rate / floor_rate:.2f} | {result.p50 * 1000:.1f} "
            f"| {result.percentile(0.99) * 1000:.1f} | {result.failures} | {memory / 1024:.1f} "
            f"| {memory / floor_memory:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    firestore = emulator.start(PROJECT, log=Path(os.devnull))
    try:
        env = {
            **os.environ,
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "FIRESTORE_EMULATOR_HOST": firestore.host,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "SIGNING_KEY": BENCH_SIGNING_KEY,
            "EMAIL_CHECK_DELIVERABILITY": "false",
        }
        os.environ.update(env)
        from google.cloud import firestore as firestore_client

        db = firestore_client.Client(project=PROJECT)
        open_session, limited_session = make_session(db, None), make_session(db, 100)
        kinds = {
            "floor (one create)": ("floor", "bench/floor.py", "/"),
            "register, open session": ("register", "functions/main.py", f"/sessions/{open_session}/registrations"),
            "register, 100 seats": ("register", "functions/main.py", f"/sessions/{limited_session}/registrations"),
        }
        # The emulator's JVM keeps compiling for a good while under load, so one run after another would favour
        # whatever runs last: warm it up and throw that away, then interleave the kinds over rounds.
        measure(*kinds["floor (one create)"], env, seconds=WARM_UP_SECONDS)
        rounds = [
            {name: measure(*run, env, seconds=SECONDS / ROUNDS) for name, run in kinds.items()} for _ in range(ROUNDS)
        ]
        results = {name: combine([r[name] for r in rounds]) for name in kinds}
        floor_rate, floor_memory = results["floor (one create)"][0].rate, results["floor (one create)"][1]
        print(f"\n{CLIENTS} clients, {SECONDS:.0f} s each in {ROUNDS} interleaved rounds, 2-core machine, emulator\n")
        print(table(results, floor_rate, floor_memory))
        seats = db.collection("sessions").document(limited_session).collection("seats").count().get()[0][0].value
        print(f"\n100-seat session: {seats} seats taken")
        floor_cold = statistics.median(cold_start("floor", "bench/floor.py", "/", env) for _ in range(COLD_STARTS))
        ours_cold = statistics.median(
            cold_start("register", "functions/main.py", f"/sessions/{open_session}/registrations", env)
            for _ in range(COLD_STARTS)
        )
        print(
            f"cold start to first stored registration (median of {COLD_STARTS}): floor {floor_cold:.2f} s, "
            f"register {ours_cold:.2f} s, ratio {ours_cold / floor_cold:.2f}"
        )
        failed = any(result.failures for result, _ in results.values())
        return 1 if failed or seats != 100 else 0
    finally:
        firestore.stop()


if __name__ == "__main__":
    raise SystemExit(main())
