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

_local = threading.local()
_requests: list[tuple[float, float, dict[str, float]]] = []  # start, end (monotonic), seconds per step
_collections: list[tuple[float, float, int]] = []  # start, end, generation
_flushes: list[tuple[float, float]] = []
_started = [0.0]
_unfreeze = [os.environ.get("PROBE_UNFREEZE") == "1"]


def _on_collection(phase: str, info: dict[str, int]) -> None:
    # A collection holds the GIL from start to stop: no other thread runs in between, one slot is enough.
    if phase == "start":
        _started[0] = time.monotonic()
    else:
        _collections.append((_started[0], time.monotonic(), info["generation"]))


gc.callbacks.append(_on_collection)


def _timed(owner: object, name: str, step: str) -> None:
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
                steps[step] = steps.get(step, 0.0) + ended - began
            if step == "flush":
                _flushes.append((began, ended))

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


@functions_framework.http
def register(request: flask.Request) -> Any:
    if request.path == "/__records":
        records = {"requests": _requests, "collections": _collections, "flushes": _flushes}
        return flask.Response(json.dumps(records), mimetype="application/json")
    _local.steps = {}
    began = time.monotonic()
    response = _main.register(request)
    _requests.append((began, time.monotonic(), _local.steps))
    _local.steps = None
    if _unfreeze[0]:
        # The service is built by now, and frozen: thaw it, to see what the collector costs without.
        _unfreeze[0] = False
        gc.unfreeze()
    return response
