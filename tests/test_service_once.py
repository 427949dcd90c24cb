"""An instance builds its service once, however many requests arrive while it does, and freezes it for good."""

from __future__ import annotations

import gc
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from signup.errors import MisconfiguredError
from signup.service import once_per_instance


def test_requests_arriving_while_the_service_is_built_wait_for_that_one() -> None:
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


def test_a_build_that_fails_is_tried_again_by_the_next_request() -> None:
    attempts = []

    @once_per_instance
    def service() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise MisconfiguredError("Missing required setting SIGNING_KEY")
        return "built"

    with pytest.raises(MisconfiguredError, match="SIGNING_KEY"):
        service()

    assert (service(), service(), len(attempts)) == ("built", "built", 2)


def test_what_was_built_is_out_of_the_collector_s_sight() -> None:
    @once_per_instance
    def service() -> dict[str, list[int]]:
        return {"kept": [1, 2, 3]}

    try:
        before = gc.get_freeze_count()
        built = service()
        assert gc.get_freeze_count() > before
        assert all(tracked is not built for tracked in gc.get_objects())
    finally:
        gc.unfreeze()  # the test process's own objects go back where they were
