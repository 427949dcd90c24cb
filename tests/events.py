"""CloudEvents as Eventarc delivers them to `notify` (binary mode), for tests."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

PROJECT_SOURCE = "//firestore.googleapis.com/projects/demo-signup-test/databases/(default)"


def created(session_id: str, registration_id: str, event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    """A Firestore `document.created` event; the body is opaque protobuf that `notify` does not need."""
    path = f"sessions/{session_id}/registrations/{registration_id}"
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.firestore.document.v1.created",
        "ce-source": PROJECT_SOURCE,
        "ce-id": event_id or uuid.uuid4().hex,
        "ce-subject": f"documents/{path}",
        "ce-document": path,
        "ce-time": "2026-11-27T10:00:00Z",
        "Content-Type": "application/protobuf",
    }
    return headers, b"\x0a\x00"


def tick(now: datetime) -> tuple[dict[str, str], bytes]:
    """A Cloud Scheduler tick through Pub/Sub, published at `now`."""
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/demo-signup-test/topics/signup-tick",
        "ce-id": uuid.uuid4().hex,
        "ce-time": now.isoformat().replace("+00:00", "Z"),
        "Content-Type": "application/json",
    }
    body: dict[str, Any] = {
        "message": {
            "data": base64.b64encode(b"tick").decode(),
            "messageId": uuid.uuid4().hex,
            "publishTime": headers["ce-time"],
        },
        "subscription": "projects/demo-signup-test/subscriptions/signup-tick",
    }
    return headers, json.dumps(body).encode()
