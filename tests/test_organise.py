"""The organisers' page, in-process against the emulator: sign-in by a one-time mailed link, the cookie, the lists,
the refusals, and every change recorded in the session's audit trail."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from signup.keys import KeyRing
from signup.organise.credentials import Credentials

from tests.organising import ANNA, BEHEER, STRANGER, build, csrf_of, link_token, post, serve, sign_in, sign_in_ids
from tests.support import SUMMER, Clock, sign_up

SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def page(db: Any, make_session: Callable[..., str], clock: Clock) -> Any:
    """The organisers' page on an empty database (make_session wipes it), with a test clock."""
    return serve(build(db, clock))


def registrations_of(db: Any, session_id: str) -> dict[str, dict[str, Any]]:
    return {doc.id: doc.to_dict() for doc in db.collection("sessions", session_id, "registrations").stream()}


def audit_of(db: Any, session_id: str) -> list[dict[str, Any]]:
    return [doc.to_dict() for doc in db.collection("sessions", session_id, "audit").stream()]


# --- Signing in ---------------------------------------------------------------------------------------------------


def test_without_a_cookie_the_page_is_a_sign_in_form_posting_an_email(page: Any) -> None:
    answer = page.get("/")

    assert answer.status_code == 200
    assert re.search(r'<form[^>]*method="post"[^>]*action="http://localhost/sign-in"', answer.text)
    assert re.search(r'<input[^>]*name="email"[^>]*type="email"', answer.text)
    assert 'lang="nl"' in answer.text


@pytest.mark.parametrize(
    "address", [ANNA, BEHEER, "Anna@Example.NL", "co@example.nl"], ids=["organiser", "ORGANISERS", "case", "co"]
)
def test_an_address_that_may_organise_gets_a_link_and_one_that_may_not_gets_the_same_answer_and_nothing(
    db: Any, page: Any, make_session: Callable[..., str], address: str
) -> None:
    make_session(co_organisers=["co@example.nl"])

    allowed = page.post("/sign-in", data={"email": address}, headers=SAME_SITE)
    refused = page.post("/sign-in", data={"email": STRANGER}, headers=SAME_SITE)

    assert (allowed.status_code, allowed.text) == (refused.status_code, refused.text)
    assert sign_in_ids(db, STRANGER) == []
    [stored] = [doc.to_dict() for doc in db.collection("signins").stream()]
    assert stored["email"].casefold() == address.casefold()
    assert stored["emails"] == {"organiser_sign_in": {"state": "pending"}}
    assert stored["link_expires_at"] - stored["requested_at"] == timedelta(minutes=15)
    assert stored["expires_at"] == stored["link_expires_at"]  # the TTL policy takes it when the link runs out


def test_the_links_get_changes_nothing_and_its_post_signs_in_with_a_safe_cookie(
    db: Any, page: Any, make_session: Callable[..., str]
) -> None:
    make_session()
    page.post("/sign-in", data={"email": ANNA}, headers=SAME_SITE)
    [sign_in_id] = sign_in_ids(db, ANNA)
    link = f"/sign-in/{link_token(sign_in_id)}"

    shown = page.get(link)
    assert shown.status_code == 200
    assert re.search(rf'<form method="post" action="http://localhost{re.escape(link)}"', shown.text)
    assert "signed_in_at" not in db.collection("signins").document(sign_in_id).get().to_dict()
    assert page.get("/").text.count('name="email"') == 1  # still signed out

    used = page.post(link, headers=SAME_SITE)

    assert (used.status_code, used.headers["Location"]) == (303, "http://localhost/")
    cookie = used.headers["Set-Cookie"]
    assert cookie.startswith("signup-organiser=")
    assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    assert "Secure" not in cookie  # http://localhost in development; https everywhere else (below)
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert 11 * 3600 < max_age <= 12 * 3600
    assert ANNA not in cookie
    assert sign_in_id not in cookie.split(";")[0].split(".")[0]
    stored = db.collection("signins").document(sign_in_id).get().to_dict()
    assert stored["signed_in_at"] is not None
    assert "Je sessies" in page.get("/").text or "Jouw sessies" in page.get("/").text


def test_the_same_link_a_second_time_does_not_sign_in(db: Any, page: Any, make_session: Callable[..., str]) -> None:
    make_session()
    sign_in_id = sign_in(page, db, ANNA)
    other = serve(build(db))  # another browser with the forwarded mail

    again = other.post(f"/sign-in/{link_token(sign_in_id)}", headers=SAME_SITE)

    assert again.status_code == 410
    assert "Set-Cookie" not in again.headers
    assert "Deze inloglink werkt niet (meer)" in again.text
    assert 'name="email"' in other.get("/").text


@pytest.mark.parametrize("minutes", [16, 60 * 24])
def test_a_link_older_than_15_minutes_does_not_sign_in(
    db: Any, page: Any, clock: Clock, make_session: Callable[..., str], minutes: int
) -> None:
    make_session()
    page.post("/sign-in", data={"email": ANNA}, headers=SAME_SITE)
    [sign_in_id] = sign_in_ids(db, ANNA)
    clock.wait(minutes * 60)

    shown = page.get(f"/sign-in/{link_token(sign_in_id)}")
    used = page.post(f"/sign-in/{link_token(sign_in_id)}", headers=SAME_SITE)

    assert (shown.status_code, used.status_code) == (410, 410)
    assert "Set-Cookie" not in used.headers


