"""A real SMTP server (aiosmtpd) that keeps every mail, for the tests and for `make dev`."""

from __future__ import annotations

import argparse
import email
import email.policy
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and refuses on demand."""

    directory: Path | None = None
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    _refusals: list[str] = field(default_factory=list)
    _refuse_always: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse_next(self, times: int, reply: str = "451 4.3.0 Try again later") -> None:
        with self._lock:
            self._refusals = [reply] * times

    def refuse_always(self, reply: str | None) -> None:
        self._refuse_always = reply

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self._refusals.clear()
            self._refuse_always = None
            self.connections = 0

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        with self._lock:
            reply = self._refusals.pop(0) if self._refusals else self._refuse_always
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        kept = Received(
            envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)
        )
        with self._lock:
            self.received.append(kept)
            number = len(self.received)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / f"{time.time_ns()}-{number}.eml").write_bytes(kept.raw)
        return "250 Message accepted for delivery"


def serve(mailbox: Mailbox, port: int, host: str = "127.0.0.1") -> Controller:
    controller = Controller(mailbox, hostname=host, port=port, enable_SMTPUTF8=True, decode_data=False)
    controller.start()
    return controller


def main(argv: list[str] | None = None) -> None:
    """`python -m dev.mailbox`: SMTP on one port, the mails as web pages on another (see dev/webmail.py)."""
    from dev import webmail

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--directory", type=Path, default=Path(".dev-data/mail"))
    options = parser.parse_args(argv)
    controller = serve(Mailbox(directory=options.directory), options.smtp_port)
    try:
        webmail.serve(options.directory, options.http_port)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
