"""SMTP over TLS, as providers require: STARTTLS on smtp://, implicit TLS on smtps://, with a login.

A real aiosmtpd server with a certificate from a throwaway CA (trustme); the client trusts that CA through
SSL_CERT_FILE, as it would trust a provider's certificate through the system's store.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from signup.smtp import SmtpServer, SmtpTransport, TransientError

from dev import processes
from dev.mailbox import Mailbox

USER, PASSWORD = "signup", "p@ss word"


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted(authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


def server_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def serve_tls(authority: trustme.CA, **options: Any) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server with a certificate from the throwaway CA, checking logins; `options` pick how TLS starts."""
    box, port = Mailbox(), processes.free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=check_login, **options)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def starttls_server(authority: trustme.CA) -> Iterator[tuple[Mailbox, int]]:
    yield from serve_tls(authority, tls_context=server_context(authority), require_starttls=True, auth_required=True)


@pytest.fixture
def implicit_tls_server(authority: trustme.CA) -> Iterator[tuple[Mailbox, int]]:
    # aiosmtpd cannot tell that a connection is TLS from the start, so it would not offer AUTH; it is, so it may
    # (and it still checks every login).
    yield from serve_tls(authority, ssl_context=server_context(authority), auth_require_tls=False)


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "sessies@example.nl", "jan@example.nl", "Bevestiging"
    mail.set_content("Je bent aangemeld.")
    return mail


def send(url: str, password: str | None = None) -> None:
    with SmtpTransport(SmtpServer.from_url(url, password), timeout=10).connect() as connection:
        connection.send(message(), "sessies@example.nl", "jan@example.nl")


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize("password_in", ["url", "environment"])
def test_smtp_upgrades_with_starttls_and_logs_in(starttls_server: tuple[Mailbox, int], password_in: str) -> None:
    box, port = starttls_server

    if password_in == "url":
        send(f"smtp://{USER}:p%40ss%20word@127.0.0.1:{port}")
    else:
        send(f"smtp://{USER}@127.0.0.1:{port}", PASSWORD)

    [received] = box.received
    assert received.recipients == ["jan@example.nl"]


@pytest.mark.usefixtures("trusted")
def test_smtps_speaks_tls_from_the_start(implicit_tls_server: tuple[Mailbox, int]) -> None:
    box, port = implicit_tls_server

    send(f"smtps://{USER}@127.0.0.1:{port}", PASSWORD)

    assert len(box.received) == 1


@pytest.mark.usefixtures("trusted")
def test_a_wrong_password_is_a_passing_failure_that_sends_nothing(starttls_server: tuple[Mailbox, int]) -> None:
    box, port = starttls_server

    with pytest.raises(TransientError, match=r"login refused|cannot connect"):
        send(f"smtp://{USER}@127.0.0.1:{port}", "wrong")

    assert box.received == []


# aiosmtpd, standing in for the provider, leaves its half-open transport to the garbage collector when a client
# drops the TLS handshake.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_certificate_nobody_vouches_for_is_refused(starttls_server: tuple[Mailbox, int]) -> None:
    box, port = starttls_server

    with pytest.raises(TransientError, match="cannot connect"):
        send(f"smtp://{USER}@127.0.0.1:{port}", PASSWORD)

    assert box.received == []
