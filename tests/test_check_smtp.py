"""`signup check` of the mail server: real aiosmtpd servers with STARTTLS, TLS from the start, or none, each checking
logins (tests/smtp_servers.py), and one the test reaches at an address that is not loopback, in a network namespace
of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.headerregistry import Address

import pytest
from signup.organisers.check.report import Result, Status
from signup.organisers.check.smtp import CONNECT, LOGIN, SUBJECT, TEST_MAIL, TLS, TLS_FIX, check_smtp

from dev import processes
from dev.mailbox import Mailbox
from tests import smtp_servers
from tests.smtp_servers import PASSWORD, USER

MAIL_FROM = "Strategiesessies <sessies@example.nl>"
ORGANISER = "organisator@example.nl"
Server = tuple[Mailbox, int]


@pytest.fixture
def clear_text_server() -> Iterator[Server]:
    yield from smtp_servers.clear_text()


def outcomes(results: list[Result]) -> list[tuple[str, Status]]:
    return [(result.name, result.status) for result in results]


def by_name(results: list[Result]) -> dict[str, Result]:
    return {result.name: result for result in results}


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize(
    ("server", "scheme", "password_in_url", "tls"),
    [
        pytest.param("starttls_server", "smtp", False, "SMTP: STARTTLS, TLSv1.", id="starttls"),
        pytest.param("starttls_server", "smtp", True, "SMTP: STARTTLS, TLSv1.", id="starttls-password-in-url"),
        pytest.param("implicit_tls_server", "smtps", False, "SMTP: TLS from the start (smtps://), TLSv1.", id="smtps"),
    ],
)
def test_a_server_with_tls_and_the_right_login_passes_every_step(
    request: pytest.FixtureRequest, server: str, scheme: str, password_in_url: bool, tls: str
) -> None:
    box, port = request.getfixturevalue(server)
    url = (
        f"{scheme}://{USER}:p%40ss%20word@127.0.0.1:{port}"
        if password_in_url
        else f"{scheme}://{USER}@127.0.0.1:{port}"
    )

    results = check_smtp(url, None if password_in_url else PASSWORD, 10, sender=MAIL_FROM)

    assert outcomes(results) == [(CONNECT, Status.PASS), (TLS, Status.PASS), (LOGIN, Status.PASS)]
    connect, secure, login = results
    assert connect.summary == f"SMTP: connected to 127.0.0.1:{port} (127.0.0.1)"
    assert connect.seconds is not None
    assert secure.summary.startswith(tls)
    assert secure.summary.endswith("with a certificate valid for 127.0.0.1")
    assert login.summary == "SMTP: logged in as signup"
    assert box.received == []  # no test mail was asked for


def test_a_relay_on_this_machine_without_tls_is_a_warning_and_still_checks_the_login(
    clear_text_server: Server,
) -> None:
    _, port = clear_text_server

    results = check_smtp(f"smtp://{USER}@127.0.0.1:{port}", PASSWORD, 10, sender=MAIL_FROM)

    assert outcomes(results) == [(CONNECT, Status.PASS), (TLS, Status.WARN), (LOGIN, Status.PASS)]
    tls = by_name(results)[TLS]
    assert "offers no STARTTLS, and is used in clear text only because it is on this machine (127.0.0.1)" in tls.summary
    assert tls.fix is not None
    assert "port 587 with STARTTLS" in tls.fix


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize("server", ["starttls_server", "clear_text_server"])
def test_a_refused_login_fails_with_the_reply_and_no_test_mail_is_tried(
    request: pytest.FixtureRequest, server: str
) -> None:
    box, port = request.getfixturevalue(server)

    results = check_smtp(f"smtp://{USER}@127.0.0.1:{port}", "wrong", 10, sender=MAIL_FROM, send_test_to=ORGANISER)

    assert [name for name, _ in outcomes(results)] == [CONNECT, TLS, LOGIN]
    login = by_name(results)[LOGIN]
    assert login.status is Status.FAIL
    assert login.summary.startswith("SMTP: login as signup refused: 535 ")
    assert login.fix == "Check SMTP_PASSWORD and the user in SMTP_URL (many providers want an app password here)."
    assert box.received == []


def test_a_server_that_nobody_listens_on_fails_to_connect_and_says_where() -> None:
    port = processes.free_port()

    results = check_smtp(f"smtp://{USER}@127.0.0.1:{port}", PASSWORD, 5, sender=MAIL_FROM)

    [connect] = results
    assert (connect.name, connect.status) == (CONNECT, Status.FAIL)
    assert "cannot connect to the mail server: ConnectionRefusedError" in connect.summary
    assert connect.fix is not None
    assert f"127.0.0.1:{port}" in connect.fix


# aiosmtpd, standing in for the provider, leaves its half-open transport to the garbage collector when a client
# drops the TLS handshake.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_certificate_nobody_vouches_for_fails_tls(starttls_server: Server) -> None:
    box, port = starttls_server

    results = check_smtp(f"smtp://{USER}@127.0.0.1:{port}", PASSWORD, 10, sender=MAIL_FROM, send_test_to=ORGANISER)

    assert outcomes(results) == [(CONNECT, Status.PASS), (TLS, Status.FAIL)]
    assert "SMTP: TLS with 127.0.0.1:" in results[1].summary
    assert "unable to get local issuer certificate" in results[1].summary
    assert box.received == []


def test_a_server_without_starttls_that_the_transport_counts_as_elsewhere_gets_no_login(
    clear_text_server: Server,
) -> None:
    box, port = clear_text_server

    results = check_smtp(
        f"smtp://{USER}@127.0.0.1:{port}", PASSWORD, 10, sender=MAIL_FROM, clear_text_allowed=lambda peer: False
    )

    assert outcomes(results) == [(CONNECT, Status.PASS), (TLS, Status.FAIL)]
    assert "offers no STARTTLS" in results[1].summary
    assert results[1].fix == TLS_FIX
    assert box.received == []


@pytest.mark.parametrize(
    "url",
    ["http://mail.example.nl", "smtp://", "smtp://mail.example.nl:99999"],
)
def test_an_smtp_url_that_cannot_be_read_is_one_failure_with_its_form(url: str) -> None:
    [result] = check_smtp(url, None, 5, sender=MAIL_FROM)

    assert (result.name, result.status) == (CONNECT, Status.FAIL)
    assert result.summary.startswith("SMTP: SMTP_URL ")
    assert result.fix == "Set SMTP_URL to smtp://user@host:587 (STARTTLS) or smtps://user@host:465."


@pytest.mark.usefixtures("trusted")
def test_the_test_mail_arrives_from_mail_from_as_an_automatic_plain_text_mail(starttls_server: Server) -> None:
    box, port = starttls_server

    results = check_smtp(f"smtp://{USER}@127.0.0.1:{port}", PASSWORD, 10, sender=MAIL_FROM, send_test_to=ORGANISER)

    assert outcomes(results)[-1] == (TEST_MAIL, Status.PASS)
    test_mail = results[-1]
    assert test_mail.summary == (
        "SMTP: the test mail to organisator@example.nl was accepted; see that it arrives, and not as spam"
    )
    assert test_mail.fix is None
    assert test_mail.seconds is not None
    [received] = box.received
    assert (received.sender, received.recipients) == ("sessies@example.nl", [ORGANISER])
    message = received.message
    assert message["From"].addresses == (Address("Strategiesessies", addr_spec="sessies@example.nl"),)
    assert message["To"].addresses == (Address(addr_spec=ORGANISER),)
    assert message["Subject"] == SUBJECT == "signup check: test mail"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] == test_mail.details["message-id"]
    assert message["Message-ID"].endswith("@example.nl>")
    assert message["Date"].datetime is not None
    assert message.get_content_type() == "text/plain"
    body = message.get_content().replace("\r\n", "\n")  # lines end in CRLF on the wire
    assert body.startswith("This is a test of signup's mail configuration, sent by `signup check`.\n")
    assert f"\nFrom: sessies@example.nl\nMail server: 127.0.0.1:{port}\n" in body
    assert message["Content-Transfer-Encoding"] == "7bit"


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize(
    ("reply", "says"),
    [
        pytest.param("550 5.1.1 No such user here", "was refused: 550 5.1.1 No such user here", id="permanent"),
        pytest.param("451 4.3.0 Try again later", "was not taken: 451 4.3.0 Try again later", id="passing"),
    ],
)
def test_a_refused_test_mail_fails_with_the_servers_reply(starttls_server: Server, reply: str, says: str) -> None:
    box, port = starttls_server
    box.refuse_always(reply)

    results = check_smtp(f"smtp://{USER}@127.0.0.1:{port}", PASSWORD, 10, sender=MAIL_FROM, send_test_to=ORGANISER)

    assert outcomes(results) == [
        (CONNECT, Status.PASS),
        (TLS, Status.PASS),
        (LOGIN, Status.PASS),
        (TEST_MAIL, Status.FAIL),
    ]
    assert results[-1].summary == f"SMTP: the test mail to {ORGANISER} {says}"
    assert results[-1].fix
    assert box.received == []


@pytest.mark.usefixtures("trusted")
def test_without_a_user_in_the_url_a_server_that_wants_a_login_refuses_the_test_mail(starttls_server: Server) -> None:
    box, port = starttls_server

    results = check_smtp(f"smtp://127.0.0.1:{port}", None, 10, sender=MAIL_FROM, send_test_to=ORGANISER)

    assert outcomes(results) == [(CONNECT, Status.PASS), (TLS, Status.PASS), (TEST_MAIL, Status.FAIL)]
    assert "was refused: 530 " in results[-1].summary
    assert box.received == []


@pytest.mark.parametrize(
    ("sender", "to", "says"),
    [
        pytest.param("nobody", ORGANISER, "SMTP: no test mail sent: MAIL_FROM must be an address", id="sender"),
        pytest.param(MAIL_FROM, "not an address", "SMTP: no test mail sent: ", id="test-address"),
    ],
)
def test_an_unreadable_sender_or_test_address_sends_nothing(
    clear_text_server: Server, sender: str, to: str, says: str
) -> None:
    box, port = clear_text_server

    results = check_smtp(f"smtp://127.0.0.1:{port}", None, 10, sender=sender, send_test_to=to)

    assert results[-1].name == TEST_MAIL
    assert results[-1].status is Status.FAIL
    assert results[-1].summary.startswith(says)
    assert box.received == []


# Inside a network namespace of the test's own: a mail server without STARTTLS at 198.18.0.1, which is not loopback
# (no packet leaves the namespace), and the check with the transport's own rule, is_loopback.
ELSEWHERE = """
import json, subprocess
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from dev.mailbox import Mailbox
from signup.organisers.check.smtp import check_smtp
for command in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", "198.18.0.1/32", "dev", "lo"]):
    subprocess.run(command, check=True)
logins = []
def record(server, session, envelope, mechanism, data):
    logins.append(mechanism)
    return AuthResult(success=True)
box = Mailbox()
controller = Controller(box, hostname="198.18.0.1", port=2525, authenticator=record, auth_require_tls=False)
controller.start()
try:
    results = check_smtp(
        "smtp://signup@198.18.0.1:2525", "secret", 10, sender="sessies@example.nl", send_test_to="jan@example.nl"
    )
finally:
    controller.stop()
print(json.dumps({
    "results": [[result.name, str(result.status), result.summary] for result in results],
    "logins": len(logins),
    "mails": len(box.received),
}))
"""


def test_a_server_elsewhere_without_starttls_fails_tls_and_gets_neither_password_nor_mail() -> None:
    outcome = smtp_servers.elsewhere("-c", ELSEWHERE)

    assert [(name, status) for name, status, _ in outcome["results"]] == [(CONNECT, "pass"), (TLS, "fail")]
    assert outcome["results"][1][2].startswith("SMTP: the mail server 198.18.0.1:2525 (198.18.0.1) offers no STARTTLS")
    assert (outcome["logins"], outcome["mails"]) == (0, 0)
