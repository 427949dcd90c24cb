"""Every mail exactly once, with scheduler ticks overlapping the emulator's own trigger events.

Cloud Scheduler retries and a manual run can overlap: here several ticks for the moment a reminder falls due arrive
at the same instant, while the reminders they queue cause registration events of their own (delivered once, or
twice as an at-least-once transport may), on one `notify` instance or spread over two with different numbers of
SMTP connections.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dev import processes, triggers
from dev.mailbox import Mailbox
from tests.conftest import STACK_PROJECT, Stack

PEOPLE = 30
AT_ONCE = 8
# Other organisers' sessions the same evening, their reminders due too: a sweep looks at each of them after it
# queued the test session's reminders and before it sends what is due, so that the events come first.
OTHER_SESSIONS = 40
# (ticks at once, copies of each event, notify instances the ticks are spread over)
OVERLAPS = [
    (3, 1, 1),
    (3, 1, 1),
    (3, 1, 1),
    (3, 2, 1),
    (3, 2, 1),
    (5, 1, 1),
    (5, 2, 2),
    (3, 1, 2),
]


@pytest.fixture(scope="module")
def notify_urls(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The stack's `notify`, and a second instance of it with a single SMTP connection."""
    port = processes.free_port()
    env = {
        **os.environ,
        "GOOGLE_CLOUD_PROJECT": STACK_PROJECT,
        "FIRESTORE_EMULATOR_HOST": stack.firestore.host,
        "PUBLIC_BASE_URL": stack.register_url,
        "SMTP_MAX_CONNECTIONS": "1",
    }
    log = tmp_path_factory.mktemp("second-notify") / "notify.log"
    second = processes.serve_function("notify", port, env, cloudevent=True, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until(lambda: _ticks(url), second, "the second notify")
        yield [stack.notify_url, url]
    finally:
        processes.stop(second)


def _ticks(url: str) -> bool:
    try:
        return triggers.send_tick(url, STACK_PROJECT) == 200
    except OSError:
        return False


def sign_up_many(stack: Stack, session_id: str, addresses: list[str]) -> None:
    def one(address: str) -> int:
        answer = httpx.post(
            f"{stack.register_url}/sessions/{session_id}/registrations",
            json={"first_name": "Jan", "last_name": "Berg", "email": address},
            timeout=30,
        )
        return answer.status_code

    with ThreadPoolExecutor(AT_ONCE) as pool:
        assert set(pool.map(one, addresses)) == {201}


def wait_until_sent(stack: Stack, session_id: str, key: str, count: int, timeout: float = 60.0) -> None:
    registrations = stack.db.collection("sessions").document(session_id).collection("registrations")
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    states: list[str | None] = []
    while datetime.now(UTC) < deadline:
        states = [(doc.to_dict() or {}).get("emails", {}).get(key, {}).get("state") for doc in registrations.stream()]
        if states.count("sent") == count:
            return
    raise AssertionError(f"{key} not sent to all {count}: {Counter(states)}")


def later_sessions(stack: Stack, starts: datetime) -> None:
    for n in range(OTHER_SESSIONS):
        later = starts + timedelta(minutes=n + 1)
        stack.create_session(
            f"other-{uuid.uuid4().hex[:12]}", starts_at=later, ends_at=later + timedelta(hours=2), reminder_hours=[24]
        )


@pytest.mark.parametrize(("ticks", "copies", "instances"), OVERLAPS)
def test_overlapping_ticks_and_the_events_they_cause_send_each_reminder_once(
    stack: Stack, inbox: Mailbox, notify_urls: list[str], ticks: int, copies: int, instances: int
) -> None:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=30)
    session_id = stack.create_session(
        f"once-{uuid.uuid4().hex[:12]}", starts_at=starts, ends_at=starts + timedelta(hours=2), reminder_hours=[24]
    )
    later_sessions(stack, starts)
    addresses = [f"p{n}-{uuid.uuid4().hex[:6]}@example.nl" for n in range(PEOPLE)]
    sign_up_many(stack, session_id, addresses)
    wait_until_sent(stack, session_id, "confirmation", PEOPLE)
    inbox.clear()

    tick_time = starts - timedelta(hours=23)
    urls = [notify_urls[n % instances] for n in range(ticks)]
    stack.events.copies = copies
    try:
        with ThreadPoolExecutor(ticks) as pool:
            statuses = list(pool.map(lambda url: triggers.send_tick(url, STACK_PROJECT, tick_time), urls))
        wait_until_sent(stack, session_id, "reminder_24h", PEOPLE)
        stack.settle()  # a second mail, were one on its way, would have gone by now
    finally:
        stack.events.copies = 1

    ours = [mail for mail in inbox.received if mail.recipients[0] in addresses]
    reminders = Counter(mail.recipients[0] for mail in ours if mail.message["Subject"].startswith("Herinnering"))
    message_ids = Counter(mail.message["Message-ID"] for mail in ours)
    registrations = stack.db.collection("sessions").document(session_id).collection("registrations").stream()
    attempts = Counter(doc.get("emails.reminder_24h.attempts") for doc in registrations)
    assert statuses == [200] * ticks
    assert [message_id for message_id, times in message_ids.items() if times > 1] == []
    assert reminders == Counter(addresses)
    assert attempts == {1: PEOPLE}  # claimed once each: no second claim, even one that did not get to send
