"""`register` as deployed, with a stopwatch on each step of a request and on the garbage collector (bench/tail.py).

Served by functions-framework like the real function; GET /__records hands over what was timed so far. The steps
are the parts a sign-up can wait for: the session's read, a seat, the rate limiter, the commit, logging; the rate
limiter's flush runs in a thread of its own and is timed apart. Whatever is left of a request's time is our own
code and the wait for the GIL.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import sys
import threading
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask
import functions_framework
from google.cloud.firestore_v1.batch import WriteBatch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "functions"))
import main as _main
from signup.http.ratelimit import RateLimiter
from signup.store.seats import Seats
from signup.store.sessions import SessionStore

from bench import TAIL_STEPS as STEPS

_local = threading.local()
# Kept in flat arrays of floats, which the garbage collector does not track: a list of a tuple and a dict per request
# would be some 200,000 more objects a minute for every full collection to go through, and grow the very pauses
# this is to time.
_requests = array("d")  # per request: start, end (monotonic), then the seconds of each step in STEPS
_collections = array("d")  # per collection: start, end, generation
_flushes = array("d")  # per flush: start, end
_started = [0.0]
_unfreeze = [os.environ.get("PROBE_UNFREEZE") == "1"]


def _on_collection(phase: str, info: dict[str, int]) -> None:
    # A collection holds the GIL from start to stop: no other thread runs in between, one slot is enough.
    if phase == "start":
        _started[0] = time.monotonic()
    else:
        _collections.extend((_started[0], time.monotonic(), info["generation"]))


gc.callbacks.append(_on_collection)


def _timed(owner: object, name: str, step: str) -> None:
    index = STEPS.index(step) if step in STEPS else 0
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            ended = time.monotonic()
            steps = getattr(_local, "steps", None)
            if steps is not None:
                steps[index] += ended - began
            if step == "flush":
                _flushes.extend((began, ended))

    setattr(owner, name, timed)


for _owner, _name, _step in (
    (SessionStore, "get", "session"),
    (Seats, "take", "seat"),
    (RateLimiter, "hit", "limiter"),
    (RateLimiter, "flush", "flush"),
    (WriteBatch, "commit", "commit"),
    (logging.Logger, "handle", "log"),
):
    _timed(_owner, _name, _step)


_WIDTH = 2 + len(STEPS)


@functions_framework.http
def register(request: flask.Request) -> Any:
    if request.path == "/__records":
        records = {
            "requests": [
                [*_requests[i : i + 2], dict(zip(STEPS, _requests[i + 2 : i + _WIDTH], strict=True))]
                for i in range(0, len(_requests), _WIDTH)
            ],
            "collections": [list(_collections[i : i + 3]) for i in range(0, len(_collections), 3)],
            "flushes": [list(_flushes[i : i + 2]) for i in range(0, len(_flushes), 2)],
        }
        return flask.Response(json.dumps(records), mimetype="application/json")
    _local.steps = steps = [0.0] * len(STEPS)
    began = time.monotonic()
    response = _main.register(request)
    _requests.extend((began, time.monotonic(), *steps))
    _local.steps = None
    if _unfreeze[0]:
        # The service is built by now, and frozen: thaw it, to see what the collector costs without.
        _unfreeze[0] = False
        gc.unfreeze()
    return response
