"""`make dev`: the whole thing locally, until Ctrl-C.

The Firestore emulator (delivering its own trigger events for the triggers infra/ declares to `notify`, through
a forwarder on :8082 that does what Eventarc does), a demo session, `register` on :8080, `notify` on :8081 with a
tick every minute, a local mailbox (SMTP :1025, read at http://localhost:8025), and a
demo website on http://localhost:8000 (another origin) with the form embedded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.error
from pathlib import Path

from dev import demo, emulator, processes, triggers

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".dev-data"
PROJECT = "demo-signup"
FIRESTORE_PORT = 8085
REGISTER_PORT = 8080
NOTIFY_PORT = 8081
EVENTS_PORT = 8082
SMTP_PORT = 1025
MAILBOX_PORT = 8025
SITE_PORT = 8000
DEMO_SITE = f"http://localhost:{SITE_PORT}"
TICK_SECONDS = 60
# The emulator keeps data in memory; save it now and then, so that even a crash keeps most of it.
SAVE_EVERY_SECONDS = 60


def environment(firestore_host: str) -> dict[str, str]:
    return {
        **os.environ,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": firestore_host,
        "PUBLIC_BASE_URL": f"http://localhost:{REGISTER_PORT}",
        # base64 of "signup dev: a key that is no secret at all": 32 bytes and more, as a real key must be
        "SIGNING_KEY": os.environ.get("SIGNING_KEY", "c2lnbnVwIGRldjogYSBrZXkgdGhhdCBpcyBubyBzZWNyZXQgYXQgYWxs"),
        "EMAIL_CHECK_DELIVERABILITY": "false",
        "MAIL_FROM": "Strategiesessies (demo) <sessies@example.nl>",
        "SMTP_URL": f"smtp://127.0.0.1:{SMTP_PORT}",
        # Everything locally comes from one address; a developer trying things out is not a flood.
        "RATE_LIMIT_PER_SESSION": os.environ.get("RATE_LIMIT_PER_SESSION", "1000"),
        "RATE_LIMIT_OVERALL": os.environ.get("RATE_LIMIT_OVERALL", "1000"),
    }


def tick(notify_url: str) -> None:
    try:
        triggers.send_tick(notify_url, PROJECT)
    except (OSError, urllib.error.URLError) as error:
        print(f"tick failed: {error}", file=sys.stderr)


def main() -> int:
    DATA.mkdir(exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    firestore: emulator.Emulator | None = None
    forwarder: triggers.Forwarder | None = None
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        print(f"Starting the Firestore emulator on 127.0.0.1:{FIRESTORE_PORT} (data in {DATA / 'firestore'}) …")
        firestore = emulator.start(
            PROJECT,
            port=FIRESTORE_PORT,
            data_dir=DATA / "firestore",
            functions_emulator=f"127.0.0.1:{EVENTS_PORT}",
            log=DATA / "firestore.log",
        )
        started.append(firestore.process)
        forwarder = triggers.forward(EVENTS_PORT, f"http://127.0.0.1:{NOTIFY_PORT}")
        declared = triggers.register_declared(firestore.host, PROJECT)
        env = environment(firestore.host)
        os.environ.update(env)

        from google.cloud import firestore as firestore_client

        session_id = demo.ensure(firestore_client.Client(project=PROJECT), DEMO_SITE)
        started.append(
            processes.start(
                [
                    sys.executable,
                    "-m",
                    "dev.mailbox",
                    f"--smtp-port={SMTP_PORT}",
                    f"--http-port={MAILBOX_PORT}",
                    f"--directory={DATA / 'mail'}",
                ],
                cwd=ROOT,
            )
        )
        started.append(
            processes.start(
                [
                    sys.executable,
                    "-m",
                    "dev.site",
                    f"--port={SITE_PORT}",
                    f"--register-url=http://localhost:{REGISTER_PORT}",
                    f"--session={session_id}",
                ],
                cwd=ROOT,
            )
        )
        started.append(processes.serve_function("notify", NOTIFY_PORT, env, cloudevent=True))
        register = processes.serve_function("register", REGISTER_PORT, env)
        started.append(register)
        processes.wait_until(
            processes.answers(f"http://127.0.0.1:{REGISTER_PORT}/healthz"), register, "The register function"
        )
        processes.wait_until(processes.answers(f"http://127.0.0.1:{MAILBOX_PORT}/"), started[1], "The mailbox")
        processes.wait_until(processes.answers(f"http://127.0.0.1:{SITE_PORT}/"), started[2], "The demo website")
        print()
        print(f"  Demo site:   {DEMO_SITE}  (an invitation page with the form embedded: start here)")
        print(f"  Demo form:   http://localhost:{REGISTER_PORT}/sessions/{session_id}")
        print(f"  Mailbox:     http://localhost:{MAILBOX_PORT}  (SMTP on 127.0.0.1:{SMTP_PORT})")
        print(f"  notify:      http://127.0.0.1:{NOTIFY_PORT}  (a tick every {TICK_SECONDS} s, and the triggers:)")
        for trigger in declared:
            print(f"                 {trigger.event_type.rsplit('.', 1)[-1]} {trigger.document}")
        print(f"  Firestore:   emulator at {firestore.host} (project {PROJECT})")
        print()
        print("Press Ctrl-C to stop everything.")
        seconds = 0
        while not stopping.wait(1):
            seconds += 1
            if seconds % TICK_SECONDS == 0:
                threading.Thread(target=tick, args=(f"http://127.0.0.1:{NOTIFY_PORT}",), daemon=True).start()
            if seconds % SAVE_EVERY_SECONDS == 0:
                firestore.export(DATA / "firestore")
            for process in started:
                if process.poll() is not None:
                    print(
                        f"A server stopped (exit {process.returncode}); see above and {DATA}/firestore.log.",
                        file=sys.stderr,
                    )
                    return 1
    except KeyboardInterrupt:
        pass
    except (RuntimeError, OSError) as error:
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
        if forwarder is not None:
            forwarder.shutdown()
            forwarder.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
