"""`make dev-check`: `signup check` against what `make dev` runs (start `make dev` first, in another terminal): its
settings, the mailbox as the mail server, the local `register`, and a test sign-up whose mail lands in the mailbox.

Arguments go to `signup check` (`--json`, `--nameserver`, ...). The demo's MAIL_FROM is at example.nl, which
publishes no SPF or DMARC for us: those lines fail, as they would for a real domain without them.
"""

from __future__ import annotations

import os
import sys

from dev import run


def main(argv: list[str]) -> int:
    os.environ.update(run.environment(f"127.0.0.1:{run.FIRESTORE_PORT}"))
    from signup.organisers import cli

    return cli.main(["--project", run.PROJECT, "check", "--sign-up", "check@example.nl", *argv])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
