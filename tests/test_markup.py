"""Every page served, and the fragment where it lands, is valid HTML to the Nu Html Checker and html-validate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.audit import CLOSED, ENGLISH, FULL, OPEN, Audit, html_validate, in_minimal_page, nu_checker, prepare
from tests.conftest import Stack

HTML = {"Accept": "text/html"}


def get(url: str) -> httpx.Response:
    return httpx.get(url, headers=HTML, timeout=30)


def post(url: str, **form: str) -> httpx.Response:
    return httpx.post(url, data=form, headers=HTML, timeout=30)


# Each page a visitor can be served, and the status it is served with.
PAGES: dict[str, tuple[int, Callable[[Audit], httpx.Response]]] = {
    "session page": (200, lambda a: get(a.own(OPEN))),
    "full session page": (200, lambda a: get(a.own(FULL))),
    "closed session page": (200, lambda a: get(a.own(CLOSED))),
    "session page in English": (200, lambda a: get(a.own(ENGLISH))),
    "form with errors": (422, lambda a: post(a.own(OPEN, "/registrations"), first_name="Jan", email="jan@")),
    "form with a refused form token": (
        422,
        lambda a: post(a.own(OPEN, "/registrations"), form_token="x", first_name="Jan", email="jan@example.nl"),
    ),
    "thank-you page": (200, lambda a: get(a.own(OPEN, "/thanks?status=confirmed"))),
    "waiting list page": (200, lambda a: get(a.own(FULL, "/thanks?status=waitlisted"))),
    "unsubscribe page": (200, lambda a: get(a.unsubscribe_url)),
    "unsubscribed page": (200, lambda a: post(a.unsubscribe_url)),
    "cancel page": (200, lambda a: get(a.cancel_url)),
    "cancelled page": (200, lambda a: post(a.cancel_url)),
    "session not found": (404, lambda a: get(a.own("no-such-session"))),
    "page not found": (404, lambda a: get(f"{a.stack.register_url}/nergens")),
    "error page of a session": (405, lambda a: get(a.own(OPEN, "/registrations"))),
    "demo host page": (200, lambda a: get(a.embedded(OPEN))),
}
# The fragment of a session, as a site that allows no script pastes it: in the smallest valid page.
FRAGMENTS = {
    "fragment": (OPEN, "nl"),
    "fragment of a full session": (FULL, "nl"),
    "fragment in English": (ENGLISH, "en"),
}
CHECKED = [*PAGES, *FRAGMENTS]


@pytest.fixture(scope="module")
def pages(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Each page, saved to a file, so that each checker starts once for all of them."""
    audit = prepare(stack)
    html = {}
    for name, (status, fetch) in PAGES.items():
        answer = fetch(audit)
        assert answer.status_code == status, name
        html[name] = answer.text
    for name, (session_id, language) in FRAGMENTS.items():
        html[name] = in_minimal_page(get(audit.own(session_id, "/form")).text, language)
    directory = tmp_path_factory.mktemp("pages")
    saved = {name: directory / f"{number:02}.html" for number, name in enumerate(CHECKED)}
    for name, path in saved.items():
        path.write_text(html[name], encoding="utf-8")
    yield saved
    stack.settle()  # the mail of the registration made to cancel is sent before another module reads the mailbox


@pytest.fixture(scope="module")
def nu(pages: dict[str, Path]) -> dict[str, list[str]]:
    return nu_checker(list(pages.values()))


@pytest.fixture(scope="module")
def validate(pages: dict[str, Path]) -> dict[str, list[str]]:
    return html_validate(list(pages.values()))


@pytest.mark.parametrize("name", CHECKED)
def test_the_nu_checker_finds_no_error_and_no_warning(
    pages: dict[str, Path], nu: dict[str, list[str]], name: str
) -> None:
    assert nu[pages[name].name] == []


@pytest.mark.parametrize("name", CHECKED)
def test_html_validate_finds_nothing_against_the_standard(
    pages: dict[str, Path], validate: dict[str, list[str]], name: str
) -> None:
    assert validate[pages[name].name] == []


@pytest.mark.parametrize("name", CHECKED)
def test_each_page_has_one_h1(pages: dict[str, Path], name: str) -> None:
    assert pages[name].read_text(encoding="utf-8").count("<h1") == 1
