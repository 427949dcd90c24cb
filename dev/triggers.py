"""Local stand-ins for Eventarc: the emulator's own Firestore trigger delivery, and the scheduler's tick."""

from __future__ import annotations

import json
import urllib.request
import uuid
from base64 import b64encode
from datetime import UTC, datetime

REGISTRATION_PATTERN = "sessions/{session}/registrations/{registration}"
CREATED = "google.cloud.firestore.document.v1.created"
TICK = "google.cloud.pubsub.topic.v1.messagePublished"


def register_created_trigger(emulator_host: str, project: str, trigger_id: str = "notify-registration-created") -> None:
    """Ask the emulator to POST a CloudEvent to its `--functions_emulator` for every new registration."""
    body = {
        "eventType": CREATED,
        "database": "(default)",
        "namespace": "(default)",
        "document": {"value": REGISTRATION_PATTERN, "matchType": "PATH_PATTERN"},
    }
    request = urllib.request.Request(
        f"http://{emulator_host}/emulator/v1/projects/{project}/eventarcTrigger?eventarcTriggerId={trigger_id}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


def send_tick(notify_url: str, project: str, now: datetime | None = None) -> int:
    """POST what Cloud Scheduler → Pub/Sub → Eventarc delivers: a binary-mode `messagePublished` CloudEvent."""
    moment = (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    message_id = uuid.uuid4().hex
    body = {
        "message": {"data": b64encode(b"tick").decode(), "messageId": message_id, "publishTime": moment},
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
