"""An instance builds its service once, however many requests arrive while it does, and then freezes it."""

from __future__ import annotations

import gc
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from signup.errors import MisconfiguredError
from signup.service import once_per_instance


@pytest.fixture(autouse=True)
def freezes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The collector's freezes, counted instead of made: a real one would hold the whole test process."""
    made: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: made.append(1))
    return made


def test_requests_arriving_while_the_service_is_built_wait_for_that_one(freezes: list[int]) -> None:
    builds: list[object] = []

    @once_per_instance
    def service() -> object:
        time.sleep(0.05)  # a build takes a while: the others arrive meanwhile
        builds.append(object())
        return builds[-1]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: service(), range(8)))

    assert len(builds) == 1
    assert answers == builds * 8
    assert len(freezes) == 1


def test_a_build_that_fails_is_tried_again_by_the_next_request(freezes: list[int]) -> None:
    attempts = []

    @once_per_instance
    def service() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise MisconfiguredError("Missing required setting SIGNING_KEY")
        return "built"

    with pytest.raises(MisconfiguredError, match="SIGNING_KEY"):
        service()
    frozen_after_the_failure = len(freezes)

    assert (service(), service(), len(attempts)) == ("built", "built", 2)
    assert (frozen_after_the_failure, len(freezes)) == (0, 1)