@pytest.mark.parametrize(
    "token",
    [
        "0123456789abcdef0123456789abcdef.AAAA",
        "0123456789abcdef0123456789abcdef",
        "not-a-token",
        "x" * 600,
    ],
)
def test_a_forged_or_malformed_link_signs_nobody_in(page: Any, make_session: Callable[..., str], token: str) -> None:
    used = page.post(f"/sign-in/{token}", headers=SAME_SITE)

    assert used.status_code in (404, 410)
    assert "Set-Cookie" not in used.headers


def test_a_link_made_with_another_key_signs_nobody_in(db: Any, page: Any, make_session: Callable[..., str]) -> None:
    make_session()
    page.post("/sign-in", data={"email": ANNA}, headers=SAME_SITE)
    [sign_in_id] = sign_in_ids(db, ANNA)
    forged = Credentials(KeyRing.parse("b" * 64)).sign_in_link(sign_in_id)

    assert page.post(f"/sign-in/{forged}", headers=SAME_SITE).status_code == 410


def test_over_https_the_cookie_is_secure_and_host_only(db: Any, make_session: Callable[..., str]) -> None:
    make_session()
    page = serve(build(db, ORGANISE_URL="https://organise.example.nl"))
    headers = {**SAME_SITE, "Origin": "https://organise.example.nl"}
    page.post("/sign-in", data={"email": ANNA}, headers=headers, base_url="https://organise.example.nl")
    [sign_in_id] = sign_in_ids(db, ANNA)

    used = page.post(f"/sign-in/{link_token(sign_in_id)}", headers=headers, base_url="https://organise.example.nl")

    cookie = used.headers["Set-Cookie"]
    assert cookie.startswith("__Host-signup-organiser=")
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    assert "Domain" not in cookie
    assert used.headers["Location"] == "https://organise.example.nl/"


def test_an_organise_url_over_plain_http_elsewhere_than_this_machine_is_refused(db: Any) -> None:
    from signup.errors import MisconfiguredError

    with pytest.raises(MisconfiguredError, match="ORGANISE_URL must be an https address"):
        build(db, ORGANISE_URL="http://organise.example.nl")


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(
    db: Any, page: Any, make_session: Callable[..., str]
) -> None:
    make_session()
    sign_in_id = sign_in(page, db, ANNA)
    copied = page.get_cookie("signup-organiser").value
    thief = serve(build(db))
    thief.set_cookie("signup-organiser", copied)
    assert "Uitloggen" in thief.get("/").text

    out = post(page, "/sign-out")

    assert (out.status_code, out.headers["Location"]) == (303, "http://localhost/?signed_out=1")
    assert "signup-organiser=;" in out.headers["Set-Cookie"]
    assert db.collection("signins").document(sign_in_id).get().to_dict()["signed_out_at"] is not None
    assert 'name="email"' in thief.get("/").text
    assert thief.get("/sessions/anything").status_code == 303


def test_a_signed_in_session_ends_after_12_hours(
    db: Any, page: Any, clock: Clock, make_session: Callable[..., str]
) -> None:
    make_session()
    sign_in(page, db, ANNA)
    clock.wait(12 * 3600 + 1)

    assert 'name="email"' in page.get("/").text


def test_sign_in_requests_are_limited_per_address_and_answered_alike(
    db: Any, page: Any, make_session: Callable[..., str]
) -> None:
    make_session()
    answers = []
    for visitor in range(7):
        for address in (ANNA, STRANGER):
            headers = {**SAME_SITE, "X-Forwarded-For": f"192.0.2.{visitor}"}
            answers.append((address, page.post("/sign-in", data={"email": address}, headers=headers).status_code))

    assert [status for address, status in answers if address == ANNA] == [200] * 5 + [429] * 2
    assert [status for address, status in answers if address == STRANGER] == [200] * 5 + [429] * 2
    assert len(sign_in_ids(db, ANNA)) == 5


def test_sign_in_requests_are_limited_per_visitor(db: Any, page: Any, make_session: Callable[..., str]) -> None:
    make_session()
    statuses = [
        page.post("/sign-in", data={"email": f"p{n}@example.nl"}, headers=SAME_SITE).status_code for n in range(22)
    ]

    assert statuses == [200] * 20 + [429] * 2


