"""The HTTP contract of `register`, through the real entry point and Google's Firestore emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

GOOD = {
    "organisation": "Gemeente Amsterdam",
    "first_name": "Jan",
    "infix": "van der",
    "last_name": "Berg",
    "email": "Jan.van.der.Berg@Example.NL",
}
JSON_ACCEPT = {"Accept": "application/json"}
Registrations = Callable[[str], list[dict[str, Any]]]


def post_form(client: Any, session_id: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return client.post(f"/sessions/{session_id}/registrations", data=data, **kwargs)


def post_json(client: Any, session_id: str, payload: Any, **kwargs: Any) -> Any:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(f"/sessions/{session_id}/registrations", data=body, content_type="application/json", **kwargs)


class TestTheFormPage:
    def test_shows_the_session_and_the_form_in_dutch(self, client: Any, make_session: Callable[..., str]) -> None:
        starts = datetime(2036, 6, 10, 14, 0, tzinfo=UTC)  # 16:00 in Amsterdam, summer time
        session_id = make_session(starts_at=starts, ends_at=starts + timedelta(hours=2))

        response = client.get(f"/sessions/{session_id}")

        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        assert '<html lang="nl">' in page
        assert "Strategiesessie" in page
        assert "dinsdag 10 juni 2036, 16:00–18:00" in page
        assert "Grand Café Genieten" in page
        for label in ("Organisatie", "Voornaam", "Tussenvoegsels", "Achternaam", "E-mailadres"):
            assert f">{label}" in page
        assert f'action="http://signup.test/sessions/{session_id}/registrations"' in page
        assert 'name="website"' in page  # the honeypot

    def test_speaks_english_for_an_english_session(self, client: Any, make_session: Callable[..., str]) -> None:
        session_id = make_session(language="en")

        page = client.get(f"/sessions/{session_id}").get_data(as_text=True)

        assert '<html lang="en">' in page
        for label in ("Organisation", "First name", "Last name", "Email address"):
            assert f">{label}" in page

    @pytest.mark.parametrize(
        ("path", "says"),
        [
            ("/sessions/does-not-exist", "Deze sessie bestaat niet (meer)."),
            ("/sessions/..", "Deze sessie bestaat niet (meer)."),
            ("/sessions/a%2Fb", "Deze pagina bestaat niet."),
            ("/nowhere", "Deze pagina bestaat niet."),
        ],
    )
    def test_an_unknown_session_or_page_is_a_clear_404_under_one_h1(self, client: Any, path: str, says: str) -> None:
        response = client.get(path)

        page = response.get_data(as_text=True)
        assert response.status_code == 404
        assert says in page
        assert page.count("<h1") == 1

    def test_a_stranger_s_long_paths_are_answered_but_not_remembered(self, client: Any) -> None:
        from signup.http import web

        kept = web._KEPT_MATCH.cache_info().currsize
        answers = {client.get(f"/sessions/{'x' * 600}{n}").status_code for n in range(20)}

        assert answers == {404}
        assert web._KEPT_MATCH.cache_info().currsize == kept

    def test_a_closed_session_says_so_and_shows_no_form(self, client: Any, make_session: Callable[..., str]) -> None:
        session_id = make_session(registration_closes_at=datetime.now(UTC) - timedelta(minutes=1))

        page = client.get(f"/sessions/{session_id}").get_data(as_text=True)

        assert "De aanmelding voor deze sessie is gesloten." in page
        assert "<form" not in page

    def test_a_full_session_offers_the_waiting_list(self, client: Any, make_session: Callable[..., str]) -> None:
        session_id = make_session(capacity=1)
        post_form(client, session_id, GOOD)

        page = client.get(f"/sessions/{session_id}").get_data(as_text=True)

        assert "Deze sessie is vol" in page
        assert "Aanmelden voor de wachtlijst" in page

    @pytest.mark.parametrize(
        ("path", "mimetype", "holds"),
        [("/embed.js", "text/javascript", "data-session"), ("/signup.css", "text/css", ":where(.signup)")],
    )
    def test_the_embed_script_and_the_form_stylesheet_are_served_for_any_site_to_load(
        self, client: Any, path: str, mimetype: str, holds: str
    ) -> None:
        response = client.get(path)

        assert response.status_code == 200
        assert response.mimetype == mimetype
        assert "max-age" in response.headers["Cache-Control"]
        assert holds in response.get_data(as_text=True)

    def test_the_form_fragment_is_granted_only_to_allowed_sites(
        self, client: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()

        allowed = client.get(f"/sessions/{session_id}/form", headers={"Origin": "https://www.example.nl"})
        other = client.get(f"/sessions/{session_id}/form", headers={"Origin": "https://evil.example"})

        fragment = allowed.get_data(as_text=True)
        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.example.nl"
        assert fragment.startswith('<div class="signup signup-embedded"')
        assert "<html" not in fragment
        assert 'data-thanks-confirmed="Bedankt voor je aanmelding!' in fragment
        assert "Access-Control-Allow-Origin" not in other.headers

    def test_health_check_answers(self, client: Any) -> None:
        assert client.get("/healthz").status_code == 200


class TestSigningUp:
    @pytest.mark.parametrize("encoding", ["form", "multipart", "json"])
    def test_each_content_type_stores_one_registration(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, encoding: str
    ) -> None:
        session_id = make_session()
        if encoding == "json":
            response = post_json(client, session_id, GOOD)
        else:
            content_type = "multipart/form-data" if encoding == "multipart" else "application/x-www-form-urlencoded"
            response = post_form(client, session_id, GOOD, content_type=content_type, headers=JSON_ACCEPT)

        assert response.status_code == 201
        answer = response.get_json()
        [stored] = registrations(session_id)
        assert answer == {"id": stored["id"], "status": "confirmed"}
        assert stored["first_name"] == "Jan"
        assert stored["infix"] == "van der"
        assert stored["last_name"] == "Berg"
        assert stored["organisation"] == "Gemeente Amsterdam"
        assert stored["email"] == "Jan.van.der.Berg@example.nl"  # email-validator lowercases the domain
        assert stored["status"] == "confirmed"
        assert isinstance(stored["created_at"], datetime)

    @pytest.mark.parametrize(("retention", "days"), [(None, 90), (30, 30), (0, 0)])
    def test_the_registration_expires_a_retention_period_after_the_session(
        self,
        client: Any,
        make_session: Callable[..., str],
        registrations: Registrations,
        db: Any,
        retention: int | None,
        days: int,
    ) -> None:
        session_id = make_session(retention_days=retention, capacity=3)
        ends_at = db.collection("sessions").document(session_id).get().get("ends_at")

        post_json(client, session_id, GOOD)

        [stored] = registrations(session_id)
        [seat] = db.collection("sessions").document(session_id).collection("seats").get()
        assert stored["expires_at"] == ends_at + timedelta(days=days)
        assert seat.get("expires_at") == ends_at + timedelta(days=days)

    def test_no_address_or_name_in_the_document_id(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session()
        post_json(client, session_id, GOOD)

        [stored] = registrations(session_id)

        for part in ("jan", "berg", "example"):
            assert part not in stored["id"].lower()

    def test_a_plain_form_post_is_redirected_to_the_thank_you_page(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session()

        response = post_form(client, session_id, GOOD)

        assert response.status_code == 303
        assert response.headers["Location"] == f"http://signup.test/sessions/{session_id}/thanks?status=confirmed"
        thanks = client.get(response.headers["Location"].removeprefix("http://signup.test"))
        assert "Bedankt voor je aanmelding" in thanks.get_data(as_text=True)
        assert len(registrations(session_id)) == 1

    def test_the_sessions_own_thank_you_page_is_used_when_set(
        self, client: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(thank_you_url="https://www.example.nl/bedankt?via=form")

        response = post_form(client, session_id, GOOD)

        assert response.status_code == 303
        assert response.headers["Location"] == "https://www.example.nl/bedankt?via=form&status=confirmed"

    def test_unknown_fields_and_client_status_are_ignored(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session(capacity=0)
        payload = {**GOOD, "status": "confirmed", "created_at": "1999-01-01", "admin": True, "seat": 1}

        response = post_json(client, session_id, payload)

        [stored] = registrations(session_id)
        assert response.get_json()["status"] == "waitlisted"
        assert stored["status"] == "waitlisted"
        assert "admin" not in stored
        assert stored.get("seat") is None
        assert stored["created_at"].year > 2000

    @pytest.mark.parametrize(
        ("field", "typed", "stored"),
        [
            ("first_name", "Zoë", "Zoë"),
            ("first_name", "Zoe\u0308", "Zoë"),  # decomposed: stored in NFC
            ("last_name", "O'Brien", "O'Brien"),
            ("last_name", "Meijer-Smit", "Meijer-Smit"),
            ("infix", "van 't", "van 't"),
            ("first_name", "José María", "José María"),
            ("last_name", "Nguyễn", "Nguyễn"),
            ("first_name", "Αλέξανδρος", "Αλέξανδρος"),
            ("last_name", "山田", "山田"),
            ("first_name", "  Anne   Marie ", "Anne Marie"),
            ("organisation", "Ben & Jerry's <b>", "Ben & Jerry's <b>"),
        ],
    )
    def test_real_names_are_stored_as_typed(
        self,
        client: Any,
        make_session: Callable[..., str],
        registrations: Registrations,
        field: str,
        typed: str,
        stored: str,
    ) -> None:
        session_id = make_session()

        response = post_json(client, session_id, {**GOOD, field: typed})

        assert response.status_code == 201
        assert registrations(session_id)[0][field] == stored

    def test_the_origin_it_came_from_is_stored(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session()

        post_json(client, session_id, GOOD, headers={"Origin": "https://www.example.nl"})

        assert registrations(session_id)[0]["origin"] == "https://www.example.nl"

    @pytest.mark.parametrize(
        ("fetch_site", "status", "stored"),
        [
            ("same-origin", 303, "http://signup.test"),  # our own page, served under no-referrer before the upgrade
            ("cross-site", 403, None),  # another site's sandboxed frame
            (None, 403, None),  # a null origin nobody vouches for
        ],
    )
    def test_a_null_origin_is_our_own_page_only_when_the_browser_says_same_origin(
        self,
        client: Any,
        make_session: Callable[..., str],
        registrations: Registrations,
        fetch_site: str | None,
        status: int,
        stored: str | None,
    ) -> None:
        session_id = make_session()
        headers = {"Origin": "null", **({"Sec-Fetch-Site": fetch_site} if fetch_site else {})}

        response = client.post(f"/sessions/{session_id}/registrations", data=GOOD, headers=headers)

        assert response.status_code == status
        assert [r.get("origin") for r in registrations(session_id)] == ([stored] if stored else [])


class TestTheSamePersonAgain:
    @pytest.mark.parametrize("capacity", [None, 5])
    def test_gets_the_same_answer_and_no_second_registration(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, capacity: int | None
    ) -> None:
        session_id = make_session(capacity=capacity)

        first = post_json(client, session_id, GOOD)
        again = post_json(client, session_id, {**GOOD, "email": "JAN.VAN.DER.BERG@example.nl", "first_name": "J."})

        assert first.status_code == again.status_code == 201
        assert first.get_json() == again.get_json()
        [stored] = registrations(session_id)
        assert stored["first_name"] == "Jan"

    @pytest.mark.parametrize(("capacity", "again"), [(None, "confirmed"), (2, "confirmed"), (0, "waitlisted")])
    def test_who_cancelled_and_signs_up_again_gets_a_fresh_registration_under_the_same_id(
        self,
        client: Any,
        make_session: Callable[..., str],
        registrations: Registrations,
        db: Any,
        capacity: int | None,
        again: str,
    ) -> None:
        from tests.conftest import cancel_token

        session_id = make_session(capacity=capacity)
        first = post_json(client, session_id, GOOD).get_json()
        [before] = registrations(session_id)
        client.post(f"/cancel/{cancel_token(session_id, first['id'])}")

        rejoined = post_json(client, session_id, {**GOOD, "first_name": "Johannes"})
        page = post_form(client, session_id, GOOD)

        [stored] = registrations(session_id)
        assert rejoined.status_code == 201
        assert rejoined.get_json() == {"id": first["id"], "status": again}
        assert page.headers["Location"].endswith(f"status={again}")
        assert (stored["status"], stored["first_name"]) == (again, "Johannes")
        assert stored["generation"] > before["generation"]
        assert stored["emails"] == {"confirmation": {"state": "pending"}}
        assert "cancelled_at" not in stored
        seats = [
            doc.get("registration_id")
            for doc in db.collection("sessions").document(session_id).collection("seats").stream()
        ]
        assert seats == ([first["id"]] if capacity == 2 else [])

    def test_on_the_waiting_list_stays_there(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session(capacity=1)
        post_json(client, session_id, {**GOOD, "email": "first@example.nl"})

        first = post_json(client, session_id, GOOD)
        again = post_json(client, session_id, GOOD)

        assert first.get_json()["status"] == again.get_json()["status"] == "waitlisted"
        assert len(registrations(session_id)) == 2

    @pytest.mark.parametrize("kind", ["json", "form"])
    def test_in_a_full_session_is_answered_exactly_as_a_newcomer_at_that_moment(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, kind: str
    ) -> None:
        session_id = make_session(capacity=1)
        post = post_json if kind == "json" else post_form
        seated = post(client, session_id, GOOD)  # Jan has the one seat

        again = post(client, session_id, GOOD)
        newcomer = post(client, session_id, {**GOOD, "email": "someone.else@example.nl"})

        assert again.status_code == newcomer.status_code
        assert again.headers.get("Location") == newcomer.headers.get("Location")
        if kind == "json":
            assert seated.get_json()["status"] == "confirmed"
            assert (
                {**again.get_json(), "id": "…"}
                == {**newcomer.get_json(), "id": "…"}
                == {
                    "id": "…",
                    "status": "waitlisted",
                }
            )
        else:
            assert seated.headers["Location"].endswith("status=confirmed")
            assert again.headers["Location"].endswith("status=waitlisted")
        stored = {doc["email"]: doc["status"] for doc in registrations(session_id)}
        assert stored == {"Jan.van.der.Berg@example.nl": "confirmed", "someone.else@example.nl": "waitlisted"}

    def test_on_the_waiting_list_gets_a_seat_that_a_newcomer_would_get(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, db: Any
    ) -> None:
        session_id = make_session(capacity=1)
        post_json(client, session_id, {**GOOD, "email": "first@example.nl"})
        waiting = post_json(client, session_id, GOOD).get_json()
        db.collection("sessions").document(session_id).update({"capacity": 2})  # the sweep would promote, later

        again = post_json(client, session_id, GOOD)

        stored = {doc["id"]: doc for doc in registrations(session_id)}[waiting["id"]]
        assert again.get_json() == {"id": waiting["id"], "status": "confirmed"}
        assert (stored["status"], stored["seat"]) == ("confirmed", 1)
        assert stored["emails"]["promotion"]["state"] == "pending"

    def test_gets_the_confirmation_again_by_mail_but_not_for_a_double_click(
        self, client: Any, notifier: Any, inbox: Any, make_session: Callable[..., str], db: Any
    ) -> None:
        session_id = make_session(capacity=1)
        jan = post_json(client, session_id, GOOD).get_json()
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        post_json(client, session_id, GOOD)  # a double click, moments after the first
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        first_mails = len(inbox.received)
        registration = db.collection("sessions").document(session_id).collection("registrations").document(jan["id"])
        registration.update({"emails.confirmation.sent_at": datetime.now(UTC) - timedelta(hours=1)})

        later = post_json(client, session_id, GOOD)  # back an hour later, the session now full
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

        assert first_mails == 1
        assert later.get_json()["status"] == "waitlisted"  # as a newcomer now; the mail tells the truth
        [_, again] = [r.message for r in inbox.received]
        assert again["To"].addresses[0].addr_spec == "Jan.van.der.Berg@example.nl"
        assert again["Subject"].startswith("Bevestiging: ")  # a seat, not the waiting list
        assert registration.get().get("emails")["confirmation"]["state"] == "sent"


CONTROL_CHARACTERS = ["\r", "\n", "\r\n", "\x00", "\t", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x1b", "\u202e"]


class TestBadInput:
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"first_name": ""}, "first_name"),
            ({"first_name": "   "}, "first_name"),
            ({"last_name": None}, "last_name"),
            ({"email": None}, "email"),
            ({"email": "jan"}, "email"),
            ({"email": "jan@"}, "email"),
            ({"email": "jan@example"}, "email"),
            ({"email": "a@example.nl, b@example.nl"}, "email"),
            ({"email": "a@example.nl;b@example.nl"}, "email"),
            ({"email": "Jan <jan@example.nl>"}, "email"),
            ({"email": ["a@example.nl", "b@example.nl"]}, "email"),
            ({"first_name": "x" * 101}, "first_name"),
            ({"organisation": "x" * 201}, "organisation"),
            ({"email": "a" * 250 + "@example.nl"}, "email"),
            *[({"last_name": f"Berg{ch}Bcc: x@example.nl"}, "last_name") for ch in CONTROL_CHARACTERS],
            ({"email": "jan@example.nl\r\nBcc: x@example.nl"}, "email"),
            ({"organisation": "Acme\x00"}, "organisation"),
        ],
    )
    def test_is_refused_with_a_message_at_the_field_and_nothing_stored(
        self,
        client: Any,
        make_session: Callable[..., str],
        registrations: Registrations,
        changes: dict[str, Any],
        field: str,
    ) -> None:
        session_id = make_session()
        data = {key: value for key, value in {**GOOD, **changes}.items() if value is not None}

        as_json = post_form(client, session_id, data, headers=JSON_ACCEPT)
        as_page = post_form(client, session_id, data)

        assert as_json.status_code == 422
        assert list(as_json.get_json()["errors"]) == [field]
        assert as_page.status_code == 422
        assert 'aria-invalid="true" aria-describedby="signup-' + field + '-error"' in as_page.get_data(as_text=True)
        assert registrations(session_id) == []

    def test_the_form_comes_back_with_what_was_typed(self, client: Any, make_session: Callable[..., str]) -> None:
        session_id = make_session()

        response = post_form(client, session_id, {**GOOD, "email": "jan@", "organisation": 'Café "De <Kroon>"'})

        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert 'value="Café &#34;De &lt;Kroon&gt;&#34;"' in page
        assert 'value="jan@"' in page
        assert "Dit is geen geldig e-mailadres." in page

    @pytest.mark.parametrize(
        "payload",
        [
            {**GOOD, "first_name": 42},
            {**GOOD, "first_name": {"nested": "x"}},
            {**GOOD, "first_name": True},
            {**GOOD, "email": ["jan@example.nl"]},
        ],
    )
    def test_json_values_that_are_not_text_are_refused(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, payload: Any
    ) -> None:
        session_id = make_session()

        response = post_json(client, session_id, payload)

        assert response.status_code == 422
        assert registrations(session_id) == []

    def test_a_key_given_twice_in_json_is_refused(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session()
        body = json.dumps(GOOD)[:-1] + ', "email": "other@example.nl"}'

        response = post_json(client, session_id, body)

        assert response.status_code == 422
        assert "email" in response.get_json()["errors"]
        assert registrations(session_id) == []

    @pytest.mark.parametrize(
        ("body", "content_type", "status"),
        [
            ("{not json", "application/json", 400),
            ("[1, 2]", "application/json", 400),
            ('"a string"', "application/json", 400),
            ("null", "application/json", 400),
            ("[" * 50_000 + "]" * 10_000, "application/json", 400),
            (b"first_name=%FF%FE", "application/x-www-form-urlencoded", 400),
            (b"\xff\xfe", "application/x-www-form-urlencoded", 400),
            ("--x\r\nbroken", "multipart/form-data; boundary=x", 400),
            (
                b"--x\r\nContent-Disposition: form-data; name=first_name\r\n\r\nJ\xe9\r\n--x--\r\n",
                "multipart/form-data; boundary=x",
                400,
            ),
            ('{"last_name": "\\ud800"}', "application/json", 400),  # a lone surrogate: no UTF-8 can hold it
            ("a=b", "multipart/form-data", 400),
            ("first_name=Jan", "text/plain", 415),
            ("<xml/>", "application/xml", 415),
            ("first_name=Jan", "", 415),
            ("x=" + "a" * 70_000, "application/x-www-form-urlencoded", 413),
        ],
    )
    def test_a_body_that_cannot_be_read_gets_a_4xx(
        self,
        client: Any,
        make_session: Callable[..., str],
        registrations: Registrations,
        body: str | bytes,
        content_type: str,
        status: int,
    ) -> None:
        session_id = make_session()

        response = client.post(
            f"/sessions/{session_id}/registrations", data=body, content_type=content_type, headers=JSON_ACCEPT
        )

        assert response.status_code == status
        assert response.get_json()["message"]
        assert registrations(session_id) == []

    @pytest.mark.parametrize(
        ("field", "content_type"),
        [
            ("form_token", "application/json"),
            ("form_token", "application/vnd.api+json"),
            ("last_name", "application/vnd.api+json"),  # refused at the field, the form would come back with it
            ("first_name", "application/ld+json; charset=utf-8"),
        ],
    )
    def test_a_lone_surrogate_in_json_is_a_400_with_our_headers(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, field: str, content_type: str
    ) -> None:
        session_id = make_session()
        body = json.dumps({**GOOD, field: "Jan\ud800"})  # `"Jan\\ud800"`: JSON may escape what UTF-8 cannot hold

        response = client.post(f"/sessions/{session_id}/registrations", data=body, content_type=content_type)

        assert response.status_code == 400
        assert response.get_json()["error"] == "malformed_body"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert registrations(session_id) == []

    def test_a_json_type_of_any_name_is_answered_as_json(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session()

        response = client.post(
            f"/sessions/{session_id}/registrations", data=json.dumps(GOOD), content_type="application/vnd.api+json"
        )

        assert response.status_code == 201
        assert response.get_json()["status"] == "confirmed"
        assert len(registrations(session_id)) == 1

    @pytest.mark.parametrize(
        ("content_type", "body"),
        [
            ("application/x-www-form-urlencoded", b"first_name=Jan&last_name=B%F6hm&email=jan%40example.nl"),
            (
                "multipart/form-data; boundary=x",
                b"".join(
                    b'--x\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % pair
                    for pair in ((b"first_name", b"Jan"), (b"last_name", b"B\xf6hm"), (b"email", b"jan@example.nl"))
                )
                + b"--x--\r\n",
            ),
        ],
    )
    def test_a_form_that_is_not_utf8_is_refused_whichever_way_it_is_encoded(
        self,
        client: Any,
        make_session: Callable[..., str],
        registrations: Registrations,
        content_type: str,
        body: bytes,
    ) -> None:
        session_id = make_session()
        as_utf8 = body.replace(b"B%F6hm", b"B%C3%B6hm").replace(b"B\xf6hm", "Böhm".encode())

        refused = client.post(f"/sessions/{session_id}/registrations", data=body, content_type=content_type)
        stored = registrations(session_id)
        accepted = client.post(f"/sessions/{session_id}/registrations", data=as_utf8, content_type=content_type)

        assert refused.status_code == 400
        assert "Het formulier kon niet gelezen worden." in refused.get_data(as_text=True)
        assert stored == []
        assert accepted.status_code == 303
        assert [doc["last_name"] for doc in registrations(session_id)] == ["Böhm"]

    def test_an_unknown_session_is_404(self, client: Any) -> None:
        response = post_json(client, "no-such-session", GOOD)

        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"

    @pytest.mark.parametrize(
        "closed",
        [
            {"registration_closes_at": datetime.now(UTC) - timedelta(seconds=1)},
            {
                "starts_at": datetime.now(UTC) - timedelta(hours=1),
                "ends_at": datetime.now(UTC) + timedelta(hours=1),
            },
        ],
    )
    def test_a_closed_registration_is_refused_with_a_message(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, closed: dict[str, Any]
    ) -> None:
        session_id = make_session(**closed)

        as_json = post_json(client, session_id, GOOD)
        as_page = post_form(client, session_id, GOOD)

        assert as_json.status_code == as_page.status_code == 409
        assert as_json.get_json()["message"] == "De aanmelding voor deze sessie is gesloten."
        assert "De aanmelding voor deze sessie is gesloten." in as_page.get_data(as_text=True)
        assert registrations(session_id) == []

    @pytest.mark.parametrize(("method", "path"), [("PUT", "/registrations"), ("DELETE", ""), ("POST", "")])
    def test_other_methods_are_405(self, client: Any, make_session: Callable[..., str], method: str, path: str) -> None:
        session_id = make_session()

        response = client.open(f"/sessions/{session_id}{path}", method=method)

        assert response.status_code == 405
        assert response.headers["Allow"]


class TestTheHoneypot:
    def test_looks_like_success_and_stores_nothing(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session()

        as_json = post_json(client, session_id, {**GOOD, "website": "http://spam.example"})
        as_page = post_form(client, session_id, {**GOOD, "website": "http://spam.example"})

        assert as_json.status_code == 201
        assert set(as_json.get_json()) == {"id", "status"}
        assert as_page.status_code == 303
        assert registrations(session_id) == []

    def test_in_a_full_session_answers_as_a_newcomer_would_be(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session(capacity=0)

        answer = post_json(client, session_id, {**GOOD, "website": "http://spam.example"})

        assert answer.get_json()["status"] == "waitlisted"
        assert registrations(session_id) == []


class TestConsent:
    def test_is_required_when_the_session_has_a_privacy_statement(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session(privacy_url="https://www.example.nl/privacy")

        page = client.get(f"/sessions/{session_id}").get_data(as_text=True)
        refused = post_json(client, session_id, GOOD)
        accepted = post_json(client, session_id, {**GOOD, "consent": "on"})

        assert 'href="https://www.example.nl/privacy"' in page
        assert refused.status_code == 422
        assert list(refused.get_json()["errors"]) == ["consent"]
        assert accepted.status_code == 201
        [stored] = registrations(session_id)
        assert stored["consent"]["given"] is True
        assert stored["consent"]["privacy_url"] == "https://www.example.nl/privacy"
        assert isinstance(stored["consent"]["at"], datetime)


class TestCors:
    def test_a_preflight_from_an_allowed_site_is_granted_for_that_origin_only(
        self, client: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()

        response = client.options(
            f"/sessions/{session_id}/registrations",
            headers={
                "Origin": "https://www.example.nl",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, accept",
            },
        )

        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == "https://www.example.nl"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert "Origin" in response.headers["Vary"]

    @pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://www.example.nl.evil.example"])
    def test_other_sites_are_granted_nothing(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, origin: str
    ) -> None:
        session_id = make_session()

        preflight = client.options(
            f"/sessions/{session_id}/registrations",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        post = post_form(client, session_id, GOOD, headers={"Origin": origin})

        assert preflight.status_code == 403
        assert "Access-Control-Allow-Origin" not in preflight.headers
        assert post.status_code == 403
        assert "Access-Control-Allow-Origin" not in post.headers
        assert "Aanmelden via deze website is niet toegestaan." in post.get_data(as_text=True)
        assert registrations(session_id) == []

    def test_answers_to_an_allowed_site_carry_its_origin_even_when_they_are_errors(
        self, client: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        headers = {"Origin": "https://www.example.nl", **JSON_ACCEPT}

        ok = post_form(client, session_id, GOOD, headers=headers)
        invalid = post_form(client, session_id, {**GOOD, "email": "x"}, headers=headers)

        for response in (ok, invalid):
            assert response.headers["Access-Control-Allow-Origin"] == "https://www.example.nl"
            assert response.headers.getlist("Vary") == ["Origin"]
            assert response.headers["Access-Control-Allow-Origin"] not in ("*", "null")

    @pytest.mark.parametrize(
        "origin", ["HTTPS://WWW.EXAMPLE.NL", "https://www.example.nl/x", "https://Www.Example.nl/"]
    )
    def test_an_allowed_site_is_granted_its_listed_origin_however_the_header_spells_it(
        self, client: Any, make_session: Callable[..., str], origin: str
    ) -> None:
        session_id = make_session()

        preflight = client.options(
            f"/sessions/{session_id}/registrations",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        post = post_json(client, session_id, GOOD, headers={"Origin": origin})

        assert preflight.status_code == 204
        assert post.status_code == 201
        for response in (preflight, post):
            assert response.headers["Access-Control-Allow-Origin"] == "https://www.example.nl"

    def test_our_own_form_page_may_always_post(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations
    ) -> None:
        session_id = make_session(allowed_origins=[])

        response = post_form(client, session_id, GOOD, headers={"Origin": "http://signup.test"})

        assert response.status_code == 303
        assert len(registrations(session_id)) == 1


class TestHeaders:
    """No page hands a cancel token on to another site through the Referer; our own pages are never framed by another
    site."""

    @pytest.mark.parametrize(
        ("request_", "own_page"),
        [
            (("GET", "/sessions/{id}"), True),
            (("GET", "/sessions/{id}/thanks?status=confirmed"), True),
            (("GET", "/cancel/{token}"), True),
            (("GET", "/cancel/not-a-token"), True),
            (("GET", "/sessions/unknown"), True),
            (("POST", "/sessions/{id}/registrations"), True),  # the redirect to our thank-you page
            (("GET", "/sessions/{id}/form"), False),  # fetched by embed.js into another site's page
            (("GET", "/embed.js"), False),
            (("GET", "/healthz"), False),
        ],
    )
    def test_our_pages_name_their_address_to_ourselves_alone_the_rest_to_nobody_and_our_pages_refuse_frames(
        self, client: Any, make_session: Callable[..., str], request_: tuple[str, str], own_page: bool
    ) -> None:
        from tests.conftest import cancel_token

        session_id = make_session()
        jan = post_json(client, session_id, GOOD).get_json()
        method, path = request_
        path = path.format(id=session_id, token=cancel_token(session_id, jan["id"]))

        response = client.open(path, method=method, data=GOOD if method == "POST" else None)

        assert response.headers["Referrer-Policy"] == ("same-origin" if own_page else "no-referrer")
        assert response.headers.get("Content-Security-Policy") == ("frame-ancestors 'none'" if own_page else None)

    @pytest.mark.parametrize("path", ["/sessions/a%0a", "/sessions/%0d%0a", "/robots.txt", "/favicon.ico"])
    def test_paths_the_framework_routes_nowhere_get_our_404_with_our_headers(self, client: Any, path: str) -> None:
        response = client.get(path)

        assert response.status_code == 404
        assert "Deze pagina bestaat niet." in response.get_data(as_text=True)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"

    def test_json_answers_send_no_referrer_elsewhere_either(
        self, client: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()

        response = post_json(client, session_id, GOOD)

        assert response.headers["Referrer-Policy"] == "no-referrer"
