"""Each instance lists a session's seats once and hands out the free ones from that listing, never overselling."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from signup.ledger.fields import REGISTRATIONS, SEATS, SESSIONS
from signup.ledger.registration import SignUp
from signup.ledger.session import Session
from signup.ledger.status import Status
from signup.store.registrations import Registrar
from signup.store.seats import SEAT_MEMORY_SECONDS, free_seats
from signup.store.sessions import SessionStore

from tests.support import KEYS, Monotonic
from tests.support import person as signing_up

CONFIRMED, WAITLISTED = Status.CONFIRMED, Status.WAITLISTED


def person(n: int) -> SignUp:
    return signing_up(f"Persoon{n}", f"p{n}@example.nl")


def logged(caplog: pytest.LogCaptureFixture, beginning: str) -> Callable[[], int]:
    """How many of the seats' debug lines so far begin with `beginning`."""
    caplog.set_level(logging.DEBUG, logger="signup.store.seats")
    return lambda: sum(record.getMessage().startswith(beginning) for record in caplog.records)


@pytest.fixture
def listings(caplog: pytest.LogCaptureFixture) -> Callable[[], int]:
    """How many times the seats were listed so far."""
    return logged(caplog, "listed seats ")


@pytest.fixture
def countings(caplog: pytest.LogCaptureFixture) -> Callable[[], int]:
    """How many times the seats were counted so far."""
    return logged(caplog, "counted seats ")


