"""Sessions as organisers type them into the console: defaults, leniency, clear errors, and the cache."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from signup.errors import MisconfiguredError, NotFoundError
from signup.ledger.session import MAX_CAPACITY, parse_session
from signup.store.sessions import SessionStore

from tests.conftest import session_fields


def test_a_session_with_only_the_documented_fields_works_with_defaults() -> None:
    session = parse_session("s1", session_fields(allowed_origins=None, organiser=None))

    assert session.timezone == "Europe/Amsterdam"
    assert session.language == "nl"
    assert session.capacity is None
    assert session.reminder_hours == (24.0,)
    assert session.allowed_origins == frozenset()
    assert session.organiser is None
    assert session.closes_at == session.starts_at


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"title": None}, "title"),
        ({"starts_at": None}, "starts_at"),
        ({"ends_at": "next week"}, "ends_at"),
        ({"ends_at": datetime(2000, 1, 1, tzinfo=UTC)}, "ends_at"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"language": "fr"}, "language"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": "50"}, "capacity"),
        ({"allowed_origins": "https://example.nl"}, "allowed_origins"),
        ({"reminder_hours": [0]}, "reminder_hours"),
        ({"location": "Amsterdam"}, "location"),
        ({"retention_days": -1}, "retention_days"),
        ({"thank_you_url": "https://[www.example.nl/bedankt"}, "thank_you_url"),
        ({"thank_you_url": "javascript:alert(1)"}, "thank_you_url"),
        ({"privacy_url": "www.example.nl/privacy"}, "privacy_url"),
        ({"organiser": {"name": "Anna", "email": "Anna <anna@example.nl>"}}, "organiser.email"),
        ({"organiser": {"name": "Anna", "email": "anna at example.nl"}}, "organiser.email"),
        ({"organiser": {"name": "Anna\r\nBcc: x@example.nl", "email": "anna@example.nl"}}, "organiser.name"),
        ({"retention_days": 10_000}, "retention_days"),
        ({"retention_days": "30"}, "retention_days"),
        # Bounded, so that nothing typed can take the functions down: a range of 1e300 seats, date arithmetic that
        # overflows (a reminder ten billion hours ahead, an end in the year 9999 plus the retention period).
        ({"capacity": 1e300}, "capacity"),
        ({"capacity": MAX_CAPACITY + 1}, "capacity"),
        ({"capacity": float("inf")}, "capacity"),
        ({"reminder_hours": [1e10]}, "reminder_hours"),
        ({"reminder_hours": [24, float("inf")]}, "reminder_hours"),
        ({"reminder_hours": [float("nan")]}, "reminder_hours"),
        ({"confirm_within_hours": 1e10}, "confirm_within_hours"),
        ({"ends_at": datetime(9999, 12, 31, tzinfo=UTC)}, "ends_at"),
        ({"ends_at": "9999-12-31T23:00:00-05:00"}, "ends_at"),
        ({"starts_at": datetime(1, 1, 1, tzinfo=UTC)}, "starts_at"),
        ({"registration_closes_at": datetime(1969, 12, 31, tzinfo=UTC)}, "registration_closes_at"),
    ],
)
def test_a_field_that_cannot_work_names_itself(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(MisconfiguredError, match=named):
        parse_session("s1", session_fields(**changes))


def test_origins_are_compared_as_sites() -> None:
    session = parse_session("s1", session_fields(allowed_origins=["https://WWW.Example.nl/", "not a url"]))

    assert session.allows_origin("https://www.example.nl")
    assert not session.allows_origin("http://www.example.nl")
    assert not session.allows_origin("null")


def test_a_whole_number_typed_as_a_double_is_a_capacity() -> None:
    assert parse_session("s1", session_fields(capacity=50.0)).capacity == 50
    assert parse_session("s1", session_fields(capacity=float(MAX_CAPACITY))).capacity == MAX_CAPACITY


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"capacity": 1e300}, "capacity"),  # the worker was killed for memory
        ({"reminder_hours": [1e10]}, "reminder_hours"),
        ({"starts_at": datetime(9999, 12, 30, tzinfo=UTC), "ends_at": datetime(9999, 12, 31, tzinfo=UTC)}, "starts_at"),
    ],
)
def test_a_session_typed_out_of_bounds_answers_a_clear_503_that_names_the_field(
    client: Any,
    make_session: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
    changes: dict[str, Any],
    named: str,
) -> None:
    session_id = make_session(**changes)

    with caplog.at_level(logging.ERROR):
        page = client.get(f"/sessions/{session_id}")
        post = client.post(
            f"/sessions/{session_id}/registrations",
            json={"first_name": "Jan", "last_name": "Berg", "email": "jan@example.nl"},
        )

    assert (page.status_code, post.status_code) == (503, 503)
    assert post.get_json()["error"] == "misconfigured"
    assert all(named in record.getMessage() for record in caplog.records if "misconfigured" in record.getMessage())
    assert any(named in record.getMessage() for record in caplog.records)


class HeldClient:
    """The emulator's client, whose session reads can be held until the test lets them go."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._reading, self._answer = threading.Event(), threading.Event()
        self._answer.set()

    def collection(self, name: str) -> Any:
        self._reading.set()
        assert self._answer.wait(10)
        return self._db.collection(name)

    @contextmanager
    def reads(self) -> Iterator[None]:
        """Reads started within the block wait for its end."""
        self._reading.clear()
        self._answer.clear()
        try:
            yield
        finally:
            self._answer.set()

    def wait_for_a_read(self) -> None:
        assert self._reading.wait(10)


