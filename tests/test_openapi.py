"""openapi.yaml tells the truth about `register`: fuzzed against the real entry point, and held against the code."""

from __future__ import annotations

import inspect
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi import checks as conformance
from signup import errors
from signup.http import inbound, web
from signup.keys import KeyRing
from signup.ledger.session import valid_session_id

from tests.conftest import SIGNING_KEY, cancel_token, confirm_token, session_fields, unsubscribe_token

ROOT = Path(__file__).resolve().parent.parent


@schemathesis.serializer("message/rfc822")
def _raw_mail(ctx: Any, value: Any) -> bytes:
    """A mail as the inbound webhook's provider posts it: the message's bytes as they are."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml")
SPEC: dict[str, Any] = schema.raw_schema
Case = schemathesis.Case[Any]

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# The session id that the spec gives as its example is a real session here: the examples phase signs up for it.
OPEN_SESSION = SPEC["components"]["parameters"]["SessionId"]["example"]
PAST = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7)
# The sessions that generated requests are aimed at, besides the unknown ids they draw themselves.
SESSIONS: dict[str, dict[str, Any]] = {
    OPEN_SESSION: session_fields(capacity=1),  # one seat: the first sign-up is confirmed, later ones wait
    "openapi-privacy-en": session_fields(language="en", privacy_url="https://www.example.nl/privacy"),
    "openapi-closed": session_fields(registration_closes_at=PAST),
    "openapi-over": session_fields(starts_at=PAST, ends_at=PAST + timedelta(hours=2)),
    "openapi-confirm": session_fields(capacity=1, confirm_email=True),
}


@dataclass(frozen=True)
class World:
    """Real sessions and cancel links for the generated requests to hit."""

    session_ids: tuple[str, ...]
    tokens: tuple[str, ...]

    def aim(self, case: Case) -> None:
        """Point most generated requests at what exists; the rest keep the unknown id or forged token they drew.

        The choice follows from the drawn value, so a run is as reproducible as the values drawn."""
        for name, known in (("session_id", self.session_ids), ("token", self.tokens)):
            if name in case.path_parameters:
                drawn = str(case.path_parameters[name]).encode("utf-8", "surrogatepass")
                pick = zlib.crc32(drawn) % (len(known) + 1)
                if pick < len(known):
                    case.path_parameters[name] = known[pick]


@pytest.fixture(scope="module")
def world(app: Any, db: Any) -> Iterator[World]:
    """The sessions above, one registration in the open session and one in the session that is over."""
    for session_id, fields in SESSIONS.items():
        db.collection("sessions").document(session_id).set(fields)
    signed_up = app.test_client().post(
        f"/sessions/{OPEN_SESSION}/registrations",
        json={"first_name": "Anna", "last_name": "de Vries", "email": "anna@example.nl"},
    )
    assert signed_up.status_code == 201
    unconfirmed = app.test_client().post(
        "/sessions/openapi-confirm/registrations",
        json={"first_name": "Bea", "last_name": "Bakker", "email": "bea@example.nl"},
    )
    assert unconfirmed.status_code == 201
    over = db.collection("sessions").document("openapi-over").collection("registrations").document("r-over")
    over.set({"first_name": "Piet", "last_name": "Jansen", "email": "piet@example.nl", "status": "confirmed"})
    yield World(
        session_ids=tuple(SESSIONS),
        tokens=(
            cancel_token(OPEN_SESSION, signed_up.get_json()["id"]),
            cancel_token("openapi-over", "r-over"),
            confirm_token("openapi-confirm", unconfirmed.get_json()["id"]),
            confirm_token("openapi-over", "r-over"),
            unsubscribe_token(OPEN_SESSION, signed_up.get_json()["id"]),
            inbound.url_secret(KeyRing.parse(SIGNING_KEY)),
        ),
    )
    for session_id in SESSIONS:
        db.recursive_delete(db.collection("sessions").document(session_id))


def no_server_error_but_a_documented_503(ctx: Any, response: schemathesis.Response, case: Case) -> None:
    """A 5xx is a bug, except the 503 an operation documents (the database briefly away, a misconfigured session)."""
    documented = "503" in case.operation.responses.status_codes
    assert response.status_code < 500 or (response.status_code == 503 and documented), (
        f"{response.status_code} for {case.method} {case.formatted_path}"
    )


CHECKS = [
    no_server_error_but_a_documented_503,
    conformance.status_code_conformance,  # every status is documented for its operation
    conformance.content_type_conformance,  # ... with its content types
    conformance.response_headers_conformance,  # ... its required headers (Allow, Location, Retry-After)
    conformance.response_schema_conformance,  # ... and its JSON schema
    conformance.unsupported_method,  # methods the spec does not list get 405 with Allow
    conformance.allow_header_conformance,
]


@schema.parametrize()
@settings(max_examples=30, derandomize=True, deadline=None)
def test_every_answer_is_one_the_description_documents(case: Case, app: Any, world: World) -> None:
    world.aim(case)

    case.call_and_validate(app=app, checks=CHECKS)


# What the code serves, read from web.py's route map, with the spec's names for the parameters.
SERVED = [re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in web.ROUTES.iter_rules()]
SAMPLE = {"session_id": "strategiesessie-juni", "token": "WyJzIiwiciJd.c2lnbmF0dXJl"}


def concrete(template: str) -> str:
    return template.format(**SAMPLE)


def test_the_routes_read_from_the_map_are_routes_it_matches() -> None:
    expected = {"/healthz", "/embed.js", "/cancel/{token}", "/confirm/{token}", "/sessions/{session_id}/registrations"}
    assert expected <= set(SERVED)
    adapter = web.ROUTES.bind("")
    for rule, template in zip(web.ROUTES.iter_rules(), SERVED, strict=True):
        assert rule.methods is not None
        assert all(adapter.test(concrete(template), method) for method in rule.methods), template


@pytest.mark.parametrize("template", SERVED)
def test_each_route_the_code_serves_is_described_with_its_methods(client: Any, template: str) -> None:
    # The code names the methods it serves in the Allow header of its 405, before it looks anything up.
    refused = client.open(concrete(template), method="BREW")
    served = {method.strip() for method in refused.headers.get("Allow", "").split(",")}

    assert refused.status_code == 405
    assert template in SPEC["paths"], f"{template} is served but not described"
    assert {method.upper() for method in SPEC["paths"][template] if method in HTTP_METHODS} == served


def test_the_description_describes_no_route_the_code_does_not_serve() -> None:
    assert set(SPEC["paths"]) <= set(SERVED)


def _resolve(node: Any) -> Any:
    """A node of the spec with its `$ref`s followed."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _error_codes_in(node: Any) -> Iterator[str]:
    """The `error` codes a JSON schema allows: the `const` or `enum` of each `error` property in it."""
    node = _resolve(node)
    if isinstance(node, dict):
        error = _resolve(node.get("properties", {}).get("error", {}))
        yield from ([error["const"]] if "const" in error else error.get("enum", []))
        for value in node.values():
            yield from _error_codes_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _error_codes_in(value)


