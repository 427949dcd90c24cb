"""CloudEvents as Eventarc delivers them to `notify` (binary mode), for tests."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.events.cloud.firestore import ArrayValue, Document, DocumentEventData, MapValue, Value

PROJECT_SOURCE = "//firestore.googleapis.com/projects/demo-signup-test/databases/(default)"
WRITTEN = "google.cloud.firestore.document.v1.written"


def created(session_id: str, registration_id: str, event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    """A Firestore `document.created` event whose body does not say what the document holds: `notify` reads it."""
    return document_event(
        f"sessions/{session_id}/registrations/{registration_id}",
        "google.cloud.firestore.document.v1.created",
        b"",
        event_id,
    )


def written(
    path: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, event_id: str | None = None
) -> tuple[dict[str, str], bytes]:
    """A Firestore `document.written` event carrying the document before and after, as Eventarc sends it."""
    data = DocumentEventData()
    if old is not None:
        data.old_value = Document(name=path, fields={name: value(v) for name, v in old.items()})
    if new is not None:
        data.value = Document(name=path, fields={name: value(v) for name, v in new.items()})
    return document_event(path, WRITTEN, DocumentEventData.serialize(data), event_id)


def document_event(path: str, kind: str, body: bytes, event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": kind,
        "ce-source": PROJECT_SOURCE,
        "ce-id": event_id or uuid.uuid4().hex,
        "ce-subject": f"documents/{path}",
        "ce-document": path,
        "ce-time": "2026-11-27T10:00:00Z",
        "Content-Type": "application/protobuf",
    }
    return headers, body


def value(item: Any) -> Value:
    """A Python value as a Firestore protobuf Value (what the database puts in an event)."""
    if item is None:
        return Value(null_value=0)
    if isinstance(item, bool):
        return Value(boolean_value=item)
    if isinstance(item, int):
        return Value(integer_value=item)
    if isinstance(item, float):
        return Value(double_value=item)
    if isinstance(item, str):
        return Value(string_value=item)
    if isinstance(item, datetime):
        return Value(timestamp_value=item)
    if isinstance(item, Mapping):
        return Value(map_value=MapValue(fields={name: value(v) for name, v in item.items()}))
    return Value(array_value=ArrayValue(values=[value(v) for v in item]))


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