class TestTheStore:
    def test_keeps_a_session_for_its_time_to_live_then_reads_it_again(
        self, db: Any, make_session: Callable[..., str]
    ) -> None:
        now = [0.0]
        store = SessionStore(db, ttl=5, monotonic=lambda: now[0])
        session_id = make_session(title="Eerst")
        assert store.get(session_id).title == "Eerst"
        db.collection("sessions").document(session_id).update({"title": "Daarna"})

        now[0] = 4.9
        cached = store.get(session_id).title
        now[0] = 5.1
        fresh = store.get(session_id).title

        assert (cached, fresh) == ("Eerst", "Daarna")

    def test_an_unknown_or_impossible_id_is_not_found(self, db: Any) -> None:
        store = SessionStore(db, ttl=5)

        for session_id in ("missing", "", "a/b", "__x__", "x" * 200):
            with pytest.raises(NotFoundError):
                store.get(session_id)

    def test_reads_an_aged_session_once_while_the_other_requests_go_on_with_the_cached_one(
        self, db: Any, make_session: Callable[..., str]
    ) -> None:
        now, held = [0.0], HeldClient(db)
        store = SessionStore(held, ttl=5, monotonic=lambda: now[0])
        session_id = make_session(title="Eerst")
        store.get(session_id)
        db.collection("sessions").document(session_id).update({"title": "Daarna"})
        now[0] = 5.1
        with ThreadPoolExecutor(max_workers=1) as requests, held.reads():
            refresher = requests.submit(lambda: store.get(session_id).title)
            held.wait_for_a_read()
            meanwhile = store.get(session_id).title

        assert (meanwhile, refresher.result(10), store.get(session_id).title) == ("Eerst", "Daarna", "Daarna")

    def test_after_an_edit_that_broke_the_session_no_request_answers_with_the_old_one(
        self, db: Any, make_session: Callable[..., str]
    ) -> None:
        now, held = [0.0], HeldClient(db)
        store = SessionStore(held, ttl=5, monotonic=lambda: now[0])
        session_id = make_session()
        store.get(session_id)
        db.collection("sessions").document(session_id).update({"capacity": -1})
        now[0] = 5.1
        with pytest.raises(MisconfiguredError):
            store.get(session_id)
        with ThreadPoolExecutor(max_workers=2) as requests, held.reads():
            first = requests.submit(store.get, session_id)
            held.wait_for_a_read()
            meanwhile = requests.submit(store.get, session_id)

        for answer in (first, meanwhile):
            with pytest.raises(MisconfiguredError, match="capacity"):
                answer.result(10)

    def test_forgets_a_session_that_was_deleted(self, db: Any, make_session: Callable[..., str]) -> None:
        now = [0.0]
        store = SessionStore(db, ttl=5, monotonic=lambda: now[0])
        session_id = make_session()
        store.get(session_id)
        db.collection("sessions").document(session_id).delete()
        now[0] = 5.1

        for _ in range(2):
            with pytest.raises(NotFoundError):
                store.get(session_id)
