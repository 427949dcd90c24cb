"""The organisers' page end to end, in Debian's Chromium against the served functions, the emulator and the local
mail server: an organiser who never saw Firestore signs in from the mail, finds their session, sees who is coming,
exports, changes the start time, checks two people in on a phone, prints the attendance list and signs out."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from dev.mailbox import Mailbox
from tests.conftest import ROOT, STACK_SESSION, Stack
from tests.support import SUMMER

ARTIFACTS = ROOT / "test-artifacts" / "organise"
ANNA = "anna@example.nl"
PEOPLE = [
    {
        "first_name": "Jan",
        "infix": "van der",
        "last_name": "Berg",
        "email": "jan@example.nl",
        "organisation": "Gemeente",
    },
    {"first_name": "Zoë", "last_name": "Aalders", "email": "zoe@example.nl"},
    {"first_name": "Kees", "last_name": "Hoff", "email": "kees@example.nl", "organisation": "Hoff & Zn"},
]


@pytest.fixture
def fresh(stack: Stack, inbox: Mailbox) -> Iterator[Stack]:
    stack.firestore.wipe()
    yield stack
    stack.settle()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1100, "height": 1000}, locale="nl-NL", accept_downloads=True)
    yield context
    context.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def sign_up(stack: Stack, session_id: str, person: dict[str, str]) -> str:
    request = urllib.request.Request(
        f"{stack.register_url}/sessions/{session_id}/registrations",
        data=json.dumps(person).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        registration_id: str = json.loads(answer.read())["id"]
    return registration_id


def registrations(stack: Stack, session_id: str) -> dict[str, dict[str, Any]]:
    docs = stack.db.collection("sessions", session_id, "registrations").stream()
    return {doc.id: doc.to_dict() for doc in docs}


def plain_text(mail: Any) -> str:
    body = mail.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def link_in_mail(inbox: Mailbox, stack: Stack, address: str) -> str:
    """The sign-in link of the latest mail to `address`."""
    mails = [mail for mail in inbox.wait_for(1, timeout=15) if address in mail.recipients]
    text = plain_text(mails[-1])
    match = re.search(rf"{re.escape(stack.organise_url)}/sign-in/\S+", text)
    assert match is not None, text
    return match.group(0)


def sign_in(page: Page, stack: Stack, inbox: Mailbox, address: str = ANNA) -> None:
    inbox.clear()
    page.goto(stack.organise_url)
    page.get_by_label("E-mailadres").fill(address)
    page.get_by_role("button", name="Stuur mij een inloglink").click()
    expect(page.get_by_text("Als dit adres sessies mag organiseren")).to_be_visible()
    page.goto(link_in_mail(inbox, stack, address))
    page.get_by_role("button", name="Inloggen").click()
    expect(page.get_by_role("heading", name="Jouw sessies")).to_be_visible()


def test_an_organiser_signs_in_from_the_mail_and_runs_their_session_to_the_door(
    fresh: Stack, inbox: Mailbox, browser: Browser, desktop: BrowserContext
) -> None:
    session_id = fresh.create_session(
        STACK_SESSION, title="Strategiesessie Oost", capacity=10, starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2)
    )
    fresh.create_session("iemand-anders", organiser={"name": "Kees", "email": "kees@example.nl"})
    ids = {person["first_name"]: sign_up(fresh, session_id, person) for person in PEOPLE}
    fresh.settle()
    page = desktop.new_page()

    # Signs in from the mail: the link's page asks first (a mail scanner that opens it signs nobody in).
    page.goto(fresh.organise_url)
    shot(page, "01-sign-in")
    page.get_by_label("E-mailadres").fill(ANNA)
    page.get_by_role("button", name="Stuur mij een inloglink").click()
    expect(page.get_by_text("Als dit adres sessies mag organiseren")).to_be_visible()
    shot(page, "02-link-sent")
    link = link_in_mail(inbox, fresh, ANNA)
    page.goto(link)
    expect(page.get_by_role("button", name="Inloggen")).to_be_visible()
    shot(page, "03-link")
    page.get_by_role("button", name="Inloggen").click()

    # Finds their session (and only theirs), with its counts.
    expect(page.get_by_role("heading", name="Jouw sessies")).to_be_visible()
    expect(page.get_by_role("link", name="Strategiesessie Oost")).to_be_visible()
    expect(page.get_by_text("iemand-anders")).to_have_count(0)
    shot(page, "04-sessions")
    cookie = next(c for c in desktop.cookies() if c["name"] == "signup-organiser")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Lax")
    page.get_by_role("link", name="Strategiesessie Oost").click()

    # Sees who is coming, sorted the Dutch way, and searches without a name in the URL.
    rows = page.locator("table.organise-registrations tbody th")
    expect(rows).to_have_text(["Zoë Aalders", "Jan van der Berg", "Kees Hoff"])
    shot(page, "05-session")
    page.get_by_label("Zoek op naam, organisatie of e-mailadres").fill("hoff")
    page.get_by_role("button", name="Zoeken").click()
    expect(rows).to_have_text(["Kees Hoff"])
    assert "hoff" not in page.url.lower()
    page.goto(f"{fresh.organise_url}/sessions/{session_id}")

    # Exports.
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Exporteren voor Excel (csv)").click()
    exported = downloading.value.path().read_bytes()
    table = list(csv.reader(io.StringIO(exported.decode("utf-8-sig")), delimiter=";"))
    assert [row[2] for row in table[1:]] == ["Zoë", "Jan", "Kees"]

    # Changes the start time: the attendees get the change mail.
    inbox.clear()
    page.get_by_role("link", name="Titel, tijd, plaats of aantal plaatsen wijzigen").click()
    page.get_by_label("Begintijd").fill("15:30")
    shot(page, "06-edit")
    page.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_text("De wijziging is opgeslagen.")).to_be_visible()
    changed = inbox.wait_for(3, timeout=20)
    assert sorted(address for mail in changed for address in mail.recipients) == sorted(p["email"] for p in PEOPLE)
    assert all("15:30" in plain_text(mail) for mail in changed)

    # Checks two people in on a phone-sized screen, by tapping.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="nl-NL",
        storage_state=desktop.storage_state(),
    )
    door = phone.new_page()
    complaints: list[str] = []
    door.on("console", lambda said: complaints.append(said.text) if said.type == "error" else None)
    door.goto(f"{fresh.organise_url}/sessions/{session_id}")
    for name in ("Jan van der Berg", "Zoë Aalders"):
        door.get_by_role("button", name=f"{name} inchecken").tap()
        expect(door.get_by_text(f"{name} is ingecheckt.")).to_be_visible()
        # The script checked in without leaving the page (the place in a long list is kept).
        assert door.url == f"{fresh.organise_url}/sessions/{session_id}"
    assert complaints == []
    assert door.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(door, "07-door-on-a-phone")
    stored = registrations(fresh, session_id)
    assert {name for name, rid in ids.items() if stored[rid].get("checked_in_at")} == {"Jan", "Zoë"}
    phone.close()

    # Prints the attendance list: only the list, with a column to sign.
    page.goto(f"{fresh.organise_url}/sessions/{session_id}/attendance")
    page.emulate_media(media="print")
    expect(page.locator(".organise-header")).to_be_hidden()
    expect(page.get_by_role("columnheader", name="Handtekening")).to_be_visible()
    expect(page.locator("table.organise-attendance tbody tr")).to_have_count(3)
    page.pdf(path=ARTIFACTS / "08-attendance.pdf")
    page.emulate_media(media="screen")

    # The trail says who did what.
    page.goto(f"{fresh.organise_url}/sessions/{session_id}/audit")
    expect(page.locator("table tbody tr")).to_have_count(4)  # two check-ins, the change, the export
    shot(page, "09-audit")

    # Signs out: the session's page sends to the sign-in again.
    page.get_by_role("button", name="Uitloggen").click()
    expect(page.get_by_text("Je bent uitgelogd.")).to_be_visible()
    page.goto(f"{fresh.organise_url}/sessions/{session_id}")
    expect(page.get_by_label("E-mailadres")).to_be_visible()
    expect(page.get_by_text("Jan van der Berg")).to_have_count(0)


def test_another_site_cannot_check_anyone_in_for_a_signed_in_organiser(
    fresh: Stack, inbox: Mailbox, desktop: BrowserContext
) -> None:
    session_id = fresh.create_session(STACK_SESSION)
    jan = sign_up(fresh, session_id, PEOPLE[0])
    page = desktop.new_page()
    sign_in(page, fresh, inbox)
    page.goto(f"{fresh.organise_url}/sessions/{session_id}")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")

    page.goto(fresh.foreign_site_url)
    with page.expect_navigation():
        page.evaluate(
            """([action, token]) => {
                const form = Object.assign(document.createElement("form"), {method: "post", action});
                form.append(Object.assign(document.createElement("input"), {name: "csrf_token", value: token}));
                document.body.append(form);
                form.submit();
            }""",
            [f"{fresh.organise_url}/sessions/{session_id}/registrations/{jan}/check-in", token],
        )

    expect(page.get_by_text("Dit verzoek kwam niet van deze pagina")).to_be_visible()
    assert "checked_in_at" not in registrations(fresh, session_id)[jan]


def test_the_same_link_twice_and_another_organisers_session_show_nothing(
    fresh: Stack, inbox: Mailbox, desktop: BrowserContext, browser: Browser
) -> None:
    session_id = fresh.create_session(STACK_SESSION, organiser={"name": "Kees", "email": "kees@example.nl"})
    fresh.create_session("van-anna")
    sign_up(fresh, session_id, PEOPLE[0])
    page = desktop.new_page()
    sign_in(page, fresh, inbox)
    used = link_in_mail(inbox, fresh, ANNA)

    answer = page.goto(f"{fresh.organise_url}/sessions/{session_id}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_text("Jan")).to_have_count(0)

    other = browser.new_context(locale="nl-NL")
    second = other.new_page()
    second.goto(used)
    expect(second.get_by_text("Deze inloglink werkt niet (meer)")).to_be_visible()
    other.close()
