"""Rate limits per visitor, per session and overall, shared across instances through Firestore."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from signup import service
from signup.errors import MisconfiguredError, RateLimitedError
from signup.http.ratelimit import RATELIMITS, Limit, RateLimiter, visitor_key
from signup.settings import Settings

from tests.support import serve

Registrations = Callable[[str], list[dict[str, Any]]]


def instance(db: Any, *, per_session: int, overall: int, **changes: Any) -> Any:
    """One instance of `register` (its own limiter) with the given limits, as a Flask test client."""
    settings = replace(Settings.from_env(), rate_limit_per_session=per_session, rate_limit_overall=overall, **changes)
    built = service.build(settings, client=db)
    return serve(built), built


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
    on_second = sign_up(second, session_id, "203.0.113.5", 10).status_code
    # The first instance last heard the shared count before the second's attempts; it hears the new total in the
    # answer to its next flush, which writes this attempt.
    on_first = sign_up(first, session_id, "203.0.113.5", 11).status_code
    first_service.limiter.flush(wait=True)
    on_first_after_its_flush = sign_up(first, session_id, "203.0.113.5", 12).status_code

    assert early == [201] * 6  # neither instance alone saw more than five
    assert on_second == 429  # together they did
    assert on_first == 201
    assert on_first_after_its_flush == 429


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


# --- IPv6 and proxies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:0:0:0:7", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("unknown", "unknown"),
        ("not:an:address", "not:an:address"),
    ],
)
def test_a_visitor_is_an_ipv4_address_or_an_ipv6_slash_64(address: str, key: str) -> None:
    assert visitor_key(address) == key


def test_all_addresses_of_one_ipv6_slash_64_share_one_budget(db: Any, make_session: Callable[..., str]) -> None:
    client, _ = instance(db, per_session=3, overall=100)
    session_id = make_session()

    one_range = [sign_up(client, session_id, f"2001:db8:77:1::{n:x}", n).status_code for n in range(1, 6)]
    next_range = sign_up(client, session_id, "2001:db8:77:2::1", 9).status_code

    assert one_range == [201, 201, 201, 429, 429]
    assert next_range == 201


@pytest.mark.parametrize(
    ("hops", "forwarded"),
    [
        # The function's own URL (cloudfunctions.net, run.app): Google's front end appends the client's address.
        (0, "{client}"),
        (0, "10.9.9.9, {client}"),  # the client sent an X-Forwarded-For of its own
        # Google's external Application Load Balancer: <client-supplied>, <client>, <forwarding rule's address>.
        (1, "{client}, 34.111.1.1"),
        (1, "10.9.9.9, {client}, 34.111.1.1"),
    ],
)
def test_the_visitor_is_the_entry_before_the_trusted_proxies(
    db: Any, make_session: Callable[..., str], hops: int, forwarded: str
) -> None:
    client, _ = instance(db, per_session=2, overall=100, trusted_proxy_hops=hops)
    session_id = make_session()

    flooder = [sign_up(client, session_id, forwarded.format(client="203.0.113.8"), n).status_code for n in range(3)]
    others = [
        sign_up(client, session_id, forwarded.format(client=f"198.51.100.{n}"), 10 + n).status_code for n in range(6)
    ]

    assert flooder == [201, 201, 429]
    assert others == [201] * 6  # each their own budget, not the balancer's


def test_behind_a_balancer_a_forged_entry_chooses_no_budget(db: Any, make_session: Callable[..., str]) -> None:
    client, _ = instance(db, per_session=2, overall=100, trusted_proxy_hops=1)
    session_id = make_session()

    answers = [sign_up(client, session_id, f"10.0.0.{n}, 203.0.113.4, 34.111.1.1", n).status_code for n in range(4)]

    assert answers == [201, 201, 429, 429]


def base_env(**changes: str) -> dict[str, str]:
    return {
        "GOOGLE_CLOUD_PROJECT": "demo-test",
        "PUBLIC_BASE_URL": "https://example.test",
        "SIGNING_KEY": "ab" * 32,
        **changes,
    }


@pytest.mark.parametrize(("value", "hops"), [("", 0), ("0", 0), ("1", 1), (" 2 ", 2)])
def test_trusted_proxy_hops_is_a_whole_number_and_direct_by_default(value: str, hops: int) -> None:
    assert Settings.from_env(base_env(TRUSTED_PROXY_HOPS=value)).trusted_proxy_hops == hops


@pytest.mark.parametrize("value", ["-1", "1.5", "one", "²"])
def test_a_malformed_trusted_proxy_hops_names_itself(value: str) -> None:
    with pytest.raises(MisconfiguredError, match="TRUSTED_PROXY_HOPS"):
        Settings.from_env(base_env(TRUSTED_PROXY_HOPS=value))


# --- Cost and memory ---------------------------------------------------------------------------------------------


NEVER = float("inf")  # unit tests without a database never flush


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Counting:
    """The real client, counting the documents that flushes write and read."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.writes = 0
        self.reads = 0

    def collection(self, name: str) -> Any:
        return self._db.collection(name)

    def batch(self) -> Any:
        batch = self._db.batch()
        set_document = batch.set

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.writes += 1
            return set_document(*args, **kwargs)

        batch.set = counted
        return batch

    def get_all(self, refs: Any, **kwargs: Any) -> Any:
        refs = list(refs)
        self.reads += len(refs)
        return self._db.get_all(refs, **kwargs)

    def taken(self) -> tuple[int, int]:
        counts = (self.writes, self.reads)
        self.writes = self.reads = 0
        return counts


