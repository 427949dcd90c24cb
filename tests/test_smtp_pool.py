"""Mail through a slow relay: several SMTP connections at once, never more than SMTP_MAX_CONNECTIONS, each mail once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from signup.errors import MisconfiguredError
from signup.mail.transport.smtp import SmtpServer, SmtpTransport
from signup.mail.transport.smtppool import ConnectionPool, Pacer
from signup.settings import Settings

from dev import mailbox, processes
from tests.support import mail_state, sign_up
from tests.test_settings import COMPLETE


@dataclass
class SlowRelay(mailbox.Mailbox):
    """A relay that answers each message after `delay` seconds, and counts how many it was answering at once."""

    delay: float = 0.2
    in_flight: int = 0
    most_in_flight: int = 0
    # Messages kept whose answer is lost: the connection drops after the whole message, before "250".
    answers_lost: int = 0

    def clear(self) -> None:
        super().clear()
        self.in_flight = self.most_in_flight = self.answers_lost = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        # All hooks run on the controller's one event loop: counting needs no lock.
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            answer = await super().handle_DATA(server, session, envelope)
            if self.answers_lost > 0:
                self.answers_lost -= 1
                server.transport.abort()
            return answer
        finally:
            self.in_flight -= 1


@pytest.fixture(scope="module")
def slow_relay() -> Iterator[tuple[SlowRelay, str]]:
    relay = SlowRelay()
    port = processes.free_port()
    controller = mailbox.serve(relay, port)
    yield relay, f"smtp://127.0.0.1:{port}"
    controller.stop()


@pytest.fixture
def relay(slow_relay: tuple[SlowRelay, str]) -> SlowRelay:
    slow_relay[0].clear()
    return slow_relay[0]


@pytest.fixture
def pooled(db: Any, slow_relay: tuple[SlowRelay, str]) -> Callable[[int], Any]:
    """A notifier sending to the slow relay over at most `connections` connections."""
    from signup.service import build_notifier

    def build(connections: int) -> Any:
        settings = replace(Settings.from_env(), smtp_url=slow_relay[1], smtp_max_connections=connections)
        return build_notifier(settings, client=db)

    return build


def people(client: Any, session_id: str, count: int) -> dict[str, str]:
    """Sign up `count` people; their registration ids by address."""
    addresses = [f"person{n}@example.nl" for n in range(count)]
    return {address: sign_up(client, session_id, email=address)["id"] for address in addresses}


class TestManyConnections:
    def test_are_used_at_once_up_to_the_limit_and_each_mail_arrives_once(
        self, client: Any, db: Any, relay: SlowRelay, pooled: Callable[[int], Any], make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        ids = people(client, session_id, 24)

        report = pooled(4).sweep(datetime.now(UTC) + timedelta(seconds=5))

        assert relay.most_in_flight == 4
        assert relay.connections == 4
        assert sorted(r.recipients[0] for r in relay.received) == sorted(ids)
        assert report.outcomes == {"sent": 24}
        assert {mail_state(db, session_id, i)["state"] for i in ids.values()} == {"sent"}

    def test_are_shared_by_every_run_of_an_instance_so_many_events_at_once_stay_under_the_limit(
        self, client: Any, db: Any, relay: SlowRelay, pooled: Callable[[int], Any], make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        ids = people(client, session_id, 12)
        notifier = pooled(3)

        with ThreadPoolExecutor(12) as events:
            reports = list(events.map(lambda i: notifier.registration_written(session_id, i), ids.values()))

        assert relay.most_in_flight == 3
        assert relay.connections <= 3
        assert sorted(r.recipients[0] for r in relay.received) == sorted(ids)
        assert [report.outcomes for report in reports] == [{"sent": 1}] * 12

    @pytest.mark.parametrize(
        "refusal", ["451 4.7.1 Greylisted, try again later", "421 4.3.2 Too many messages, closing connection"]
    )
    def test_ride_out_a_relay_answering_4xx_for_a_while_and_send_each_mail_once(
        self,
        client: Any,
        db: Any,
        relay: SlowRelay,
        pooled: Callable[[int], Any],
        make_session: Callable[..., str],
        refusal: str,
    ) -> None:
        session_id = make_session()
        ids = people(client, session_id, 16)
        notifier = pooled(4)
        relay.refuse_next(6, refusal)
        now = datetime.now(UTC) + timedelta(seconds=5)

        first = notifier.sweep(now)
        delivered_first = len(relay.received)
        later = [notifier.sweep(now + timedelta(minutes=minutes)) for minutes in (2, 10, 30)]

        assert first.outcomes == {"sent": 10, "pending": 6}
        assert delivered_first == 10
        assert later[0].outcomes == {"sent": 6}
        assert later[1].outcomes == later[2].outcomes == {}
        assert relay.most_in_flight <= 4
        assert sorted(r.recipients[0] for r in relay.received) == sorted(ids)
        states = [mail_state(db, session_id, i) for i in ids.values()]
        assert Counter((s["state"], s["attempts"]) for s in states) == {("sent", 1): 10, ("sent", 2): 6}


class TestWhenAMailMayGoTwice:
    def test_only_when_the_server_kept_it_but_its_answer_was_lost_and_then_with_the_same_message_id(
        self, client: Any, db: Any, relay: SlowRelay, pooled: Callable[[int], Any], make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        registration_id = sign_up(client, session_id)["id"]
        notifier = pooled(1)
        relay.answers_lost = 1

        first = notifier.registration_written(session_id, registration_id)
        after_first = mail_state(db, session_id, registration_id)
        later = notifier.sweep(datetime.now(UTC) + timedelta(minutes=2))

        assert first.outcomes == {"pending": 1}
        assert (after_first["state"], after_first["attempts"]) == ("pending", 1)
        assert later.outcomes == {"sent": 1}
        assert [r.message["Message-ID"] for r in relay.received] == [after_first["message_id"]] * 2
        assert mail_state(db, session_id, registration_id)["state"] == "sent"


class TestThePace:
    def test_spaces_sends_from_every_thread_at_most_so_many_a_second(self) -> None:
        slept: list[float] = []
        pacer = Pacer(4.0, clock=lambda: 100.0, sleep=slept.append)

        for _ in range(5):
            pacer.wait()

        assert slept == [0.25, 0.5, 0.75, 1.0]

    def test_lets_everything_through_at_once_without_a_limit(self) -> None:
        slept: list[float] = []
        pacer = Pacer(None, clock=lambda: 100.0, sleep=slept.append)

        for _ in range(5):
            pacer.wait()

        assert slept == []

    @pytest.mark.parametrize(("per_second", "claimed"), [(None, 100), (5.0, 100), (0.5, 30), (0.01, 1)])
    def test_keeps_a_batch_of_claims_to_what_goes_out_in_a_minute(self, per_second: float | None, claimed: int) -> None:
        transport = SmtpTransport(SmtpServer.from_url("smtp://127.0.0.1:25"), timeout=20)

        assert ConnectionPool(transport, 8, Pacer(per_second)).batch(100) == claimed


class TestTheSettings:
    def test_default_to_eight_connections_and_no_pace(self) -> None:
        settings = Settings.from_env(COMPLETE)

        assert (settings.smtp_max_connections, settings.smtp_max_per_second) == (8, None)

    def test_are_read_from_the_environment(self) -> None:
        settings = Settings.from_env({**COMPLETE, "SMTP_MAX_CONNECTIONS": "3", "SMTP_MAX_PER_SECOND": "12.5"})

        assert (settings.smtp_max_connections, settings.smtp_max_per_second) == (3, 12.5)

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("SMTP_MAX_CONNECTIONS", "0"),
            ("SMTP_MAX_CONNECTIONS", "2.5"),
            ("SMTP_MAX_CONNECTIONS", "many"),
            ("SMTP_MAX_PER_SECOND", "-1"),
            ("SMTP_MAX_PER_SECOND", "0"),
            ("SMTP_MAX_PER_SECOND", "inf"),
            ("SMTP_MAX_PER_SECOND", "nan"),
        ],
    )
    def test_name_themselves_when_malformed(self, name: str, value: str) -> None:
        with pytest.raises(MisconfiguredError, match=name):
            Settings.from_env({**COMPLETE, name: value})
