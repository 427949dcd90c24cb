"""An SMTP server that accepts and forgets, in its own process: `python -m bench.smtp_sink PORT`."""

from __future__ import annotations

import sys
import threading

from dev.mailbox import Mailbox, serve


class Sink(Mailbox):
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


if __name__ == "__main__":
    controller = serve(Sink(), int(sys.argv[1]))
    threading.Event().wait()