def test_the_log_names_no_address(
    db: Any, page: Any, make_session: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    session_id = make_session()
    with caplog.at_level(logging.DEBUG, logger="signup"):
        page.post("/sign-in", data={"email": STRANGER}, headers=SAME_SITE)
        sign_in(page, db, ANNA)
        listed = page.get(f"/sessions/{session_id}")

    assert listed.status_code == 200
    assert caplog.records
    assert not [r.getMessage() for r in caplog.records if "@" in r.getMessage() or "example" in r.getMessage()]


# --- What a signed-in organiser sees ----------------------------------------------------------------------------


def test_the_list_shows_the_sessions_this_person_may_organise_with_their_counts(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    mine = make_session(title="Strategiesessie Oost", capacity=2)
    theirs = make_session(title="Sessie van een ander", organiser={"name": "Kees", "email": "kees@example.nl"})
    off = make_session(title="Afgelaste sessie", status="cancelled", cancellation_message="Helaas.")
    for email in ("a@example.nl", "b@example.nl", "c@example.nl"):
        sign_up(client, mine, email=email)
    sign_in(page, db, ANNA)

    listed = page.get("/").text

    assert f'href="http://localhost/sessions/{mine}"' in listed
    assert f'href="http://localhost/sessions/{off}"' in listed
    assert theirs not in listed
    assert "Sessie van een ander" not in listed
    row = re.search(rf'sessions/{mine}".*?</tr>', listed, re.S).group(0)  # type: ignore[union-attr]
    assert re.findall(r'organise-number">([^<]+)<', row) == ["2", "1", "0", "0"]  # confirmed, waiting, cancelled, left
    assert "Afgelast" in re.search(rf'sessions/{off}".*?</tr>', listed, re.S).group(0)  # type: ignore[union-attr]
    beheer = serve(build(db))
    sign_in(beheer, db, BEHEER)
    assert theirs in beheer.get("/").text


def test_a_sessions_page_lists_its_registrations_sorted_and_searched_without_javascript(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    sign_up(client, session_id, first_name="Zoë", infix="", last_name="Aalders", email="z@example.nl", organisation="")
    sign_up(client, session_id, first_name="Jan", infix="van der", last_name="Berg", email="j@example.nl")
    sign_up(client, session_id, first_name="Kees", infix="", last_name="Cornelissen", email="k@example.nl")
    sign_in(page, db, ANNA)

    shown = page.get(f"/sessions/{session_id}").text
    by_organisation = page.get(f"/sessions/{session_id}?sort=organisation").text
    searched = post(page, f"/sessions/{session_id}", {"q": "zoe", "sort": "name"})

    names = re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', shown)
    assert names == ["Zoë Aalders", "Jan van der Berg", "Kees Cornelissen"]  # van der Berg under B
    assert re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', by_organisation)[-1] == "Zoë Aalders"
    assert "Gemeente Amsterdam" in shown
    assert searched.status_code == 200
    assert re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', searched.text) == ["Zoë Aalders"]
    assert "zoe" not in searched.request.url  # the words searched for stay out of the URL
    assert re.search(r'href="[^"]*(csv|export)[^"]*"', shown)


def test_the_export_is_the_formula_safe_csv_for_dutch_excel_with_who_was_present(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id, first_name="=Jan", email="j@example.nl")["id"]
    sign_up(client, session_id, first_name="Kees", last_name="Aa", email="k@example.nl")
    sign_in(page, db, ANNA)
    post(page, f"/sessions/{session_id}/registrations/{jan}/check-in", {"back": "session"})
    href = re.search(r'href="http://localhost([^"]*(?:csv|export)[^"]*)"', page.get(f"/sessions/{session_id}").text)

    exported = page.get(href.group(1))  # type: ignore[union-attr]

    assert exported.status_code == 200
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in exported.headers["Content-Disposition"]
    assert exported.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Achternaam", "Tussenvoegsels", "Voornaam"]
    assert "Aanwezig" in rows[0]
    present = rows[0].index("Aanwezig")
    assert [(row[2], row[present]) for row in rows[1:]] == [("Kees", ""), ("'=Jan", "ja")]
    assert [entry["done"] for entry in audit_of(db, session_id)] == ["check-in", "export"] or sorted(
        entry["done"] for entry in audit_of(db, session_id)
    ) == ["check-in", "export"]


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_an_export_link_on_another_site_leads_to_the_session_not_to_a_download_nor_an_audit_entry(
    db: Any, client: Any, page: Any, make_session: Callable[..., str], site: str
) -> None:
    session_id = make_session()
    sign_up(client, session_id)
    sign_in(page, db, ANNA)

    followed = page.get(f"/sessions/{session_id}/export.csv", headers={"Sec-Fetch-Site": site})
    peeked = page.head(f"/sessions/{session_id}/export.csv", headers={"Sec-Fetch-Site": "same-origin"})

    assert followed.status_code == 303
    assert followed.headers["Location"].endswith(f"/sessions/{session_id}")
    assert b"example.nl" not in followed.data
    assert peeked.status_code == 200
    assert audit_of(db, session_id) == []


# --- Refusals -----------------------------------------------------------------------------------------------------

PAGES = ["", "/export.csv", "/attendance", "/audit", "/edit", "/call-off", "/message"]


@pytest.mark.parametrize("rest", PAGES)
def test_without_a_cookie_a_sessions_pages_send_to_the_sign_in_and_show_no_name(
    db: Any, client: Any, page: Any, make_session: Callable[..., str], rest: str
) -> None:
    session_id = make_session()
    sign_up(client, session_id, first_name="Geheime", last_name="Naam", email="geheim@example.nl")

    path = f"/sessions/{session_id}{rest}"
    answer = page.get(path)

    # On to the page after signing in, but never a download started by a sign-in.
    then = "" if rest == "/export.csv" else f"?next={path}"
    assert (answer.status_code, answer.headers["Location"]) == (303, f"http://localhost/{then}")
    assert b"Geheime" not in answer.data
    assert b"geheim@" not in answer.data


@pytest.mark.parametrize("rest", PAGES)
def test_another_sessions_organiser_is_told_nothing_of_it(
    db: Any, client: Any, page: Any, make_session: Callable[..., str], rest: str
) -> None:
    session_id = make_session(organiser={"name": "Kees", "email": "kees@example.nl"})
    make_session()
    sign_up(client, session_id, first_name="Geheime", last_name="Naam", email="geheim@example.nl")
    sign_in(page, db, ANNA)

    answer = page.get(f"/sessions/{session_id}{rest}")

    assert answer.status_code == 404
    assert b"Geheime" not in answer.data
    assert b"geheim@" not in answer.data
    assert b"Strategiesessie" not in answer.data


@pytest.mark.parametrize("act", ["check-in", "check-out", "cancel", "promote", "resend"])
def test_another_sessions_organiser_can_change_nothing_in_it(
    db: Any, client: Any, page: Any, make_session: Callable[..., str], act: str
) -> None:
    session_id = make_session(organiser={"name": "Kees", "email": "kees@example.nl"})
    make_session()
    jan = sign_up(client, session_id)["id"]
    before = registrations_of(db, session_id)
    sign_in(page, db, ANNA)

    answer = post(page, f"/sessions/{session_id}/registrations/{jan}/{act}")

    assert answer.status_code == 404
    assert registrations_of(db, session_id) == before
    assert audit_of(db, session_id) == []


CROSS_SITE = {
    "another site (fetch metadata)": {"Sec-Fetch-Site": "cross-site"},
    "a sibling site": {"Sec-Fetch-Site": "same-site"},
    "another origin": {"Origin": "https://evil.example"},
    "a sandboxed frame": {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    "null without fetch metadata": {"Origin": "null"},
}


@pytest.mark.parametrize("headers", CROSS_SITE.values(), ids=CROSS_SITE.keys())
def test_a_change_posted_from_another_site_is_refused_and_changes_nothing(
    db: Any, client: Any, page: Any, make_session: Callable[..., str], headers: dict[str, str]
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id)["id"]
    sign_in(page, db, ANNA)
    token = csrf_of(page.get("/").text)

    answer = page.post(
        f"/sessions/{session_id}/registrations/{jan}/check-in", data={"csrf_token": token}, headers=headers
    )
    asked = page.post("/sign-in", data={"email": ANNA}, headers=headers)

    assert (answer.status_code, asked.status_code) == (403, 403)
    assert "checked_in_at" not in registrations_of(db, session_id)[jan]
    assert len(sign_in_ids(db, ANNA)) == 1


@pytest.mark.parametrize("token", ["", "forged", "another organiser's"])
def test_a_change_without_the_organisers_own_form_token_is_refused(
    db: Any, client: Any, page: Any, make_session: Callable[..., str], token: str
) -> None:
    session_id = make_session(co_organisers=[BEHEER])
    jan = sign_up(client, session_id)["id"]
    sign_in(page, db, ANNA)
    if token == "another organiser's":
        other = serve(build(db))
        sign_in(other, db, BEHEER)
        token = csrf_of(other.get("/").text)

    answer = post(page, f"/sessions/{session_id}/registrations/{jan}/check-in", csrf=token)

    assert answer.status_code == 403
    assert "checked_in_at" not in registrations_of(db, session_id)[jan]


def test_a_change_without_a_cookie_is_refused(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id)["id"]

    answer = page.post(f"/sessions/{session_id}/registrations/{jan}/check-in", headers=SAME_SITE)

    assert answer.status_code == 401
    assert "checked_in_at" not in registrations_of(db, session_id)[jan]


def test_every_page_carries_the_headers_that_keep_it_to_itself(page: Any, make_session: Callable[..., str]) -> None:
    answer = page.get("/")

    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]


# --- Check-in and the other changes -----------------------------------------------------------------------------


def test_a_confirmed_registration_is_checked_in_with_one_tap_and_the_audit_trail_says_who_and_when(
    db: Any, client: Any, page: Any, clock: Clock, make_session: Callable[..., str]
) -> None:
    session_id = make_session(capacity=1)
    jan = sign_up(client, session_id)["id"]
    kees = sign_up(client, session_id, first_name="Kees", email="kees@example.nl")["id"]  # waitlisted
    sign_in(page, db, ANNA)
    shown = page.get(f"/sessions/{session_id}").text
    forms = re.findall(r'<form method="post" action="[^"]+/check-in".*?</form>', shown, re.S)
    assert len(forms) == 1
    assert jan in forms[0]
    assert re.search(r"<button[^>]*>(Inchecken|Aanwezig|aanwezig|inchecken)</button>", forms[0])

    answer = post(page, f"/sessions/{session_id}/registrations/{jan}/check-in", {"back": "session"})

    assert answer.status_code == 200
    assert "Jan van der Berg is ingecheckt." in answer.text
    assert "✓ Aanwezig" in answer.text
    stored = registrations_of(db, session_id)
    assert stored[jan]["checked_in_at"] == clock.now
    assert "checked_in_at" not in stored[kees]
    [entry] = audit_of(db, session_id)
    assert (entry["done_by"], entry["done"], entry["registration_id"]) == (ANNA, "check-in", jan)
    assert entry["at"] is not None
    assert entry["expires_at"] > datetime.now(UTC)
    assert post(page, f"/sessions/{session_id}/registrations/{kees}/check-in").status_code == 409
    trail = page.get(f"/sessions/{session_id}/audit").text  # the entry keeps the id; the page names the person
    assert re.search(rf'<a href="[^"]*/registrations/{jan}">Jan van der Berg</a>', trail)


def test_a_check_in_is_undone_and_twice_is_harmless(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id)["id"]
    sign_in(page, db, ANNA)

    for act in ("check-in", "check-in", "check-out", "check-out"):
        post(page, f"/sessions/{session_id}/registrations/{jan}/{act}", {"back": "session"})

    assert "checked_in_at" not in registrations_of(db, session_id)[jan]
    assert sorted(entry["done"] for entry in audit_of(db, session_id)) == ["check-in", "check-out"]


def test_an_organiser_changes_the_start_time_and_the_session_and_its_trail_say_so(
    db: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))  # 16:00-18:00 in Amsterdam
    sign_in(page, db, ANNA)
    form = page.get(f"/sessions/{session_id}/edit").text
    values = dict(re.findall(r'name="(\w+)" type="(?:text|date|time|number)" value="([^"]*)"', form))
    assert set(values) == {"title", "date", "starts", "end_date", "ends", "place", "address", "capacity"}

    saved = post(page, f"/sessions/{session_id}/edit", {**values, "starts": "15:30"})

    assert (saved.status_code, saved.headers["Location"]) == (
        303,
        f"http://localhost/sessions/{session_id}?result=saved",
    )
    stored = db.collection("sessions").document(session_id).get().to_dict()
    local = stored["starts_at"].astimezone(__import__("zoneinfo").ZoneInfo("Europe/Amsterdam"))
    assert f"{local:%H:%M}" == "15:30"
    [entry] = audit_of(db, session_id)
    assert entry["done"] == "edit"
    assert set(entry["changed"]) == {"starts_at"}
    trail = page.get(f"/sessions/{session_id}/audit").text  # in words and in Amsterdam's time, as typed
    assert "sessie gewijzigd" in trail
    assert "Begin: dinsdag 10 juni 2036, 16:00 → dinsdag 10 juni 2036, 15:30" in trail
    assert "starts_at" not in trail


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"starts": "25:00"}, "starts"),
        ({"ends": "01:00"}, "ends"),
        ({"capacity": "-1"}, "capacity"),
        ({"capacity": "1e300"}, "capacity"),
        ({"title": "x" * 201}, "title"),
    ],
)
def test_a_change_that_cannot_work_is_named_at_its_field_and_nothing_is_stored(
    db: Any, page: Any, make_session: Callable[..., str], change: dict[str, str], field: str
) -> None:
    session_id = make_session()
    before = db.collection("sessions").document(session_id).get().to_dict()
    sign_in(page, db, ANNA)
    form = page.get(f"/sessions/{session_id}/edit").text
    values = dict(re.findall(r'name="(\w+)" type="(?:text|date|time|number)" value="([^"]*)"', form))

    answer = post(page, f"/sessions/{session_id}/edit", {**values, **change})

    assert answer.status_code == 422
    assert f'id="organise-{field}-error"' in answer.text
    assert db.collection("sessions").document(session_id).get().to_dict() == before


