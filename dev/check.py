"""`make dev-check`: `signup check` against what `make dev` runs (start `make dev` first, in another terminal, with
the same DEV_*_PORT variables if any): its settings, the mailbox as the mail server, the local `register`, and a
test sign-up whose mail lands in the mailbox.

Arguments go to `signup check` (`--json`, `--nameserver`, ...). The demo's MAIL_FROM is at example.nl, which
publishes no SPF or DMARC for us and takes no replies: those three checks fail, as they would for a real domain
without them, and are expected to here (shown with ⚠, exit code 0 for them).
"""

from __future__ import annotations

import os
import sys

from signup.organisers.check.mail_domain import DMARC, REPLY_MX, SPF

from dev import run

EXPECTED_HERE = (SPF, DMARC, REPLY_MX)


def main(argv: list[str]) -> int:
    os.environ.update(run.environment(run.Ports.from_env(os.environ)))
    from signup.organisers import cli

    expected = [option for name in EXPECTED_HERE for option in ("--expect-failure", name)]
    return cli.main(["--project", run.PROJECT, "check", "--sign-up", "check@example.nl", *expected, *argv])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
