"""End to end, as in Google Cloud: a sign-up through `register`, the emulator's own trigger delivery, `notify`, SMTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from dev import triggers
from dev.mailbox import Mailbox
from tests.conftest import STACK_PROJECT, Stack


def test_a_sign_up_produces_exactly_one_confirmation_through_the_emulators_own_trigger(
    stack: Stack, inbox: Mailbox
) -> None:
    session_id = stack.create_session("pipeline")

    answer = httpx.post(
        f"{stack.register_url}/sessions/{session_id}/registrations",
        json={"first_name": "Jan", "infix": "van der", "last_name": "Berg", "email": "jan@example.nl"},
    )
    received = inbox.wait_for(1)
    time.sleep(1.0)  # a second mail, were one to come, would come now
    triggers.send_tick(stack.notify_url, STACK_PROJECT, datetime.now(UTC) + timedelta(minutes=5))

    assert answer.status_code == 201
    assert len(received) == len(inbox.received) == 1
    assert received[0].recipients == ["jan@example.nl"]
    assert received[0].message["Subject"].startswith("Bevestiging: Strategiesessie")
    stored = stack.db.collection("sessions").document(session_id).collection("registrations")
    confirmation = stored.document(answer.json()["id"]).get().get("emails.confirmation")
    assert (confirmation["state"], confirmation["attempts"]) == ("sent", 1)
    stack.settle()
