"""Start and stop local servers by their own process group, never by name."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path


def free_port() -> int:
    """Return a TCP port on loopback that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in a process group of its own, so that it stops whole; output to `log` or ours."""
    if log is None:
        return subprocess.Popen(list(argv), env=env, cwd=cwd, start_new_session=True)
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            list(argv), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


ROOT = Path(__file__).resolve().parent.parent


def serve_function(
    target: str,
    port: int,
    env: dict[str, str],
    *,
    source: str = "functions/main.py",
    cloudevent: bool = False,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Serve one entry point with functions-framework, as Cloud Functions runs it, on 127.0.0.1:`port`."""
    argv = [
        sys.executable,
        "-m",
        "functions_framework",
        f"--target={target}",
        f"--source={source}",
        f"--port={port}",
        "--host=127.0.0.1",
    ]
    if cloudevent:
        argv.append("--signature-type=cloudevent")
    return start(argv, env=env, log=log, cwd=ROOT)


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a server started by `start`: TERM its whole group, KILL what lingers, and return only once every
    process of the group is gone (a launcher script may exit before the JVM it started has shut down)."""
    deadline = time.monotonic() + grace
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        while _group_alive(process) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _group_alive(process):
            break
        deadline = time.monotonic() + grace
    process.wait()


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    process.poll()  # reap the leader, so that it does not linger as a zombie of the group
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, timeout: float = 60.0) -> None:
    """Poll `ready` until it holds; fail with `what` if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s")


def answers(url: str, expected: bytes | None = None) -> Callable[[], bool]:
    """A readiness check: `url` answers 200 (with `expected` in its body, if given)."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return expected is None or expected in response.read()
        except (urllib.error.URLError, OSError):
            return False

    return check
