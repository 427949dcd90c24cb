"""Properties of reading and validating a sign-up, for any body, content type and field values whatsoever.

Pure: `bodies.parse` and `validation.validate` never raise anything but the project's own errors, which the HTTP
layer answers with a 4xx, and what they accept is clean. Through HTTP, against the emulator: no post makes a
server error, and a sign-up that is accepted is stored once, exactly as the validator cleaned it."""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import email_validator
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from signup.errors import SignupError, ValidationError
from signup.http import bodies, validation
from signup.ledger.fields import CONSENT
from signup.ledger.registration import SignUp
from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_options_header

PURE = settings(max_examples=200, derandomize=True)
# Each example creates its own session with the `make_session` factory: the function-scoped fixtures are meant to
# be shared by the examples of one test.
THROUGH_HTTP = settings(
    max_examples=50, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

FIELDS = (*validation.MAX_LENGTH, CONSENT, validation.HONEYPOT, "form_token", "cf-turnstile-response")
FORBIDDEN_CATEGORIES = {"Cc", "Cs", "Co", "Zl", "Zp"}
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")

# Characters that have tripped up forms before: line breaks of every kind, NUL, a lone surrogate, bidirectional
# overrides, combining marks, ligatures and full-width signs that Unicode normalisation or IDNA maps.
TRICKY = "\r\n\x00\t\x0b\x85\u2028\u2029\u202e\u200f\ud800\udfff\u0308\u0301 \u00a0\u3000'’-ßﬃ＠．İ"
anything = st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from(TRICKY)), max_size=30)
letters = st.characters(categories=["L"])
name_like = st.builds(  # begins with a letter; then letters, accents, spaces, apostrophes, hyphens
    "{}{}".format,
    letters,
    st.text(st.one_of(letters, st.characters(categories=("M", "Zs")), st.sampled_from("'’-.")), max_size=109),
)
email_like = st.one_of(
    st.emails(),
    st.builds(lambda local, domain: f"{local}@{domain}", name_like, st.sampled_from(["example.nl", "bücher.de"])),
    st.text(st.sampled_from('aZ0.@-_+ßé＠．<>,;"\\ '), max_size=40),
)
text_values = st.one_of(name_like, email_like, anything, st.just(""))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text_values),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
CONSENT_VALUES = ["on", "Ja", " TRUE ", "1", "yes", "nee", "off", "", "0"]
field_names = st.one_of(st.sampled_from(FIELDS), st.text(max_size=12))


@st.composite
def person(draw: st.DrawFn, values: st.SearchStrategy[Any] = text_values) -> dict[str, Any]:
    """A sign-up as a client might send it: usually the real fields, now and then others or none."""
    fields = {
        "first_name": draw(name_like),
        "last_name": draw(name_like),
        "email": draw(email_like),
        **draw(st.dictionaries(st.just(CONSENT), st.sampled_from(CONSENT_VALUES), max_size=1)),
        **draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=4)),
        **draw(st.dictionaries(field_names, values, max_size=2)),
    }
    dropped = draw(st.lists(st.sampled_from(sorted(fields)), max_size=2)) if draw(st.booleans()) else []
    return {name: value for name, value in fields.items() if name not in dropped}


def _form_bytes(text: str) -> str:
    return quote_plus(text.encode("utf-8", "surrogatepass"))


def urlencoded(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{_form_bytes(name)}={_form_bytes(value)}" for name, value in pairs).encode("ascii")


def multipart(pairs: list[tuple[str, str]], boundary: str) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode("utf-8", "surrogatepass")
        + value.encode("utf-8", "surrogatepass")
        + b"\r\n"
        for name, value in pairs
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode("utf-8", "surrogatepass")


def as_pairs(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """Form fields are text; a list becomes the same name given several times."""
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, item if isinstance(item, str) else json.dumps(item)))
    return pairs


