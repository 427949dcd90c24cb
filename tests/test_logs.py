"""No email address, name or token in any log line: the flows run with every logger at DEBUG, then the logs
are searched, along with what the served functions wrote."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from signup import logs
from signup.organisers import cli

from dev import processes
from dev.mailbox import Mailbox
from tests.conftest import Stack, cancel_token

PERSON = {
    "organisation": "Zwanenburg Adviesbureau",
    "first_name": "Quirijn",
    "infix": "van 't",
    "last_name": "Vlasblom",
    "email": "Quirijn.Vlasblom@Example.NL",
}
SECRETS = ("quirijn", "vlasblom", "zwanenburg", "example.nl")


def test_the_flows_log_no_address_name_or_token(
    client: Any,
    notifier: Any,
    inbox: Mailbox,
    make_session: Any,
    stack: Stack,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="signup")  # an instance's set-up (`logs.configure`) may have raised it
    session_id = make_session(capacity=1, reminder_hours=[24], privacy_url="https://www.example.org/privacy")
    first = client.post(f"/sessions/{session_id}/registrations", json={**PERSON, "consent": "on"}).get_json()
    client.post(f"/sessions/{session_id}/registrations", json={**PERSON, "consent": "on"})  # the same person again
    client.post(f"/sessions/{session_id}/registrations", json={**PERSON, "email": "quirijn@", "consent": "on"})
    client.post(f"/sessions/{session_id}/registrations", data={**PERSON, "last_name": "Vlasblom\r\nBcc: x"})
    waiting = client.post(
        f"/sessions/{session_id}/registrations", json={**PERSON, "email": "q.vlasblom@example.nl", "consent": "on"}
    ).get_json()
    notifier.registration_written(session_id, first["id"])
    link = cancel_token(session_id, first["id"])
    client.get(f"/cancel/{link}")
    client.post(f"/cancel/{link}")
    client.post(f"/cancel/{link}x")
    inbox.refuse_next(1, "451 4.2.0 <q.vlasblom@example.nl> mailbox busy")
    notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
    notifier.sweep(datetime.now(UTC) + timedelta(minutes=10))
    cli.main(["export", session_id, "--output", str(tmp_path / "export.csv")])
    cli.main(["erase", PERSON["email"]])

    captured = capfd.readouterr()
    served = "".join(path.read_text(errors="replace") for path in stack.logs.glob("*.log"))
    # aiosmtpd's "mail.log" is the mail server's own log (it stands in for the provider), not ours.
    ours = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records if not r.name.startswith("mail.log"))
    everything = (ours + captured.out + captured.err + served).lower()
    assert waiting["status"] == "waitlisted"
    assert len(inbox.received) >= 3  # confirmation, promotion and cancellation did go out
    assert "registration session=" in caplog.text  # the flows did log
    for secret in (*SECRETS, link.lower()):
        assert secret not in everything, f"{secret!r} was logged"


@pytest.mark.parametrize(
    ("level", "sign_up_severity"),
    [pytest.param(None, None, id="by default: what happened, not every sign-up"), ("DEBUG", "DEBUG")],
)
def test_a_served_function_writes_its_records_as_cloud_logging_reads_them(
    make_session: Any, tmp_path: Path, level: str | None, sign_up_severity: str | None
) -> None:
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    env = {name: value for name, value in os.environ.items() if name != "LOG_LEVEL"}
    env.update({"PUBLIC_BASE_URL": base, **({"LOG_LEVEL": level} if level else {})})
    log = tmp_path / "register.log"
    session_id = make_session()
    process = processes.serve_function("register", port, env, log=log)
    try:
        processes.wait_until(processes.answers(f"{base}/healthz"), process, "The register function")
        bot = httpx.post(f"{base}/sessions/{session_id}/registrations", json={**PERSON, "website": "x"}, timeout=30)
        person = httpx.post(f"{base}/sessions/{session_id}/registrations", json=PERSON, timeout=30)
    finally:
        processes.stop(process)

    assert (bot.status_code, person.status_code) == (201, 201)
    written = log.read_text()
    entries = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
    assert written.count("honeypot filled") == 1  # once, as JSON: no plain copy beside it
    assert {
        "severity": "INFO",
        "message": f"honeypot filled session={session_id}",
        "logger": "signup.http.web",
    } in entries
    sign_ups = [entry["severity"] for entry in entries if entry["message"].startswith("registration session=")]
    assert sign_ups == ([sign_up_severity] if sign_up_severity else [])


def test_an_exception_is_part_of_its_records_message() -> None:
    try:
        raise ValueError("the cause")
    except ValueError:
        record = logging.getLogger("signup.test").makeRecord(
            "signup.test", logging.ERROR, __file__, 1, "failed for session=%s", ("s1",), sys.exc_info()
        )

    entry = json.loads(logs.CloudFormatter().format(record))

    assert entry["severity"] == "ERROR"
    assert entry["logger"] == "signup.test"
    assert entry["message"].startswith("failed for session=s1\nTraceback")
    assert entry["message"].endswith("ValueError: the cause")
