"""`make dev`: the Firestore emulator, a demo session and `register` on http://localhost:8080, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from dev import demo, emulator, processes

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".dev-data"
PROJECT = "demo-signup"
FIRESTORE_PORT = 8085
REGISTER_PORT = 8080
DEMO_SITE = "http://localhost:8000"
# The emulator keeps data in memory; save it now and then, so that even a crash keeps most of it.
SAVE_EVERY_SECONDS = 60


def environment(firestore_host: str) -> dict[str, str]:
    return {
        **os.environ,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": firestore_host,
        "PUBLIC_BASE_URL": f"http://localhost:{REGISTER_PORT}",
        "SIGNING_KEY": os.environ.get("SIGNING_KEY", "dev-only-signing-key-not-secret"),
        "EMAIL_CHECK_DELIVERABILITY": "false",
    }


def main() -> int:
    DATA.mkdir(exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    firestore: emulator.Emulator | None = None
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        print(f"Starting the Firestore emulator on 127.0.0.1:{FIRESTORE_PORT} (data in {DATA / 'firestore'}) …")
        firestore = emulator.start(
            PROJECT, port=FIRESTORE_PORT, data_dir=DATA / "firestore", log=DATA / "firestore.log"
        )
        started.append(firestore.process)
        env = environment(firestore.host)
        os.environ.update(env)

        from google.cloud import firestore as firestore_client

        session_id = demo.ensure(firestore_client.Client(project=PROJECT), DEMO_SITE)
        register = processes.start(
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--target=register",
                "--source=functions/main.py",
                f"--port={REGISTER_PORT}",
                "--host=0.0.0.0",
                "--debug",
            ],
            env=env,
            cwd=ROOT,
        )
        started.append(register)
        processes.wait_until(
            processes.answers(f"http://127.0.0.1:{REGISTER_PORT}/healthz"), register, "The register function"
        )
        print()
        print(f"  Demo form:   http://localhost:{REGISTER_PORT}/sessions/{session_id}")
        print(f"  Firestore:   emulator at {firestore.host} (project {PROJECT})")
        print("  Logs:        .dev-data/*.log")
        print()
        print("Press Ctrl-C to stop everything.")
        ticks = 0
        while not stopping.wait(1):
            ticks += 1
            if ticks % SAVE_EVERY_SECONDS == 0:
                firestore.export(DATA / "firestore")
            for process in started:
                if process.poll() is not None:
                    print(
                        f"A server stopped (exit {process.returncode}); see above and .dev-data/firestore.log.",
                        file=sys.stderr,
                    )
                    return 1
    except KeyboardInterrupt:
        pass
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        print("\nStopping …")
        if firestore is not None and firestore.process.poll() is None:
            try:
                firestore.export(DATA / "firestore")
            except OSError as error:
                print(f"Could not save the emulator's data: {error}", file=sys.stderr)
        for process in reversed(started):
            processes.stop(process, grace=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
