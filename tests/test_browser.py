"""The form embedded in someone else's website, in Debian's Chromium driven by Playwright: the whole path."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from signup.http import formtokens

from dev.mailbox import Mailbox
from tests.conftest import ROOT, STACK_SESSION, Stack

ARTIFACTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture
def fresh(stack: Stack, inbox: Mailbox) -> Iterator[Stack]:
    """The stack with an empty database, for the demo session the demo site embeds; settled afterwards."""
    stack.firestore.wipe()
    yield stack
    stack.settle()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 1100}, locale="nl-NL")
    yield context.new_page()
    context.close()


def take_time(page: Page) -> None:
    """A person needs a few seconds for the form; the form token refuses anything faster."""
    page.wait_for_timeout(formtokens.MIN_SECONDS * 1000 + 100)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def fill_in_and_send(page: Page, first_name: str, last_name: str, email: str, button: str = "Aanmelden") -> None:
    page.get_by_label("Voornaam").fill(first_name)
    page.get_by_label("Achternaam").fill(last_name)
    page.get_by_label("E-mailadres").fill(email)
    take_time(page)
    page.get_by_role("button", name=button).click()


def stored(stack: Stack) -> list[dict[str, Any]]:
    docs = stack.db.collection("sessions").document(STACK_SESSION).collection("registrations").stream()
    return [doc.to_dict() for doc in docs]


def test_a_visitor_signs_up_on_the_host_site_gets_the_mail_and_cancels(
    fresh: Stack, inbox: Mailbox, page: Page
) -> None:
    fresh.create_session(STACK_SESSION, title="Gratis strategiesessie")

    page.goto(fresh.site_url)
    form = page.locator("form.signup-form")
    expect(form).to_be_visible()
    shot(page, "01-embedded-form")
    assert len(page.frames) == 1  # no iframe: the form is part of the host page
    button = page.get_by_role("button", name="Aanmelden")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(32, 65, 58)"  # the host's accent

    page.get_by_label("Voornaam").fill("Jan")
    page.get_by_label("Tussenvoegsels").fill("van der")
    page.get_by_label("Achternaam").fill("Berg")
    page.get_by_label("E-mailadres").fill("jan@")
    take_time(page)
    page.get_by_role("button", name="Aanmelden").click()
    email = page.get_by_label("E-mailadres")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#signup-email-error")).to_have_text("Dit is geen geldig e-mailadres.")
    expect(email).to_have_attribute("aria-describedby", "signup-email-error")
    expect(email).to_be_focused()
    shot(page, "02-error-at-the-field")
    assert stored(fresh) == []

    email.fill("jan@example.nl")
    page.keyboard.press("Enter")
    thanks = page.locator(".signup-thanks")
    expect(thanks).to_contain_text("Bedankt voor je aanmelding")
    expect(thanks).to_be_focused()
    expect(form).to_have_count(0)
    shot(page, "03-thank-you")
    [registration] = stored(fresh)
    assert (registration["status"], registration["origin"]) == ("confirmed", fresh.site_url)

    [mail] = inbox.wait_for(1)
    html = mail.message.get_body(("html",))
    text = mail.message.get_body(("plain",))
    assert html is not None
    assert text is not None
    page.set_content(html.get_content())
    shot(page, "04-confirmation-mail")
    match = re.search(r"http://127\.0\.0\.1:\d+/cancel/\S+", text.get_content())
    assert match is not None

    page.goto(match.group(0))
    expect(page.get_by_text("Wil je je aanmelding voor deze sessie annuleren?")).to_be_visible()
    shot(page, "05-cancel-question")
    assert stored(fresh)[0]["status"] == "confirmed"  # opening the link cancels nothing
    page.get_by_role("button", name="Ja, annuleer mijn aanmelding").click()
    expect(page.get_by_text("Je aanmelding is geannuleerd.")).to_be_visible()
    shot(page, "06-cancelled")
    assert stored(fresh)[0]["status"] == "cancelled"


def test_a_session_that_asks_to_confirm_the_address_holds_the_seat_only_after_the_click_in_the_mail(
    fresh: Stack, inbox: Mailbox, page: Page
) -> None:
    fresh.create_session(STACK_SESSION, capacity=1, confirm_email=True)

    page.goto(fresh.site_url)
    fill_in_and_send(page, "Jan", "Berg", "jan@example.nl")

    expect(page.locator(".signup-thanks")).to_contain_text("Kijk in je mailbox")
    shot(page, "11-check-your-mail")
    assert [r["status"] for r in stored(fresh)] == ["unconfirmed"]
    [mail] = inbox.wait_for(1)
    text = mail.message.get_body(("plain",))
    assert text is not None
    match = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", text.get_content())
    assert match is not None
    page.goto(match.group(0))
    expect(page.get_by_role("button", name="Ja, bevestig mijn aanmelding")).to_be_visible()
    assert [r["status"] for r in stored(fresh)] == ["unconfirmed"]  # opening the link changes nothing
    page.get_by_role("button", name="Ja, bevestig mijn aanmelding").click()

    expect(page.get_by_text("Je e-mailadres is bevestigd en je bent aangemeld.")).to_be_visible()
    shot(page, "12-address-confirmed")
    assert [r["status"] for r in stored(fresh)] == ["confirmed"]


def test_a_full_session_thanks_the_visitor_with_the_waiting_list_text(fresh: Stack, page: Page) -> None:
    fresh.create_session(STACK_SESSION, capacity=0)

    page.goto(fresh.site_url)
    expect(page.get_by_text("Deze sessie is vol.")).to_be_visible()
    fill_in_and_send(page, "Zoë", "O'Brien", "zoe@example.nl", button="Aanmelden voor de wachtlijst")

    expect(page.locator(".signup-thanks")).to_contain_text("nieuwe aanmeldingen komen op de wachtlijst")
    shot(page, "07-waiting-list")
    assert [r["status"] for r in stored(fresh)] == ["waitlisted"]


def test_a_site_that_is_not_allowed_is_refused_by_the_browser_and_the_visitor_is_told(fresh: Stack, page: Page) -> None:
    fresh.create_session(STACK_SESSION)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    page.goto(fresh.foreign_site_url)

    refusal = page.locator(".signup-refused")
    expect(refusal).to_contain_text("Het aanmeldformulier kan op deze website niet worden getoond.")
    expect(refusal.get_by_role("link")).to_have_attribute("href", f"{fresh.register_url}/sessions/{STACK_SESSION}")
    expect(page.locator("form.signup-form")).to_have_count(0)
    assert any("CORS policy" in line for line in console)
    shot(page, "08-refused-on-another-site")


def test_without_javascript_the_plain_form_works(fresh: Stack, browser: Browser) -> None:
    fresh.create_session(STACK_SESSION)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1000, "height": 1000})
    page = context.new_page()

    page.goto(fresh.site_url)
    page.get_by_role("link", name="Aanmelden voor de strategiesessie").click()
    page.get_by_label("Voornaam").fill("Anna")
    page.get_by_label("Achternaam").fill("de Vries")
    page.get_by_label("E-mailadres").fill("anna@")
    take_time(page)
    page.get_by_role("button", name="Aanmelden").click()
    expect(page.locator("#signup-email-error")).to_have_text("Dit is geen geldig e-mailadres.")
    expect(page.get_by_label("Voornaam")).to_have_value("Anna")
    shot(page, "09-no-javascript-error")
    page.get_by_label("E-mailadres").fill("anna@example.nl")
    page.get_by_role("button", name="Aanmelden").click()

    expect(page.get_by_text("Bedankt voor je aanmelding")).to_be_visible()
    shot(page, "10-no-javascript-thanks")
    assert [r["status"] for r in stored(fresh)] == ["confirmed"]
    context.close()


def test_on_a_phone_the_form_fits_and_works_by_keyboard(fresh: Stack, browser: Browser) -> None:
    fresh.create_session(STACK_SESSION)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()

    page.goto(fresh.site_url)
    expect(page.locator("form.signup-form")).to_be_visible()
    page.get_by_label("Organisatie").focus()
    for text in ("Gemeente Amsterdam", "Kees", "van 't", "Hoff", "kees@example.nl"):
        page.keyboard.type(text)
        page.keyboard.press("Tab")
    shot(page, "11-phone")
    take_time(page)
    page.keyboard.press("Enter")

    expect(page.locator(".signup-thanks")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    [registration] = stored(fresh)
    assert (registration["organisation"], registration["infix"], registration["last_name"]) == (
        "Gemeente Amsterdam",
        "van 't",
        "Hoff",
    )
    context.close()


def test_a_bot_that_posts_the_moment_the_form_appears_is_told_so_and_nothing_is_stored(
    fresh: Stack, page: Page
) -> None:
    fresh.create_session(STACK_SESSION)

    page.goto(fresh.site_url)
    page.get_by_label("Voornaam").fill("Bot")
    page.get_by_label("Achternaam").fill("Bot")
    page.get_by_label("E-mailadres").fill("bot@example.nl")
    page.get_by_role("button", name="Aanmelden").click()

    summary = page.locator(".signup-summary")
    expect(summary).to_have_text("Dat ging wel erg snel. Controleer je gegevens en verstuur het formulier opnieuw.")
    expect(summary).to_be_focused()
    shot(page, "12-too-fast")
    assert stored(fresh) == []
    take_time(page)
    page.get_by_role("button", name="Aanmelden").click()  # a person who tries again a moment later is welcome
    expect(page.locator(".signup-thanks")).to_be_visible()
    assert len(stored(fresh)) == 1


def cancel_link_mailed_to_jan(fresh: Stack, inbox: Mailbox) -> str:
    """Jan signs up for a new session through the JSON API; the cancel link in his confirmation."""
    fresh.create_session(STACK_SESSION)
    signed_up = urllib.request.Request(
        f"{fresh.register_url}/sessions/{STACK_SESSION}/registrations",
        data=json.dumps({"first_name": "Jan", "last_name": "Berg", "email": "jan@example.nl"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(signed_up, timeout=10) as answer:
        assert answer.status == 201
    [mail] = inbox.wait_for(1)
    text = mail.message.get_body(("plain",))
    assert text is not None
    match = re.search(r"http://127\.0\.0\.1:\d+/cancel/\S+", text.get_content())
    assert match is not None
    return match.group(0)


def test_another_site_can_neither_post_a_cancel_link_nor_frame_the_cancel_page(
    fresh: Stack, inbox: Mailbox, page: Page
) -> None:
    link = cancel_link_mailed_to_jan(fresh, inbox)

    # A page on another site that knows the link (say, from a forwarded mail) posts it as soon as it is opened.
    page.goto(fresh.foreign_site_url)
    with page.expect_navigation():
        page.evaluate(
            """link => {
                const form = Object.assign(document.createElement("form"), {method: "post", action: link});
                document.body.append(form);
                form.submit();
            }""",
            link,
        )
    expect(page.get_by_text("Annuleren kan alleen via de link in je e-mail.")).to_be_visible()
    shot(page, "13-cancel-from-another-site")
    assert stored(fresh)[0]["status"] == "confirmed"

    # Nor may it show the cancel page in a frame, under a decoy that takes the click.
    page.goto(fresh.foreign_site_url)
    page.evaluate(
        """link => new Promise(loaded => {
            const frame = Object.assign(document.createElement("iframe"), {src: link});
            frame.onload = loaded;
            document.body.append(frame);
        })""",
        link,
    )
    [framed] = [frame for frame in page.frames if frame != page.main_frame]
    expect(framed.get_by_role("button", name="Ja, annuleer mijn aanmelding")).to_have_count(0)
    assert stored(fresh)[0]["status"] == "confirmed"


def test_a_browser_that_sends_no_fetch_metadata_cancels_from_our_own_page(
    fresh: Stack, inbox: Mailbox, page: Page
) -> None:
    """Safari before 16.4 sends no Sec-Fetch-Site: our own page's post must then say our origin, not `null` (which
    another site's sandboxed frame says too). Chromium is asked to leave out its fetch metadata; whether or not it
    does, the post must carry our origin, which the server accepts without them (test_cancel.py)."""
    link = cancel_link_mailed_to_jan(fresh, inbox)
    posted: list[dict[str, str]] = []

    def without_fetch_metadata(route: Any) -> None:
        headers = {k: v for k, v in route.request.all_headers().items() if not k.startswith("sec-fetch-")}
        if route.request.method == "POST":
            posted.append(headers)
        route.continue_(headers=headers)

    page.route(re.compile(r".*/cancel/.*"), without_fetch_metadata)
    page.goto(link)
    page.get_by_role("button", name="Ja, annuleer mijn aanmelding").click()

    expect(page.get_by_text("Je aanmelding is geannuleerd")).to_be_visible()
    [post] = posted
    assert post["origin"] == fresh.register_url
    assert stored(fresh)[0]["status"] == "cancelled"
