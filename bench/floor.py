"""The floors for the sign-up benchmark: the least a function can do, on the same server and emulator.

- `fair_floor`: the least a function can do while storing the very record `register` stores for a sign-up (the same
  fields, types and nesting, under `sessions/{id}/registrations`): it reads the JSON body and creates the document,
  nothing else. Against it, a ratio shows the cost of our code, not of the record.
- `floor`: one bare `create()` of `{"n": 1}` in a top-level collection; what the database costs at the least.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import flask
import functions_framework
from google.cloud import firestore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# register keeps a registration for the session's end plus 90 days (retention_days' default).
_KEPT = timedelta(days=120)


@cache
def _client() -> Any:
    return firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])


@functions_framework.http
def floor(request: flask.Request) -> tuple[str, int]:
    _client().collection("floor").document().create({"n": 1})
    return "", 201


@functions_framework.http
def fair_floor(request: flask.Request) -> tuple[str, int]:
    """POST /sessions/{id}/registrations, as register's path is: the record register stores for an open session."""
    if request.method != "POST":
        return "ok\n", 200  # the benchmark's readiness check
    session_id = request.path.split("/")[2]
    body = request.get_json()
    now = datetime.now(UTC)
    since = now - _EPOCH
    record = {
        "first_name": body["first_name"],
        "last_name": body["last_name"],
        "email": body["email"],
        "status": "confirmed",
        "generation": (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds,
        "created_at": firestore.SERVER_TIMESTAMP,
        "confirmed_at": now,
        "expires_at": now + _KEPT,
        "mail_due_at": now,
        "emails": {"confirmation": {"state": "pending"}},
    }
    if body.get("infix"):
        record["infix"] = body["infix"]  # as register stores it: only when given
    _client().collection("sessions", session_id, "registrations").document().create(record)
    return "", 201
