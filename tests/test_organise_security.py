"""A second reading of the organisers' page's security: who an address is, what a stranger can send the sign-in, and
what a log or database reader can do with what they see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.organising import ANNA, build, link_token, post, serve, sign_in
from tests.support import Clock, sign_up

SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def page(db: Any, make_session: Callable[..., str]) -> Any:
    """The organisers' page on an empty database (make_session wipes it)."""
    return serve(build(db, Clock()))


def signins_of(db: Any) -> list[dict[str, Any]]:
    return [doc.to_dict() for doc in db.collection("signins").stream()]


# Addresses that casefold() or NFKC makes equal to an organiser's, but that reach another mailbox: `straße.de` is
# xn--strae-oqa.de, a domain of its own that anyone may register; `ﬁ` and `ß` in a local part are other mailboxes.
LOOKALIKES = {
    "an IDN domain with ß for ss": ("kees@strasse.de", "kees@straße.de"),
    "the same, written in punycode": ("kees@strasse.de", "kees@xn--strae-oqa.de"),
    "a local part with ß for ss": ("strasse@example.nl", "straße@example.nl"),
    "a local part with the ﬁ ligature": ("finance@example.nl", "ﬁnance@example.nl"),
    "a Greek final sigma": ("kees@οδοσ.gr", "kees@οδος.gr"),
}


