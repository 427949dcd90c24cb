"""The one conditional write of the ledger, against the emulator: many documents to a commit, a changed one read
again and planned anew, a vanished one left alone, and one that keeps changing given up after the budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from signup.ledger.writes import ATTEMPTS, Read, reads, write_unchanged


@pytest.fixture
def documents(db: Any, make_session: Callable[..., str]) -> list[Any]:
    """Five registrations' worth of documents, as read a moment ago."""
    session_id = make_session()
    collection = db.collection("sessions").document(session_id).collection("registrations")
    for n in range(5):
        collection.document(f"r{n}").set({"first_name": f"P{n}", "count": 0})
    return [collection.document(f"r{n}").get() for n in range(5)]


def add_one(read: Read) -> tuple[dict[str, Any], str] | None:
    data = read.data or {}
    return {"count": data["count"] + 1}, str(data["first_name"])


def test_unchanged_documents_are_written_in_one_commit(db: Any, documents: list[Any]) -> None:
    done = write_unchanged(db, reads(documents), add_one)

    assert [written.planned for written in done.written] == ["P0", "P1", "P2", "P3", "P4"]
    assert len({written.update_time for written in done.written}) == 1  # one commit, one time
    assert done.gave_up == []
    assert [doc.reference.get().get("count") for doc in documents] == [1] * 5


def test_a_document_changed_after_it_was_read_is_read_again_and_planned_anew(db: Any, documents: list[Any]) -> None:
    documents[2].reference.update({"first_name": "Changed", "count": 10})

    done = write_unchanged(db, reads(documents), add_one)

    assert sorted(written.planned for written in done.written) == ["Changed", "P0", "P1", "P3", "P4"]
    assert [doc.reference.get().get("count") for doc in documents] == [1, 1, 11, 1, 1]


def test_a_document_that_vanished_is_left_alone_and_the_others_are_written(db: Any, documents: list[Any]) -> None:
    documents[3].reference.delete()

    done = write_unchanged(db, reads(documents), add_one)

    assert sorted(written.planned for written in done.written) == ["P0", "P1", "P2", "P4"]
    assert not documents[3].reference.get().exists
    assert done.gave_up == []


def test_a_plan_that_finds_nothing_to_do_on_reading_again_writes_nothing(db: Any, documents: list[Any]) -> None:
    documents[1].reference.update({"count": 99})

    done = write_unchanged(db, reads(documents), lambda read: None if (read.data or {})["count"] else add_one(read))

    assert sorted(written.planned for written in done.written) == ["P0", "P2", "P3", "P4"]
    assert documents[1].reference.get().get("count") == 99


def test_a_document_that_changes_under_every_write_is_given_up_after_the_budget(db: Any, documents: list[Any]) -> None:
    planned: list[str] = []

    def racing(read: Read) -> tuple[dict[str, Any], str] | None:
        planned.append(read.reference.id)
        if read.reference.id == "r0":
            read.reference.update({"touched": len(planned)})  # another writer, always a moment ahead
        return add_one(read)

    done = write_unchanged(db, reads(documents), racing)

    assert [read.reference.id for read in done.gave_up] == ["r0"]
    assert planned.count("r0") == 1 + ATTEMPTS  # the commit, then one write of its own per attempt
    assert documents[0].reference.get().get("count") == 0
    assert sorted(written.planned for written in done.written) == ["P1", "P2", "P3", "P4"]
