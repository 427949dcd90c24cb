"""End to end, as in Google Cloud: a sign-up through `register`, the emulator's own trigger delivery, `notify`, SMTP."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev import emulator as firestore_emulator
from dev import processes, triggers
from dev.mailbox import Mailbox
from tests.conftest import ROOT, session_fields

PROJECT = "demo-signup-pipeline"


@dataclass
class Pipeline:
    firestore: firestore_emulator.Emulator
    register_url: str
    notify_url: str

    def document(self, path: str) -> dict[str, Any]:
        url = f"http://{self.firestore.host}/v1/projects/{PROJECT}/databases/(default)/documents/{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            document: dict[str, Any] = json.load(response)
            return document

    def create_session(self, session_id: str) -> None:
        fields = session_fields()
        body = {
            "fields": {
                "title": {"stringValue": fields["title"]},
                "starts_at": {"timestampValue": fields["starts_at"].isoformat()},
                "ends_at": {"timestampValue": fields["ends_at"].isoformat()},
            }
        }
        url = f"http://{self.firestore.host}/v1/projects/{PROJECT}/databases/(default)/documents/sessions/{session_id}"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="PATCH", headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).close()


def serve(target: str, port: int, env: dict[str, str], log: Path, *extra: str) -> Any:
    return processes.start(
        [
            sys.executable,
            "-m",
            "functions_framework",
            f"--target={target}",
            "--source=functions/main.py",
            f"--port={port}",
            "--host=127.0.0.1",
            *extra,
        ],
        env=env,
        log=log,
        cwd=ROOT,
    )


def ticks(notify_url: str) -> bool:
    try:
        return triggers.send_tick(notify_url, PROJECT) == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def pipeline(smtp_server: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    logs = tmp_path_factory.mktemp("pipeline")
    notify_port, register_port = processes.free_port(), processes.free_port()
    firestore = firestore_emulator.start(
        PROJECT, functions_emulator=f"127.0.0.1:{notify_port}", log=logs / "firestore.log"
    )
    env = {
        **os.environ,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": firestore.host,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{register_port}",
    }
    started = [firestore.process]
    try:
        started.append(serve("notify", notify_port, env, logs / "notify.log", "--signature-type=cloudevent"))
        started.append(serve("register", register_port, env, logs / "register.log"))
        register_url, notify_url = f"http://127.0.0.1:{register_port}", f"http://127.0.0.1:{notify_port}"
        processes.wait_until(processes.answers(f"{register_url}/healthz"), started[-1], "register")
        processes.wait_until(lambda: ticks(notify_url), started[-2], "notify")
        triggers.register_created_trigger(firestore.host, PROJECT)
        yield Pipeline(firestore, register_url, notify_url)
    finally:
        for process in reversed(started):
            processes.stop(process)


def test_a_sign_up_produces_exactly_one_confirmation_through_the_emulators_own_trigger(
    pipeline: Pipeline, inbox: Mailbox
) -> None:
    pipeline.create_session("pipeline")

    answer = httpx.post(
        f"{pipeline.register_url}/sessions/pipeline/registrations",
        json={"first_name": "Jan", "infix": "van der", "last_name": "Berg", "email": "jan@example.nl"},
    )
    received = inbox.wait_for(1)
    time.sleep(1.0)  # a second mail, were one to come, would come now
    triggers.send_tick(pipeline.notify_url, PROJECT, datetime.now(UTC) + timedelta(minutes=5))

    assert answer.status_code == 201
    assert len(received) == len(inbox.received) == 1
    assert received[0].recipients == ["jan@example.nl"]
    assert received[0].message["Subject"].startswith("Bevestiging: Strategiesessie")
    stored = pipeline.document(f"sessions/pipeline/registrations/{answer.json()['id']}")
    confirmation = stored["fields"]["emails"]["mapValue"]["fields"]["confirmation"]["mapValue"]["fields"]
    assert confirmation["state"]["stringValue"] == "sent"
    assert confirmation["attempts"]["integerValue"] == "1"