LIMITS = (Limit("session", 20, 600, per_session=True), Limit("overall", 60, 600, per_session=False))


def test_a_flush_writes_what_changed_since_the_last_one_and_reads_nothing(
    db: Any, make_session: Callable[..., str]
) -> None:
    counting = Counting(db)
    limiter = RateLimiter(counting, b"k" * 16, LIMITS, clock=Clock())
    visitors = [f"198.51.{100 + n // 250}.{n % 250}" for n in range(400)]
    for visitor in visitors:
        limiter.hit(visitor, "s1")
        limiter.hit(visitor, "s1")

    limiter.flush(wait=True)
    everyone = counting.taken()
    for visitor in visitors[:3]:
        limiter.hit(visitor, "s1")
    limiter.flush(wait=True)
    three = counting.taken()
    limiter.flush(wait=True)
    nobody = counting.taken()

    assert everyone == (400 * 2, 0)  # per session and overall
    assert three == (3 * 2, 0)
    assert nobody == (0, 0)
    stored = sorted(int(doc.get("count")) for doc in db.collection(RATELIMITS).stream())
    assert stored == [2] * (397 * 2) + [3] * (3 * 2)


def test_an_instance_learns_the_shared_total_from_the_answer_to_its_write(
    db: Any, make_session: Callable[..., str]
) -> None:
    limits = (Limit("session", 5, 600, per_session=True),)
    first, second = (RateLimiter(db, b"k" * 16, limits, clock=Clock()) for _ in range(2))
    for limiter in (first, second, first, second):
        limiter.hit("203.0.113.50", "s1")
    first.flush(wait=True)
    second.flush(wait=True)

    second.hit("203.0.113.50", "s1")  # the fifth
    with pytest.raises(RateLimitedError):
        second.hit("203.0.113.50", "s1")


def grown_by(limiter: RateLimiter, visitors: int, attempts: int) -> int:
    """Bytes the limiter holds after `visitors` distinct visitors made `attempts` attempts each (none flushed)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(visitors):
            for _ in range(attempts):
                limiter.hit(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", "s1")
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("attempts", [1, 2])
def test_memory_stays_bounded_however_many_visitors_come(attempts: int) -> None:
    limits = (Limit("session", 100, 600, per_session=True), Limit("overall", 100, 600, per_session=False))

    def limiter() -> RateLimiter:
        return RateLimiter(None, b"k" * 16, limits, clock=Clock(), seen_slots=4096, tracked=500)

    few, many = grown_by(limiter(), 2_000, attempts), grown_by(limiter(), 20_000, attempts)

    assert many < few * 1.2 + 20_000


def test_a_flooder_stays_limited_while_a_botnet_churns_through_memory() -> None:
    limiter = RateLimiter(
        None, b"k" * 16, (Limit("session", 5, 600, per_session=True),), clock=Clock(), seen_slots=1024, tracked=100
    )
    answers = []
    for round_ in range(40):
        try:
            limiter.hit("203.0.113.66", "s1")
            answers.append(201)
        except RateLimitedError:
            answers.append(429)
        for n in range(60):  # one-time visitors, and visitors who try twice
            bot = f"10.{round_}.{n}.1"
            limiter.hit(bot, "s1")
            if n % 2:
                limiter.hit(bot, "s1")

    assert answers == [201] * 5 + [429] * 35


def test_counts_start_afresh_in_the_next_window() -> None:
    clock = Clock(600 * 3_000_000.0)
    limiter = RateLimiter(
        None, b"k" * 16, (Limit("session", 2, 600, per_session=True),), clock=clock, flush_seconds=NEVER
    )
    limiter.hit("203.0.113.1", "s1")
    limiter.hit("203.0.113.1", "s1")
    clock.now += 599
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit("203.0.113.1", "s1")
    clock.now += 1

    limiter.hit("203.0.113.1", "s1")
    limiter.hit("203.0.113.1", "s1")
    assert refused.value.retry_after == 1