def test_a_session_is_called_off_with_a_message_once(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    sign_up(client, session_id)
    sign_in(page, db, ANNA)
    assert "1 mensen" in page.get(f"/sessions/{session_id}/call-off").text

    empty = post(page, f"/sessions/{session_id}/call-off", {"message": "  "})
    done = post(page, f"/sessions/{session_id}/call-off", {"message": "De spreker is ziek."})

    assert empty.status_code == 422
    assert done.status_code == 303
    stored = db.collection("sessions").document(session_id).get().to_dict()
    assert (stored["status"], stored["cancellation_message"]) == ("cancelled", "De spreker is ziek.")
    assert [entry["done"] for entry in audit_of(db, session_id)] == ["call-off"]


def test_a_message_is_previewed_with_its_count_then_queued_once(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id)["id"]
    sign_in(page, db, ANNA)
    text = {"subject": "De slides", "body": "Hierbij de slides.\n\nTot ziens!", "to": "confirmed"}

    preview = post(page, f"/sessions/{session_id}/message", {**text, "step": "preview"})
    assert preview.status_code == 200
    assert "Dit bericht gaat naar 1 mensen." in preview.text
    assert "Hierbij de slides." in preview.text
    assert "message_" not in str(registrations_of(db, session_id)[jan].get("emails"))

    sent = post(page, f"/sessions/{session_id}/message", {**text, "step": "send"})
    again = post(page, f"/sessions/{session_id}/message", {**text, "step": "send"})

    assert sent.status_code == 303
    assert again.status_code == 200  # nobody left to send it to: the preview says so
    assert "Er is niemand om dit bericht naar te sturen" in again.text
    emails = registrations_of(db, session_id)[jan]["emails"]
    assert len([key for key in emails if key.startswith("message_")]) == 1
    assert [entry["done"] for entry in audit_of(db, session_id)] == ["message"]


def test_a_registration_is_cancelled_promoted_and_resent_from_its_page(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session(capacity=1)
    jan = sign_up(client, session_id)["id"]
    kees = sign_up(client, session_id, first_name="Kees", email="kees@example.nl")["id"]
    sign_in(page, db, ANNA)
    assert "kees@example.nl" in page.get(f"/sessions/{session_id}/registrations/{kees}").text

    cancelled = post(page, f"/sessions/{session_id}/registrations/{jan}/cancel")
    on_its_way = post(page, f"/sessions/{session_id}/registrations/{kees}/resend")
    db.collection("sessions", session_id, "registrations").document(kees).update(
        {"emails.confirmation": {"state": "sent", "sent_at": datetime.now(UTC) - timedelta(hours=1)}}
    )
    resent = post(page, f"/sessions/{session_id}/registrations/{kees}/resend")

    assert cancelled.headers["Location"].endswith(f"/registrations/{jan}?result=cancel")
    stored = registrations_of(db, session_id)
    assert (stored[jan]["status"], stored[kees]["status"]) == ("cancelled", "confirmed")  # kees moved up
    assert on_its_way.headers["Location"].endswith("?result=resend-on-its-way")
    assert resent.headers["Location"].endswith("?result=resend")
    assert registrations_of(db, session_id)[kees]["emails"]["confirmation"]["state"] == "pending"
    assert sorted(entry["done"] for entry in audit_of(db, session_id)) == ["cancel", "resend"]


# --- The sign-in mail, sent by notify -------------------------------------------------------------------------


@pytest.fixture
def mailer(db: Any, inbox: Any, clock: Clock) -> Any:
    from signup.service import build_sign_in_mailer
    from signup.settings import Settings

    return build_sign_in_mailer(Settings.from_env(), client=db, clock=clock)


def test_notify_mails_the_link_once_and_it_signs_in(
    db: Any, page: Any, mailer: Any, inbox: Any, make_session: Callable[..., str]
) -> None:
    make_session()
    page.post("/sign-in", data={"email": ANNA}, headers=SAME_SITE)
    [sign_in_id] = sign_in_ids(db, ANNA)

    sent = mailer.sign_in_written(sign_in_id)
    again = mailer.sign_in_written(sign_in_id) + mailer.sweep(datetime.now(UTC))

    assert (sent, again) == (1, 0)
    [mail] = inbox.wait_for(1)
    assert mail.recipients == [ANNA]
    assert mail.message["Subject"] == "Je inloglink voor Sessies organiseren"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    text = mail.message.get_body(("plain",)).get_content()
    link = re.search(r"http://localhost/sign-in/\S+", text).group(0)  # type: ignore[union-attr]
    assert link.endswith(link_token(sign_in_id))
    assert ANNA not in link
    stored = db.collection("signins").document(sign_in_id).get().to_dict()
    assert stored["emails"]["organiser_sign_in"]["state"] == "sent"
    assert page.post(link.removeprefix("http://localhost"), headers=SAME_SITE).status_code == 303


def test_a_link_that_ran_out_before_it_could_be_sent_is_not_sent(
    db: Any, page: Any, mailer: Any, inbox: Any, clock: Clock, make_session: Callable[..., str]
) -> None:
    make_session()
    page.post("/sign-in", data={"email": ANNA}, headers=SAME_SITE)
    [sign_in_id] = sign_in_ids(db, ANNA)
    clock.wait(16 * 60)

    assert mailer.sweep(clock.now) == 0
    assert inbox.received == []
    stored = db.collection("signins").document(sign_in_id).get().to_dict()
    assert stored["emails"]["organiser_sign_in"]["state"] == "skipped"


def test_the_sweep_sends_a_link_whose_event_went_missing_in_the_language_of_the_page(
    db: Any, page: Any, mailer: Any, inbox: Any, make_session: Callable[..., str]
) -> None:
    make_session()
    page.post("/sign-in?lang=en", data={"email": ANNA}, headers=SAME_SITE)

    assert mailer.sweep(datetime.now(UTC)) == 1
    [mail] = inbox.wait_for(1)
    assert mail.message["Subject"] == "Your sign-in link for Organise sessions"
    assert mail.message["Content-Language"] == "en"


# --- The QR code at the door --------------------------------------------------------------------------------------


def read_qr(png: bytes) -> str:
    """What a phone's camera reads from the code: the PNG (1-bit grey, as segno writes it) decoded, then read by
    ZXing."""
    import struct
    import zlib

    import zxingcpp

    pos, compressed = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlaced = struct.unpack(">IIBBBBB", body)
            assert (depth, colour, interlaced) == (1, 0, 0)
        elif kind == b"IDAT":
            compressed += body
        pos += 12 + length
    raw, row = zlib.decompress(compressed), (width + 7) // 8
    pixels, previous = bytearray(), bytes(row)
    for y in range(height):
        kind, line = raw[y * (row + 1)], bytearray(raw[y * (row + 1) + 1 : (y + 1) * (row + 1)])
        for x in range(row):  # PNG's filters, for one byte per pixel group (RFC 2083, 6)
            left, up, corner = line[x - 1] if x else 0, previous[x], previous[x - 1] if x else 0
            guess = left + up - corner
            paeth = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))[2]
            line[x] = (line[x] + (0, left, up, (left + up) // 2, paeth)[kind]) % 256
        previous = bytes(line)
        pixels += bytes(255 if line[x // 8] >> (7 - x % 8) & 1 else 0 for x in range(width))
    [found] = zxingcpp.read_barcodes(memoryview(bytes(pixels)).cast("B", (height, width)))
    return str(found.text)


def check_in_code(mail: Any) -> tuple[str, str]:
    """The check-in link in a mail's QR code, and the Content-ID the HTML shows it by."""
    [image] = [part for part in mail.message.walk() if part.get_content_type() == "image/png"]
    html = mail.message.get_body(("html",)).get_content()
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    return read_qr(image.get_payload(decode=True)), cid


def test_the_confirmation_has_a_qr_code_that_opens_that_persons_check_in_for_an_organiser(
    db: Any, client: Any, page: Any, notifier: Any, inbox: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id)["id"]
    notifier.sweep(datetime.now(UTC))
    [mail] = inbox.wait_for(1)

    link, _ = check_in_code(mail)

    assert link.startswith("http://localhost/check-in/")
    token = link.removeprefix("http://localhost/check-in/")
    assert not re.search(r"jan|berg|example|amsterdam", link, re.I)
    assert page.get(f"/check-in/{token}").status_code == 303  # signed out: to the sign-in page
    sign_in(page, db, ANNA)
    shown = page.get(f"/check-in/{token}")
    assert shown.status_code == 200
    assert "Jan van der Berg" in shown.text
    checked = post(page, f"/sessions/{session_id}/registrations/{jan}/check-in", {"back": "registration"})
    assert checked.status_code == 303
    assert registrations_of(db, session_id)[jan]["checked_in_at"] is not None
    assert page.get("/check-in/" + token[:-2] + "xx").status_code == 404  # altered: not ours


def test_a_code_for_an_earlier_sign_up_or_another_organisers_session_opens_nothing(
    db: Any, client: Any, page: Any, notifier: Any, inbox: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session(co_organisers=["kees@example.nl"])
    theirs = make_session(organiser={"name": "Piet", "email": STRANGER})
    jan = sign_up(client, session_id)["id"]
    sign_up(client, theirs, email="zoe@example.nl")
    notifier.sweep(datetime.now(UTC))
    codes = {tuple(mail.recipients): check_in_code(mail)[0] for mail in inbox.wait_for(2)}
    sign_in(page, db, "kees@example.nl")
    own, others = codes[("jan@example.nl",)], codes[("zoe@example.nl",)]

    assert page.get(own.removeprefix("http://localhost")).status_code == 200
    assert page.get(others.removeprefix("http://localhost")).status_code == 404
    post(page, f"/sessions/{session_id}/registrations/{jan}/cancel")
    sign_up(client, session_id)  # Jan again: a new sign-up, with a code of its own
    assert page.get(own.removeprefix("http://localhost")).status_code == 404


def test_who_is_on_the_waiting_list_gets_no_code(
    db: Any, client: Any, notifier: Any, inbox: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session(capacity=0)
    sign_up(client, session_id)
    notifier.sweep(datetime.now(UTC))
    [mail] = inbox.wait_for(1)

    assert [part for part in mail.message.walk() if part.get_content_type() == "image/png"] == []
    assert "cid:" not in mail.message.get_body(("html",)).get_content()


def test_after_the_session_the_page_writes_to_who_came_or_to_who_did_not(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id)["id"]
    kees = sign_up(client, session_id, first_name="Kees", email="kees@example.nl")["id"]
    sign_in(page, db, ANNA)
    post(page, f"/sessions/{session_id}/registrations/{jan}/check-in", {"back": "session"})
    text = {"subject": "Jammer dat je er niet was", "body": "Hierbij de slides."}

    previewed = post(page, f"/sessions/{session_id}/message", {**text, "to": "not-present", "step": "preview"})
    sent = post(page, f"/sessions/{session_id}/message", {**text, "to": "not-present", "step": "send"})

    assert "Dit bericht gaat naar 1 mensen." in previewed.text
    assert 'value="not-present" selected' in previewed.text
    assert sent.status_code == 303
    stored = registrations_of(db, session_id)
    assert [key for key in stored[kees]["emails"] if key.startswith("message_")] != []
    assert [key for key in stored[jan]["emails"] if key.startswith("message_")] == []


@pytest.mark.parametrize("registration", ["__nope__", "..", "x" * 65, "Jan", "a.b"])
def test_a_registration_id_that_cannot_be_ours_is_not_found_and_never_a_500(
    db: Any, page: Any, make_session: Callable[..., str], registration: str
) -> None:
    session_id = make_session()
    sign_in(page, db, ANNA)

    shown = page.get(f"/sessions/{session_id}/registrations/{registration}")
    acted = post(page, f"/sessions/{session_id}/registrations/{registration}/check-in")

    assert (shown.status_code, acted.status_code) == (404, 404)


def test_without_organise_url_the_page_answers_503_and_names_the_setting_in_the_log(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import flask
    from signup.organise import web
    from signup.service import build_organise
    from signup.settings import Settings

    app = flask.Flask("misconfigured")
    settings = Settings.from_env({**os.environ, "ORGANISE_URL": ""})
    app.add_url_rule("/", "root", lambda: web.handle(flask.request, lambda: build_organise(settings, client=db)))

    with caplog.at_level(logging.ERROR, logger="signup"):
        answer = app.test_client().get("/")

    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "30")
    assert "Deze pagina is niet goed ingesteld." in answer.text
    assert "Missing required setting ORGANISE_URL" in caplog.text


def test_the_answer_to_a_link_request_comes_at_the_same_moment_whether_a_link_was_made_or_not(
    db: Any, make_session: Callable[..., str]
) -> None:
    make_session()
    built = build(db)
    slept: list[float] = []
    built.sleep = slept.append
    page = serve(built)
    moments = iter([10.0, 10.04, 20.0, 20.13, 30.0, 30.31])  # start and end of each request's work
    built.monotonic = lambda: next(moments)

    for address in (STRANGER, ANNA, BEHEER):
        page.post("/sign-in", data={"email": address}, headers=SAME_SITE)

    answered = [round(work + wait, 6) for work, wait in zip((0.04, 0.13, 0.31), slept, strict=True)]
    assert answered == [0.3, 0.3, 0.6]


@pytest.mark.parametrize("scanned", [True, False], ids=["a code scanned", "another site's next"])
def test_a_code_scanned_before_signing_in_is_where_the_sign_in_goes_on_to_and_nowhere_else(
    db: Any, client: Any, page: Any, notifier: Any, inbox: Any, make_session: Callable[..., str], scanned: bool
) -> None:
    session_id = make_session()
    sign_up(client, session_id)
    notifier.sweep(datetime.now(UTC))
    code = check_in_code(inbox.wait_for(1)[0])[0].removeprefix("http://localhost")
    if scanned:
        sent_on = page.get(code)
        assert (sent_on.status_code, sent_on.headers["Location"]) == (303, f"http://localhost/?next={code}")
    asked = code if scanned else "https://evil.example/check-in/x"
    form = page.get(f"/?next={asked}").text
    assert (f'name="next" value="{asked}"' in form) == scanned

    page.post("/sign-in", data={"email": ANNA, "next": asked}, headers=SAME_SITE)
    [sign_in_id] = sign_in_ids(db, ANNA)
    used = page.post(f"/sign-in/{link_token(sign_in_id)}", headers=SAME_SITE)

    assert used.headers["Location"] == (f"http://localhost{code}" if scanned else "http://localhost/")
    if scanned:
        assert "Jan van der Berg" in page.get(code).text


@pytest.mark.parametrize(
    ("opened", "goes_on"),
    [
        ("/sessions/{s}", True),
        ("/sessions/{s}/attendance", True),
        ("/sessions/{s}/registrations/{r}", True),
        ("/sessions/{s}/export.csv", False),  # a download is asked for again, not started by a sign-in
        ("/sessions/{s}/registrations/GEEN_ID", False),  # no id of ours: not a page to go on to
    ],
)
def test_a_page_opened_before_signing_in_is_where_the_sign_in_goes_on_to(
    db: Any, client: Any, page: Any, make_session: Callable[..., str], opened: str, goes_on: bool
) -> None:
    session_id = make_session()
    path = opened.format(s=session_id, r=sign_up(client, session_id)["id"])

    sent_on = page.get(path)
    form = page.get(sent_on.headers["Location"].removeprefix("http://localhost")).text
    page.post("/sign-in", data={"email": ANNA, "next": path}, headers=SAME_SITE)
    [sign_in_id] = sign_in_ids(db, ANNA)
    used = page.post(f"/sign-in/{link_token(sign_in_id)}", headers=SAME_SITE)

    assert sent_on.status_code == 303
    assert sent_on.headers["Location"] == (f"http://localhost/?next={path}" if goes_on else "http://localhost/")
    assert ("Log eerst in: daarna kom je op de pagina die je opende." in form) == goes_on
    assert used.headers["Location"] == (f"http://localhost{path}" if goes_on else "http://localhost/")


def test_signing_out_says_so_on_the_sign_in_page(db: Any, page: Any, make_session: Callable[..., str]) -> None:
    make_session()
    sign_in(page, db, ANNA)
    form = page.get("/").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None

    out = page.post("/sign-out", data={"csrf_token": token.group(1)}, headers=SAME_SITE)
    shown = page.get(out.headers["Location"].removeprefix("http://localhost")).text

    assert "Je bent uitgelogd." in shown
    assert "Je bent uitgelogd." not in page.get("/").text


def test_a_registrations_page_says_what_became_of_each_of_its_mails(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id)["id"]
    sent_at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    retry_at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    db.collection("sessions", session_id, "registrations").document(jan).update(
        {
            "emails.confirmation": {"state": "sent", "sent_at": sent_at},
            "emails.reminder_24h": {"state": "pending", "attempts": 2, "next_attempt_at": retry_at},
            "emails.change": {"state": "failed", "last_error": "550 5.1.1 mailbox <jan@example.nl> unknown"},
            "emails.unheard_of": {"state": "odd"},
        }
    )
    sign_in(page, db, ANNA)

    html = " ".join(page.get(f"/sessions/{session_id}/registrations/{jan}").text.split())

    mails = html[html.index("<h2>E-mails</h2>") :]
    assert "<strong>Bevestiging</strong>: verstuurd dinsdag 1 december 2026, 10:30" in mails
    assert "<strong>Herinnering (24 uur vooraf)</strong>: nog niet verstuurd (poging 2); nieuwe poging dinsdag" in mails
    assert "<strong>Wijziging van de sessie</strong>: niet verstuurd: de mailserver weigerde het" in mails
    assert "Reden: 550 5.1.1 mailbox &lt;jan@example.nl&gt; unknown" in mails
    assert "<strong>E-mail unheard_of</strong>: onbekend" in mails
    assert mails.index("Bevestiging") < mails.index("Herinnering")  # in the order they go: the confirmation first


def test_the_cancel_button_says_what_cancelling_does_for_a_seat_and_for_a_place_on_the_waiting_list(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session(capacity=1)
    jan = sign_up(client, session_id)["id"]
    kees = sign_up(client, session_id, first_name="Kees", email="kees@example.nl")["id"]  # waitlisted
    sign_in(page, db, ANNA)

    seated = page.get(f"/sessions/{session_id}/registrations/{jan}").text
    waiting = page.get(f"/sessions/{session_id}/registrations/{kees}").text

    assert "gaat de plek naar de eerste op de wachtlijst" in seated
    assert "gaat de plek naar" not in waiting  # Kees holds no seat to give on
    assert "Na het annuleren krijgt de deelnemer een bevestiging van de annulering per e-mail." in waiting