@st.composite
def encoded(draw: st.DrawFn, fields: st.SearchStrategy[dict[str, Any]]) -> tuple[str, bytes]:
    """A Content-Type header and a body that encodes `fields` as that content type says."""
    data = draw(fields)
    boundary = draw(st.text(st.sampled_from("abcXYZ019-_'()+,./:=? "), min_size=1, max_size=20).map(str.strip))
    charset = draw(st.sampled_from(["", "; charset=utf-8", "; charset=UTF-8", "; charset=latin-1", "; foo=bar"]))
    kind = draw(st.sampled_from(["json", "ld+json", "form", "multipart"]))
    if kind in ("json", "ld+json"):
        text = json.dumps(data, ensure_ascii=draw(st.booleans()))
        return f"application/{kind}{charset}", text.encode("utf-8", "surrogatepass")
    if kind == "form":
        return f"application/x-www-form-urlencoded{charset}", urlencoded(as_pairs(data))
    return f'multipart/form-data; boundary="{boundary}"{charset}', multipart(as_pairs(data), boundary)


KNOWN_TYPES = [bodies.JSON, bodies.FORM, bodies.MULTIPART, "application/ld+json", "text/plain", ""]
content_types = st.one_of(
    st.sampled_from(KNOWN_TYPES),
    st.builds(
        "{}; {}={}".format,
        st.sampled_from(KNOWN_TYPES),
        st.sampled_from(["boundary", "charset", "x"]),
        st.text(max_size=20),
    ),
    st.text(max_size=60),
)
raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100).map(lambda text: text.encode("utf-8", "surrogatepass")),
    json_values.map(lambda value: json.dumps(value).encode()),  # JSON, but perhaps not an object
    st.builds(lambda text, cut: text[:cut], person().map(lambda fields: json.dumps(fields).encode()), st.integers(0)),
)
garbage_requests = st.tuples(content_types, raw_bodies)
any_request = st.one_of(encoded(person()), encoded(person(json_values)), garbage_requests)


def read(content_type: str, body: bytes, *, content_length: int | None = None) -> bodies.Fields:
    """What `register` does with a post's headers and body, up to the fields (Flask parses the header so)."""
    mimetype, options = parse_options_header(content_type)
    return bodies.parse(bodies.read_limited(io.BytesIO(body), content_length), mimetype.lower(), options)


def validate(fields: bodies.Fields, *, consent_required: bool = False, language: str = "nl") -> SignUp:
    return validation.validate(
        fields, language=language, consent_required=consent_required, smtputf8=False, deliverability=None
    )


def is_forbidden(ch: str) -> bool:
    return unicodedata.category(ch) in FORBIDDEN_CATEGORIES or ch in BIDI_CONTROLS


class TestReadingAndValidating:
    @given(
        request=any_request,
        content_length=st.one_of(st.none(), st.integers(0, 2 * bodies.MAX_BODY)),
        consent_required=st.booleans(),
        language=st.sampled_from(["nl", "en"]),
    )
    @PURE
    def test_raise_nothing_but_the_projects_own_errors(
        self, request: tuple[str, bytes], content_length: int | None, consent_required: bool, language: str
    ) -> None:
        content_type, body = request
        try:
            fields = read(content_type, body, content_length=content_length)
            validation.is_bot(fields)
            validate(fields, consent_required=consent_required, language=language)
        except SignupError as error:  # every one of them has its 4xx in web.py
            event(f"refused: {error.code}")
        else:
            event("accepted")

    @given(request=any_request, consent_required=st.booleans())
    @PURE
    def test_what_is_accepted_is_clean(self, request: tuple[str, bytes], consent_required: bool) -> None:
        try:
            signup = validate(read(*request), consent_required=consent_required)
        except SignupError as error:
            event(f"refused: {error.code}")
            return
        event("accepted")

        for name, limit in validation.MAX_LENGTH.items():
            value = getattr(signup, name)
            assert value == unicodedata.normalize("NFC", value), name
            assert not any(is_forbidden(ch) for ch in value), name
            assert len(value) <= limit, name
            assert value == " ".join(value.split()), name  # trimmed, runs of spaces folded
            assert value or name not in validation.REQUIRED, name
        assert email_validator.validate_email(signup.email, check_deliverability=False).normalized == signup.email
        assert signup.email.rpartition("@")[0].isascii()  # our relay speaks no SMTPUTF8 unless told so
        assert signup.consent or not consent_required

    @given(request=encoded(person()))
    @PURE
    def test_a_clean_sign_up_validates_to_itself(self, request: tuple[str, bytes]) -> None:
        try:
            signup = validate(read(*request))
        except SignupError:
            return
        again = {
            **{name: [getattr(signup, name)] for name in validation.MAX_LENGTH},
            CONSENT: [signup.consent],
        }

        assert validate(again) == signup

    @given(fields=st.dictionaries(field_names, st.lists(json_values, max_size=3), max_size=8))
    @PURE
    def test_any_fields_at_all_are_accepted_or_refused_with_a_message_per_field(
        self, fields: dict[str, list[Any]]
    ) -> None:
        try:
            validate(fields, consent_required=True)
        except ValidationError as error:
            messages = error.errors
        else:
            return

        assert messages
        assert set(messages) <= {*validation.MAX_LENGTH, CONSENT}
        assert all(isinstance(message, str) and message for message in messages.values())


