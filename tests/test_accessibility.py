"""Everyone can use the form: axe-core in every state, the contrast of the fields, and focus after a mistake.

One browser and one served stack for the whole module; each case gets a browser context of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from signup.http import formtokens

from tests.audit import AXE, AXE_TAGS, CLOSED, DESKTOP, ENGLISH, FULL, OPEN, PHONE, Audit, prepare, tool
from tests.conftest import Stack

WCAG_NON_TEXT_CONTRAST = 3.0  # WCAG 2.1, 1.4.11: what identifies a control, against what is next to it


@pytest.fixture(scope="module")
def audit(stack: Stack) -> Iterator[Audit]:
    yield prepare(stack)
    stack.settle()  # the mails of this module's sign-ups are sent before another module reads the mailbox


@pytest.fixture
def context(browser: Browser) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, locale="nl-NL")
    yield context
    context.close()


def take_time(page: Page) -> None:
    """A person needs a few seconds for the form; the form token refuses anything faster."""
    page.wait_for_timeout(formtokens.MIN_SECONDS * 1000 + 100)


def fill_in(page: Page, email: str) -> None:
    page.locator("#signup-first_name").fill("Jan")
    page.locator("#signup-last_name").fill("Berg")
    page.locator("#signup-email").fill(email)
    consent = page.locator("#signup-consent")
    if consent.count():
        consent.check()


def submit(page: Page) -> None:
    page.locator("form.signup-form button[type=submit]").click()


def mistake(page: Page) -> None:
    fill_in(page, "jan@")
    take_time(page)
    submit(page)


def too_fast(page: Page) -> None:
    fill_in(page, "jan@example.nl")
    submit(page)


def sign_up(email: str) -> Callable[[Page], None]:
    def act(page: Page) -> None:
        fill_in(page, email)
        take_time(page)
        submit(page)

    return act


def press_its_button(page: Page) -> None:
    """Press the page's one button (cancel, or unsubscribe)."""
    page.locator("form button[type=submit]").click()


def nothing(page: Page) -> None:
    pass


@dataclass(frozen=True)
class State:
    name: str
    url: Callable[[Audit], str]
    shows: str  # what the page shows once the state is reached (a CSS selector)
    act: Callable[[Page], None] = nothing


EMBEDDED_FORM = ".signup-embedded form.signup-form"
OWN_FORM = ".signup-page form.signup-form"
NOTICE = ".signup-page .signup-notice"
STATES = [
    State("embedded form", lambda a: a.embedded(OPEN), EMBEDDED_FORM),
    State("embedded form with errors", lambda a: a.embedded(OPEN), "#signup-email[aria-invalid=true]", mistake),
    State("embedded form too fast", lambda a: a.embedded(OPEN), ".signup-summary:focus", too_fast),
    State("embedded thank-you", lambda a: a.embedded(OPEN), ".signup-thanks", sign_up("anna@example.nl")),
    State("embedded full session", lambda a: a.embedded(FULL), EMBEDDED_FORM),
    State("embedded waiting list", lambda a: a.embedded(FULL), ".signup-thanks", sign_up("zoe@example.nl")),
    State("embedded closed session", lambda a: a.embedded(CLOSED), ".signup-embedded .signup-notice"),
    State("embedded in English", lambda a: a.embedded(ENGLISH), EMBEDDED_FORM),
    State("embedded on a site not allowed", lambda a: a.embedded(OPEN, foreign=True), ".signup-refused"),
    State("own page", lambda a: a.own(OPEN), OWN_FORM),
    State("own page with errors", lambda a: a.own(OPEN), "#signup-email[aria-invalid=true]", mistake),
    State("own page too fast", lambda a: a.own(OPEN), ".signup-summary:not([hidden])", too_fast),
    State("own page full session", lambda a: a.own(FULL), OWN_FORM),
    State("own page closed session", lambda a: a.own(CLOSED), NOTICE),
    State("thank-you page", lambda a: a.own(OPEN, "/thanks?status=confirmed"), NOTICE),
    State("waiting list page", lambda a: a.own(FULL, "/thanks?status=waitlisted"), NOTICE),
    State("unsubscribe page", lambda a: a.unsubscribe_url, "form button"),
    State("unsubscribed page", lambda a: a.unsubscribe_url, NOTICE, press_its_button),
    State("cancel page", lambda a: a.cancel_url, "form button"),
    State("cancelled page", lambda a: a.cancel_url, NOTICE, press_its_button),
    State("session not found", lambda a: a.own("no-such-session"), NOTICE),
    State("page not found", lambda a: f"{a.stack.register_url}/nergens", NOTICE),
    State("error page of a session", lambda a: a.own(OPEN, "/registrations"), NOTICE),
    State("own page in English", lambda a: a.own(ENGLISH), OWN_FORM),
    State("own page in English with errors", lambda a: a.own(ENGLISH), "#signup-email[aria-invalid=true]", mistake),
    State("thank-you page in English", lambda a: a.own(ENGLISH, "/thanks?status=confirmed"), NOTICE),
]


