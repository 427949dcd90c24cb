"""Hand mail to an SMTP server, one recipient per envelope, and tell passing failures from permanent ones."""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from signup.errors import MisconfiguredError


class TransientError(Exception):
    """Try again later: a 4xx reply, a dropped connection, a timeout, a refused login."""


class PermanentError(Exception):
    """Never try again: a 5xx reply about this message or recipient."""


class InsecureServerError(Exception):
    """The mail server offers no TLS and is not on this machine: nothing is sent and no password goes out.

    Not the mail's fault, and not a passing one: the operator must act (SMTP_URL), and the mail waits for that."""


def is_loopback(peer: str) -> bool:
    """True for a peer address on this machine's loopback (127.0.0.0/8, ::1, ::ffff:127.x.x.x).

    Decided on the address the connection reached, not on the host name: a name can resolve anywhere."""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str, password: str | None = None) -> SmtpServer:
        """`smtp://user:pass@host:587` (STARTTLS where offered) or `smtps://host:465`; or SMTP_PASSWORD."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MisconfiguredError("SMTP_URL must look like smtp://user@host:587 or smtps://user@host:465")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
        except ValueError:
            raise MisconfiguredError("SMTP_URL has an invalid port") from None
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=parts.scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=password or (unquote(parts.password) if parts.password else None),
        )


class SmtpTransport:
    def __init__(
        self, server: SmtpServer, timeout: float, *, clear_text_allowed: Callable[[str], bool] = is_loopback
    ) -> None:
        """`clear_text_allowed(peer address)`: whether a server without STARTTLS may be used (a local relay)."""
        self._server = server
        self._timeout = timeout
        self._clear_text_allowed = clear_text_allowed

    @property
    def timeout_margin(self) -> timedelta:
        """Long enough for one whole exchange with the server: connecting, then sending one mail."""
        return timedelta(seconds=2 * self._timeout + 5)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """One connection for a batch of mails; it reconnects by itself after a dropped connection."""
        connection = Connection(self)
        try:
            yield connection
        finally:
            connection.close()

    def open(self) -> smtplib.SMTP:
        server = self._server
        client: smtplib.SMTP | None = None
        try:
            if server.implicit_tls:
                client = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=self._timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(server.host, server.port, timeout=self._timeout)
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                else:
                    self._refuse_clear_text(client)
            if server.username:
                client.login(server.username, server.password or "")
        except (smtplib.SMTPException, OSError) as error:
            if client is not None:
                client.close()  # a refused login, a failed STARTTLS: the socket goes now, not with the garbage
            raise TransientError(f"cannot connect to the mail server: {_describe(error)}") from error
        return client

    def _refuse_clear_text(self, client: smtplib.SMTP) -> None:
        """Without STARTTLS (none offered, or a man in the middle took it out) only a loopback relay will do."""
        peer = str(client.sock.getpeername()[0]) if client.sock else ""
        if self._clear_text_allowed(peer):
            return
        client.close()
        raise InsecureServerError(
            f"the mail server {self._server.host}:{self._server.port} ({peer}) offers no STARTTLS: nothing is sent "
            "and no password goes out in clear text; use a server that offers STARTTLS, smtps://, or a relay on "
            "this machine (loopback)"
        )


class Connection:
    def __init__(self, transport: SmtpTransport) -> None:
        self._transport = transport
        self._client: smtplib.SMTP | None = None
        self._insecure: InsecureServerError | None = None

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Send to exactly one recipient; raise TransientError, PermanentError or InsecureServerError when it does
        not go."""
        if self._insecure is not None:
            raise self._insecure  # one refusal a batch: the server will not have grown TLS in between
        if self._client is None:
            try:
                self._client = self._transport.open()
            except InsecureServerError as error:
                self._insecure = error
                raise
        try:
            refused = self._client.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            if code == 421:  # the server is closing, and smtplib has closed its end: the next mail connects anew
                self.close()
            raise _classify(code, reply) from error
        except smtplib.SMTPAuthenticationError as error:
            self.close()
            raise TransientError(f"login refused: {_describe(error)}") from error
        except smtplib.SMTPResponseException as error:
            if error.smtp_code < 500:
                self.close()
            raise _classify(error.smtp_code, error.smtp_error) from error
        except smtplib.SMTPNotSupportedError as error:
            raise PermanentError(f"the mail server cannot take this address: {error}") from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise TransientError(_describe(error)) from error
        if refused:
            code, reply = next(iter(refused.values()))
            raise _classify(code, reply)

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                self._client.close()
            self._client = None


def _classify(code: int, reply: bytes | str) -> TransientError | PermanentError:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    description = f"{code} {text}".strip()
    return PermanentError(description) if code >= 500 else TransientError(description)


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return str(_classify(error.smtp_code, error.smtp_error))
    return f"{type(error).__name__}: {error}".strip(": ")
