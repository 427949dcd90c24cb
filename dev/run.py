"""`make dev`: the whole thing locally, until Ctrl-C.

The Firestore emulator (delivering its own trigger events for the triggers infra/ declares to `notify`, through
a forwarder that does what Eventarc does), a demo session, `register`, `notify` with a tick every minute, the
organisers' page `organise`, a local mailbox (SMTP, and its pages to read the mail), and a demo website on another
origin with the form embedded.

Every port can be moved with an environment variable (`DEV_REGISTER_PORT=9080 make dev`); `python -m dev.run
--help` lists them. Before anything starts, each port is checked, and one in use is named with the variable that
moves it.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from dev import demo, emulator, processes, triggers

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-signup"
TICK_SECONDS = 60
# The emulator keeps data in memory; save it now and then, so that even a crash keeps most of it.
SAVE_EVERY_SECONDS = 60
# Where the emulator's data and the mail are kept across restarts (git-ignored), unless DEV_DATA says elsewhere.
DATA = ROOT / ".dev-data"


@dataclass(frozen=True)
class Ports:
    """The ports `make dev` listens on (127.0.0.1), each moved by the environment variable of its name:
    DEV_REGISTER_PORT, DEV_NOTIFY_PORT, ..."""

    register: int = field(default=8080, metadata={"what": "register: the form and the sign-ups"})
    notify: int = field(default=8081, metadata={"what": "notify: the mail"})
    events: int = field(default=8082, metadata={"what": "the trigger events' forwarder (what Eventarc does)"})
    organise: int = field(default=8083, metadata={"what": "organise: the organisers' page"})
    firestore: int = field(default=8085, metadata={"what": "the Firestore emulator"})
    smtp: int = field(default=1025, metadata={"what": "the mailbox's SMTP server"})
    mailbox: int = field(default=8025, metadata={"what": "the mailbox's pages"})
    site: int = field(default=8000, metadata={"what": "the demo website"})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        """The ports, each from DEV_<NAME>_PORT when set; a value that is no port names its variable."""
        chosen = {}
        for name, _ in cls().items():
            value = env.get(variable(name), "").strip()
            if not value:
                continue
            if not (value.isascii() and value.isdigit() and 0 < int(value) < 65536):
                raise ValueError(f"{variable(name)} must be a port number from 1 to 65535, not {value!r}")
            chosen[name] = int(value)
        ports = cls(**chosen)
        twice = Counter(port for _, port in ports.items())
        shared = [variable(name) for name, port in ports.items() if twice[port] > 1]
        if shared:
            raise ValueError(f"{' and '.join(shared)} name the same port")
        return ports

    def items(self) -> list[tuple[str, int]]:
        return [(each.name, getattr(self, each.name)) for each in fields(self)]

    @classmethod
    def described(cls) -> list[tuple[str, int, str]]:
        """Each port's name, default and what listens on it."""
        return [(each.name, each.default, each.metadata["what"]) for each in fields(cls)]  # type: ignore[misc]

    def busy(self) -> list[str]:
        """Why each port in use cannot be had, with the variable that moves it."""
        return [
            f"Port {port} ({name}) is in use: stop what uses it, or move it elsewhere, "
            f"e.g. {variable(name)}={port + 1000 if port < 64535 else port - 1000} make dev"
            for name, port in self.items()
            if _in_use(port)
        ]


def variable(name: str) -> str:
    return f"DEV_{name.upper()}_PORT"


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def data_directory(env: Mapping[str, str]) -> Path:
    value = env.get("DEV_DATA", "").strip()
    return Path(value) if value else DATA


def environment(ports: Ports) -> dict[str, str]:
    """The functions' settings as `make dev` gives them (and `make dev-check` checks them)."""
    return {
        **os.environ,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{ports.firestore}",
        "PUBLIC_BASE_URL": f"http://localhost:{ports.register}",
        "ORGANISE_URL": f"http://localhost:{ports.organise}",
        # The demo session's organiser may organise it anyway; these may organise every session.
        "ORGANISERS": os.environ.get("ORGANISERS", "beheer@example.nl"),
        # base64 of "signup dev: a key that is no secret at all": 32 bytes and more, as a real key must be
        "SIGNING_KEY": os.environ.get("SIGNING_KEY", "c2lnbnVwIGRldjogYSBrZXkgdGhhdCBpcyBubyBzZWNyZXQgYXQgYWxs"),
        "EMAIL_CHECK_DELIVERABILITY": "false",
        "MAIL_FROM": "Strategiesessies (demo) <sessies@example.nl>",
        "SMTP_URL": f"smtp://127.0.0.1:{ports.smtp}",
        # Everything locally comes from one address; a developer trying things out is not a flood.
        "RATE_LIMIT_PER_SESSION": os.environ.get("RATE_LIMIT_PER_SESSION", "1000"),
        "RATE_LIMIT_OVERALL": os.environ.get("RATE_LIMIT_OVERALL", "1000"),
    }


