"""Faults: the database going away under load, the mail server refusing for a while, one client flooding.
None of it may cost a real person their registration, or anyone a 500."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev import emulator as firestore_emulator
from dev import processes
from dev.mailbox import Mailbox
from tests.conftest import PROJECT, ROOT, emulator_client, session_fields

Registrations = Callable[[str], list[dict[str, Any]]]
FIGURES = ROOT / "test-artifacts" / "faults.json"


def report(name: str, figures: dict[str, Any]) -> None:
    """Keep what a run measured, for the README's report."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    FIGURES.write_text(json.dumps({**known, name: figures}, indent=2))


def serve_register(env: dict[str, str], log: Path) -> tuple[Any, str]:
    port = processes.free_port()
    process = processes.serve_function(
        "register", port, {**os.environ, **env, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}, log=log
    )
    url = f"http://127.0.0.1:{port}"
    processes.wait_until(processes.answers(f"{url}/healthz"), process, "register")
    return process, url


@pytest.fixture
def lonely_database(tmp_path: Path) -> Iterator[tuple[firestore_emulator.Emulator, int]]:
    """An emulator of this test's own, on a port it can be started again on."""
    port = processes.free_port()
    database = firestore_emulator.start(PROJECT, port=port, log=tmp_path / "firestore.log")
    yield database, port
    database.stop()


def test_the_database_going_away_under_load_gives_quick_503s_and_recovery_without_a_restart(
    lonely_database: tuple[firestore_emulator.Emulator, int], tmp_path: Path
) -> None:
    database, port = lonely_database
    emulator_client(database).collection("sessions").document("load").set(session_fields())
    process, url = serve_register({"FIRESTORE_EMULATOR_HOST": database.host}, tmp_path / "register.log")
    answers: list[tuple[float, int, float]] = []  # (when, status, seconds it took)
    stop = threading.Event()
    began = time.monotonic()

    def visitor(n: int) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not stop.is_set():
                i += 1
                started = time.monotonic()
                response = client.post(
                    f"{url}/sessions/load/registrations",
                    json={"first_name": "Last", "last_name": f"Test {n}", "email": f"v{n}.{i}@example.nl"},
                )
                answers.append((started - began, response.status_code, time.monotonic() - started))
                if response.status_code == 503:
                    assert response.headers["Retry-After"]
                time.sleep(0.05)

    try:
        with ThreadPoolExecutor(4) as pool:
            for n in range(4):
                pool.submit(visitor, n)
            time.sleep(2)
            database.export(tmp_path / "data")  # what a real database keeps when it goes down
            database.stop()
            stopped_at = time.monotonic() - began  # gone from here on (stopping a JVM takes a moment)
            time.sleep(8)
            restarting_at = time.monotonic() - began
            database = firestore_emulator.start(
                PROJECT, port=port, data_dir=tmp_path / "data", log=tmp_path / "firestore-again.log"
            )
            restarted_at = time.monotonic() - began
            time.sleep(20)
            stop.set()
    finally:
        processes.stop(process)
        database.stop()

    statuses = Counter(status for _, status, _ in answers)
    # Answers to requests made, and answered, while the database was away.
    during = [(status, took) for when, status, took in answers if when > stopped_at and when + took < restarting_at]
    recovered = [when - restarted_at for when, status, _ in answers if when > restarted_at and status == 201]
    report(
        "database outage",
        {
            "answers": dict(statuses),
            "slowest answer while down (s)": round(max(t for _, t in during), 2),
            "first sign-up after the restart (s)": round(min(recovered), 2),
        },
    )
    assert set(statuses) <= {201, 503}, statuses  # never a 500
    assert statuses[201] > 0
    assert statuses[503] > 0
    assert during
    assert all(status == 503 for status, _ in during)
    assert max(took for _, took in during) < 5.0  # a quick answer, not a hang
    assert recovered
    assert min(recovered) < 15.0  # back by itself, in the same process


def test_while_the_mail_server_refuses_sign_ups_go_on_and_the_sweep_catches_up(
    client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str], registrations: Registrations
) -> None:
    from signup.service import build_notifier
    from signup.settings import Settings

    session_id = make_session(capacity=3)
    inbox.refuse_always("421 4.3.2 Service shutting down")
    dead = build_notifier(replace(Settings.from_env(), smtp_url=f"smtp://127.0.0.1:{processes.free_port()}"), client=db)
    refusing = build_notifier(Settings.from_env(), client=db)

    answers = [
        client.post(
            f"/sessions/{session_id}/registrations",
            json={"first_name": "Mail", "last_name": f"Loos {n}", "email": f"m{n}@example.nl"},
        ).status_code
        for n in range(5)
    ]
    for doc in registrations(session_id)[:2]:
        dead.registration_written(session_id, doc["id"])  # the mail server cannot even be reached
    refusing.sweep(datetime.now(UTC) + timedelta(seconds=5))  # it answers, but only with 4xx
    inbox.refuse_always(None)
    refusing.sweep(datetime.now(UTC) + timedelta(minutes=20))

    stored = registrations(session_id)
    assert answers == [201] * 5
    assert Counter(doc["status"] for doc in stored) == {"confirmed": 3, "waitlisted": 2}
    assert sorted(r.recipients[0] for r in inbox.received) == [f"m{n}@example.nl" for n in range(5)]
    assert {doc["emails"]["confirmation"]["state"] for doc in registrations(session_id)} == {"sent"}


WINDOW_SECONDS = 600  # RATE_LIMIT_WINDOW_SECONDS' default


def clear_of_a_window_end(window: float, needed: float) -> None:
    """Wait, if need be, until `needed` seconds pass before the current fixed window ends."""
    left = window - time.time() % window
    if left < needed:
        time.sleep(left + 0.5)


def test_one_client_flooding_does_not_keep_others_from_signing_up(
    emulator: Any, make_session: Callable[..., str], registrations: Registrations, tmp_path: Path
) -> None:
    session_id = make_session()
    process, url = serve_register({"RATE_LIMIT_PER_SESSION": "20", "RATE_LIMIT_OVERALL": "60"}, tmp_path / "r.log")
    # The windows are fixed (every 600 s from the epoch): a flood across a window's end has two windows' budget.
    clear_of_a_window_end(WINDOW_SECONDS, 60)

    def flood(n: int) -> int:
        response = httpx.post(
            f"{url}/sessions/{session_id}/registrations",
            timeout=30,
            json={"first_name": "Flood", "last_name": f"Bot {n}", "email": f"bot{n}@example.nl"},
            headers={"X-Forwarded-For": "203.0.113.66"},
        )
        return response.status_code

    def person(n: int) -> int:
        response = httpx.post(
            f"{url}/sessions/{session_id}/registrations",
            timeout=30,
            json={"first_name": "Echt", "last_name": f"Mens {n}", "email": f"mens{n}@example.nl"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
        return response.status_code

    try:
        with ThreadPoolExecutor(8) as pool:
            flooded = pool.map(flood, range(300))
            people = pool.map(person, range(40))
            flood_answers, people_answers = Counter(flooded), list(people)
    finally:
        processes.stop(process)

    report("flood", {"flooder": dict(flood_answers), "others": dict(Counter(people_answers))})
    assert people_answers == [201] * 40
    assert flood_answers == {201: 20, 429: 280}
    stored = registrations(session_id)
    assert sum(doc["first_name"] == "Echt" for doc in stored) == 40
    assert sum(doc["first_name"] == "Flood" for doc in stored) == 20
