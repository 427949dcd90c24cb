"""Each entry point's cold start imports what it uses: `register` never sends mail, so it loads no mail side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
MAIL_SIDE = (
    "icalendar",
    "smtplib",
    "signup.mail.compose.mails",
    "signup.mail.transport.smtp",
    "signup.mail.notifier",
    "signup.mail.compose.calendar",
    "signup.mail.changes",
    "google.events",
)


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` in functions/, as a cold start would."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], cwd=FUNCTIONS, check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout))


def test_loading_the_entry_points_and_building_register_loads_no_mail_side() -> None:
    loaded = loaded_after(
        "import main\n"
        "from signup import service, settings\n"
        "service.build(settings.Settings.from_env({'GOOGLE_CLOUD_PROJECT': 'demo-x', "
        "'PUBLIC_BASE_URL': 'https://x.test', 'SIGNING_KEY': 'ab' * 32}), client=object())"
    )

    assert "main" in loaded
    assert {module for module in MAIL_SIDE if module in loaded} == set()
    assert {module for module in loaded if module.startswith("signup.organise")} == set()


@pytest.mark.parametrize("module", ["icalendar", "signup.mail.notifier", "signup.mail.transport.smtp"])
def test_building_notify_loads_the_mail_side(module: str) -> None:
    loaded = loaded_after(
        "from signup import service, settings\n"
        "service.build_notifier(settings.Settings.from_env({'GOOGLE_CLOUD_PROJECT': 'demo-x', "
        "'PUBLIC_BASE_URL': 'https://x.test', 'SIGNING_KEY': 'ab' * 32, 'MAIL_FROM': 'a@x.test', "
        "'SMTP_URL': 'smtp://127.0.0.1:2525'}), client=object())"
    )

    assert module in loaded
