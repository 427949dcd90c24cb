"""Rate limits per visitor, per session and overall, shared across instances through Firestore."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import flask
import pytest
from signup import service, web
from signup.settings import Settings

Registrations = Callable[[str], list[dict[str, Any]]]


def instance(db: Any, *, per_session: int, overall: int) -> Any:
    """One instance of `register` (its own limiter) with the given limits, as a Flask test client."""
    settings = replace(Settings.from_env(), rate_limit_per_session=per_session, rate_limit_overall=overall)
    built = service.build(settings, client=db)
    app = flask.Flask(f"register-{id(built)}")
    app.add_url_rule(
        "/<path:path>",
        "register",
        lambda path: web.handle(flask.request, lambda: built),
        methods=["GET", "POST", "OPTIONS"],
    )
    return app.test_client(), built


def sign_up(client: Any, session_id: str, visitor: str, n: int, **headers: str) -> Any:
    return client.post(
        f"/sessions/{session_id}/registrations",
        json={"first_name": "Bezoeker", "last_name": f"Nummer {n}", "email": f"v{n}.{abs(hash(visitor))}@example.nl"},
        headers={"X-Forwarded-For": visitor, **headers},
    )


def test_a_visitor_over_the_session_limit_gets_429_with_retry_after_and_others_are_not_affected(
    db: Any, make_session: Callable[..., str], registrations: Registrations
) -> None:
    client, _ = instance(db, per_session=3, overall=100)
    session_id = make_session()

    flooder = [sign_up(client, session_id, "203.0.113.9", n).status_code for n in range(5)]
    refused = sign_up(client, session_id, "203.0.113.9", 99)
    page = client.post(
        f"/sessions/{session_id}/registrations", data={"first_name": "X"}, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    others = [sign_up(client, session_id, f"198.51.100.{n}", n).status_code for n in range(10)]

    assert flooder == [201, 201, 201, 429, 429]
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert refused.get_json()["error"] == "rate_limited"
    minutes = -(-int(refused.headers["Retry-After"]) // 60)
    assert f"Probeer het over {minutes} minuten opnieuw" in refused.get_json()["message"]
    assert page.status_code == 429
    assert "te veel aanmeldingen" in page.get_data(as_text=True)
    assert others == [201] * 10
    assert len(registrations(session_id)) == 3 + 10


def test_the_overall_limit_counts_a_visitor_across_sessions(db: Any, make_session: Callable[..., str]) -> None:
    client, _ = instance(db, per_session=100, overall=4)
    sessions = [make_session() for _ in range(3)]

    answers = [sign_up(client, sessions[n % 3], "203.0.113.7", n).status_code for n in range(6)]

    assert answers == [201, 201, 201, 201, 429, 429]


def test_counts_are_shared_between_instances(db: Any, make_session: Callable[..., str]) -> None:
    session_id = make_session()
    first, first_service = instance(db, per_session=5, overall=100)
    second, second_service = instance(db, per_session=5, overall=100)

    early = [
        sign_up(client, session_id, "203.0.113.5", n).status_code
        for n, client in enumerate([first, first, first, second, second, second])
    ]
    first_service.limiter.flush(wait=True)
    second_service.limiter.flush(wait=True)
    first_service.limiter.flush(wait=True)
    later = [
        sign_up(first, session_id, "203.0.113.5", 10).status_code,
        sign_up(second, session_id, "203.0.113.5", 11).status_code,
    ]

    assert early == [201] * 6  # neither instance alone saw more than five
    assert later == [429, 429]  # together they did


def test_the_client_address_is_the_last_forwarded_entry(db: Any, make_session: Callable[..., str]) -> None:
    client, _ = instance(db, per_session=2, overall=100)
    session_id = make_session()

    answers = [
        sign_up(client, session_id, f"10.0.0.{n}, 203.0.113.8", n).status_code  # a client forging the first entry
        for n in range(4)
    ]

    assert answers == [201, 201, 429, 429]


def test_ordinary_visitors_cost_no_database_writes(db: Any, make_session: Callable[..., str]) -> None:
    client, built = instance(db, per_session=5, overall=100)
    session_id = make_session()

    for n in range(20):
        sign_up(client, session_id, f"198.51.100.{n}", n)
    built.limiter.flush(wait=True)

    assert list(db.collection("ratelimits").stream()) == []


@pytest.mark.parametrize("attempts", [2, 3, 7])
def test_a_repeating_visitor_is_shared_with_an_expiry(db: Any, make_session: Callable[..., str], attempts: int) -> None:
    client, built = instance(db, per_session=50, overall=100)
    session_id = make_session()

    for n in range(attempts):
        sign_up(client, session_id, "203.0.113.66", n)
    built.limiter.flush(wait=True)

    shared = [doc.to_dict() for doc in db.collection("ratelimits").stream()]
    assert sorted(doc["count"] for doc in shared) == [attempts] * 2  # per session and overall
    assert all(doc["expires_at"] for doc in shared)
    assert all("203.0.113.66" not in str(doc) for doc in shared)
