"""Hand mail to an SMTP server, one recipient per envelope, and tell passing failures from permanent ones."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
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
    def __init__(self, server: SmtpServer, timeout: float) -> None:
        self._server = server
        self._timeout = timeout

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
        try:
            client: smtplib.SMTP
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
            if server.username:
                client.login(server.username, server.password or "")
        except (smtplib.SMTPException, OSError) as error:
            raise TransientError(f"cannot connect to the mail server: {_describe(error)}") from error
        return client


class Connection:
    def __init__(self, transport: SmtpTransport) -> None:
        self._transport = transport
        self._client: smtplib.SMTP | None = None

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Send to exactly one recipient; raise TransientError or PermanentError when it does not go."""
        if self._client is None:
            self._client = self._transport.open()
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
