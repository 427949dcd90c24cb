"""A create() built straight as protobuf is the very write the client library would send, and a commit sent
straight as protobuf stores what the library's would, and fails as it would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from google.api_core import exceptions as google_errors
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.api_core.retry import Retry
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.batch import WriteBatch
from google.cloud.firestore_v1.types import firestore as firestore_types
from google.cloud.firestore_v1.types import write
from signup.ledger.registration import SignUp, signed_up
from signup.ledger.session import parse_session
from signup.store import creates
from signup.store.deadlines import ON_REQUEST

from dev import processes

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
    monkeypatch.setattr(creates, "_CREATE_PARTS_THERE", False)
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


Commit = Callable[[Any], None]
COMMITS: dict[str, Commit] = {
    "the library's": lambda batch: batch.commit(**ON_REQUEST),
    "ours": lambda batch: creates.commit(batch, **ON_REQUEST),
}


def test_a_commit_stores_what_the_librarys_stores(db: Any) -> None:
    stored = {}
    for name, commit in COMMITS.items():
        ref = db.collection("creates").document(uuid.uuid4().hex)
        batch = db.batch()
        creates.create(batch, ref, REGISTRATION)
        commit(batch)
        stored[name] = ref.get().to_dict()

    ours, theirs = stored["ours"], stored["the library's"]
    assert isinstance(ours.pop("created_at"), datetime)
    assert isinstance(theirs.pop("created_at"), datetime)
    assert ours == theirs == {name: value for name, value in REGISTRATION.items() if name != "created_at"}


def _created_twice(db: Any, ref: Any) -> Any:
    ref.create({"n": 1})
    batch = db.batch()
    batch.create(ref, {"n": 2})
    return batch


def _updated_after_a_change(db: Any, ref: Any) -> Any:
    ref.set({"n": 1})
    read = ref.get()
    ref.set({"n": 1, "changed": True})
    batch = db.batch()
    batch.update(ref, {"n": 2}, option=db.write_option(last_update_time=read.update_time))
    return batch


def _updated_when_gone(db: Any, ref: Any) -> Any:
    batch = db.batch()
    batch.update(ref, {"n": 2})
    return batch


def _seat_and_registration_one_taken(db: Any, ref: Any) -> Any:
    seat = ref.parent.document(f"{ref.id}-seat")
    seat.set({"taken": True})
    batch = db.batch()
    creates.create(batch, ref, {"n": 2})
    creates.create(batch, seat, {"taken": True})
    return batch


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(_created_twice, id="a document created that is there already"),
        pytest.param(_updated_after_a_change, id="an update on condition, after a change"),
        pytest.param(_updated_when_gone, id="an update of a document that is not there"),
        pytest.param(_seat_and_registration_one_taken, id="a batch of two creates, one of them taken"),
    ],
)
def test_a_refused_commit_raises_what_the_librarys_raises_and_writes_nothing(
    db: Any, refused: Callable[[Any, Any], Any]
) -> None:
    raised, after = {}, {}
    for name, commit in COMMITS.items():
        ref = db.collection("creates").document(uuid.uuid4().hex)
        batch = refused(db, ref)
        before = ref.get().to_dict()
        with pytest.raises(google_errors.GoogleAPICallError) as error:
            commit(batch)
        raised[name] = type(error.value)
        after[name] = ref.get().to_dict() == before

    assert raised["ours"] is raised["the library's"]
    assert after == {"ours": True, "the library's": True}


def failing_commits(
    client: Any, retry: Retry, *, timeout: float
) -> dict[str, tuple[google_errors.GoogleAPIError, float]]:
    """Each way's commit of one create, expected to fail: what it raised, and after how many seconds."""
    commits: dict[str, Commit] = {
        "the library's": lambda batch: batch.commit(retry=retry, timeout=timeout),
        "ours": lambda batch: creates.commit(batch, retry=retry, timeout=timeout),
    }
    failed = {}
    for name, commit in commits.items():
        batch = client.batch()
        creates.create(batch, client.collection("creates").document("r"), {"n": 1})
        began = time.monotonic()
        with pytest.raises(google_errors.GoogleAPIError) as error:
            commit(batch)
        failed[name] = (error.value, time.monotonic() - began)
    return failed


