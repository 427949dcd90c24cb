"""Fixtures: Google's Firestore emulator, the real `register` entry point, and sessions to sign up for."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from dev import chromium, mailbox, processes, site, triggers
from dev import emulator as firestore_emulator
from tests import smtp_servers

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-signup-test"
# base64 of "signup tests: a key that is no secret": a key must be at least 32 bytes, written as base64 or hex.
SIGNING_KEY = "c2lnbnVwIHRlc3RzOiBhIGtleSB0aGF0IGlzIG5vIHNlY3JldA=="
PUBLIC_BASE_URL = "http://signup.test"

# The functions read their settings from the environment; set them before anything imports them.
os.environ.update(
    GOOGLE_CLOUD_PROJECT=PROJECT,
    PUBLIC_BASE_URL=PUBLIC_BASE_URL,
    SIGNING_KEY=SIGNING_KEY,
    EMAIL_CHECK_DELIVERABILITY="false",
    MAIL_FROM="Strategiesessies <sessies@example.nl>",
    # In-process tests change sessions between requests; the served function below keeps the default cache.
    SESSION_CACHE_SECONDS="0",
    # Every test request comes from 127.0.0.1: the rate limits are tested on their own (test_ratelimit.py).
    RATE_LIMIT_PER_SESSION="100000",
    RATE_LIMIT_OVERALL="100000",
    # The organisers' page, in-process: the test client's own origin. Beheer may organise every session.
    ORGANISE_URL="http://localhost",
    ORGANISERS="beheer@example.nl",
)


def cancel_token(
    session_id: str, registration_id: str, generation: int | None = None, keys: Any = None, db: Any = None
) -> str:
    """A cancel link's token as the mails carry it, signed with the test environment's key (or `keys`), for the
    registration's generation as it is now in `db` (the test run's emulator unless given), or `generation`."""
    from signup.keys import KeyRing
    from signup.tokens import CancelTokens, RegistrationRef

    ring = keys or KeyRing.parse(SIGNING_KEY)
    generation = current_generation(session_id, registration_id, db) if generation is None else generation
    return CancelTokens(ring).make(RegistrationRef(session_id, registration_id, generation))


def confirm_token(session_id: str, registration_id: str, generation: int | None = None, keys: Any = None) -> str:
    """A confirm link's token as the "confirm your address" mail carries it."""
    from signup.keys import KeyRing
    from signup.tokens import ConfirmTokens, RegistrationRef

    ring = keys or KeyRing.parse(SIGNING_KEY)
    generation = current_generation(session_id, registration_id) if generation is None else generation
    return ConfirmTokens(ring).make(RegistrationRef(session_id, registration_id, generation))


def unsubscribe_token(session_id: str, registration_id: str, generation: int | None = None) -> str:
    """An unsubscribe link's token as the organiser's messages carry it."""
    from signup.keys import KeyRing
    from signup.tokens import RegistrationRef, UnsubscribeTokens

    generation = current_generation(session_id, registration_id) if generation is None else generation
    return UnsubscribeTokens(KeyRing.parse(SIGNING_KEY)).make(RegistrationRef(session_id, registration_id, generation))


def current_generation(session_id: str, registration_id: str, db: Any = None) -> int:
    """The generation of the registration as stored now (0 when there is none: a link for nothing)."""
    from google.cloud import firestore
    from signup.ledger.registration import generation_of

    db = db or firestore.Client(project=PROJECT)
    snapshot = db.collection("sessions", session_id, "registrations").document(registration_id).get()
    return generation_of(snapshot.to_dict() or {}) if snapshot.exists else 0


def sent_today(db: Any, address: str) -> int:
    """How many mails today's cap has counted for the mailbox `address` reaches, read from its document."""
    from signup.keys import MAIL_CAPS, KeyRing
    from signup.mail.transport.mailcap import MAILCAPS, document_id, mailbox

    key = KeyRing.parse(SIGNING_KEY).subkey(MAIL_CAPS)
    snapshot = db.collection(MAILCAPS).document(document_id(key, mailbox(address), datetime.now(UTC))).get()
    return int(snapshot.get("count")) if snapshot.exists else 0


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[firestore_emulator.Emulator]:
    """One emulator for the whole run, on a free port; stopped by its process group."""
    log = tmp_path_factory.mktemp("emulator") / "firestore.log"
    running = firestore_emulator.start(PROJECT, log=log)
    os.environ["FIRESTORE_EMULATOR_HOST"] = running.host
    yield running
    running.stop()