def documented_error_codes() -> dict[str, set[str]]:
    """Per status, the codes the spec's JSON error answers give, across all operations."""
    codes: dict[str, set[str]] = {}
    for item in SPEC["paths"].values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, response in operation["responses"].items():
                json_schema = _resolve(response).get("content", {}).get("application/json", {}).get("schema")
                codes.setdefault(status, set()).update(_error_codes_in(json_schema))
    return codes


# Every error a request can run into; the base class's code is only a fallback.
ERRORS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.SignupError) and cls is not errors.SignupError
    ),
    key=lambda cls: cls.__name__,
)
# Errors that web.py turns into another answer rather than answering with their own code.
ANSWERED_AS: dict[type[errors.SignupError], type[errors.SignupError]] = {
    errors.FormReplayedError: errors.ValidationError,  # 422 `invalid`, the message at `form_token`
}


@pytest.mark.parametrize("error", ERRORS, ids=[cls.__name__ for cls in ERRORS])
def test_each_error_code_is_documented_at_the_status_it_is_answered_with(error: type[errors.SignupError]) -> None:
    answered_as = ANSWERED_AS.get(error, error)
    assert answered_as in web._ANSWERS, f"{error.__name__} has no answer in web.py: it would be a 500"
    status = str(web._ANSWERS[answered_as][0])

    assert answered_as.code in documented_error_codes().get(status, set())


def test_the_description_documents_no_error_code_that_the_code_does_not_have() -> None:
    codes = {cls.code for cls in ERRORS}

    assert set().union(*documented_error_codes().values()) <= codes


def _parameter_pattern(name: str) -> str:
    for item in SPEC["paths"].values():
        for parameter in map(_resolve, item.get("parameters", [])):
            if parameter["name"] == name:
                return str(parameter["schema"]["pattern"]).removeprefix("^").removesuffix("$")
    raise AssertionError(f"no path parameter {name}")


@given(st.one_of(st.text(), st.from_regex(_parameter_pattern("session_id"), fullmatch=True)))
@settings(max_examples=200, derandomize=True)
def test_the_session_id_pattern_is_the_one_the_code_accepts(session_id: str) -> None:
    assert (re.fullmatch(_parameter_pattern("session_id"), session_id) is not None) == valid_session_id(session_id)


def test_the_token_pattern_is_the_one_the_code_routes() -> None:
    assert _parameter_pattern("token") == web.ROUTES.converters["token"].regex
