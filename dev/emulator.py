"""Google's Firestore emulator as a local server that we start and stop ourselves."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dev import processes

_CANDIDATES = (
    Path("/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"),
    Path("/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"),
)

MISSING = (
    "Google's Firestore emulator is not installed. Install it with "
    "`gcloud components install cloud-firestore-emulator`, or the "
    "`google-cloud-cli-firestore-emulator` package from Google's apt repository; "
    "it needs Java 11 or newer."
)


def executable() -> Path:
    """Find the emulator's launcher, or say how to install it."""
    for candidate in _CANDIDATES:
        if candidate.exists():
            return candidate
    sdk = shutil.which("gcloud")
    if sdk:
        found = Path(sdk).resolve().parent.parent / "platform/cloud-firestore-emulator/cloud_firestore_emulator"
        if found.exists():
            return found
    raise RuntimeError(MISSING)


SNAPSHOT = "snapshot"


@dataclass
class Emulator:
    """A running emulator: where it listens, and its process."""

    host: str
    project: str
    process: subprocess.Popen[bytes]

    def wipe(self) -> None:
        """Delete every document, for test isolation."""
        request = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{self.project}/databases/(default)/documents",
            method="DELETE",
        )
        urllib.request.urlopen(request, timeout=10).close()

    def export(self, data_dir: Path) -> None:
        """Save every document to `data_dir`, replacing the previous snapshot only once the new one is whole."""
        data_dir.mkdir(parents=True, exist_ok=True)
        fresh = data_dir / f"{SNAPSHOT}.new"
        shutil.rmtree(fresh, ignore_errors=True)
        request = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{self.project}:export",
            data=json.dumps(
                {
                    "database": f"projects/{self.project}/databases/(default)",
                    "export_directory": str(data_dir),
                    "export_name": fresh.name,
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=60).close()
        (fresh / f"{fresh.name}.overall_export_metadata").rename(fresh / f"{SNAPSHOT}.overall_export_metadata")
        old = data_dir / f"{SNAPSHOT}.old"
        shutil.rmtree(old, ignore_errors=True)
        if (data_dir / SNAPSHOT).exists():
            (data_dir / SNAPSHOT).rename(old)
        fresh.rename(data_dir / SNAPSHOT)
        shutil.rmtree(old, ignore_errors=True)

    def stop(self) -> None:
        processes.stop(self.process)


def start(
    project: str,
    *,
    port: int | None = None,
    data_dir: Path | None = None,
    rules: Path | None = None,
    functions_emulator: str | None = None,
    log: Path | None = None,
) -> Emulator:
    """Start the emulator and wait until it answers."""
    port = port or processes.free_port()
    argv = [str(executable()), "start", "--host=127.0.0.1", f"--port={port}", f"--project_id={project}"]
    if data_dir is not None:
        metadata = data_dir / SNAPSHOT / f"{SNAPSHOT}.overall_export_metadata"
        if metadata.exists():
            argv.append(f"--seed_from_export={metadata}")
    if rules is not None:
        argv.append(f"--rules={rules}")
    if functions_emulator is not None:
        argv.append(f"--functions_emulator={functions_emulator}")
    process = processes.start(argv, log=log)
    host = f"127.0.0.1:{port}"
    processes.wait_until(processes.answers(f"http://{host}/", b"Ok"), process, "The Firestore emulator")
    return Emulator(host=host, project=project, process=process)
