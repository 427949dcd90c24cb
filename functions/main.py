"""Cloud Functions entry points: thin, they only hand requests and events to the domain."""

from __future__ import annotations

import flask
import functions_framework
from signup import service, web


@functions_framework.http
def register(request: flask.Request) -> flask.Response:
    """Serve the sign-up form and accept sign-ups (see README: The HTTP contract)."""
    return web.handle(request, service.from_environment)