Registrations = Callable[[str], list[dict[str, Any]]]
JSON_ACCEPT = {"Accept": "application/json"}


def expected_outcome(fields: dict[str, list[Any]]) -> SignUp | None:
    """What the validator makes of the fields, if it accepts them."""
    try:
        return validate(fields)
    except ValidationError:
        return None


class TestSigningUpThroughHttp:
    @given(payload=person(json_values))
    @THROUGH_HTTP
    def test_any_json_object_is_stored_once_as_cleaned_or_refused_with_a_4xx(
        self, client: Any, make_session: Callable[..., str], registrations: Registrations, payload: dict[str, Any]
    ) -> None:
        session_id = make_session()

        response = client.post(
            f"/sessions/{session_id}/registrations", data=json.dumps(payload), content_type="application/json"
        )

        self.assert_stored_as_cleaned(response, registrations(session_id), {k: [v] for k, v in payload.items()})

    @given(
        pairs=person(st.one_of(text_values, st.lists(text_values, min_size=2, max_size=2))).map(as_pairs),
        encoding=st.sampled_from([bodies.FORM, bodies.MULTIPART]),
        accept_json=st.booleans(),
    )
    @THROUGH_HTTP
    def test_any_form_fields_are_stored_once_as_cleaned_or_refused_with_a_4xx(
        self,
        client: Any,
        make_session: Callable[..., str],
        registrations: Registrations,
        pairs: list[tuple[str, str]],
        encoding: str,
        accept_json: bool,
    ) -> None:
        pairs = [(name, value.encode("utf-8", "replace").decode()) for name, value in pairs]  # what browsers send
        session_id = make_session()

        response = client.post(
            f"/sessions/{session_id}/registrations",
            data=MultiDict(pairs),
            content_type=encoding,
            headers=JSON_ACCEPT if accept_json else {},
        )

        self.assert_stored_as_cleaned(response, registrations(session_id), MultiDict(pairs).to_dict(flat=False))

    @staticmethod
    def assert_stored_as_cleaned(response: Any, stored: list[dict[str, Any]], fields: dict[str, list[Any]]) -> None:
        event(f"status {response.status_code}")
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code not in (201, 303):
            assert stored == []
            return
        if validation.is_bot(fields):
            assert stored == []  # the honeypot: looks like success, stores nothing
            return
        expected = expected_outcome(fields)
        assert expected is not None
        [document] = stored
        # Fields without a value are left out of the document rather than stored empty.
        assert {name: document.get(name, "") for name in validation.MAX_LENGTH} == {
            name: getattr(expected, name) for name in validation.MAX_LENGTH
        }


