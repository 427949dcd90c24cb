"""Sweep benchmarks, each against its floor measured in the same run. `make bench`.

1. CPU: `notify`'s sweep sending 1,000 pending confirmations to a local SMTP server that answers at once, against
   `smtplib` sending the same 1,000 pre-built messages over one connection.
2. A real relay's pace: the same 1,000 people's reminders falling due, sent by the sweep to a server that answers
   each message after 100 ms, against one connection in series sending the very bytes the sweep sent to that
   server (the serial floor: at best 10 mails a second). The sweep must be at least 4× faster, nothing twice.
"""

from __future__ import annotations

import email
import email.policy
import os
import smtplib
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench import BENCH_SIGNING_KEY
from dev import emulator, processes

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-signup-bench-sweep"
MAILS = int(os.environ.get("BENCH_MAILS", "1000"))
RELAY_DELAY = 0.1  # seconds a real relay takes to answer a message
TARGET = 4.0  # the slow-relay sweep must beat the serial floor by this much


def floor(port: int, messages: list[EmailMessage]) -> float:
    """Messages per second for plain smtplib sending pre-built messages over one connection."""
    began = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for message in messages:
            client.send_message(message, to_addrs=[message["To"].addresses[0].addr_spec])
    return len(messages) / (time.perf_counter() - began)


def confirmations(notifier: Any, session: Any, registrar_client: Any) -> list[EmailMessage]:
    """The same confirmations the sweep will send, composed before the floor's clock starts."""
    from signup.mail.compose.mails import Recipient

    now = datetime.now(UTC)
    registrations = registrar_client.collection("sessions").document(session.id).collection("registrations").stream()
    return [
        notifier._composer.compose(
            "confirmed",
            session,
            Recipient.from_document(session.id, doc.id, doc.to_dict()),
            message_id=f"<{doc.id}@example.nl>",
            now=now,
        )
        for doc in registrations
    ]


def replay(port: int, kept: list[tuple[str, bytes]]) -> float:
    """Messages per second for one connection in series sending these raw messages, as they were received."""
    began = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for recipient, raw in kept:
            client.sendmail("sessies@example.nl", [recipient], raw)
    return len(kept) / (time.perf_counter() - began)


def main() -> int:
    firestore = emulator.start(PROJECT, log=Path(os.devnull))
    smtp_port, relay_port = processes.free_port(), processes.free_port()
    kept = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    sink = processes.start([sys.executable, "-m", "bench.smtp_sink", str(smtp_port)], cwd=ROOT, log=Path(os.devnull))
    relay = processes.start(
        [sys.executable, "-m", "bench.smtp_sink", str(relay_port), "--delay", str(RELAY_DELAY), "--keep", str(kept)],
        cwd=ROOT,
        log=Path(os.devnull),
    )
    try:
        processes.wait_until(lambda: _listening(smtp_port), sink, "the SMTP sink")
        processes.wait_until(lambda: _listening(relay_port), relay, "the slow relay")
        os.environ.update(
            GOOGLE_CLOUD_PROJECT=PROJECT,
            FIRESTORE_EMULATOR_HOST=firestore.host,
            PUBLIC_BASE_URL="http://127.0.0.1:8080",
            SIGNING_KEY=BENCH_SIGNING_KEY,
            EMAIL_CHECK_DELIVERABILITY="false",
            MAIL_FROM="Strategiesessies <sessies@example.nl>",
            SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
            SWEEP_LIMIT=str(MAILS),
        )
        from signup.ledger.registration import SignUp
        from signup.service import build, build_notifier
        from signup.settings import Settings

        settings = Settings.from_env()
        register = build(settings)
        starts = datetime.now(UTC) + timedelta(days=40)
        sessions = register.registrar._client.collection("sessions")
        sessions.document("bench").set(
            {
                "title": "Bench",
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "location": {"name": "Grand Café Genieten", "address": "Amsterdam"},
                "reminder_hours": [24],
            }
        )
        session = register.sessions.get("bench")
        for n in range(MAILS):
            register.registrar.register(
                session, SignUp("", "Bench", "van", f"Visitor {n}", f"visitor{n}@example.nl", False), origin=None
            )
        notifier = build_notifier(settings)
        floor_rate = floor(smtp_port, confirmations(notifier, session, register.registrar._client))
        began = time.perf_counter()
        report = notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        ours = report.outcomes["sent"] / (time.perf_counter() - began)
        print(f"\nsweep: {report.outcomes['sent']} of {MAILS} pending confirmations sent")
        print("| run | mails/s | × floor |\n|---|---:|---:|")
        print(f"| floor: smtplib, the same {MAILS} confirmations pre-built, one connection | {floor_rate:.0f} | 1.00 |")
        print(f"| sweep: claim, compose (HTML, text, .ics), send, record | {ours:.0f} | {ours / floor_rate:.2f} |")

        # Everyone's 24-hour reminder falls due now, after they all signed up; a sweep a minute later queues them
        # and sends them through the relay.
        now = datetime.now(UTC)
        sessions.document("bench").update({"starts_at": now + timedelta(hours=24)})
        slow = build_notifier(replace(settings, smtp_url=f"smtp://127.0.0.1:{relay_port}"))
        began, cpu = time.perf_counter(), time.process_time()
        reminded = slow.sweep(now + timedelta(minutes=1))
        sent = reminded.outcomes["sent"]
        relayed, relayed_cpu = sent / (time.perf_counter() - began), (time.process_time() - cpu) / max(sent, 1)
        received = [(_recipient(raw), raw) for raw in (path.read_bytes() for path in sorted(kept.iterdir()))]
        per_person = Counter(recipient for recipient, _ in received)
        cpu = time.process_time()
        serial = replay(relay_port, received)
        serial_cpu = (time.process_time() - cpu) / max(len(received), 1)
        ratio = relayed / serial
        print(f"\nslow relay ({RELAY_DELAY * 1000:.0f} ms a message): {reminded.reminders_queued} reminders queued and")
        print(f"{sent} sent, to {len(per_person)} people, the most to one person {max(per_person.values(), default=0)}")
        print("| run | mails/s | × floor | CPU ms a mail |\n|---|---:|---:|---:|")
        print(
            f"| floor: one connection in series, the {len(received)} messages the sweep sent "
            f"| {serial:.1f} | 1.00 | {serial_cpu * 1000:.1f} |"
        )
        print(
            f"| sweep: queue the reminders, claim, compose, send over {slow._transport.size} connections, record "
            f"| {relayed:.1f} | {ratio:.2f} | {relayed_cpu * 1000:.1f} |"
        )
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; CPU of this process, all threads)")
        once = len(received) == MAILS and set(per_person.values()) == {1}
        return 0 if report.outcomes["sent"] == MAILS and once and ratio >= TARGET else 1
    finally:
        processes.stop(relay)
        processes.stop(sink)
        firestore.stop()


def _recipient(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.SMTP)
    assert isinstance(message, EmailMessage)
    return str(message["To"].addresses[0].addr_spec)


def _listening(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=1):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
