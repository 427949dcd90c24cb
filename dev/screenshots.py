"""`make screenshots`: the documentation's pictures, made anew from `make dev`'s demo.

Starts `make dev` on free ports with data of its own (the developer's `.dev-data/` is not touched), opens the demo
website in Debian's Chromium and photographs the form as it lands there (docs/embedded-form.png), signs Jan van den
Berg up through it, and photographs the confirmation mail as the mailbox shows it (docs/confirmation-mail.png).
The demo session is a Tuesday three weeks or more ahead, so the date in them is that of the day they are made.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from signup.http import formtokens

from dev import chromium, processes, run

DOCS = run.ROOT / "docs"
WIDTH = 1000
PERSON = {
    "organisation": "Bakkerij Van den Berg",
    "first_name": "Jan",
    "infix": "van den",
    "last_name": "Berg",
    "email": "jan@example.nl",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make screenshots (python -m dev.screenshots)", description=__doc__)
    parser.add_argument("--out", type=Path, default=DOCS, help=f"where to write them (default {DOCS})")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="signup-screenshots-") as data:
        env = {
            **os.environ,
            **{run.variable(name): str(processes.free_port()) for name, _ in run.Ports().items()},
            "DEV_DATA": data,
        }
        ports = run.Ports.from_env(env)
        log = Path(data) / "dev.log"
        stack = processes.start([sys.executable, "-m", "dev.run"], env=env, log=log, cwd=run.ROOT)
        try:
            processes.wait_until(lambda: "Press Ctrl-C" in log.read_text(), stack, "make dev", timeout=120)
            photograph(ports, options.out)
        finally:
            os.killpg(stack.pid, signal.SIGINT)
            try:
                stack.wait(timeout=60)
            finally:
                processes.stop(stack)
    print(f"wrote {options.out / 'embedded-form.png'} and {options.out / 'confirmation-mail.png'}")
    return 0


def photograph(ports: run.Ports, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium.CHROMIUM), args=chromium.FLAGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 800})
            page.goto(f"http://localhost:{ports.site}/")
            page.wait_for_selector("input[name=first_name]")
            page.screenshot(path=out / "embedded-form.png", full_page=True)
            for name, value in PERSON.items():
                page.fill(f"input[name={name}]", value)
            # A person takes a few seconds for the form; the form token refuses anything faster.
            page.wait_for_timeout(formtokens.MIN_SECONDS * 1000 + 100)
            page.click("button[type=submit]")
            page.wait_for_selector("text=Je bent aangemeld", timeout=15_000)
            mail = _first_mail(ports)
            page.goto(f"http://localhost:{ports.mailbox}/{mail['id']}/html")
            page.screenshot(path=out / "confirmation-mail.png", full_page=True)
        finally:
            browser.close()


def _first_mail(ports: run.Ports, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.mailbox}/api/messages", timeout=5) as answer:
            mails = json.load(answer)
        if mails:
            return mails[-1]
        time.sleep(0.2)
    raise RuntimeError(f"no mail reached the mailbox within {timeout:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