def tick(notify_url: str) -> None:
    try:
        triggers.send_tick(notify_url, PROJECT)
    except (OSError, urllib.error.URLError) as error:
        print(f"tick failed: {error}", file=sys.stderr)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    ports = "\n".join(f"  {variable(name):<20} {port:>5}  {what}" for name, port, what in Ports.described())
    parser = argparse.ArgumentParser(
        prog="make dev (python -m dev.run)",
        description="Run signup locally until Ctrl-C: the Firestore emulator, register, notify, a mailbox and a "
        "demo website.",
        epilog=f"Ports (environment variable, default, what listens):\n{ports}\n\n"
        f"DEV_DATA: where the emulator's data and the mail are kept (default {DATA.relative_to(ROOT)}/).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        ports = Ports.from_env(os.environ)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    busy = ports.busy()
    if busy:
        print("\n".join(busy), file=sys.stderr)
        return 1
    data = data_directory(os.environ)
    data.mkdir(parents=True, exist_ok=True)
    demo_site = f"http://localhost:{ports.site}"
    started: list[subprocess.Popen[bytes]] = []
    firestore: emulator.Emulator | None = None
    forwarder: triggers.Forwarder | None = None
    # `kill` stops it as Ctrl-C does. The handler only raises: one that took a lock (an Event's set) deadlocked
    # when a second TERM came while the first was in it, as a kill of make's process group sends one to each.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(f"Starting the Firestore emulator on 127.0.0.1:{ports.firestore} (data in {data / 'firestore'}) …")
        firestore = emulator.start(
            PROJECT,
            port=ports.firestore,
            data_dir=data / "firestore",
            functions_emulator=f"127.0.0.1:{ports.events}",
            log=data / "firestore.log",
        )
        started.append(firestore.process)
        forwarder = triggers.forward(ports.events, f"http://127.0.0.1:{ports.notify}")
        declared = triggers.register_declared(firestore.host, PROJECT)
        env = environment(ports)
        os.environ.update(env)

        from google.cloud import firestore as firestore_client

        session_id = demo.ensure(firestore_client.Client(project=PROJECT), demo_site)
        mail = processes.start(
            [
                sys.executable,
                "-m",
                "dev.mailbox",
                f"--smtp-port={ports.smtp}",
                f"--http-port={ports.mailbox}",
                f"--directory={data / 'mail'}",
            ],
            cwd=ROOT,
        )
        started.append(mail)
        site = processes.start(
            [
                sys.executable,
                "-m",
                "dev.site",
                f"--port={ports.site}",
                f"--register-url=http://localhost:{ports.register}",
                f"--session={session_id}",
            ],
            cwd=ROOT,
        )
        started.append(site)
        started.append(processes.serve_function("notify", ports.notify, env, cloudevent=True))
        register = processes.serve_function("register", ports.register, env)
        started.append(register)
        organise = processes.serve_function("organise", ports.organise, env)
        started.append(organise)
        processes.wait_until(
            processes.answers(f"http://127.0.0.1:{ports.register}/healthz"), register, "The register function"
        )
        processes.wait_until(
            processes.answers(f"http://127.0.0.1:{ports.organise}/healthz"), organise, "The organise function"
        )
        processes.wait_until(processes.answers(f"http://127.0.0.1:{ports.mailbox}/"), mail, "The mailbox")
        processes.wait_until(processes.answers(f"http://127.0.0.1:{ports.site}/"), site, "The demo website")
        print()
        print(f"  Demo site:   {demo_site}  (an invitation page with the form embedded: start here)")
        print(f"  Demo form:   http://localhost:{ports.register}/sessions/{session_id}")
        who = f"{demo.DEMO_ORGANISER} or {env['ORGANISERS']}"
        print(f"  Organisers:  http://localhost:{ports.organise}  (sign in as {who}; the link lands in the mailbox)")
        print(f"  Mailbox:     http://localhost:{ports.mailbox}  (SMTP on 127.0.0.1:{ports.smtp})")
        print(f"  notify:      http://127.0.0.1:{ports.notify}  (a tick every {TICK_SECONDS} s, and the triggers:)")
        for trigger in declared:
            print(f"                 {trigger.event_type.rsplit('.', 1)[-1]} {trigger.document}")
        print(f"  Firestore:   emulator at {firestore.host} (project {PROJECT})")
        print()
        print("The organisers' command, in another terminal:")
        print(f"  export GOOGLE_CLOUD_PROJECT={PROJECT} FIRESTORE_EMULATOR_HOST={firestore.host}")
        print("  .venv/bin/signup sessions list")
        print()
        print("Press Ctrl-C to stop everything.", flush=True)
        seconds = 0
        while True:
            time.sleep(1)
            seconds += 1
            if seconds % TICK_SECONDS == 0:
                threading.Thread(target=tick, args=(f"http://127.0.0.1:{ports.notify}",), daemon=True).start()
            if seconds % SAVE_EVERY_SECONDS == 0:
                firestore.export(data / "firestore")
            for process in started:
                if process.poll() is not None:
                    print(
                        f"A server stopped (exit {process.returncode}); see above and {data}/firestore.log.",
                        file=sys.stderr,
                    )
                    return 1
    except KeyboardInterrupt:
        pass
    except (RuntimeError, OSError) as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C or TERM must not cut the stopping short and leave servers behind.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("\nStopping …")
        if firestore is not None and firestore.process.poll() is None:
            try:
                firestore.export(data / "firestore")
            except OSError as error:
                print(f"Could not save the emulator's data: {error}", file=sys.stderr)
        for process in reversed(started):
            processes.stop(process, grace=20)
        if forwarder is not None:
            forwarder.shutdown()
            forwarder.server_close()
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
