"""Everyone can use the organisers' page: axe-core finds nothing on any page, in any state, on a desktop or a phone;
and what the server sends in each state is valid HTML to the Nu Html Checker and html-validate.

One served stack for the module; an organiser (in ORGANISERS) signed in once, whose cookie each signed-in case gets.
The page's Content-Security-Policy allows only its own scripts: the browser is told to let axe in regardless.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.cloud import firestore
from playwright.sync_api import Browser, Page, Response, expect

from tests.audit import DESKTOP, PHONE, html_validate, nu_checker
from tests.conftest import Stack
from tests.organising import BEHEER, link_token
from tests.test_accessibility import WCAG_NON_TEXT_CONTRAST, axe, contrast

SESSION, PAST, CALLED_OFF, ENGLISH, OTHERS = "toegankelijk", "voorbij", "afgelast", "english", "van-een-ander"


@dataclass(frozen=True)
class Site:
    stack: Stack
    cookie: str
    jan: str

    def url(self, path: str = "/") -> str:
        return f"{self.stack.organise_url}{path}"


def _sign_up(stack: Stack, session_id: str, person: dict[str, str]) -> str:
    request = urllib.request.Request(
        f"{stack.register_url}/sessions/{session_id}/registrations",
        data=json.dumps(person).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        registration_id: str = json.loads(answer.read())["id"]
    return registration_id


@pytest.fixture(scope="module")
def site(stack: Stack) -> Iterator[Site]:
    stack.firestore.wipe()
    past = datetime.now(UTC) - timedelta(days=2)
    stack.create_session(SESSION, capacity=2)
    stack.create_session(ENGLISH, language="en", title="Strategy session")
    stack.create_session(CALLED_OFF, status="cancelled", cancellation_message="Helaas.")
    stack.create_session(OTHERS, organiser={"name": "Kees", "email": "kees@example.nl"})
    jan = _sign_up(stack, SESSION, {"first_name": "Jan", "infix": "van der", "last_name": "Berg", "email": "j@x.nl"})
    _sign_up(stack, SESSION, {"first_name": "Zoë", "last_name": "Aalders", "email": "z@x.nl", "organisation": "Oost"})
    _sign_up(stack, SESSION, {"first_name": "Kees", "last_name": "Hoff", "email": "k@x.nl"})  # on the waiting list
    _sign_up(stack, ENGLISH, {"first_name": "Ann", "last_name": "Lee", "email": "ann@x.nl"})
    stack.create_session(PAST, starts_at=past, ends_at=past + timedelta(hours=2))
    with httpx.Client(base_url=stack.organise_url, headers={"Sec-Fetch-Site": "same-origin"}) as client:
        assert client.post("/sign-in", data={"email": BEHEER}).status_code == 200
        [sign_in_id] = [doc.id for doc in stack.db.collection("signins").stream()]
        used = client.post(f"/sign-in/{link_token(sign_in_id)}")
        assert used.status_code == 303
        cookie = used.cookies["signup-organiser"]
    yield Site(stack, cookie, jan)
    stack.settle()


def signed_in(site: Site) -> list[dict[str, Any]]:
    host = site.stack.organise_url.removeprefix("http://").split(":")[0]
    return [{"name": "signup-organiser", "value": site.cookie, "domain": host, "path": "/"}]


def nothing(page: Page) -> None:
    pass


def fill_and_send(label: str, value: str, button: str) -> Callable[[Page], None]:
    def act(page: Page) -> None:
        page.get_by_label(label).fill(value)
        page.get_by_role("button", name=button).click()

    return act


def press(button: str) -> Callable[[Page], None]:
    def act(page: Page) -> None:
        page.get_by_role("button", name=button).first.click()

    return act


def preview(page: Page) -> None:
    page.get_by_label("Onderwerp").fill("De slides")
    page.get_by_label("Bericht", exact=True).fill("Hierbij.")
    page.get_by_role("button", name="Voorbeeld bekijken").click()


@dataclass(frozen=True)
class State:
    name: str
    path: Callable[[Site], str]
    shows: str
    act: Callable[[Page], None] = nothing
    signed_in: bool = True
    locale: str = "nl-NL"


STATES = [
    State("sign-in", lambda s: "/", "form input[name=email]", signed_in=False),
    State("sign-in in English", lambda s: "/", "form input[name=email]", signed_in=False, locale="en-GB"),
    State(
        "sign-in with a mistake",
        lambda s: "/",
        "#organise-email[aria-invalid=true]",
        fill_and_send("E-mailadres", "piet@", "Stuur mij een inloglink"),
        signed_in=False,
    ),
    State(
        "link sent",
        lambda s: "/",
        ".signup-notice",
        fill_and_send("E-mailadres", "piet@example.nl", "Stuur mij een inloglink"),
        signed_in=False,
    ),
    State(
        "link that no longer works",
        lambda s: "/sign-in/0123456789abcdef0123456789abcdef.x",
        ".signup-notice",
        signed_in=False,
    ),
    State("sessions", lambda s: "/", "table.organise-sessions"),
    State("sessions in English", lambda s: "/", "table.organise-sessions", locale="en-GB"),
    State("session", lambda s: f"/sessions/{SESSION}", "table.organise-registrations"),
    State(
        "session after a check-in",
        lambda s: f"/sessions/{SESSION}",
        "[data-notice]",
        press("Jan van der Berg inchecken"),
    ),
    State(
        "session searched",
        lambda s: f"/sessions/{SESSION}",
        "main p[role=status]",
        fill_and_send("Zoek op naam, organisatie of e-mailadres", "zoe", "Zoeken"),
    ),
    State("session that is over", lambda s: f"/sessions/{PAST}", ".organise-counts"),
    State("session called off", lambda s: f"/sessions/{CALLED_OFF}", ".organise-called-off"),
    State("session in English", lambda s: f"/sessions/{ENGLISH}", "table.organise-registrations", locale="en-GB"),
    State("registration", lambda s: f"/sessions/{SESSION}/registrations/{s.jan}", ".organise-buttons"),
    State("edit", lambda s: f"/sessions/{SESSION}/edit", "form.signup-form"),
    State(
        "edit with a mistake",
        lambda s: f"/sessions/{SESSION}/edit",
        "#organise-title[aria-invalid=true]",
        fill_and_send("Titel", "", "Opslaan"),
    ),
    State("call off", lambda s: f"/sessions/{SESSION}/call-off", "form.signup-form"),
    State(
        "call off without a message",
        lambda s: f"/sessions/{SESSION}/call-off",
        "#organise-message[aria-invalid=true]",
        press("Sessie afgelasten en iedereen berichten"),
    ),
    State("message", lambda s: f"/sessions/{SESSION}/message", "form.signup-form"),
    State("message previewed", lambda s: f"/sessions/{SESSION}/message", ".organise-preview", preview),
    State("attendance list", lambda s: f"/sessions/{SESSION}/attendance", "table.organise-attendance"),
    State("audit trail", lambda s: f"/sessions/{SESSION}/audit", "main h1"),
    State("a session not found", lambda s: "/sessions/bestaat-niet", ".signup-notice"),
    State("no such page", lambda s: "/nergens", ".signup-notice"),
]


@pytest.mark.parametrize("state", STATES, ids=[state.name for state in STATES])
def test_axe_finds_no_violation_on_a_desktop_or_a_phone(site: Site, browser: Browser, state: State) -> None:
    context = browser.new_context(viewport=DESKTOP, locale=state.locale, bypass_csp=True)
    if state.signed_in:
        context.add_cookies(signed_in(site))  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(site.url(state.path(site)))
    state.act(page)
    expect(page.locator(state.shows).first).to_be_attached()

    found = {"desktop": axe(page)}
    page.set_viewport_size(PHONE)
    found["phone"] = axe(page)
    context.close()

    assert found == {"desktop": [], "phone": []}


def test_the_page_works_by_keyboard_alone(site: Site, browser: Browser) -> None:
    context = browser.new_context(viewport=PHONE, locale="nl-NL")
    context.add_cookies(signed_in(site))  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(site.url(f"/sessions/{SESSION}"))

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Naar de inhoud")).to_be_focused()
    page.get_by_role("button", name="Zoë Aalders inchecken").focus()
    page.keyboard.press("Enter")

    expect(page.get_by_text("Zoë Aalders is ingecheckt.")).to_be_visible()
    context.close()


def served(site: Site, browser: Browser, state: State) -> str:
    """The HTML the server sent for the page a state shows (after any redirect), as it came."""
    context = browser.new_context(viewport=DESKTOP, locale=state.locale)
    if state.signed_in:
        context.add_cookies(signed_in(site))  # type: ignore[arg-type]
    page = context.new_page()
    documents: list[Response] = []
    page.on("response", lambda answer: documents.append(answer) if answer.request.is_navigation_request() else None)
    page.goto(site.url(state.path(site)))
    state.act(page)
    expect(page.locator(state.shows).first).to_be_attached()
    [*_, shown] = [answer for answer in documents if not 300 <= answer.status < 400]
    html = shown.text()
    context.close()
    return html


def test_what_the_server_sends_in_every_state_is_valid_html(site: Site, browser: Browser, tmp_path: Path) -> None:
    # Nobody checked in yet, whatever the tests before did: each state is reached as it is named.
    for registration in site.stack.db.collection("sessions", SESSION, "registrations").stream():
        registration.reference.update({"checked_in_at": firestore.DELETE_FIELD})
    files = []
    for state in STATES:
        file = tmp_path / f"{re.sub(r'[^a-z]+', '-', state.name)}.html"
        file.write_text(served(site, browser, state), encoding="utf-8")
        files.append(file)

    clean: dict[str, list[str]] = {file.name: [] for file in files}
    assert nu_checker(files) == clean
    assert html_validate(files) == clean


# Every control an organiser types in or picks from, with the colours around its border.
CONTROL_COLOURS = """() => [...document.querySelectorAll('main input:not([type=hidden]), main textarea, main select')]
  .map(control => {
    let page = 'rgb(255, 255, 255)';
    for (let node = control.parentElement; node; node = node.parentElement) {
      const background = getComputedStyle(node).backgroundColor;
      if (background !== 'rgba(0, 0, 0, 0)') { page = background; break; }
    }
    const style = getComputedStyle(control);
    return {name: control.name, border: style.borderTopColor, field: style.backgroundColor, page: page};
  })"""


@pytest.mark.parametrize(
    ("state", "names"),
    [
        ("sign-in", ["email"]),
        ("session", ["q", "sort", "status"]),
        ("edit", None),
        ("call off", ["message"]),
        ("message", None),
    ],
)
def test_each_control_border_stands_out_three_to_one_against_the_control_and_the_page(
    site: Site, browser: Browser, state: str, names: list[str] | None
) -> None:
    [shown] = [each for each in STATES if each.name == state]
    context = browser.new_context(viewport=DESKTOP, locale=shown.locale)
    if shown.signed_in:
        context.add_cookies(signed_in(site))  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(site.url(shown.path(site)))
    expect(page.locator(shown.shows).first).to_be_attached()

    controls = page.evaluate(CONTROL_COLOURS)
    context.close()

    assert controls, "no control on the page"
    if names is not None:
        assert [c["name"] for c in controls] == names
    for control in controls:
        against = contrast(control["border"], control["field"]), contrast(control["border"], control["page"])
        assert min(against) >= WCAG_NON_TEXT_CONTRAST, (control, against)
