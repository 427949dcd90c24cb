"""The sign-up's one write, encoded and committed straight as protobuf: a `create()` and its batch's `commit()`.

The client library encodes a document through proto-plus wrappers, one per value: 120–190 µs of CPU for a
registration, measured, against 17 µs for the same protobuf built directly, in place, on every sign-up. This
builds the very message the library would (tests/test_creates.py holds them equal) for the values a sign-up stores
(text, numbers, booleans, times, maps, the server's time at the top level) and leaves anything else to the library.

A commit through the library wraps the request and its answer in proto-plus again: some 90 µs of a sign-up's CPU
(a tenth of it), measured. `commit` sends the same request over the client's own channel, with the library's own
wrapping for errors, retries, deadline and headers (`gapic_v1.method.wrap_method`, as the library's transport
wraps its methods), only with protobuf in and out (tests/test_creates.py holds the stored documents and the errors
the same).

Both rest on private parts of the library (`PRIVATE_PARTS`); where a release no longer has them, every create is
the library's own `batch.create` and every commit its `batch.commit`, slower but the same write.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.api_core import gapic_v1
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.api_core.retry import Retry
from google.cloud import firestore
from google.cloud.firestore_v1.base_batch import BaseBatch
from google.cloud.firestore_v1.base_client import BaseClient
from google.cloud.firestore_v1.base_document import BaseDocumentReference
from google.cloud.firestore_v1.client import Client
from google.cloud.firestore_v1.services.firestore.transports.base import DEFAULT_CLIENT_INFO
from google.cloud.firestore_v1.types import firestore as firestore_types
from google.cloud.firestore_v1.types import write

_Write = write.Write.pb()
_REQUEST_TIME = write.DocumentTransform.FieldTransform.ServerValue.REQUEST_TIME
_INT64 = range(-(1 << 63), 1 << 63)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
# What a Timestamp holds: 0001-01-01 to 9999-12-31 UTC.
_TIMESTAMP_SECONDS = range(-62_135_596_800, 253_402_300_800)
# A field path the library would not quote.
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


_COMMIT = "/google.firestore.v1.Firestore/Commit"
_CommitRequest = firestore_types.CommitRequest.pb()
_CommitResponse = firestore_types.CommitResponse.pb()

# What this module uses of the library that the library does not promise to keep. To create: a reference's full
# path, and the batch's way of taking a write already built. To commit, also: the client's database name, the headers
# it sends with each call, and its generated API client (whose transport and channel are public). A batch's writes
# (`_write_pbs`) are set in its constructor; a commit that finds them or anything else missing is the library's.
_CREATE_PARTS = ((BaseDocumentReference, "_document_path"), (BaseBatch, "_add_write_pbs"))
_COMMIT_PARTS = ((BaseClient, "_database_string"), (BaseClient, "_rpc_metadata"), (Client, "_firestore_api"))
PRIVATE_PARTS = _CREATE_PARTS + _COMMIT_PARTS
_CREATE_PARTS_THERE = all(hasattr(owner, name) for owner, name in _CREATE_PARTS)
_COMMIT_PARTS_THERE = all(hasattr(owner, name) for owner, name in _COMMIT_PARTS)


class _UnsupportedError(Exception):
    """A value this module leaves to the library."""


def create(batch: Any, ref: Any, data: dict[str, Any]) -> None:
    """Add `ref`'s creation with `data` to `batch`, as `batch.create(ref, data)` does."""
    if not _CREATE_PARTS_THERE:
        batch.create(ref, data)
        return
    pb = _Write()
    try:
        for name, value in data.items():
            if value is firestore.SERVER_TIMESTAMP and _SIMPLE.fullmatch(name):
                pb.update_transforms.add(field_path=name, set_to_server_value=_REQUEST_TIME)
            else:
                _fill(pb.update.fields[name], value)
    except _UnsupportedError:
        batch.create(ref, data)
        return
    pb.update.name = ref._document_path
    pb.current_document.exists = False
    # What batch.create() adds, only built without the proto-plus wrappers.
    batch._add_write_pbs([write.Write.wrap(pb)])