def axe(page: Page) -> list[str]:
    """axe-core's violations of WCAG 2.1 A/AA and its best practices: `rule: the elements`."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(tool(AXE)))
    violations: list[dict[str, Any]] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(result => result.violations)",
        AXE_TAGS,
    )
    return [f"{v['id']}: {', '.join(' '.join(node['target']) for node in v['nodes'])}" for v in violations]


@pytest.mark.parametrize("state", STATES, ids=[state.name for state in STATES])
def test_axe_finds_no_violation_on_a_desktop_or_a_phone(audit: Audit, context: Any, state: State) -> None:
    page = context.new_page()
    page.goto(state.url(audit))
    state.act(page)
    expect(page.locator(state.shows).first).to_be_attached()

    found = {"desktop": axe(page)}
    page.set_viewport_size(PHONE)
    found["phone"] = axe(page)

    assert found == {"desktop": [], "phone": []}


def relative_luminance(color: str) -> float:
    """WCAG's relative luminance of an opaque `rgb(r, g, b)` as getComputedStyle gives it."""
    match = re.fullmatch(r"rgb\((\d+), (\d+), (\d+)\)", color)
    assert match is not None, f"not an opaque colour: {color}"
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (int(v) / 255 for v in match.groups())
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    lighter, darker = sorted((relative_luminance(one), relative_luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# Each text field's border, its own background, and the background it stands on: that of the nearest ancestor
# that paints one, or the canvas's white.
FIELD_COLOURS = """() => [...document.querySelectorAll('.signup input[type=text], .signup input[type=email]')]
  .filter(input => !input.closest('.signup-trap'))
  .map(input => {
    let page = 'rgb(255, 255, 255)';
    for (let node = input.parentElement; node; node = node.parentElement) {
      const background = getComputedStyle(node).backgroundColor;
      if (background !== 'rgba(0, 0, 0, 0)') { page = background; break; }
    }
    const style = getComputedStyle(input);
    return {name: input.name, border: style.borderTopColor, field: style.backgroundColor, page: page};
  })"""


@pytest.mark.parametrize("where", ["embedded", "own page"])
def test_each_field_border_stands_out_three_to_one_against_the_field_and_the_page(
    audit: Audit, context: Any, where: str
) -> None:
    page = context.new_page()
    page.goto(audit.embedded(OPEN) if where == "embedded" else audit.own(OPEN))
    expect(page.locator("form.signup-form")).to_be_visible()

    fields = page.evaluate(FIELD_COLOURS)

    assert [f["name"] for f in fields] == ["organisation", "first_name", "infix", "last_name", "email"]
    for field in fields:
        against_field, against_page = (
            contrast(field["border"], field["field"]),
            contrast(field["border"], field["page"]),
        )
        assert min(against_field, against_page) >= WCAG_NON_TEXT_CONTRAST, (field, against_field, against_page)


def test_a_site_chooses_its_own_border_colour_and_the_styles_come_as_one_stylesheet_in_the_head(
    audit: Audit, context: Any
) -> None:
    page = context.new_page()
    page.goto(audit.embedded(OPEN))
    expect(page.locator("form.signup-form")).to_be_visible()
    email = page.locator("#signup-email")
    assert email.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(118, 118, 118)"

    page.add_style_tag(content=".signup { --signup-border: #20413a; }")

    assert email.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(32, 65, 58)"
    stylesheets = page.evaluate(
        "[...document.querySelectorAll('link[rel=stylesheet]')].map(l => l.parentNode.nodeName)"
    )
    assert stylesheets == ["HEAD"]
    assert page.locator("style").evaluate_all("styles => styles.map(s => s.parentNode.nodeName)") == ["HEAD", "HEAD"]


@dataclass(frozen=True)
class Mistake:
    javascript: bool
    viewport: ViewportSize
    email: str  # what the visitor types in the e-mail field before pressing Enter there
    wait: bool  # whether the visitor takes the time a person does
    focused: str  # what takes the focus and the view


MISTAKES = {
    "wrong e-mail, embedded, phone": Mistake(True, PHONE, "kees@", wait=True, focused="#signup-email"),
    "wrong e-mail, embedded, desktop": Mistake(True, DESKTOP, "kees@", wait=True, focused="#signup-email"),
    "wrong e-mail, no JavaScript, phone": Mistake(False, PHONE, "kees@", wait=True, focused="#signup-email"),
    "wrong e-mail, no JavaScript, desktop": Mistake(False, DESKTOP, "kees@", wait=True, focused="#signup-email"),
    "too fast, embedded, phone": Mistake(True, PHONE, "kees@example.nl", wait=False, focused=".signup-summary"),
    "too fast, no JavaScript, phone": Mistake(False, PHONE, "kees@example.nl", wait=False, focused=".signup-summary"),
}
IN_VIEW = """element => {
  const box = element.getBoundingClientRect();
  return box.top >= 0 && box.left >= 0 && box.bottom <= innerHeight && box.right <= innerWidth;
}"""


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_after_a_failed_submit_what_is_wrong_takes_the_focus_and_is_in_view(
    audit: Audit, browser: Browser, mistake: Mistake
) -> None:
    phone = mistake.viewport == PHONE
    context = browser.new_context(
        viewport=mistake.viewport, is_mobile=phone, has_touch=phone, java_script_enabled=mistake.javascript
    )
    page = context.new_page()
    page.goto(audit.embedded(OPEN) if mistake.javascript else audit.own(OPEN))
    page.locator("#signup-consent").check()
    # By keyboard, as people on phones do: tabbing down leaves each field at the bottom edge of the screen.
    page.locator("#signup-organisation").focus()
    for text in ("", "Kees", "", "Hoff"):
        page.keyboard.type(text)
        page.keyboard.press("Tab")
    page.keyboard.type(mistake.email)
    # Phones scroll by finger and show a keyboard over the page: the field may well sit at the bottom edge.
    page.locator("#signup-email").evaluate("field => field.scrollIntoView({block: 'end'})")
    if mistake.wait:
        take_time(page)

    page.keyboard.press("Enter")

    focused = page.locator(mistake.focused)
    expect(focused).to_be_focused()
    assert focused.evaluate(IN_VIEW), focused.evaluate("e => [e.getBoundingClientRect().toJSON(), innerHeight]")
    if mistake.focused == "#signup-email":
        expect(focused).to_have_attribute("aria-invalid", "true")
    context.close()