def stored(db: Any, session: Session) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The seats (seat number: registration id) and the registrations (id: document) of a session."""
    session_ref = db.collection(SESSIONS).document(session.id)
    seats = {doc.id: doc.get("registration_id") for doc in session_ref.collection(SEATS).stream()}
    registrations = {doc.id: doc.to_dict() or {} for doc in session_ref.collection(REGISTRATIONS).stream()}
    return seats, registrations


def assert_never_oversold(db: Any, session: Session) -> None:
    """Every seat is held by a confirmed registration holding that seat, and every confirmed one holds a seat."""
    seats, registrations = stored(db, session)
    assert session.capacity is not None
    assert len(seats) <= session.capacity
    confirmed = {id_: doc["seat"] for id_, doc in registrations.items() if doc["status"] == CONFIRMED}
    assert {str(seat): id_ for id_, seat in confirmed.items()} == seats


def test_a_burst_of_sign_ups_lists_the_seats_once_and_each_gets_a_seat_of_its_own(
    db: Any, make_session: Callable[..., str], listings: Callable[[], int]
) -> None:
    session = SessionStore(db, ttl=0).get(make_session(capacity=100))
    registrar = Registrar(db, KEYS)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda n: registrar.register(session, person(n), origin=None), range(30)))

    assert [answer.status for answer in answers] == [CONFIRMED] * 30
    assert listings() == 1
    seats, _ = stored(db, session)
    assert len(seats) == 30
    assert_never_oversold(db, session)


def test_seats_another_instance_took_meanwhile_cost_a_failed_create_each_and_then_one_listing(
    db: Any, make_session: Callable[..., str], listings: Callable[[], int]
) -> None:
    session = SessionStore(db, ttl=0).get(make_session(capacity=5))
    here, elsewhere = Registrar(db, KEYS), Registrar(db, KEYS)

    first = here.register(session, person(0), origin=None)  # lists: four seats believed free here
    others = [elsewhere.register(session, person(n), origin=None) for n in range(1, 5)]  # they take those four
    late = here.register(session, person(5), origin=None)

    assert first.status == CONFIRMED
    assert [other.status for other in others] == [CONFIRMED] * 4
    assert late.status == WAITLISTED
    # Here, elsewhere, and here again once the four seats it believed free turned out taken: found full.
    assert listings() == 3
    _, registrations = stored(db, session)
    assert registrations[late.id]["status"] == WAITLISTED
    assert "seat" not in registrations[late.id]
    assert_never_oversold(db, session)


def test_a_listing_that_found_the_session_full_is_believed_for_a_while_then_made_afresh(
    db: Any, make_session: Callable[..., str], listings: Callable[[], int]
) -> None:
    session = SessionStore(db, ttl=0).get(make_session(capacity=1))
    monotonic = Monotonic()
    here, elsewhere = Registrar(db, KEYS, monotonic=monotonic), Registrar(db, KEYS)
    seated = here.register(session, person(0), origin=None)
    waiting = here.register(session, person(1), origin=None)  # lists again: full
    elsewhere.cancel(session, waiting.id)
    elsewhere.cancel(session, seated.id)  # nobody waits: the seat stays free
    listed = listings()

    beside_free_seat = here.register(session, person(2), origin=None)
    monotonic.now += SEAT_MEMORY_SECONDS
    looked_again = here.register(session, person(3), origin=None)

    assert (seated.status, waiting.status) == (CONFIRMED, WAITLISTED)
    assert listed == 3  # here twice, and the promotion after the cancellation elsewhere
    # The price of the memory: waitlisted beside a free seat, for the sweep's promotion to seat.
    assert beside_free_seat.status == WAITLISTED
    assert looked_again.status == CONFIRMED
    assert listings() == listed + 1
    assert_never_oversold(db, session)


def test_a_full_session_is_counted_not_listed_when_its_listing_ages_until_a_seat_is_free(
    db: Any, make_session: Callable[..., str], listings: Callable[[], int], countings: Callable[[], int]
) -> None:
    session = SessionStore(db, ttl=0).get(make_session(capacity=2))
    monotonic = Monotonic()
    here, elsewhere = Registrar(db, KEYS, monotonic=monotonic), Registrar(db, KEYS)
    seated = [here.register(session, person(n), origin=None) for n in range(2)]
    waiting = here.register(session, person(2), origin=None)  # lists again: full
    listed = listings()

    monotonic.now += SEAT_MEMORY_SECONDS
    still_waiting = here.register(session, person(3), origin=None)
    listed_while_full, counted_while_full = listings() - listed, countings()
    for registration in (waiting, still_waiting, seated[0]):
        elsewhere.cancel(session, registration.id)  # nobody waits any more: a seat stays free
    monotonic.now += SEAT_MEMORY_SECONDS
    seated_again = here.register(session, person(4), origin=None)

    assert [registration.status for registration in (*seated, waiting, still_waiting)] == [CONFIRMED] * 2 + [
        WAITLISTED
    ] * 2
    # A burst on a full session pays a count per few seconds, not a read of every seat.
    assert (listed_while_full, counted_while_full) == (0, 1)
    assert seated_again.status == CONFIRMED
    assert countings() == 2
    assert_never_oversold(db, session)


def test_a_seat_freed_by_a_cancellation_on_the_same_instance_is_offered_at_once(
    db: Any, make_session: Callable[..., str], listings: Callable[[], int]
) -> None:
    session = SessionStore(db, ttl=0).get(make_session(capacity=1))
    here, elsewhere = Registrar(db, KEYS, monotonic=Monotonic()), Registrar(db, KEYS)
    seated = here.register(session, person(0), origin=None)
    waiting = here.register(session, person(1), origin=None)  # here now believes the session full
    elsewhere.cancel(session, waiting.id)

    here.cancel(session, seated.id)  # nobody waits: the seat stays free
    newcomer = here.newcomer_status(session)
    next_one = here.register(session, person(2), origin=None)

    assert (seated.status, waiting.status) == (CONFIRMED, WAITLISTED)
    assert (newcomer, next_one.status) == (CONFIRMED, CONFIRMED)
    assert_never_oversold(db, session)


@pytest.mark.parametrize(
    ("taken", "capacity", "free"),
    [
        pytest.param(set(), 3, [0, 1, 2], id="an empty session: every seat"),
        pytest.param({0, 2}, 4, [1, 3], id="the seats not taken"),
        pytest.param({0, 1, 2}, 3, [], id="a full session: none"),
        pytest.param({5, 6, 7, 8, 9}, 5, [], id="lowered under as many seats taken: none"),
        pytest.param({7, 8, 9}, 5, [0, 1], id="lowered under three taken: two below, for five in all"),
        pytest.param({1, 7}, 5, [0, 2, 3], id="lowered, one taken above and one below: three more"),
        pytest.param({0, 1, 2, 3, 4, 7}, 5, [], id="lowered under more seats than it has: none"),
        pytest.param({3, 4, 5}, 5, [0, 1], id="the seats just below the new capacity count as taken below it"),
    ],
)
def test_the_free_seats_never_make_more_than_the_capacity(taken: set[int], capacity: int, free: list[int]) -> None:
    assert free_seats(taken, capacity) == free
    assert len(taken) + len(free) <= max(capacity, len(taken))


def test_after_the_capacity_is_lowered_under_the_seats_taken_nobody_more_is_seated_until_it_holds(
    db: Any, make_session: Callable[..., str]
) -> None:
    sessions = SessionStore(db, ttl=0)
    session = sessions.get(make_session(capacity=10))
    here, elsewhere = Registrar(db, KEYS), Registrar(db, KEYS)
    seated = [here.register(session, person(n), origin=None) for n in range(10)]
    holders = {registration.seat: registration.id for registration in seated}
    for seat in range(5):
        here.cancel(session, holders[seat])  # nobody waits: seats 0-4 free, 5-9 held
    db.collection(SESSIONS).document(session.id).update({"capacity": 5})  # the organiser, in the console
    lowered = sessions.get(session.id)

    newcomers = [registrar.register(lowered, person(n), origin=None) for n, registrar in ((10, here), (11, elsewhere))]
    held_after_sign_ups = len(stored(db, lowered)[0])
    elsewhere.cancel(lowered, holders[9])  # four held: the first waiting gets the one seat there is
    seats, registrations = stored(db, lowered)

    assert [newcomer.status for newcomer in newcomers] == [WAITLISTED, WAITLISTED]
    assert held_after_sign_ups == 5
    assert registrations[newcomers[0].id]["status"] == CONFIRMED
    assert registrations[newcomers[1].id]["status"] == WAITLISTED
    assert sorted(seats) == ["0", "5", "6", "7", "8"]
    assert_never_oversold(db, lowered)
