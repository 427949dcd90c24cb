"""Signed form tokens: a submission too fast after the form was made, too late, forged, or replayed for
someone else is refused; a person who takes their time, or clicks twice, is not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from signup.http import formtokens
from signup.keys import FORMS
from signup.settings import Settings

from tests.support import Clock, register, token_on

Registrations = Callable[[str], list[dict[str, Any]]]
JAN = {"first_name": "Jan", "last_name": "Berg", "email": "jan@example.nl"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_person_who_takes_a_few_seconds_signs_up_and_a_double_click_is_harmless(
    db: Any, clock: Clock, make_session: Callable[..., str], registrations: Registrations
) -> None:
    client = register(db, clock)
    session_id = make_session()
    token = token_on(client.get(f"/sessions/{session_id}").get_data(as_text=True))
    clock.wait(formtokens.MIN_SECONDS + 1)

    first = client.post(f"/sessions/{session_id}/registrations", json={**JAN, "form_token": token})
    again = client.post(f"/sessions/{session_id}/registrations", json={**JAN, "form_token": token})

    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert len(registrations(session_id)) == 1


@pytest.mark.parametrize(
    ("wait", "message"),
    [
        (0.5, "Dat ging wel erg snel. Controleer je gegevens en verstuur het formulier opnieuw."),
        (formtokens.MAX_SECONDS + 60, "Dit formulier is verlopen. Verstuur het opnieuw."),
    ],
)
def test_a_form_sent_too_fast_or_too_late_is_refused_and_nothing_stored(
    db: Any, clock: Clock, make_session: Callable[..., str], registrations: Registrations, wait: float, message: str
) -> None:
    client = register(db, clock)
    session_id = make_session()
    token = token_on(client.get(f"/sessions/{session_id}").get_data(as_text=True))
    clock.wait(wait)

    as_json = client.post(f"/sessions/{session_id}/registrations", json={**JAN, "form_token": token})
    as_page = client.post(f"/sessions/{session_id}/registrations", data={**JAN, "form_token": token})

    assert as_json.status_code == as_page.status_code == 422
    assert as_json.get_json()["errors"] == {"form_token": message}
    assert message in as_page.get_data(as_text=True)
    assert registrations(session_id) == []


def test_the_form_shown_again_after_a_mistake_keeps_its_clock(
    db: Any, clock: Clock, make_session: Callable[..., str]
) -> None:
    client = register(db, clock)
    session_id = make_session()
    token = token_on(client.get(f"/sessions/{session_id}").get_data(as_text=True))
    clock.wait(formtokens.MIN_SECONDS + 1)

    again = client.post(f"/sessions/{session_id}/registrations", data={**JAN, "email": "jan@", "form_token": token})
    fixed = client.post(
        f"/sessions/{session_id}/registrations", data={**JAN, "form_token": token_on(again.get_data(as_text=True))}
    )

    assert again.status_code == 422
    assert token_on(again.get_data(as_text=True)) == token
    assert fixed.status_code == 303


def test_a_form_replayed_for_someone_else_is_refused(
    db: Any, clock: Clock, make_session: Callable[..., str], registrations: Registrations
) -> None:
    client = register(db, clock)
    session_id = make_session(capacity=10)
    token = token_on(client.get(f"/sessions/{session_id}").get_data(as_text=True))
    clock.wait(formtokens.MIN_SECONDS + 1)

    first = client.post(f"/sessions/{session_id}/registrations", json={**JAN, "form_token": token})
    replayed = client.post(
        f"/sessions/{session_id}/registrations", json={**JAN, "email": "bot@example.nl", "form_token": token}
    )

    assert first.status_code == 201
    assert replayed.status_code == 422
    assert "al gebruikt" in replayed.get_json()["errors"]["form_token"]
    assert [doc["email"] for doc in registrations(session_id)] == ["jan@example.nl"]


@pytest.mark.parametrize("forge", ["not-a-token", "other-session", "tampered"])
def test_a_forged_token_is_refused(
    db: Any, clock: Clock, make_session: Callable[..., str], registrations: Registrations, forge: str
) -> None:
    client = register(db, clock)
    session_id, other = make_session(), "s-other-session"
    issued = formtokens.FormTokens(Settings.from_env().keys.subkeys(FORMS)).issue(
        other if forge == "other-session" else session_id, clock()
    )
    token = {"not-a-token": "abc", "other-session": issued, "tampered": issued[:-3] + "AAA"}[forge]
    clock.wait(formtokens.MIN_SECONDS + 1)

    response = client.post(f"/sessions/{session_id}/registrations", json={**JAN, "form_token": token})

    assert response.status_code == 422
    assert "form_token" in response.get_json()["errors"]
    assert registrations(session_id) == []


def test_a_session_may_require_a_form(
    db: Any, clock: Clock, make_session: Callable[..., str], registrations: Registrations
) -> None:
    client = register(db, clock)
    session_id = make_session(require_form_token=True)

    response = client.post(f"/sessions/{session_id}/registrations", json=JAN)

    assert response.status_code == 422
    assert registrations(session_id) == []


def test_a_replayed_form_tells_nothing_of_who_signed_up_and_queues_nothing(
    db: Any, clock: Clock, make_session: Callable[..., str], registrations: Registrations
) -> None:
    client = register(db, clock)
    session_id = make_session(capacity=10)
    page = f"/sessions/{session_id}"
    victims, token = (token_on(client.get(page).get_data(as_text=True)) for _ in range(2))
    clock.wait(formtokens.MIN_SECONDS + 1)
    victim = client.post(f"{page}/registrations", json={**JAN, "form_token": victims})
    # The victim's confirmation went out an hour ago: a repeat of theirs would queue it again.
    victim_ref = db.collection("sessions", session_id, "registrations").document(victim.get_json()["id"])
    victim_ref.update(
        {"emails.confirmation.state": "sent", "emails.confirmation.sent_at": clock() - timedelta(hours=1)}
    )
    own = client.post(f"{page}/registrations", json={**JAN, "email": "bot@example.nl", "form_token": token})
    before = victim_ref.get().to_dict()

    signed_up = client.post(f"{page}/registrations", json={**JAN, "form_token": token})
    stranger = client.post(f"{page}/registrations", json={**JAN, "email": "nobody@example.nl", "form_token": token})
    again = client.post(f"{page}/registrations", json={**JAN, "email": "bot@example.nl", "form_token": token})

    assert own.status_code == 201
    assert (signed_up.status_code, signed_up.get_json()) == (stranger.status_code, stranger.get_json())
    assert signed_up.status_code == 422
    assert list(signed_up.get_json()["errors"]) == ["form_token"]
    assert victim_ref.get().to_dict() == before  # nothing queued for the address the replay named
    assert (again.status_code, again.get_json()) == (201, own.get_json())  # the bot's own double click
    assert sorted(doc["email"] for doc in registrations(session_id)) == ["bot@example.nl", "jan@example.nl"]
