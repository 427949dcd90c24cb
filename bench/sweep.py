"""Sweep benchmark: `notify`'s sweep sending 1,000 pending confirmations, against `smtplib` sending 1,000
pre-built messages over one connection to the same local SMTP server, in the same run. `make bench`."""

from __future__ import annotations

import os
import smtplib
import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench import BENCH_SIGNING_KEY
from dev import emulator, processes

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-signup-bench-sweep"
MAILS = int(os.environ.get("BENCH_MAILS", "1000"))


def floor(port: int, messages: list[EmailMessage]) -> float:
    """Messages per second for plain smtplib sending pre-built messages over one connection."""
    began = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for message in messages:
            client.send_message(message, to_addrs=[message["To"].addresses[0].addr_spec])
    return len(messages) / (time.perf_counter() - began)


def confirmations(notifier: Any, session: Any, registrar_client: Any) -> list[EmailMessage]:
    """The same confirmations the sweep will send, composed before the floor's clock starts."""
    from signup.mails import Recipient

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


def main() -> int:
    firestore = emulator.start(PROJECT, log=Path(os.devnull))
    smtp_port = processes.free_port()
    sink = processes.start([sys.executable, "-m", "bench.smtp_sink", str(smtp_port)], cwd=ROOT, log=Path(os.devnull))
    try:
        processes.wait_until(lambda: _listening(smtp_port), sink, "the SMTP sink")
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
        from signup.service import build, build_notifier
        from signup.settings import Settings
        from signup.validation import SignUp

        settings = Settings.from_env()
        register = build(settings)
        starts = datetime.now(UTC) + timedelta(days=40)
        register.registrar._client.collection("sessions").document("bench").set(
            {
                "title": "Bench",
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "location": {"name": "Grand Café Genieten", "address": "Amsterdam"},
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
        return 0 if report.outcomes["sent"] == MAILS else 1
    finally:
        processes.stop(sink)
        firestore.stop()


def _listening(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=1):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
