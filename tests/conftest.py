"""Fixtures: Google's Firestore emulator, the real `register` entry point, and sessions to sign up for."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dev import emulator as firestore_emulator
from dev import mailbox, processes

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-signup-test"
SIGNING_KEY = "test-signing-key-0123456789abcdef"
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
)


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
    process = processes.start(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target=register",
            "--source=functions/main.py",
            f"--port={port}",
            "--host=127.0.0.1",
        ],
        env=env,
        log=log,
        cwd=ROOT,
    )
    try:
        processes.wait_until(processes.answers(f"{base}/healthz"), process, "The register function")
        yield base
    finally:
        processes.stop(process)
