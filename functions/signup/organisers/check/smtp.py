"""The mail server as `notify` uses it: SMTP_URL read by the same `SmtpServer`, the connection and TLS made by the
same `SmtpTransport` (STARTTLS, no clear text except on loopback), a test mail sent by the same `Connection`."""

from __future__ import annotations

import email.errors
import email.policy
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import localtime, make_msgid

from signup.errors import MisconfiguredError
from signup.mail.compose.mails import parse_sender
from signup.mail.transport.smtp import (
    InsecureServerError,
    PermanentError,
    SmtpServer,
    SmtpTransport,
    TransientError,
    is_loopback,
)
from signup.organisers.check.report import Result, Status

CONNECT, TLS, LOGIN, TEST_MAIL = "smtp.connect", "smtp.tls", "smtp.login", "smtp.test_mail"
SUBJECT = "signup check: test mail"
TLS_FIX = "Use port 587 with STARTTLS (smtp://user@host:587) or implicit TLS (smtps://user@host:465) in SMTP_URL."


def check_smtp(
    url: str,
    password: str | None,
    timeout: float,
    *,
    sender: str,
    send_test_to: str | None = None,
    clear_text_allowed: Callable[[str], bool] = is_loopback,
) -> list[Result]:
    """Connect and TLS, login (when SMTP_URL names a user), then one test mail from `sender` (MAIL_FROM) to
    `send_test_to` when given; never raises. `clear_text_allowed` is the transport's rule for a server without
    STARTTLS: by default, as for `notify`, only one on loopback."""
    try:
        server = SmtpServer.from_url(url, password)
    except MisconfiguredError as error:
        fix = "Set SMTP_URL to smtp://user@host:587 (STARTTLS) or smtps://user@host:465."
        return [Result(CONNECT, Status.FAIL, f"SMTP: {error}", fix)]
    where = f"{server.host}:{server.port}"
    # The transport without the user connects and starts TLS as for `notify`; the login is asked separately here,
    # to tell a refused login from a server out of reach.
    transport = SmtpTransport(replace(server, username=None), timeout, clear_text_allowed=clear_text_allowed)
    started = time.monotonic()
    try:
        client = transport.open()
    except InsecureServerError as error:
        reached = _reached(where, "", time.monotonic() - started)
        return [reached, Result(TLS, Status.FAIL, f"SMTP: {error}", TLS_FIX, details={"tls": None})]
    except TransientError as error:
        return _not_opened(server, error, time.monotonic() - started)
    try:
        peer = str(client.sock.getpeername()[0]) if client.sock else ""
        version = client.sock.version() if isinstance(client.sock, ssl.SSLSocket) else None
        results = [_reached(where, peer, time.monotonic() - started), _tls(server, version, peer)]
        if server.username:
            results.append(_login(client, server))
    finally:
        _quit(client)
    if send_test_to is not None and all(result.status is not Status.FAIL for result in results):
        mailing = SmtpTransport(server, timeout, clear_text_allowed=clear_text_allowed)
        results.append(_test_mail(mailing, sender, send_test_to, where))
    return results


def _reached(where: str, peer: str, seconds: float) -> Result:
    summary = f"SMTP: connected to {where}" + (f" ({peer})" if peer else "")
    return Result(CONNECT, Status.PASS, summary, seconds=seconds, details={"peer": peer or None})


def _tls(server: SmtpServer, version: str | None, peer: str) -> Result:
    if version is None:
        summary = (
            f"SMTP: no TLS: {server.host}:{server.port} offers no STARTTLS, and is used in clear text only because "
            f"it is on this machine ({peer})"
        )
        fix = f"Fine for a relay on this machine; for a server elsewhere: {TLS_FIX[0].lower()}{TLS_FIX[1:]}"
        return Result(TLS, Status.WARN, summary, fix, details={"tls": None})
    how = "TLS from the start (smtps://)" if server.implicit_tls else "STARTTLS"
    summary = f"SMTP: {how}, {version}, with a certificate valid for {server.host}"
    return Result(TLS, Status.PASS, summary, details={"tls": version, "implicit": server.implicit_tls})