@pytest.fixture
def through_library(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents written by each commit through the library from here on; others commit through it meanwhile
    (the rate limiter's flush, in a thread of its own)."""
    written: list[str] = []
    library_commit = WriteBatch.commit

    def commit(batch: WriteBatch, **options: Any) -> Any:
        written.extend(pb.update.name or pb.delete for pb in batch._write_pbs)
        return library_commit(batch, **options)

    monkeypatch.setattr(WriteBatch, "commit", commit)
    return written


def test_a_database_that_does_not_answer_fails_as_with_the_librarys_commit_and_as_soon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing listens on the port: every try is refused, and tried again until the retry's time is up.
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{processes.free_port()}")
    client = firestore.Client(project="demo-creates")
    failed = failing_commits(client, Retry(initial=0.05, maximum=0.1, multiplier=2.0, timeout=0.6), timeout=0.3)

    raised = {name: (type(error), type(error.__cause__)) for name, (error, _) in failed.items()}
    took = {name: seconds for name, (_, seconds) in failed.items()}
    assert raised["ours"] == raised["the library's"]
    assert 0.5 < took["ours"] < 3.0


def test_a_sign_up_is_committed_without_the_librarys_wrappers(
    client: Any,
    make_session: Callable[..., str],
    registrations: Callable[[str], list[dict[str, Any]]],
    through_library: list[str],
) -> None:
    session_id = make_session(capacity=10)

    answer = client.post(
        f"/sessions/{session_id}/registrations",
        json={"first_name": "Jan", "last_name": "Berg", "email": "jan.commit@example.nl"},
    )

    assert answer.status_code == 201
    # The test's own session document is written through the library; the sign-up's writes lie under it.
    assert not [name for name in through_library if f"{session_id}/" in name]
    [stored] = registrations(session_id)
    assert (stored["email"], stored["status"]) == ("jan.commit@example.nl", "confirmed")
    assert stored["seat"] in range(10)


def _no_commit_parts(monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
    monkeypatch.setattr(creates, "_COMMIT_PARTS_THERE", False)


def _no_public_channel(monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
    monkeypatch.delattr(type(client._firestore_api.transport), "grpc_channel")


@pytest.mark.parametrize(
    "missing",
    [
        pytest.param(_no_commit_parts, id="a private part of the client gone"),
        pytest.param(_no_public_channel, id="the transport without its channel"),
    ],
)
def test_where_the_library_lacks_a_part_a_commit_is_the_librarys_own(
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
    missing: Callable[[pytest.MonkeyPatch, Any], None],
    through_library: list[str],
) -> None:
    own = firestore.Client(project=db.project)  # no committer built for it yet
    missing(monkeypatch, own)
    ref = own.collection("creates").document(uuid.uuid4().hex)
    batch = own.batch()
    creates.create(batch, ref, {"n": 1})

    creates.commit(batch, **ON_REQUEST)

    assert [name for name in through_library if "/creates/" in name] == [ref._document_path]
    assert ref.get().to_dict() == {"n": 1}


class Recorder:
    """A gRPC server that answers Commit as Firestore would and keeps what it was sent: the request's bytes, its
    headers and how long the client would wait; `slow` makes it answer too late."""

    def __init__(self) -> None:
        import grpc  # type: ignore[import-untyped]

        self.calls: list[tuple[bytes, list[tuple[str, str]], float]] = []
        self.slow = False
        self.server = grpc.server(ThreadPoolExecutor(max_workers=4))
        handler = grpc.unary_unary_rpc_method_handler(self._commit)  # bytes in and out
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("google.firestore.v1.Firestore", {"Commit": handler}),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _commit(self, request: bytes, context: Any) -> bytes:
        headers = sorted((key, value) for key, value in context.invocation_metadata() if key != "user-agent")
        self.calls.append((request, headers, context.time_remaining()))
        if self.slow:
            time.sleep(1.0)
        return bytes(firestore_types.CommitResponse.pb()().SerializeToString())


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{recorder.port}")
    yield recorder
    recorder.server.stop(None)


@pytest.mark.parametrize("database", [None, "andere-db"])
def test_a_commit_sends_the_bytes_and_headers_the_librarys_sends(recorder: Recorder, database: str | None) -> None:
    client = firestore.Client(project="demo-creates", database=database)
    for commit in COMMITS.values():
        batch = client.batch()
        creates.create(batch, client.collection("sessions", "s", "registrations").document("r"), REGISTRATION)
        commit(batch)

    [(theirs, their_headers, their_deadline), (ours, our_headers, our_deadline)] = recorder.calls
    assert ours == theirs
    assert our_headers == their_headers
    headers = dict(our_headers)
    assert headers["google-cloud-resource-prefix"] == f"projects/demo-creates/databases/{database or '(default)'}"
    assert "database=" in headers["x-goog-request-params"]
    assert 0 < our_deadline < ON_REQUEST["timeout"] + 0.1
    assert abs(our_deadline - their_deadline) < 0.5


def test_a_database_that_answers_too_late_fails_as_with_the_librarys_commit(recorder: Recorder) -> None:
    client = firestore.Client(project="demo-creates")
    recorder.slow = True

    failed = failing_commits(client, Retry(timeout=0.5), timeout=0.3)

    raised = {name: type(error) for name, (error, _) in failed.items()}
    took = {name: seconds for name, (_, seconds) in failed.items()}
    assert raised["ours"] is raised["the library's"] is google_errors.DeadlineExceeded
    assert 0.25 < took["ours"] < 0.9


def test_the_parts_a_batch_and_a_client_are_built_with_are_there() -> None:
    # Set in their constructors, or on a generated class, so not among PRIVATE_PARTS (looked for on the classes).
    client = firestore.Client(project="demo-creates", credentials=_anonymous())
    assert hasattr(client.batch(), "_write_pbs")
    assert client._firestore_api.transport.grpc_channel is not None


def _anonymous() -> Any:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()  # type: ignore[no-untyped-call]
