"""Cloud Functions entry points: thin, they only hand requests and events to the domain."""

from __future__ import annotations

import flask
import functions_framework
from cloudevents.http import CloudEvent
from signup import events, service, web


@functions_framework.http
def register(request: flask.Request) -> flask.Response:
    """Serve the sign-up form and accept sign-ups (see README: The HTTP contract)."""
    return web.handle(request, service.from_environment)


@functions_framework.cloud_event
def notify(event: CloudEvent) -> None:
    """Send a new registration's confirmation, or on a scheduler tick sweep for everything that is due."""
    request = events.read(event)
    if isinstance(request, events.RegistrationCreated):
        service.notifier_from_environment().registration_created(request.session_id, request.registration_id)
    elif isinstance(request, events.Tick):
        service.notifier_from_environment().sweep(request.now)
