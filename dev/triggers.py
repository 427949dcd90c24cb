"""Local stand-ins for Eventarc: the emulator's own Firestore trigger delivery, and the scheduler's tick.

The triggers are read from infra/*.tf, so that `make dev` and the tests register exactly the ones deployed. The
emulator posts each event to a forwarder here, which does what Eventarc does on the way to the function: the
emulator sends the DocumentEventData as base64 text, Eventarc as the protobuf bytes themselves.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import hcl2

INFRA = Path(__file__).resolve().parent.parent / "infra"
FIRESTORE_EVENTS = "google.cloud.firestore.document.v1."
TICK = "google.cloud.pubsub.topic.v1.messagePublished"


@dataclass(frozen=True)
class Trigger:
    trigger_id: str
    event_type: str
    document: str


def declared(infra: Path = INFRA) -> list[Trigger]:
    """The Firestore triggers of the functions in infra/*.tf: event type and document pattern, one per function."""
    found = []
    for path in sorted(infra.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle, serialization_options=_OPTIONS)
        for block in parsed.get("resource", []):
            for name, body in block.get("google_cloudfunctions2_function", {}).items():
                for trigger in body.get("event_trigger", []):
                    if not str(trigger["event_type"]).startswith(FIRESTORE_EVENTS):
                        continue
                    [document] = [f["value"] for f in trigger["event_filters"] if f["attribute"] == "document"]
                    found.append(Trigger(name.replace("_", "-"), trigger["event_type"], document))
    return found


_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True, preserve_heredocs=False
)


def register(emulator_host: str, project: str, trigger: Trigger) -> None:
    """Ask the emulator to POST a CloudEvent to its `--functions_emulator` for every matching write."""
    body = {
        "eventType": trigger.event_type,
        "database": "(default)",
        "namespace": "(default)",
        "document": {"value": trigger.document, "matchType": "PATH_PATTERN"},
    }
    request = urllib.request.Request(
        f"http://{emulator_host}/emulator/v1/projects/{project}/eventarcTrigger?eventarcTriggerId={trigger.trigger_id}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


def register_declared(emulator_host: str, project: str, infra: Path = INFRA) -> list[Trigger]:
    triggers = declared(infra)
    for trigger in triggers:
        register(emulator_host, project, trigger)
    return triggers


class Forwarder(ThreadingHTTPServer):
    """Takes the emulator's trigger deliveries and hands each to the function as Eventarc would.

    `copies` delivers every event that many times at once, as an at-least-once transport may.
    """

    daemon_threads = True

    def __init__(self, port: int, function_url: str, copies: int = 1) -> None:
        super().__init__(("127.0.0.1", port), _Forward)
        self.function_url = function_url
        self.copies = copies
        self.delivered = 0
        self.lock = threading.Lock()

    def forward(self, headers: dict[str, str], body: bytes) -> int:
        """POST one event to the function (`copies` times at once); the worst status."""
        request = urllib.request.Request(
            self.function_url,
            data=body,
            headers={**headers, "Content-Type": "application/protobuf"},
            method="POST",
        )
        with ThreadPoolExecutor(self.copies) as pool:
            statuses = list(pool.map(lambda _: _post(request), range(self.copies)))
        with self.lock:
            self.delivered += 1
        return max(statuses)


class _Forward(BaseHTTPRequestHandler):
    server: Forwarder

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            body = raw  # already bytes, as Eventarc sends them
        headers = {name: value for name, value in self.headers.items() if name.lower().startswith("ce-")}
        status = self.server.forward(headers, body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the function logs what it did."""


def _post(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 502


def forward(port: int, function_url: str) -> Forwarder:
    """Start a forwarder in a thread of this process; `shutdown()` and `server_close()` stop it."""
    server = Forwarder(port, function_url)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def send_tick(notify_url: str, project: str, now: datetime | None = None) -> int:
    """POST what Cloud Scheduler → Pub/Sub → Eventarc delivers: a binary-mode `messagePublished` CloudEvent."""
    moment = (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    message_id = uuid.uuid4().hex
    body = {
        "message": {"data": base64.b64encode(b"tick").decode(), "messageId": message_id, "publishTime": moment},
        "subscription": f"projects/{project}/subscriptions/signup-tick",
    }
    request = urllib.request.Request(
        notify_url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-type": TICK,
            "ce-source": f"//pubsub.googleapis.com/projects/{project}/topics/signup-tick",
            "ce-id": message_id,
            "ce-time": moment,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return int(response.status)
