"""SMTP over TLS, as providers require: STARTTLS on smtp://, implicit TLS on smtps://, with a login; never a
password or a mail in clear text, except to a relay on this machine.

A real aiosmtpd server with a certificate from a throwaway CA (trustme); the client trusts that CA through
SSL_CERT_FILE, as it would trust a provider's certificate through the system's store. A server that is not on
loopback is reached in a network namespace of the test's own (tests/smtp_elsewhere.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from signup import service
from signup.mail.transport.smtp import InsecureServerError, SmtpServer, SmtpTransport, TransientError, is_loopback
from signup.settings import Settings

from dev.mailbox import Mailbox
from tests import smtp_servers
from tests.smtp_servers import PASSWORD, USER
from tests.support import mail_state, sign_up


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


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("192.168.1.5", False),
        ("198.18.0.1", False),
        ("203.0.113.7", False),
        ("2001:db8::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:192.0.2.1", False),
        ("localhost", False),  # a name is not a peer address: it could resolve anywhere
        ("", False),
    ],
)
def test_only_a_loopback_peer_may_go_without_tls(peer: str, loopback: bool) -> None:
    assert is_loopback(peer) is loopback


@pytest.fixture
def clear_text_server() -> Iterator[tuple[Mailbox, int]]:
    yield from smtp_servers.clear_text()


def test_a_relay_on_loopback_without_tls_still_takes_login_and_mail(
    clear_text_server: tuple[Mailbox, int],
) -> None:
    box, port = clear_text_server

    send(f"smtp://{USER}@127.0.0.1:{port}", PASSWORD)
    with pytest.raises(TransientError, match=r"login refused|cannot connect"):  # the login was really checked
        send(f"smtp://{USER}@127.0.0.1:{port}", "wrong")

    [received] = box.received
    assert received.recipients == ["jan@example.nl"]


def test_a_server_without_starttls_elsewhere_gets_neither_the_password_nor_the_mail() -> None:
    outcome = smtp_servers.elsewhere("-m", "tests.smtp_elsewhere")  # the server at 198.18.0.1

    assert outcome["logins"] == 0
    assert outcome["mails"] == 0
    assert outcome["error"].startswith("the mail server 198.18.0.1:")
    assert "offers no STARTTLS" in outcome["error"]


def test_without_tls_the_mail_waits_with_the_cause_and_the_operator_is_told(
    client: Any,
    db: Any,
    inbox: Mailbox,
    make_session: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The test mail server offers no STARTTLS; here the transport treats it as elsewhere (`is_loopback` is checked
    # above, and a real server elsewhere by the namespace test).
    session_id = make_session()
    registration_id = sign_up(client, session_id)["id"]
    settings = Settings.from_env()
    assert settings.smtp_url is not None
    elsewhere = SmtpTransport(SmtpServer.from_url(settings.smtp_url), timeout=10, clear_text_allowed=lambda peer: False)
    notifier = service.build_notifier(settings, client=db, transport=elsewhere)

    with caplog.at_level(logging.ERROR, logger="signup.mail.notifier"):
        report = notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

    assert inbox.received == []
    assert report.outcomes == {"pending": 1}
    mail = mail_state(db, session_id, registration_id)
    assert mail["state"] == "pending"
    assert "offers no STARTTLS" in mail["last_error"]
    [line] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "the mail server needs attention" in line.getMessage()
    assert "offers no STARTTLS" in line.getMessage()

    # Once the operator has fixed it (here: the relay counts as local again), the waiting mail goes.
    fixed = service.build_notifier(settings, client=db)
    fixed.sweep(datetime.now(UTC) + timedelta(minutes=2))
    assert [r.recipients for r in inbox.received] == [["jan@example.nl"]]
    assert mail_state(db, session_id, registration_id)["state"] == "sent"


def test_one_refusal_a_batch_not_one_connection_per_mail(clear_text_server: tuple[Mailbox, int]) -> None:
    box, port = clear_text_server
    transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), 10, clear_text_allowed=lambda _: False)

    with transport.connect() as connection:
        for _ in range(3):
            with pytest.raises(InsecureServerError):
                connection.send(message(), "sessies@example.nl", "jan@example.nl")

    assert box.connections == 1
    assert box.received == []
