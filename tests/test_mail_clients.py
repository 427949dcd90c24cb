"""The HTML mail holds up in mail clients, by Can I email's data (caniemail.com), and is valid HTML."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from signup.ledger.mailkeys import Template
from signup.ledger.session import parse_session
from signup.mail.mails import Composer, Recipient
from signup.texts import LANGUAGES

from tests.audit import NODE, NODE_MODULES, nu_checker, tool
from tests.conftest import ROOT, session_fields

CAN_I_EMAIL = ROOT / "tests" / "caniemail.mjs"
MAILS = [(kind, language) for kind in Template for language in LANGUAGES]


PERSON = {"name": "Jan van der Berg", "organisation": "Gemeente Amsterdam", "status": "confirmed"}
LISTED = {"people": [PERSON], "more": 0, "total": 1}
TO_ORGANISER = {"to_organiser": True, "show_cancel": False, "person": PERSON, "seats_left": 3}
# What the notifier adds for the kinds that need more than the session and the person (see signup.mail.mailextras).
EXTRA: dict[str, dict[str, Any]] = {
    **{kind: {} for kind in Template},
    "message": {"message_subject": "Het programma", "message_body": "Eerste alinea.\n\nZie https://example.nl"},
    "organiser_created": TO_ORGANISER,
    "organiser_cancelled": TO_ORGANISER,
    "organiser_digest": {
        **TO_ORGANISER,
        "digest": {"window": "gisteren", "signed_up": LISTED, "cancelled": LISTED, "seats_left": 3},
    },
}


@pytest.fixture(scope="module")
def mails(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """The HTML part of every kind of mail in every language, as the composer writes it, saved to a file."""
    composer = Composer(
        Address("Strategiesessies", "sessies", "example.nl"),
        lambda ref: f"https://x.test/cancel/{ref.session_id}.{ref.registration_id}",
        session_url=lambda session_id: f"https://x.test/sessions/{session_id}",
        confirm_url=lambda ref: f"https://x.test/confirm/{ref.session_id}.{ref.registration_id}",
    )
    # A deadline to confirm by, which only the confirm mail reads.
    deadline = datetime.now(UTC) + timedelta(hours=24)
    recipient = Recipient("s-1", "r-1", "Jan", "van der", "Berg", "jan@example.nl", had_seat=True, confirm_by=deadline)
    directory = tmp_path_factory.mktemp("mails")
    saved: dict[tuple[str, str], Path] = {}
    for kind, language in MAILS:
        session = parse_session("s-1", session_fields(language=language))
        message = composer.compose(
            kind, session, recipient, message_id="<1@example.nl>", now=datetime.now(UTC), hours=24, extra=EXTRA[kind]
        )
        parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
        html = parsed.get_body(("html",))
        assert html is not None
        saved[kind, language] = directory / f"{kind}-{language}.html"
        saved[kind, language].write_text(html.get_content(), encoding="utf-8")
    return saved


# What the mail once did: a link styled as a button. Can I email's notes on it say what Outlook for Windows honours.
BUTTON_ON_A_LINK = '<a href="https://x.test" style="display:inline-block;padding:10px 18px;">Agenda</a>'


@pytest.fixture(scope="module")
def can_i_email(mails: dict[tuple[str, str], Path]) -> dict[str, dict[str, list[str]]]:
    """Can I email's report on each mail, and on BUTTON_ON_A_LINK (as `probe.html`)."""
    tool(NODE_MODULES / "@jsx-email" / "doiuse-email")
    probe = next(iter(mails.values())).parent / "probe.html"
    probe.write_text(BUTTON_ON_A_LINK, encoding="utf-8")
    run = subprocess.run(
        [str(NODE), str(CAN_I_EMAIL), str(probe), *map(str, mails.values())],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    reports: dict[str, dict[str, list[str]]] = json.loads(run.stdout)
    return reports


@dataclass
class Element:
    tag: str
    style: dict[str, str]
    parent: Element | None
    attributes: dict[str, str] = field(default_factory=dict)


class _Elements(HTMLParser):
    """Every element of a mail with its inline style, and its parent."""

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        declarations = (d.split(":", 1) for d in attributes.get("style", "").split(";") if ":" in d)
        style = {name.strip(): value.strip() for name, value in declarations}
        element = Element(tag, style, self._open[-1] if self._open else None, attributes)
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop().tag != tag:
            pass


def elements(path: Path) -> list[Element]:
    parser = _Elements()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.elements


def note(report: dict[str, list[str]], feature: str, client: str) -> str:
    return " ".join(n for n in report["notes"] if n.startswith(f"Note about `{feature}` support for `{client}`"))


@pytest.mark.parametrize(("kind", "language"), MAILS)
def test_where_clients_drop_the_body_the_background_and_spacing_stay_on_the_wrapper_table(
    mails: dict[tuple[str, str], Path], can_i_email: dict[str, dict[str, list[str]]], kind: str, language: str
) -> None:
    path = mails[kind, language]
    dropping = re.findall(r"`<body> element` is not supported by `([^`]+)`", " ".join(can_i_email[path.name]["errors"]))
    assert len(dropping) >= 10  # Can I email: many clients (16 in its data of 2026) ignore <body> and its styles

    found = elements(path)
    [body] = [e for e in found if e.tag == "body"]
    wrapper = next(e for e in found if e.tag == "table")
    wrapper_cell = next(e for e in found if e.tag == "td")

    assert set(body.style) <= {"margin"}  # a reset where it is honoured; the look does not rely on it
    assert wrapper.parent is body
    assert "background-color" in wrapper.style
    assert {"padding", "background-color"} <= set(wrapper_cell.style)
    assert wrapper_cell.parent is not None
    assert wrapper_cell.parent.parent is wrapper


@pytest.mark.parametrize(("kind", "language"), MAILS)
def test_outlook_for_windows_gets_padding_only_on_cells_and_the_button_colour_on_its_cell(
    mails: dict[tuple[str, str], Path], can_i_email: dict[str, dict[str, list[str]]], kind: str, language: str
) -> None:
    path = mails[kind, language]
    assert "Only supported on table cells" in note(can_i_email["probe.html"], "padding", "outlook.windows")
    assert "Only supports `display:none`" in note(can_i_email["probe.html"], "display", "outlook.windows")

    found = elements(path)

    assert {e.tag for e in found if "padding" in e.style} == {"td"}
    assert [e.style["display"] for e in found if "display" in e.style] in ([], ["none"])
    for link in (e for e in found if e.tag == "a"):
        assert not {"padding", "display", "background-color"} & set(link.style), link.attributes["href"]
    buttons = [e for e in found if e.tag == "a" and e.attributes["href"].startswith("https://calendar.google.com")]
    if kind in ("confirmed", "promoted", "reminder", "changed"):
        [button] = buttons
        assert button.parent is not None
        assert button.parent.tag == "td"
        assert {"padding", "background-color"} <= set(button.parent.style)
    else:
        assert buttons == []


def test_the_nu_checker_finds_no_error_in_any_mail(mails: dict[tuple[str, str], Path]) -> None:
    # Mail clients need the table attributes that HTML calls obsolete (warnings); errors there are none.
    found = nu_checker(list(mails.values()), warnings=False)

    assert found == {path.name: [] for path in mails.values()}