# Header values are printable ASCII; anything goes within that.
ORIGINS = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    st.builds(
        "{}://{}{}".format,
        st.sampled_from(["http", "https", "null", ""]),
        st.text(st.sampled_from("abc.example0123456789:[]@%-"), max_size=25),
        st.sampled_from(["", "/", "/pad?q"]),
    ),
)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/registrations"), ("OPTIONS", "/registrations"), ("GET", "/form"), ("GET", "")],
)
@given(origin=ORIGINS)
@THROUGH_HTTP
def test_no_origin_a_browser_may_claim_makes_a_server_error(
    client: Any, make_session: Callable[..., str], method: str, path: str, origin: str
) -> None:
    session_id = make_session()

    response = client.open(
        f"/sessions/{session_id}{path}",
        method=method,
        headers={"Origin": origin},
        json={"first_name": "Jan", "last_name": "Berg", "email": "jan@example.nl"} if method == "POST" else None,
    )

    assert response.status_code < 500


# Text made of what web addresses are made of (and their full-width look-alikes), and any text at all.
ADDRESS_LIKE = st.text(alphabet="wWhtps:/.-_ 0123456789abcnlxyzJT．。｡：／ｗ", max_size=30)


@given(ADDRESS_LIKE | st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
@example("evil://x")
@example("https://evil")
@example("www.x")
@example("ｗｗｗ．evil．nl")
@example("1.2.3.4")
@example("evil。nl")
@example("J.Th.")
@settings(max_examples=1000)
def test_the_quick_look_for_web_addresses_agrees_with_the_full_one(value: str) -> None:
    assert validation._has_web_address(value) == validation._names_a_web_address(value)


def library_reading(address: str) -> validation.Address | str:
    """What email-validator itself makes of an address, or the word that it refuses it."""
    try:
        checked = email_validator.validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except email_validator.EmailNotValidError:
        return "refused"
    return validation.Address(str(checked.normalized), str(checked.ascii_domain), str(checked.domain), checked.smtputf8)


def our_reading(address: str) -> validation.Address | str:
    try:
        return validation.read_address(address)
    except email_validator.EmailNotValidError:
        return "refused"


ATEXT = "abcXYZ019_!#$%&'*+-/=?^`{|}~"
LOCAL_PARTS = st.text(st.sampled_from(ATEXT + '.@"\\ ()<>,;:[]é\u00a0'), min_size=0, max_size=70)
DOMAINS = st.one_of(
    st.sampled_from(
        [
            "example.nl",
            "Example.NL",
            "gmail.com",
            "bücher.de",
            "localhost",
            "x.local",
            "x.test",
            "example.invalid",
            "x.onion",
            "x.123",
            "-x.nl",
            "x-.nl",
            "x..nl",
            ".x.nl",
            "x.nl.",
            "xn--bcher-kva.de",
            "xn--x.nl",
            "a" * 64 + ".nl",
        ]
    ),
    st.text(st.sampled_from("abz09-.XN"), max_size=70),
    st.text(max_size=12),
)
# Twenty Chinese characters in IDNA's ASCII form: 54 characters, 60 bytes in UTF-8 once decoded.
IDNA_LABEL = "xn--nhqtd35ckb8e3a42ntqvxzj78bhwtug3j18a09al2igrcla62j"
ADDRESSES = st.builds("{}@{}".format, LOCAL_PARTS, DOMAINS) | st.emails() | st.text(st.sampled_from(ATEXT + ".@é"))


@given(ADDRESSES)
@example("PostMaster@example.nl")
@example("Jan.Berg@Example.NL")
@example(f"{'a' * 64}@example.nl")
@example(f"{'a' * 65}@example.nl")
@example(f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.nl")
@example(f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 58}.nl")
@example(f"a@{'b' * 63}.{'c' * 63}.{'d' * 63}.{'e' * 59}.nl")
@example("jan@bücher.de")
@example("jan@xn--bcher-kva.de")
@example(f"{'a' * 238}@xn--bcher-kva.de")
@example(f"{'a' * 239}@xn--bcher-kva.de")
@example(f"{'a' * 65}@{'b' * 63}.{'c' * 63}.{'d' * 58}.nl")
@example(f"{'a' * 20}@{'.'.join([IDNA_LABEL] * 4)}.nl")
@example("a@b@example.nl")
@example("jan.@example.nl")
@settings(max_examples=2000)
def test_an_address_is_read_as_email_validator_reads_it(address: str) -> None:
    assert our_reading(address) == library_reading(address)
    assert our_reading(address) == library_reading(address)  # the second time from the remembered domain
