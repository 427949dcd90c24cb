"""A newcomer's path, as the README's Quick start walks it: `make dev` needs only what it uses, its ports move with
the environment, a busy port is named before anything starts, and `make dev-check` passes against it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev import processes, run
from tests.conftest import ROOT


def make_dry_run(*targets: str, path: str | None = None) -> str:
    """What `make` would run for `targets` from scratch (-B: as if nothing were installed yet), without running it."""
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    make = shutil.which("make")
    assert make is not None, "GNU make is what the README's two commands run"
    done = subprocess.run(
        [make, "--no-print-directory", "-n", "-B", *targets], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_dev_installs_no_node_and_no_browser() -> None:
    commands = make_dry_run("dev")

    assert "dev.run" in commands
    assert "npm" not in commands
    assert "chromium" not in commands


def test_make_test_installs_what_the_tests_use() -> None:
    commands = make_dry_run("test")

    assert "npm ci --prefix tests/icaljs" in commands
    assert "chromium" in commands


@pytest.mark.parametrize(("uid", "prefix"), [("0", "env"), ("1000", "sudo env")])
def test_packages_are_installed_through_sudo_unless_root(tmp_path: Path, uid: str, prefix: str) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (fake / "id").chmod(0o755)

    commands = make_dry_run("/usr/bin/wrk", path=f"{fake}:{os.environ['PATH']}")

    assert f"\n{prefix} DEBIAN_FRONTEND=noninteractive apt-get update" in f"\n{commands}"


def dev_run(*arguments: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dev.run", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_says_what_can_be_set_and_starts_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"

    done = dev_run("--help", env={**os.environ, "DEV_DATA": str(data)}, timeout=10)

    assert done.returncode == 0
    for name, port, _ in run.Ports.described():
        assert f"{run.variable(name)}" in done.stdout
        assert str(port) in done.stdout
    assert "DEV_DATA" in done.stdout
    assert not data.exists()


def test_a_busy_port_is_named_with_the_variable_that_moves_it_before_anything_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        done = dev_run(env={**os.environ, **free_ports(), "DEV_REGISTER_PORT": str(port), "DEV_DATA": str(data)})

    assert done.returncode == 1
    assert f"Port {port} (register) is in use" in done.stderr
    assert "DEV_REGISTER_PORT=" in done.stderr
    assert "Address already in use" not in done.stderr
    assert not data.exists()  # nothing was started


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DEV_SMTP_PORT": "smtp"}, "DEV_SMTP_PORT must be a port number from 1 to 65535, not 'smtp'"),
        ({"DEV_SITE_PORT": "70000"}, "DEV_SITE_PORT must be a port number from 1 to 65535, not '70000'"),
        ({"DEV_SITE_PORT": "9000", "DEV_MAILBOX_PORT": "9000"}, "DEV_MAILBOX_PORT and DEV_SITE_PORT name the same"),
    ],
)
def test_a_port_setting_that_cannot_work_names_itself(variables: dict[str, str], message: str) -> None:
    done = dev_run(env={**os.environ, **variables}, timeout=10)

    assert done.returncode == 2
    assert message in done.stderr


def free_ports() -> dict[str, str]:
    return {run.variable(name): str(processes.free_port()) for name, _ in run.Ports().items()}


@contextlib.contextmanager
def dev_running(tmp_path: Path, *stopped_by: signal.Signals) -> Iterator[dict[str, str]]:
    """`make dev` as a newcomer starts it, on ports of the environment's choosing; stopped by the signals given,
    sent to its process group, after which nothing of it may still listen."""
    env = {**os.environ, **free_ports(), "DEV_DATA": str(tmp_path / "data")}
    for name in ("FIRESTORE_EMULATOR_HOST", "SMTP_URL", "PUBLIC_BASE_URL", "GOOGLE_CLOUD_PROJECT"):
        env.pop(name, None)  # the test run's own, not the newcomer's
    log = tmp_path / "dev.log"
    process = processes.start([sys.executable, "-m", "dev.run"], env=env, log=log, cwd=ROOT)
    try:
        processes.wait_until(lambda: "Press Ctrl-C" in log.read_text(), process, "make dev", timeout=90)
        yield env
        for each in stopped_by:
            os.killpg(process.pid, each)
            time.sleep(0.0005)
        process.wait(timeout=60)
        assert process.returncode == 0, log.read_text()
    finally:
        processes.stop(process)
    assert "Stopping" in log.read_text()
    for name, port in run.Ports.from_env(env).items():
        assert not _listening(port), f"{name} still listens on {port} after make dev stopped"


@pytest.fixture
def make_dev(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`make dev`, stopped with Ctrl-C's signal."""
    with dev_running(tmp_path, signal.SIGINT) as env:
        yield env


def test_a_kill_of_make_devs_process_group_stops_it_whole_however_many_times_the_signal_comes(tmp_path: Path) -> None:
    # `kill -- -PGID` of `make dev` reaches make and dev.run alike, and an impatient user sends it again: a burst,
    # so that one arrives while dev.run is still handling another.
    with dev_running(tmp_path, *[signal.SIGTERM] * 20):
        pass


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_make_dev_check_passes_against_make_dev_with_the_demo_domain_failures_expected(
    make_dev: dict[str, str],
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dev.check"], cwd=ROOT, env=make_dev, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert not [line for line in lines if line.startswith("✘")]
    expected = [line.removeprefix("⚠ expected here: ") for line in lines if line.startswith("⚠ expected here: ")]
    # Offline, example.nl answers nothing: all three; a machine that reaches its real DNS may pass some.
    assert {line.split(":")[0].split(" ")[0] for line in expected} <= {"SPF", "DMARC", "Replies"}
    assert any(line.startswith("✔ mail: the confirmation went to check@example.nl") for line in lines)
    assert any(f"http://localhost:{make_dev['DEV_REGISTER_PORT']}" in line for line in lines)


def test_make_screenshots_makes_the_documentations_pictures_anew_from_the_demo(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dev.screenshots", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("embedded-form.png", "confirmation-mail.png"):
        picture = (tmp_path / name).read_bytes()
        assert picture[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", picture[16:24])
        assert width == 1000
        assert height >= 500
