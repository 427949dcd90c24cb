"""What the tests of the organisers' page share: `organise` served in-process from a service built their way, and an
organiser signed in through it as the mailed link signs them in."""

from __future__ import annotations

import os
import re
from typing import Any

import flask
from signup.keys import KeyRing
from signup.organise import web
from signup.organise.credentials import Credentials
from signup.service import build_organise
from signup.settings import Settings

from tests.conftest import SIGNING_KEY
from tests.support import Clock

BEHEER = "beheer@example.nl"  # in ORGANISERS: may organise every session
ANNA = "anna@example.nl"  # the organiser.email of the sessions conftest makes
STRANGER = "piet@example.nl"


def build(db: Any, clock: Clock | None = None, **env: str) -> web.Service:
    """`organise`'s service as production wires it, from the test environment and `env`, on the test database."""
    settings = Settings.from_env({**os.environ, **env})
    built = build_organise(settings, client=db, clock=clock or Clock())
    built.sleep = lambda seconds: None
    return built


def serve(built: web.Service) -> Any:
    """`organise` as a Flask test client, answering every path and method through organise/web.py."""
    app = flask.Flask(f"organise-{id(built)}")
    app.add_url_rule("/", "root", lambda: web.handle(flask.request, lambda: built), methods=["GET", "POST"])
    app.add_url_rule(
        "/<path:path>", "organise", lambda path: web.handle(flask.request, lambda: built), methods=["GET", "POST"]
    )
    return app.test_client()


def link_token(sign_in_id: str) -> str:
    """The token of the link `notify` mails for a sign-in."""
    return Credentials(KeyRing.parse(SIGNING_KEY)).sign_in_link(sign_in_id)


def sign_in_ids(db: Any, address: str) -> list[str]:
    return [doc.id for doc in db.collection("signins").stream() if doc.get("email") == address]


def sign_in(client: Any, db: Any, address: str) -> str:
    """Ask for a link for `address`, follow it as its mail would, and sign in; the sign-in's id."""
    before = set(sign_in_ids(db, address))
    asked = client.post("/sign-in", data={"email": address}, headers={"Sec-Fetch-Site": "same-origin"})
    assert asked.status_code == 200
    [sign_in_id] = set(sign_in_ids(db, address)) - before
    used = client.post(f"/sign-in/{link_token(sign_in_id)}", headers={"Sec-Fetch-Site": "same-origin"})
    assert used.status_code == 303, used.text
    return sign_in_id


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "the page has a form with a CSRF token"
    return match.group(1)


def post(client: Any, path: str, data: dict[str, str] | None = None, *, csrf: str | None = None) -> Any:
    """A post from our own page, as a browser sends it, with the page's CSRF token (read from `/`, unless given)."""
    token = csrf if csrf is not None else csrf_of(client.get("/").text)
    return client.post(path, data={"csrf_token": token, **(data or {})}, headers={"Sec-Fetch-Site": "same-origin"})
