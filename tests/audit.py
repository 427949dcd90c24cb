"""The third-party checkers of the audit tests, and sessions in every state for them to look at.

The checkers come from npm, pinned in package-lock.json (`make audit-tools` installs them): axe-core, injected into
Debian's Chromium; the Nu Html Checker, run on the installed Java; html-validate and Can I email's data, on Node.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jinja2
import pytest
from markupsafe import Markup
from playwright.sync_api import ViewportSize

from tests.conftest import ROOT, Stack, cancel_token, current_generation, unsubscribe_token

NODE_MODULES = ROOT / "node_modules"
AXE = NODE_MODULES / "axe-core" / "axe.min.js"
VNU = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
HTML_VALIDATE = NODE_MODULES / "html-validate" / "bin" / "html-validate.mjs"
JAVA = Path("/usr/bin/java")
NODE = Path("/usr/bin/node")
# WCAG 2.1 A and AA, and axe's best practices (one h1, landmarks, regions).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
DESKTOP: ViewportSize = {"width": 1000, "height": 1100}
PHONE: ViewportSize = {"width": 390, "height": 844}

PRIVACY_URL = "https://www.example.nl/privacy"
# One session per state of the form; the demo site embeds any of them with ?session=.
OPEN, FULL, CLOSED, ENGLISH = "audit-open", "audit-full", "audit-closed", "audit-english"
SESSIONS: dict[str, dict[str, Any]] = {
    OPEN: {"privacy_url": PRIVACY_URL},
    FULL: {"capacity": 0},
    CLOSED: {"registration_closes_at": datetime.now(UTC) - timedelta(days=1)},
    ENGLISH: {"language": "en", "title": "Strategy session", "privacy_url": PRIVACY_URL},
}


def tool(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: `make audit-tools` installs the checkers")
    return path


@dataclass(frozen=True)
class Audit:
    """The stack with a session in each state, and a registration to cancel (and to unsubscribe)."""

    stack: Stack
    cancel_url: str
    unsubscribe_url: str

    def own(self, session_id: str, rest: str = "") -> str:
        return f"{self.stack.register_url}/sessions/{session_id}{rest}"

    def embedded(self, session_id: str, *, foreign: bool = False) -> str:
        return f"{self.stack.foreign_site_url if foreign else self.stack.site_url}/?session={session_id}"


def prepare(stack: Stack) -> Audit:
    """An empty database with the audit sessions in it, and one confirmed registration to cancel."""
    stack.firestore.wipe()
    for session_id, overrides in SESSIONS.items():
        stack.create_session(session_id, **overrides)
    answer = httpx.post(
        f"{stack.register_url}/sessions/{OPEN}/registrations",
        json={"first_name": "Kees", "last_name": "Hoff", "email": "kees@example.nl", "consent": "on"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    kees = answer.json()["id"]
    unsubscribe = unsubscribe_token(OPEN, kees, current_generation(OPEN, kees, db=stack.db))
    return Audit(
        stack,
        f"{stack.register_url}/cancel/{cancel_token(OPEN, kees, db=stack.db)}",
        f"{stack.register_url}/unsubscribe/{unsubscribe}",
    )


def nu_checker(files: list[Path], *, warnings: bool = True) -> dict[str, list[str]]:
    """The Nu Html Checker's errors (and warnings) per file name, as `line: message`."""
    run = subprocess.run(
        [str(JAVA), "-jar", str(tool(VNU)), "--format", "json", "--stdout", "--exit-zero-always", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found: dict[str, list[str]] = {file.name: [] for file in files}
    for message in json.loads(run.stdout)["messages"]:
        if message["type"] == "error" or (warnings and message.get("subType") == "warning"):
            name = message.get("url", "").rsplit("/", 1)[-1]
            found.setdefault(name, []).append(f"{message.get('lastLine', '?')}: {message['message']}")
    return found


def html_validate(files: list[Path]) -> dict[str, list[str]]:
    """html-validate's findings per file name, against the rules of the HTML standard (not its style rules)."""
    config = files[0].parent / ".htmlvalidate.json"
    config.write_text(json.dumps({"extends": ["html-validate:standard"]}))
    run = subprocess.run(
        [str(NODE), str(tool(HTML_VALIDATE)), "--config", str(config), "--formatter", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found: dict[str, list[str]] = {file.name: [] for file in files}
    for result in json.loads(run.stdout or "[]"):
        name = Path(result["filePath"]).name
        found[name] = [f"{m['line']}: {m['message']} ({m['ruleId']})" for m in result["messages"]]
    return found


_MINIMAL_PAGE = jinja2.Environment(autoescape=True).from_string(
    '<!DOCTYPE html>\n<html lang="{{ language }}">\n<head>\n<meta charset="utf-8">\n<title>Host</title>\n</head>\n'
    "<body>\n<main>\n<h1>Host</h1>\n{{ fragment }}\n</main>\n</body>\n</html>\n"
)


def in_minimal_page(fragment: str, language: str) -> str:
    """A fragment as a site would paste it: in the body of the smallest valid page."""
    return _MINIMAL_PAGE.render(language=language, fragment=Markup(fragment))  # noqa: S704 - our own served HTML