@pytest.fixture(scope="session")
def db(emulator: firestore_emulator.Emulator) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=PROJECT)


@pytest.fixture(scope="session")
def app(emulator: firestore_emulator.Emulator) -> Any:
    """The real `register` entry point, loaded by functions-framework as Cloud Functions does."""
    import functions_framework

    return functions_framework.create_app(  # type: ignore[no-untyped-call]
        target="register", source=str(ROOT / "functions/main.py")
    )


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def session_fields(**overrides: Any) -> dict[str, Any]:
    """A session as an organiser would type it into the console, a month ahead."""
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    fields: dict[str, Any] = {
        "title": "Strategiesessie",
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "location": {"name": "Grand Café Genieten", "address": "Oranje-Vrijstaatplein 2, Amsterdam"},
        "allowed_origins": ["https://www.example.nl"],
        "organiser": {"name": "Anna de Vries", "email": "anna@example.nl"},
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}


@pytest.fixture
def make_session(db: Any, emulator: firestore_emulator.Emulator) -> Callable[..., str]:
    """Create a session document with a fresh id; keyword arguments override or (None) remove fields.

    Each test starts from an empty database: the sweep looks at every session, not just the test's own.
    """
    emulator.wipe()

    def make(**overrides: Any) -> str:
        session_id = f"s-{uuid.uuid4().hex[:12]}"
        db.collection("sessions").document(session_id).set(session_fields(**overrides))
        return session_id

    return make