def _fill(target: Any, value: Any) -> None:
    """Set the Value `target` (in place: building Values apart and copying them in costs twice the time)."""
    kind = type(value)
    if kind is str:
        target.string_value = value
    elif kind is bool:
        target.boolean_value = value
    elif kind is int and value in _INT64:
        target.integer_value = value
    elif kind is datetime:
        # As the library counts: a time without a zone is UTC. A third of the time of Timestamp.FromDatetime.
        offset = value.utcoffset()
        if offset is None and value.tzinfo is not None:
            raise _UnsupportedError("a zone without an offset")  # the library reads it as local time
        since = value - (_NAIVE_EPOCH if offset is None else _EPOCH)
        seconds = since.days * 86_400 + since.seconds
        if seconds not in _TIMESTAMP_SECONDS:
            raise _UnsupportedError("beyond the years 1 to 9999 in UTC")  # the library refuses it
        timestamp = target.timestamp_value
        timestamp.seconds = seconds
        timestamp.nanos = since.microseconds * 1000
    elif kind is DatetimeWithNanoseconds:
        # A time read from Firestore (a session's end, and so every sign-up's `expires_at`): to the nanosecond.
        target.timestamp_value.CopyFrom(value.timestamp_pb())
    elif kind is dict and all(type(key) is str for key in value):
        fields = target.map_value.fields
        target.map_value.SetInParent()  # an empty map is a map all the same
        for key, item in value.items():
            _fill(fields[key], item)
    else:
        raise _UnsupportedError(kind.__name__)


@dataclass(frozen=True, slots=True)
class _Committer:
    """A client's Commit call with protobuf in and out, and what each call sends beside the writes."""

    send: Any
    database: str
    metadata: tuple[tuple[str, str], ...]


# One per client, built at its first commit (the client builds its channel lazily, too); None: the library's commit.
_committers: weakref.WeakKeyDictionary[Any, _Committer | None] = weakref.WeakKeyDictionary()


def commit(batch: Any, *, retry: Retry, timeout: float) -> None:
    """Commit `batch` as `batch.commit(retry=retry, timeout=timeout)` does: the same request, headers, errors,
    retries and deadline (given, as ON_REQUEST gives them: the library's defaults are not taken). The batch is not to
    be used again."""
    client = batch._client
    try:
        committer = _committers[client]
    except KeyError:
        committer = _committers.setdefault(client, _committer(client))
    writes = getattr(batch, "_write_pbs", None)
    if committer is None or writes is None:
        batch.commit(retry=retry, timeout=timeout)
        return
    request = _CommitRequest(database=committer.database, writes=[getattr(pb, "_pb", pb) for pb in writes])
    committer.send(request, retry=retry, timeout=timeout, metadata=committer.metadata)


def _committer(client: Any) -> _Committer | None:
    """As the library's transport builds its commit method, and the client calls it; None where the library no
    longer has what this takes."""
    if not _COMMIT_PARTS_THERE:
        return None
    try:
        channel = client._firestore_api.transport.grpc_channel
        database = client._database_string
        metadata = tuple(client._rpc_metadata)
    except AttributeError:
        return None
    call = channel.unary_unary(
        _COMMIT, request_serializer=_CommitRequest.SerializeToString, response_deserializer=_CommitResponse.FromString
    )
    routing = gapic_v1.routing_header.to_grpc_metadata((("database", database),))  # type: ignore[no-untyped-call]
    # The library's transport wraps its methods with its own module's client info (the x-goog-api-client header).
    send = gapic_v1.method.wrap_method(call, client_info=DEFAULT_CLIENT_INFO)  # type: ignore[no-untyped-call]
    return _Committer(send, database, (*metadata, routing))
