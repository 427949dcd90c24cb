"""The HTML mail holds up in mail clients, by Can I email's data (caniemail.com), and is valid HTML."""

from __future__ import annotations

import json
import mailbox
import re
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.audit import AXE, NODE, NODE_MODULES, nu_checker, tool
from tests.conftest import ROOT
from tests.mail_samples import ALL_MAILS, any_mail, body_of

CAN_I_EMAIL = ROOT / "tests" / "caniemail.mjs"


@pytest.fixture(scope="module")
def mails(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """The HTML part of every kind of mail in every language, as the composer writes it, saved to a file."""
    directory = tmp_path_factory.mktemp("mails")
    saved: dict[tuple[str, str], Path] = {}
    for kind, language in ALL_MAILS:
        saved[kind, language] = directory / f"{kind}-{language}.html"
        saved[kind, language].write_text(body_of(any_mail(kind, language), "html"), encoding="utf-8")
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


@pytest.mark.parametrize(("kind", "language"), ALL_MAILS)
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


@pytest.mark.parametrize(("kind", "language"), ALL_MAILS)
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


SPAMASSASSIN = Path("/usr/bin/spamassassin")
_SCORE = re.compile(
    r"^X-Spam-Status: \w+, score=(-?[\d.]+) required=[\d.]+ tests=(.*?)(?:autolearn|version)", re.M | re.S
)


@pytest.fixture(scope="module")
def spam_scores(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[float, str]]:
    """SpamAssassin's score of every kind of mail in every language, with the rules that matched, from one run over
    them all as an mbox (its local tests only: no network here)."""
    if not SPAMASSASSIN.exists():
        pytest.fail("Debian's spamassassin is not installed: `make test` installs it (apt-get install spamassassin)")
    path = tmp_path_factory.mktemp("spam") / "mails.mbox"
    box = mailbox.mbox(str(path))
    try:
        for kind, language in ALL_MAILS:
            box.add(any_mail(kind, language).as_bytes())
    finally:
        box.close()
    with path.open("rb") as mails:
        run = subprocess.run(
            [str(SPAMASSASSIN), "-t", "-L", "--mbox"], stdin=mails, capture_output=True, timeout=300, check=True
        )
    found = [(float(score), " ".join(rules.split())) for score, rules in _SCORE.findall(run.stdout.decode())]
    assert len(found) == len(ALL_MAILS)
    return dict(zip(ALL_MAILS, found, strict=True))


@pytest.mark.parametrize(("kind", "language"), ALL_MAILS)
def test_spamassassin_gives_every_mail_a_score_of_nothing(
    spam_scores: dict[tuple[str, str], tuple[float, str]], kind: str, language: str
) -> None:
    score, rules = spam_scores[kind, language]

    assert score == 0.0, rules


@pytest.mark.parametrize(("kind", "language"), ALL_MAILS)
def test_mime_version_is_said_once_in_the_header_of_the_message_not_in_its_parts(kind: str, language: str) -> None:
    mail = any_mail(kind, language)

    assert mail.get_all("MIME-Version") == ["1.0"]
    assert [part.get_content_type() for part in mail.walk() if part is not mail and "MIME-Version" in part] == []


def page_of(browser: Any, path: Path, scheme: str) -> Any:
    context = browser.new_context(viewport={"width": 700, "height": 1000}, color_scheme=scheme)
    page = context.new_page()
    page.goto(path.as_uri())
    return page


@pytest.mark.parametrize(("kind", "language"), ALL_MAILS)
def test_the_mail_says_it_has_a_dark_look_and_its_text_stands_out_in_light_and_dark_alike(
    browser: Any, mails: dict[tuple[str, str], Path], kind: str, language: str
) -> None:
    html = mails[kind, language].read_text(encoding="utf-8")
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "@media (prefers-color-scheme: dark)" in html

    found = {}
    for scheme in ("light", "dark"):
        page = page_of(browser, mails[kind, language], scheme)
        page.add_script_tag(path=str(tool(AXE)))
        violations = page.evaluate(
            "() => axe.run(document, {runOnly: {type: 'rule', values: ['color-contrast']}})"
            ".then(result => result.violations.flatMap(v => v.nodes.map(n => n.target.join(' '))))"
        )
        page.context.close()
        found[scheme] = violations

    assert found == {"light": [], "dark": []}


BUTTON_CORNERS = """() => [...document.querySelectorAll('td.mail-button')].map(cell => {
  const box = cell.getBoundingClientRect();
  const link = cell.querySelector('a');
  const inset = 7;  // inside the rounded corners
  const points = [[box.left + inset, box.top + 2], [box.right - inset, box.top + 2],
                  [box.left + inset, box.bottom - 2], [box.right - inset, box.bottom - 2],
                  [box.left + 2, box.top + box.height / 2], [box.right - 2, box.top + box.height / 2]];
  return points.filter(([x, y]) => document.elementFromPoint(x, y)?.closest('a') !== link).length;
})"""


@pytest.mark.parametrize(("kind", "language"), ALL_MAILS)
def test_a_click_anywhere_on_a_button_follows_its_link(
    browser: Any, mails: dict[tuple[str, str], Path], kind: str, language: str
) -> None:
    page = page_of(browser, mails[kind, language], "light")
    missed = page.evaluate(BUTTON_CORNERS)
    page.context.close()

    assert missed == [0] * len(missed)
    assert len(missed) == (
        1 if kind in ("confirmed", "promoted", "reminder", "changed", "confirm_address", "declined", "sign_in") else 0
    )