@pytest.fixture
def registrations(db: Any) -> Callable[[str], list[dict[str, Any]]]:
    """What is stored for a session: every registration document, with its id."""

    def read(session_id: str) -> list[dict[str, Any]]:
        docs = db.collection("sessions").document(session_id).collection("registrations").stream()
        return [{"id": doc.id, **(doc.to_dict() or {})} for doc in docs]

    return read


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[mailbox.Mailbox]:
    """A real SMTP server (aiosmtpd) on a free port; `notify` is pointed at it through SMTP_URL."""
    box = mailbox.Mailbox()
    port = processes.free_port()
    controller = mailbox.serve(box, port)
    os.environ["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    yield box
    controller.stop()


@pytest.fixture
def inbox(smtp_server: mailbox.Mailbox) -> mailbox.Mailbox:
    """The SMTP server, emptied for this test."""
    smtp_server.clear()
    return smtp_server


@pytest.fixture
def notifier(db: Any, inbox: mailbox.Mailbox) -> Any:
    """`notify`'s domain, wired as in production from the test environment."""
    from signup.service import build_notifier
    from signup.settings import Settings

    return build_notifier(Settings.from_env(), client=db)


@pytest.fixture(scope="session")
def notify_app(emulator: firestore_emulator.Emulator, smtp_server: mailbox.Mailbox) -> Any:
    """The real `notify` entry point, loaded by functions-framework as a CloudEvent function."""
    import functions_framework

    return functions_framework.create_app(  # type: ignore[no-untyped-call]
        target="notify", source=str(ROOT / "functions/main.py"), signature_type="cloudevent"
    )


@pytest.fixture(scope="session")
def server(emulator: firestore_emulator.Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`register` served by functions-framework in its own process, as in production."""
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PUBLIC_BASE_URL": base, "SESSION_CACHE_SECONDS": "5"}
    log = tmp_path_factory.mktemp("server") / "register.log"
    process = processes.serve_function("register", port, env, log=log)
    try:
        processes.wait_until(processes.answers(f"{base}/healthz"), process, "The register function")
        yield base
    finally:
        processes.stop(process)


def emulator_client(emulator: firestore_emulator.Emulator) -> Any:
    """A Firestore client for one particular emulator (the client reads the variable once, when made)."""
    from google.cloud import firestore

    saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        return firestore.Client(project=emulator.project)
    finally:
        if saved is None:
            del os.environ["FIRESTORE_EMULATOR_HOST"]
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = saved


@dataclass
class Stack:
    """The whole thing, as `make dev` runs it: its own emulator delivering the events of the triggers infra/
    declares to `notify` (through the forwarder that stands in for Eventarc), `register`, `notify` and `organise`
    served by functions-framework, the shared SMTP server, and demo websites."""

    firestore: firestore_emulator.Emulator
    db: Any
    register_url: str
    notify_url: str
    organise_url: str
    site_url: str
    foreign_site_url: str
    mailbox: mailbox.Mailbox
    logs: Path
    events: triggers.Forwarder

    def settle(self, timeout: float = 15.0) -> None:
        """Let `notify` send every mail that is due (a tick sends what no trigger does), so none lands later."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.3)  # deliveries the emulator has in flight
            triggers.send_tick(self.notify_url, STACK_PROJECT)
            docs = self.db.collection_group("registrations").stream()
            if all(doc.get("mail_due_at") is None for doc in docs):
                return
        raise AssertionError("notify left mails unsent")

    def create_session(self, session_id: str, **overrides: Any) -> str:
        fields = session_fields(allowed_origins=[self.site_url], **overrides)
        self.db.collection("sessions").document(session_id).set(fields)
        return session_id


STACK_PROJECT = "demo-signup-stack"
STACK_SESSION = "strategiesessie"


@pytest.fixture(scope="session")
def stack(smtp_server: mailbox.Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("stack")
    notify_port, register_port, events_port = processes.free_port(), processes.free_port(), processes.free_port()
    organise_port = processes.free_port()
    firestore = firestore_emulator.start(
        STACK_PROJECT, functions_emulator=f"127.0.0.1:{events_port}", log=logs / "firestore.log"
    )
    register_url, notify_url = f"http://127.0.0.1:{register_port}", f"http://127.0.0.1:{notify_port}"
    organise_url = f"http://127.0.0.1:{organise_port}"
    env = {
        **os.environ,
        "GOOGLE_CLOUD_PROJECT": STACK_PROJECT,
        "FIRESTORE_EMULATOR_HOST": firestore.host,
        "PUBLIC_BASE_URL": register_url,
        "ORGANISE_URL": organise_url,
    }
    started = [firestore.process]
    sites = []
    forwarder = triggers.forward(events_port, notify_url)
    try:
        started.append(processes.serve_function("notify", notify_port, env, cloudevent=True, log=logs / "notify.log"))
        started.append(processes.serve_function("register", register_port, env, log=logs / "register.log"))
        processes.wait_until(processes.answers(f"{register_url}/healthz"), started[-1], "register")
        started.append(processes.serve_function("organise", organise_port, env, log=logs / "organise.log"))
        processes.wait_until(processes.answers(f"{organise_url}/healthz"), started[-1], "organise")
        processes.wait_until(lambda: _ticks(notify_url), started[1], "notify")
        triggers.register_declared(firestore.host, STACK_PROJECT)
        # The demo site on "localhost" is another origin than the functions on 127.0.0.1; the foreign one is
        # a site that the session does not allow.
        for _ in range(2):
            port = processes.free_port()
            server = site.serve(port, register_url, STACK_SESSION)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            sites.append((server, f"http://localhost:{port}"))
        yield Stack(
            firestore,
            emulator_client(firestore),
            register_url,
            notify_url,
            organise_url,
            sites[0][1],
            sites[1][1],
            smtp_server,
            logs,
            forwarder,
        )
    finally:
        forwarder.shutdown()
        forwarder.server_close()
        for server, _ in sites:
            server.shutdown()
            server.server_close()
        for process in reversed(started):
            processes.stop(process)


def _ticks(notify_url: str) -> bool:
    try:
        return triggers.send_tick(notify_url, STACK_PROJECT) == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, one for every browser test of the run."""
    if not chromium.CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium.CHROMIUM), args=chromium.FLAGS)
        yield launched
        launched.close()


# A mail server with a certificate from a throwaway authority (tests/smtp_servers.py), which `trusted` makes the
# client trust: for the SMTP transport's tests and signup check's alike.
@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted(authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp_servers.trust(authority, tmp_path, monkeypatch)


@pytest.fixture
def starttls_server(authority: trustme.CA) -> Iterator[tuple[mailbox.Mailbox, int]]:
    yield from smtp_servers.starttls(authority)


@pytest.fixture
def implicit_tls_server(authority: trustme.CA) -> Iterator[tuple[mailbox.Mailbox, int]]:
    yield from smtp_servers.implicit_tls(authority)
