"""A limited session's page shows the seats left; a burst of page views costs one count, not one each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from signup.ledger.fields import SEATS, SESSIONS
from signup.store.registrations import Registrar
from signup.store.sessions import SessionStore

from tests.support import KEYS, Monotonic, person


def test_the_seat_count_is_kept_as_long_as_the_session_document_and_then_counted_again(
    db: Any, make_session: Callable[..., str]
) -> None:
    session = SessionStore(db, ttl=0).get(make_session(capacity=10))
    monotonic = Monotonic()
    pages = Registrar(db, KEYS, monotonic=monotonic, seats_left_ttl=5.0)

    before = pages.seats_left(session)
    Registrar(db, KEYS).register(session, person("Ada", "ada@example.nl"), origin=None)  # another instance takes a seat
    within = [pages.seats_left(session) for _ in range(50)]
    monotonic.now += 5.0
    after = pages.seats_left(session)

    assert before == 10
    assert within == [10] * 50
    assert after == 9
    taken = list(db.collection(SESSIONS).document(session.id).collection(SEATS).stream())
    assert len(taken) == 1


def test_without_a_cache_period_every_view_counts_afresh(db: Any, make_session: Callable[..., str]) -> None:
    session = SessionStore(db, ttl=0).get(make_session(capacity=3))
    pages = Registrar(db, KEYS)

    before = pages.seats_left(session)
    Registrar(db, KEYS).register(session, person("Bo", "bo@example.nl"), origin=None)

    assert (before, pages.seats_left(session)) == (3, 2)
