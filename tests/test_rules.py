"""infra/firestore.rules on Google's Firestore emulator: no client reads or writes anything.

Browsers (or anyone with the project id) could talk to Firestore's REST API directly; the rules must refuse
them everything, so that only the functions, through IAM, touch sessions and registrations. Each request is
made twice: without credentials it is refused (403), and the same request with the emulator's owner token,
which bypasses the rules as the functions' service accounts do, succeeds, so it is the rules that refuse.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dev import emulator as firestore_emulator

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "infra/firestore.rules"
PROJECT = "demo-signup-rules"
OWNER = {"Authorization": "Bearer owner"}
FIELDS = {"fields": {"title": {"stringValue": "Strategiesessie"}, "email": {"stringValue": "jan@example.nl"}}}
GROUP_QUERY = {"structuredQuery": {"from": [{"collectionId": "registrations", "allDescendants": True}]}}
SEEDED = ("sessions/s1", "sessions/s1/registrations/r1", "sessions/s1/seats/0")


@dataclass(frozen=True)
class Request:
    what: str
    method: str
    path: str
    body: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.what


REQUESTS = [
    Request("read a session", "GET", "sessions/s1"),
    Request("list the sessions", "GET", "sessions"),
    Request("create a session", "PATCH", "sessions/s2", FIELDS),
    Request("change a session", "PATCH", "sessions/s1", FIELDS),
    Request("delete a session", "DELETE", "sessions/s1"),
    Request("read a registration", "GET", "sessions/s1/registrations/r1"),
    Request("list a session's registrations", "GET", "sessions/s1/registrations"),
    Request("query the registrations of every session", "POST", ":runQuery", GROUP_QUERY),
    Request("sign up by writing a registration", "POST", "sessions/s1/registrations?documentId=r2", FIELDS),
    Request("change a registration", "PATCH", "sessions/s1/registrations/r1", FIELDS),
    Request("delete a registration", "DELETE", "sessions/s1/registrations/r1"),
    Request("list the seats", "GET", "sessions/s1/seats"),
    Request("take a seat", "PATCH", "sessions/s1/seats/1", FIELDS),
]


@pytest.fixture(scope="module")
def rules_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[firestore_emulator.Emulator]:
    """An emulator of its own that enforces infra/firestore.rules; stopped by its process group afterwards."""
    log = tmp_path_factory.mktemp("rules-emulator") / "firestore.log"
    running = firestore_emulator.start(PROJECT, rules=RULES, log=log)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def seeded(rules_emulator: firestore_emulator.Emulator) -> str:
    """A session with a registration and a taken seat, written with the owner's token; its base URL."""
    rules_emulator.wipe()
    base = f"http://{rules_emulator.host}"
    for path in SEEDED:
        assert call(base, Request("seed", "PATCH", path, FIELDS), OWNER)[0] == 200
    return base


def call(base: str, request: Request, headers: dict[str, str]) -> tuple[int, Any]:
    """Make a REST request to the emulator; its status and JSON answer."""
    separator = "" if request.path.startswith(":") else "/"
    url = f"{base}/v1/projects/{PROJECT}/databases/(default)/documents{separator}{request.path}"
    data = None if request.body is None else json.dumps(request.body).encode()
    sent = urllib.request.Request(
        url, data=data, method=request.method, headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null")


def _status(answer: Any) -> str | None:
    errors = answer if isinstance(answer, list) else [answer]
    return next(
        (str(item["error"].get("status")) for item in errors if isinstance(item, dict) and "error" in item), None
    )


@pytest.mark.parametrize("request_", REQUESTS, ids=str)
def test_a_client_without_credentials_may_not(seeded: str, request_: Request) -> None:
    status, answer = call(seeded, request_, {})
    assert status == 403, answer
    assert _status(answer) == "PERMISSION_DENIED"


@pytest.mark.parametrize("request_", REQUESTS, ids=str)
def test_the_same_request_as_the_owner_is_allowed_so_the_rules_are_what_refuses(seeded: str, request_: Request) -> None:
    status, answer = call(seeded, request_, OWNER)
    assert status == 200, answer
    assert _status(answer) is None


def test_a_refused_write_changes_nothing(seeded: str) -> None:
    assert call(seeded, Request("overwrite", "PATCH", "sessions/s1", {"fields": {}}), {})[0] == 403
    status, document = call(seeded, Request("read", "GET", "sessions/s1"), OWNER)
    assert status == 200
    assert document["fields"]["title"] == {"stringValue": "Strategiesessie"}
