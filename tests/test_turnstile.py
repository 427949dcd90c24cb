"""Cloudflare Turnstile for sessions that want it: verified server-side, failing closed.

Cloudflare cannot be reached from these machines, so its siteverify endpoint is stood in for by a small local
server that speaks the same protocol (a form-encoded POST of secret, response and remoteip; a JSON answer).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from signup import service
from signup.settings import Settings

from dev import processes
from tests.support import serve

PASS = "XXXX.DUMMY.TOKEN.XXXX"
SECRET = "0x4AAAAAAA-test-secret"
Registrations = Callable[[str], list[dict[str, Any]]]


@dataclass
class Siteverify:
    url: str
    requests: list[dict[str, str]] = field(default_factory=list)
    broken: bool = False


@pytest.fixture(scope="module")
def siteverify() -> Iterator[Siteverify]:
    port = processes.free_port()
    stand_in = Siteverify(f"http://127.0.0.1:{port}/turnstile/v0/siteverify")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
            stand_in.requests.append(form)
            if stand_in.broken:
                body = b"<html>502 Bad Gateway</html>"
            else:
                secret_ok = form.get("secret") == SECRET
                ok = secret_ok and form.get("response") == PASS
                codes = [] if ok else ["invalid-input-response" if secret_ok else "invalid-input-secret"]
                body = json.dumps({"success": ok, "error-codes": codes}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield stand_in
    server.shutdown()
    server.server_close()


def register(db: Any, **settings: Any) -> Any:
    return serve(service.build(replace(Settings.from_env(), **settings), client=db))


def sign_up(client: Any, session_id: str, **extra: str) -> Any:
    return client.post(
        f"/sessions/{session_id}/registrations",
        json={"first_name": "Jan", "last_name": "Berg", "email": "jan@example.nl", **extra},
        headers={"X-Forwarded-For": "203.0.113.20"},
    )


@pytest.fixture
def protected(make_session: Callable[..., str]) -> str:
    return make_session(turnstile_site_key="1x00000000000000000000AA")


def test_the_form_shows_the_widget_with_the_sessions_site_key(db: Any, siteverify: Siteverify, protected: str) -> None:
    client = register(db, turnstile_secret_key=SECRET, turnstile_verify_url=siteverify.url)

    page = client.get(f"/sessions/{protected}").get_data(as_text=True)

    assert '<div class="cf-turnstile" data-sitekey="1x00000000000000000000AA"' in page
    assert 'src="https://challenges.cloudflare.com/turnstile/v0/api.js"' in page


def test_a_token_cloudflare_vouches_for_lets_the_sign_up_in(
    db: Any, siteverify: Siteverify, protected: str, registrations: Registrations
) -> None:
    client = register(db, turnstile_secret_key=SECRET, turnstile_verify_url=siteverify.url)

    response = sign_up(client, protected, **{"cf-turnstile-response": PASS})

    assert response.status_code == 201
    assert len(registrations(protected)) == 1
    assert siteverify.requests[-1]["remoteip"] == "203.0.113.20"
    assert siteverify.requests[-1]["secret"] == SECRET


def test_a_token_no_utf8_can_hold_is_a_400_and_cloudflare_is_not_asked(
    db: Any, siteverify: Siteverify, protected: str, registrations: Registrations
) -> None:
    client = register(db, turnstile_secret_key=SECRET, turnstile_verify_url=siteverify.url)
    asked = len(siteverify.requests)

    response = sign_up(client, protected, **{"cf-turnstile-response": PASS + "\ud800"})

    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_body"
    assert len(siteverify.requests) == asked
    assert registrations(protected) == []


@pytest.mark.parametrize("token", [None, "", "forged-token", "x" * 5000])
def test_a_missing_or_rejected_token_is_refused_at_the_field(
    db: Any, siteverify: Siteverify, protected: str, registrations: Registrations, token: str | None
) -> None:
    client = register(db, turnstile_secret_key=SECRET, turnstile_verify_url=siteverify.url)

    response = sign_up(client, protected, **({} if token is None else {"cf-turnstile-response": token}))

    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "cf-turnstile-response": "De controle of je een mens bent, is niet gelukt. Probeer het opnieuw."
    }
    assert registrations(protected) == []


@pytest.mark.parametrize("broken", ["unreachable", "garbage"])
def test_when_cloudflare_cannot_be_asked_the_sign_up_is_refused_with_503(
    db: Any, siteverify: Siteverify, protected: str, registrations: Registrations, broken: str
) -> None:
    url = f"http://127.0.0.1:{processes.free_port()}/siteverify" if broken == "unreachable" else siteverify.url
    siteverify.broken = broken == "garbage"
    client = register(db, turnstile_secret_key=SECRET, turnstile_verify_url=url)

    try:
        response = sign_up(client, protected, **{"cf-turnstile-response": PASS})
    finally:
        siteverify.broken = False

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["message"] == (
        "De controle tegen spam is even niet bereikbaar. Probeer het over een minuut opnieuw."
    )
    assert registrations(protected) == []


@pytest.mark.parametrize("secret", [None, "none"])
def test_without_the_secret_the_protected_session_fails_closed(
    db: Any, siteverify: Siteverify, protected: str, registrations: Registrations, secret: str | None
) -> None:
    client = register(db, turnstile_secret_key=secret, turnstile_verify_url=siteverify.url)

    response = sign_up(client, protected, **{"cf-turnstile-response": PASS})

    assert response.status_code == 503
    assert registrations(protected) == []


def test_sessions_without_turnstile_are_not_checked(
    db: Any, siteverify: Siteverify, make_session: Callable[..., str], registrations: Registrations
) -> None:
    client = register(db, turnstile_secret_key=SECRET, turnstile_verify_url=siteverify.url)
    session_id = make_session()
    asked = len(siteverify.requests)

    response = sign_up(client, session_id)

    assert response.status_code == 201
    assert len(siteverify.requests) == asked
