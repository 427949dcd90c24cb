"""An SMTP server in its own process: `python -m bench.smtp_sink PORT [--delay SECONDS] [--keep DIRECTORY]`.

Without options it accepts and forgets as fast as it can. `--delay 0.1` answers each message after 100 ms, as a
real relay does (other connections are served meanwhile); `--keep` writes each message it accepts to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

from dev.mailbox import Mailbox, serve


@dataclass
class Sink(Mailbox):
    delay: float = 0.0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.directory is None:
            return "250 OK"
        return await super().handle_DATA(server, session, envelope)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--keep", type=Path)
    options = parser.parse_args()
    controller = serve(Sink(directory=options.keep, delay=options.delay), options.port)
    threading.Event().wait()
