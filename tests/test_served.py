"""`register` served by functions-framework in its own process: bursts, and what only a real server sees."""

from __future__ import annotations

import http.client
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import cancel_token

Registrations = Callable[[str], list[dict[str, Any]]]


def sign_up(base: str, session_id: str, email: str, first_name: str = "Jan") -> httpx.Response:
    return httpx.post(
        f"{base}/sessions/{session_id}/registrations",
        json={"first_name": first_name, "last_name": "Berg", "email": email},
        timeout=60,
    )


def test_a_burst_of_200_visitors_for_50_seats_confirms_exactly_50(
    server: str, make_session: Callable[..., str], registrations: Registrations
) -> None:
    session_id = make_session(capacity=50)

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda n: sign_up(server, session_id, f"visitor{n}@example.nl"), range(200)))

    assert [a.status_code for a in answers] == [201] * 200
    stored = registrations(session_id)
    assert len(stored) == 200
    assert Counter(doc["status"] for doc in stored) == {"confirmed": 50, "waitlisted": 150}
    assert {a.json()["id"]: a.json()["status"] for a in answers} == {doc["id"]: doc["status"] for doc in stored}
    seats = sorted(doc["seat"] for doc in stored if doc["status"] == "confirmed")
    assert seats == list(range(50))


@pytest.mark.parametrize("capacity", [None, 10, 0])
def test_twenty_identical_sign_ups_at_once_make_one_registration(
    server: str, make_session: Callable[..., str], registrations: Registrations, capacity: int | None
) -> None:
    session_id = make_session(capacity=capacity)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: sign_up(server, session_id, "jan@example.nl"), range(20)))

    assert {a.status_code for a in answers} == {201}
    assert len({(a.json()["id"], a.json()["status"]) for a in answers}) == 1
    [stored] = registrations(session_id)
    assert stored["id"] == answers[0].json()["id"]
    assert stored["status"] == answers[0].json()["status"]


def test_a_large_body_sent_without_a_length_is_refused(
    server: str, make_session: Callable[..., str], registrations: Registrations
) -> None:
    session_id = make_session()
    target = urlsplit(server)
    connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)

    connection.request(
        "POST",
        f"/sessions/{session_id}/registrations",
        body=(b"x=" + b"a" * 1000 + b"&" for _ in range(100)),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        encode_chunked=True,
    )
    response = connection.getresponse()

    assert response.status == 413
    assert registrations(session_id) == []
    connection.close()


def test_a_cancellation_just_after_the_capacity_was_lowered_promotes_nobody_into_a_seat_that_is_gone(
    server: str, db: Any, make_session: Callable[..., str], registrations: Registrations
) -> None:
    session_id = make_session(capacity=2)
    ann, bob, cor = (sign_up(server, session_id, f"{name}@example.nl", name).json() for name in ("ann", "bob", "cor"))
    assert [ann["status"], bob["status"], cor["status"]] == ["confirmed", "confirmed", "waitlisted"]
    # The organiser lowers the capacity to 1 while `register` still has the session cached (5 s), and Ann cancels.
    db.collection("sessions").document(session_id).update({"capacity": 1})

    cancelled = httpx.post(f"{server}/cancel/{cancel_token(session_id, ann['id'])}", timeout=60)

    assert cancelled.status_code == 200
    stored = {doc["email"]: doc for doc in registrations(session_id)}
    assert {email: doc["status"] for email, doc in stored.items()} == {
        "ann@example.nl": "cancelled",
        "bob@example.nl": "confirmed",
        "cor@example.nl": "waitlisted",  # Bob holds the one seat there is
    }
    taken = [doc.id for doc in db.collection("sessions", session_id, "seats").stream()]
    assert taken == [str(stored["bob@example.nl"]["seat"])]