@pytest.mark.parametrize(("organiser", "typed"), LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_an_address_that_only_folds_to_an_organisers_gets_no_link_and_organises_nothing(
    db: Any, page: Any, make_session: Callable[..., str], organiser: str, typed: str
) -> None:
    make_session(organiser={"name": "Kees", "email": organiser})

    asked = page.post("/sign-in", data={"email": typed}, headers=SAME_SITE)

    assert asked.status_code == 200
    assert signins_of(db) == []  # nothing to mail, so nothing goes to the lookalike's inbox
    beheer = serve(build(db, Clock(), ORGANISERS=organiser))
    beheer.post("/sign-in", data={"email": typed}, headers=SAME_SITE)
    assert signins_of(db) == []


@pytest.mark.parametrize("given_by", ["organiser.email", "ORGANISERS"])
@pytest.mark.parametrize(("organiser", "typed"), LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_a_sign_in_of_a_lookalike_address_opens_none_of_the_organisers_sessions(
    db: Any, client: Any, make_session: Callable[..., str], organiser: str, typed: str, given_by: str
) -> None:
    owner = organiser if given_by == "organiser.email" else "kees@example.nl"
    session_id = make_session(organiser={"name": "Kees", "email": owner})
    sign_up(client, session_id, first_name="Geheime", last_name="Naam", email="geheim@example.nl")
    built = build(db, Clock(), **({"ORGANISERS": organiser} if given_by == "ORGANISERS" else {}))
    page = serve(built)
    # A sign-in of the lookalike, as if its link had been mailed (before this check, or by a change of who organises).
    sign_in_id = built.signins.request(typed, "nl", built.clock())
    assert page.post(f"/sign-in/{link_token(sign_in_id)}", headers=SAME_SITE).status_code == 303

    listed = page.get("/")
    answer = page.get(f"/sessions/{session_id}")

    assert session_id not in listed.text
    assert answer.status_code == 404
    assert b"Geheime" not in answer.data


SAME_MAILBOX = {
    "the case of the domain": ("kees@example.nl", "kees@EXAMPLE.NL"),
    "the case of the local part": ("kees@example.nl", "Kees@example.nl"),
    "an IDN domain written in punycode": ("kees@straße.de", "kees@xn--strae-oqa.de"),
    "an IDN domain in capitals": ("kees@straße.de", "kees@STRAßE.DE"),
}


@pytest.mark.parametrize(("organiser", "typed"), SAME_MAILBOX.values(), ids=SAME_MAILBOX.keys())
def test_the_organisers_own_address_however_written_gets_a_link(
    db: Any, page: Any, make_session: Callable[..., str], organiser: str, typed: str
) -> None:
    make_session(organiser={"name": "Kees", "email": organiser})

    page.post("/sign-in", data={"email": typed}, headers=SAME_SITE)

    assert len(signins_of(db)) == 1


def test_a_lookalike_address_does_not_use_up_the_organisers_sign_in_requests(
    db: Any, page: Any, make_session: Callable[..., str]
) -> None:
    make_session(organiser={"name": "Kees", "email": "kees@strasse.de"})
    for visitor in range(5):
        headers = {**SAME_SITE, "X-Forwarded-For": f"192.0.2.{visitor}"}
        page.post("/sign-in", data={"email": "kees@straße.de"}, headers=headers)

    own = page.post("/sign-in", data={"email": "kees@strasse.de"}, headers=SAME_SITE)

    assert own.status_code == 200
    assert len(signins_of(db)) == 1


# --- Nothing anyone can send is a 500 ---------------------------------------------------------------------------

TOKENS = {
    "a MAC with a letter outside ASCII": "0123456789abcdef0123456789abcdef.%C3%A9",
    "a MAC of ASCII and more": "0123456789abcdef0123456789abcdef.abc%E2%80%A8",
}


@pytest.mark.parametrize("token", TOKENS.values(), ids=TOKENS.keys())
def test_a_link_with_any_letters_in_its_mac_is_unusable_and_never_a_500(
    page: Any, make_session: Callable[..., str], token: str
) -> None:
    shown = page.get(f"/sign-in/{token}")
    used = page.post(f"/sign-in/{token}", headers=SAME_SITE)

    assert (shown.status_code, used.status_code) == (410, 410)
    assert "Set-Cookie" not in used.headers


@pytest.mark.parametrize("token", ["é", "x\u2028", "🙂" * 40], ids=["an accent", "a line separator", "emoji"])
def test_a_form_token_with_any_letters_is_refused_and_never_a_500(
    db: Any, client: Any, page: Any, make_session: Callable[..., str], token: str
) -> None:
    session_id = make_session()
    jan = sign_up(client, session_id)["id"]
    sign_in(page, db, ANNA)

    answer = post(page, f"/sessions/{session_id}/registrations/{jan}/check-in", csrf=token)

    assert answer.status_code == 403
    assert "checked_in_at" not in db.collection("sessions", session_id, "registrations").document(jan).get().to_dict()


# --- A change meets the session as it is now ----------------------------------------------------------------------


def test_an_edit_of_a_session_deleted_meanwhile_does_not_bring_it_back(
    db: Any, make_session: Callable[..., str]
) -> None:
    import re

    from signup.store.sessions import SessionStore

    session_id = make_session()
    built = build(db, Clock())
    built.sessions = SessionStore(db, ttl=3600)  # the page read the session before it was deleted
    page = serve(built)
    sign_in(page, db, ANNA)
    form = page.get(f"/sessions/{session_id}/edit").text
    values = dict(re.findall(r'name="(\w+)" type="(?:text|date|time|number)" value="([^"]*)"', form))
    db.collection("sessions").document(session_id).delete()

    answer = post(page, f"/sessions/{session_id}/edit", {**values, "title": "Strategiesessie (verzet)"})

    assert answer.status_code == 404
    assert not db.collection("sessions").document(session_id).get().exists  # nobody can sign up for it again
    assert list(db.collection("sessions", session_id, "audit").stream()) == []


# --- Asking for a link takes the same work whoever asks -----------------------------------------------------------


class Recorded:
    """The Firestore client, recording each single-document write (collection, verb, field names) as it passes."""

    def __init__(self, client: Any, writes: list[tuple[str, str, tuple[str, ...]]]) -> None:
        self._client, self._writes = client, writes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def collection(self, *path: str) -> Any:
        return _RecordedCollection(self._client.collection(*path), self._writes)


class _RecordedCollection:
    def __init__(self, collection: Any, writes: list[tuple[str, str, tuple[str, ...]]]) -> None:
        self._collection, self._writes = collection, writes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def document(self, *path: str) -> Any:
        document, writes, collection = self._collection.document(*path), self._writes, self._collection.id

        class Document:
            def __getattr__(self, name: str) -> Any:
                return getattr(document, name)

            def create(self, data: dict[str, Any], **options: Any) -> Any:
                writes.append((collection, "write", tuple(sorted(data))))
                return document.create(data, **options)

            def update(self, data: dict[str, Any], **options: Any) -> Any:
                writes.append((collection, "write", tuple(sorted(data))))
                return document.update(data, **options)

        return Document()


def test_a_request_for_an_address_that_may_organise_nothing_makes_the_same_write_and_stores_nothing(
    db: Any, make_session: Callable[..., str]
) -> None:
    make_session()
    built = build(db, Clock())
    writes: list[tuple[str, str, tuple[str, ...]]] = []
    built.signins = type(built.signins)(Recorded(db, writes))
    page = serve(built)
    seen = []

    for address in (ANNA, "piet@example.nl"):
        writes.clear()
        assert page.post("/sign-in", data={"email": address}, headers=SAME_SITE).status_code == 200
        seen.append(list(writes))

    allowed, refused = seen
    assert allowed == refused  # the same round trip: one write of a sign-in's fields (the second one refused)
    assert [write[0] for write in allowed] == ["signins"]
    assert [doc.to_dict()["email"] for doc in db.collection("signins").stream()] == [ANNA]


# --- What held on a second reading, kept so --------------------------------------------------------------------


def test_of_six_posts_of_one_link_at_the_same_moment_one_signs_in(db: Any, make_session: Callable[..., str]) -> None:
    import threading

    make_session()
    asking = serve(build(db, Clock()))
    asking.post("/sign-in", data={"email": ANNA}, headers=SAME_SITE)
    [sign_in_id] = [doc.id for doc in db.collection("signins").stream()]
    browsers = [serve(build(db, Clock())) for _ in range(6)]
    start = threading.Barrier(len(browsers))
    answers: list[int] = []

    def click(browser: Any) -> None:
        start.wait()
        answers.append(browser.post(f"/sign-in/{link_token(sign_in_id)}", headers=SAME_SITE).status_code)

    clicks = [threading.Thread(target=click, args=(browser,)) for browser in browsers]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()

    assert sorted(answers) == [303, 410, 410, 410, 410, 410]
    assert sum('name="email"' not in browser.get("/").text for browser in browsers) == 1


def test_a_co_organiser_taken_off_a_session_while_signed_in_sees_it_no_more(
    db: Any, client: Any, page: Any, make_session: Callable[..., str]
) -> None:
    session_id = make_session(co_organisers=["kees@example.nl"])
    sign_up(client, session_id, first_name="Geheime", last_name="Naam", email="geheim@example.nl")
    sign_in(page, db, "kees@example.nl")
    assert page.get(f"/sessions/{session_id}").status_code == 200

    db.collection("sessions").document(session_id).update({"co_organisers": []})

    for rest in ("", "/export.csv", "/attendance", "/audit"):
        answer = page.get(f"/sessions/{session_id}{rest}")
        assert answer.status_code == 404
        assert b"Geheime" not in answer.data
    assert session_id not in page.get("/").text
