"""A create() built straight as protobuf is the very write the client library would send."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.types import write
from signup.ledger.registration import SignUp, signed_up
from signup.ledger.session import parse_session
from signup.store import creates

NOW = datetime(2026, 12, 2, 9, 30, 15, 123456, tzinfo=UTC)
REGISTRATION = {
    "first_name": "Jan",
    "infix": "van der",
    "last_name": "Berg",
    "email": "jan@example.nl",
    "created_at": firestore.SERVER_TIMESTAMP,
    "emails": {"confirmation": {"state": "pending"}, "organiser_created": {"state": "pending"}},
    "mail_due_at": NOW,
    "expires_at": NOW + timedelta(days=60),
    "status": "confirmed",
    "seat": 7,
    "confirmed_at": NOW,
    "consent": {"given": True, "at": NOW, "privacy_url": "https://example.org/privacy"},
}


@pytest.fixture
def amsterdam_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time an hour or two from UTC, so that a time read as local would show."""
    monkeypatch.setenv("TZ", "Europe/Amsterdam")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class NoOffset(tzinfo):
    """A zone that knows no offset: Python counts such a time as naive, the library as local time."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        return "nowhere"


def firestore_time(*fields: int, nanosecond: int = 0) -> datetime:
    """A time as the client library reads it from Firestore."""
    return DatetimeWithNanoseconds(*fields, nanosecond=nanosecond, tzinfo=UTC)  # type: ignore[no-untyped-call]


class Batch:
    """Collects what is added to it, as a WriteBatch does before its commit (pure logic: no database)."""

    def __init__(self, client: Any) -> None:
        self.batch = client.batch()

    def writes(self) -> list[Any]:
        return [pb._pb for pb in self.batch._write_pbs]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(REGISTRATION, id="a registration with a seat, consent and the organiser's mail"),
        pytest.param({"registration_id": "abc", "taken_at": NOW, "expires_at": NOW}, id="a seat"),
        pytest.param({"n": 1, "big": -(1 << 63), "no": False, "empty": {}, "name": "é 😀"}, id="edge values"),
        pytest.param({"t": datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))}, id="another time zone"),
        pytest.param({"t": datetime(2026, 1, 1, 12, 0, 0, 7)}, id="a time without a zone"),
        pytest.param({"t": datetime(1970, 1, 1, tzinfo=UTC)}, id="the epoch itself"),
        pytest.param(
            {"t": datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), "u": datetime(1, 1, 1, tzinfo=UTC)},
            id="times before the epoch",
        ),
        pytest.param({"t": datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)}, id="the last time there is"),
        pytest.param({"t": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=2)))}, id="before the year 1 in UTC"),
        pytest.param({"t": datetime(9999, 12, 31, 23, tzinfo=timezone(-timedelta(hours=2)))}, id="after 9999 in UTC"),
        pytest.param({"t": datetime(2026, 1, 1, 12, tzinfo=NoOffset())}, id="a zone that gives no offset"),
        pytest.param(
            {"t": firestore_time(2026, 6, 9, 16, nanosecond=5_123)},
            id="a time read from Firestore, to the nanosecond",
        ),
        pytest.param(
            {"expires_at": firestore_time(2026, 6, 9, 18) + timedelta(days=60)},
            id="a session's end plus the retention, as a sign-up stores it",
        ),
        pytest.param({"created_at": firestore.SERVER_TIMESTAMP}, id="only the server's time"),
        pytest.param({"x": 1.5, "none": None, "list": [1, "a"]}, id="left to the library: float, null, array"),
        pytest.param({"nested": {"at": firestore.SERVER_TIMESTAMP}}, id="left to the library: a nested sentinel"),
        pytest.param({"a.b": firestore.SERVER_TIMESTAMP, "c": 1}, id="left to the library: a quoted field path"),
        pytest.param({"huge": 1 << 64}, id="left to the library: beyond 64 bits"),
    ],
)
def test_the_write_is_the_one_the_library_builds(data: dict[str, Any], amsterdam_local_time: None) -> None:
    client = firestore.Client(project="demo-creates", credentials=_anonymous())
    ref = client.collection("sessions").document("s").collection("registrations").document("r")
    ours, theirs = Batch(client), Batch(client)

    try:
        theirs.batch.create(ref, data)
    except (TypeError, ValueError, OverflowError) as error:
        with pytest.raises(type(error)):
            creates.create(ours.batch, ref, data)
        return
    creates.create(ours.batch, ref, data)

    assert ours.writes() == theirs.writes()
    assert all(isinstance(pb, write.Write) for pb in ours.batch._write_pbs)


@pytest.mark.parametrize(("owner", "name"), creates.PRIVATE_PARTS, ids=lambda part: getattr(part, "__name__", part))
def test_the_private_parts_of_the_library_this_builds_on_are_there(owner: type, name: str) -> None:
    # An update of google-cloud-firestore that drops one fails here, by name; creates then go the library's way.
    assert hasattr(owner, name)


def test_without_those_parts_a_create_is_the_librarys_own(monkeypatch: pytest.MonkeyPatch) -> None:
    client = firestore.Client(project="demo-creates", credentials=_anonymous())
    ref = client.collection("sessions").document("s").collection("registrations").document("r")
    ours, theirs = Batch(client), Batch(client)
    monkeypatch.setattr(creates, "_PRIVATE_PARTS_THERE", False)
    monkeypatch.setattr(creates, "_fill", lambda *_: pytest.fail("built by hand"))

    creates.create(ours.batch, ref, REGISTRATION)
    theirs.batch.create(ref, REGISTRATION)

    assert ours.writes() == theirs.writes()


@pytest.mark.parametrize("capacity", [None, 100])
def test_a_sign_up_is_built_without_the_library_encoding_it(
    monkeypatch: pytest.MonkeyPatch, capacity: int | None
) -> None:
    # Times as Firestore returns them: a sign-up's `expires_at` is the session's end plus the retention.
    starts = firestore_time(2026, 6, 9, 14)
    session = parse_session(
        "s",
        {
            "title": "Strategiesessie",
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=2),
            "capacity": capacity,
            "privacy_url": "https://example.org/privacy",
            "organiser_notifications": "each",
            "organiser": {"email": "organiser@example.org"},
        },
    )
    signup = SignUp("Gemeente", "Jan", "van der", "Berg", "jan@example.nl", consent=True)
    document = signed_up("r", session, signup, origin="https://example.org", now=NOW).to_document()
    client = firestore.Client(project="demo-creates", credentials=_anonymous())
    ref = client.collection("sessions").document("s").collection("registrations").document("r")
    batch = Batch(client)

    def refuse(value: Any) -> Any:
        raise AssertionError(f"the library encoded {value!r}")

    monkeypatch.setattr(_helpers, "encode_value", refuse)
    creates.create(batch.batch, ref, document)

    [pb] = batch.writes()
    assert pb.update.fields["email"].string_value == "jan@example.nl"
    assert pb.update.fields["expires_at"].timestamp_value.seconds > 0
    assert [t.field_path for t in pb.update_transforms] == ["created_at"]


def _anonymous() -> Any:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()  # type: ignore[no-untyped-call]
