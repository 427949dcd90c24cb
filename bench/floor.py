"""The floor for the sign-up benchmark: one bare Firestore `create()` per request, nothing else."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import flask
import functions_framework


@cache
def _collection() -> Any:
    from google.cloud import firestore

    return firestore.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"]).collection("floor")


@functions_framework.http
def floor(request: flask.Request) -> tuple[str, int]:
    _collection().document().create({"n": 1})
    return "", 201
