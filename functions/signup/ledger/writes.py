"""The one way the ledger changes a document it read: on condition that nobody changed it since.

A document is written only if its `update_time` is still the one it was read with (a precondition), so of many
writers that read the same document, one wins and the others see what it did before they try again. Many documents
go in one commit (Firestore takes 500 writes in one); when a commit meets a document that changed, each document of
it is written on its own, and one that changed is read again and planned anew, up to `ATTEMPTS` times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.api_core import exceptions as google_errors

# A precondition that no longer holds, or a contended commit: read again and retry.
CONFLICTS = (google_errors.FailedPrecondition, google_errors.Aborted, google_errors.Conflict)
# The document is gone (erased, purged): there is nothing left to write.
GONE = (google_errors.NotFound,)
# Writes of one document before giving up on it: each failed one means another writer changed it meanwhile.
ATTEMPTS = 5
# Writes in one commit: Firestore's limit.
BATCH = 500

T = TypeVar("T")


class KeptChangingError(google_errors.Aborted):
    """A document changed under every one of our writes: the caller's answer is "not now" (HTTP 503)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} kept changing while it was being written")  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Read:
    """A document as it was read: `data` is None when it did not exist."""

    reference: Any
    data: Mapping[str, Any] | None
    update_time: Any

    @classmethod
    def of(cls, snapshot: Any) -> Read:
        return cls(snapshot.reference, snapshot.to_dict() or {} if snapshot.exists else None, snapshot.update_time)


@dataclass(frozen=True)
class Written(Generic[T]):
    """A document written: what the plan said of it, and the document's new `update_time`."""

    reference: Any
    planned: T
    update_time: Any


@dataclass
class Writes(Generic[T]):
    written: list[Written[T]] = field(default_factory=list)
    # Documents that changed under every attempt: left as they are.
    gave_up: list[Read] = field(default_factory=list)


# What to write to a document as read (None: nothing), and what to remember of it.
Plan = Callable[[Read], tuple[dict[str, Any], T] | None]


def write_unchanged(
    client: Any, reads: Iterable[Read], plan: Plan[T], *, batch: int = BATCH, **options: Any
) -> Writes[T]:
    """Write `plan`'s update to each document on condition that it did not change since it was read.

    `options` go with every call to Firestore (a request's deadlines, store/deadlines.py)."""
    done: Writes[T] = Writes()
    planned = [(read, made) for read in reads if read.data is not None and (made := plan(read)) is not None]
    for start in range(0, len(planned), batch):
        part = planned[start : start + batch]
        commit = client.batch()
        for read, (update, _) in part:
            commit.update(read.reference, update, option=client.write_option(last_update_time=read.update_time))
        try:
            results = commit.commit(**options)
        except (*CONFLICTS, *GONE):
            for read, _ in part:
                _write_one(client, read, plan, done, options)
            continue
        done.written.extend(
            Written(read.reference, value, result.update_time)
            for (read, (_, value)), result in zip(part, results, strict=True)
        )
    return done


def _write_one(client: Any, read: Read, plan: Plan[T], done: Writes[T], options: dict[str, Any]) -> None:
    """The first attempt goes with the read we have: only one document of a spoiled commit need have changed."""
    for attempt in range(ATTEMPTS):
        if attempt:
            snapshot = read.reference.get(**options)
            if not snapshot.exists:
                return
            read = Read.of(snapshot)
        made = plan(read)
        if made is None:
            return
        update, value = made
        try:
            result = read.reference.update(
                update, option=client.write_option(last_update_time=read.update_time), **options
            )
        except CONFLICTS:
            continue
        except GONE:
            return
        done.written.append(Written(read.reference, value, result.update_time))
        return
    done.gave_up.append(read)


def reads(snapshots: Sequence[Any]) -> list[Read]:
    return [Read.of(snapshot) for snapshot in snapshots]