def _not_opened(server: SmtpServer, error: TransientError, seconds: float) -> list[Result]:
    """Not connected, or connected but TLS failed: told apart by the error's cause."""
    where = f"{server.host}:{server.port}"
    cause = error.__cause__
    if isinstance(cause, ssl.SSLError):
        reason = cause.verify_message if isinstance(cause, ssl.SSLCertVerificationError) else cause.reason
        summary = f"SMTP: TLS with {where} failed: {reason or cause}"
        fix = (
            f"SMTP_URL must name the host that the certificate is for ({server.host} now), and the certificate must "
            "be one this machine trusts; smtps:// goes only with a port that speaks TLS from the start (465)."
        )
        return [_reached(where, "", seconds), Result(TLS, Status.FAIL, summary, fix, details={"tls": None})]
    fix = f"Check the host and port in SMTP_URL ({where}), and that this machine may reach them (a firewall?)."
    return [Result(CONNECT, Status.FAIL, f"SMTP: {error}", fix, seconds=seconds)]


def _login(client: smtplib.SMTP, server: SmtpServer) -> Result:
    """Log in as the transport does for `notify`."""
    fix = "Check SMTP_PASSWORD and the user in SMTP_URL (many providers want an app password here)."
    try:
        client.login(server.username or "", server.password or "")
    except smtplib.SMTPResponseException as error:
        text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        summary = f"SMTP: login as {server.username} refused: {error.smtp_code} {text}"
        return Result(LOGIN, Status.FAIL, summary, fix)
    except smtplib.SMTPNotSupportedError:
        summary = f"SMTP: {server.host}:{server.port} offers no login (AUTH), but SMTP_URL names a user"
        return Result(LOGIN, Status.FAIL, summary, fix)
    except (smtplib.SMTPException, OSError) as error:
        summary = f"SMTP: login as {server.username} failed: {type(error).__name__}: {error}"
        return Result(LOGIN, Status.FAIL, summary, fix)
    return Result(LOGIN, Status.PASS, f"SMTP: logged in as {server.username}")


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _compose_test_mail(sender: Address, recipient: Address, where: str) -> EmailMessage:
    """The test mail: plain text, headers through email.headerregistry."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = SUBJECT
    message["Date"] = localtime()
    message["Message-ID"] = make_msgid("signup-check", domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "This is a test of signup's mail configuration, sent by `signup check`.\n\n"
        f"From: {sender.addr_spec}\nMail server: {where}\n\nIt needs no answer.\n"
    )
    return message


def _test_mail(transport: SmtpTransport, sender: str, send_test_to: str, where: str) -> Result:
    try:
        from_address = parse_sender(sender)
        to_address = Address(addr_spec=send_test_to)
    except (MisconfiguredError, ValueError, email.errors.HeaderParseError) as error:
        summary = f"SMTP: no test mail sent: {error}"
        return Result(TEST_MAIL, Status.FAIL, summary, "Give MAIL_FROM and the test address as name@domain.")
    message = _compose_test_mail(from_address, to_address, where)
    details = {"to": to_address.addr_spec, "message-id": str(message["Message-ID"])}
    started = time.monotonic()
    try:
        with transport.connect() as connection:
            connection.send(message, from_address.addr_spec, to_address.addr_spec)
    except PermanentError as error:
        summary = f"SMTP: the test mail to {to_address.addr_spec} was refused: {error}"
        fix = (
            "The reply says why: often MAIL_FROM is not an address this account may send as, the server wants a "
            "login (a user in SMTP_URL), or the test address does not exist."
        )
        return Result(TEST_MAIL, Status.FAIL, summary, fix, time.monotonic() - started, details)
    except (TransientError, InsecureServerError) as error:
        summary = f"SMTP: the test mail to {to_address.addr_spec} was not taken: {error}"
        fix = "Run the check again in a few minutes; if this persists, the server's reply says what it wants."
        return Result(TEST_MAIL, Status.FAIL, summary, fix, time.monotonic() - started, details)
    summary = f"SMTP: the test mail to {to_address.addr_spec} was accepted; see that it arrives, and not as spam"
    return Result(TEST_MAIL, Status.PASS, summary, seconds=time.monotonic() - started, details=details)
