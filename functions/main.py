"""Cloud Functions entry points: thin, they only hand requests and events to the domain."""

from __future__ import annotations

import gc

# What the imports below make lives as long as the instance: collecting garbage while they run finds none, and
# costs a cold start some 35 ms. After them, it is frozen out of every later collection (see service.py).
gc.disable()
import flask  # noqa: E402
import functions_framework  # noqa: E402
from cloudevents.http import CloudEvent  # noqa: E402
from signup import service  # noqa: E402
from signup.http import web  # noqa: E402
from werkzeug.exceptions import NotFound  # noqa: E402

gc.freeze()
gc.enable()


@functions_framework.http
def register(request: flask.Request) -> flask.Response:
    """Serve the sign-up form and accept sign-ups (docs/http-api.md)."""
    return web.handle(request, service.from_environment)


def unrouted(error: NotFound) -> flask.Response:
    """A path functions-framework itself routes nowhere (a line break in it): our 404, with our headers."""
    return web.unrouted(flask.request)


# Registered on the app functions-framework makes, which exists while it imports this module.
functions_framework.errorhandler(NotFound)(unrouted)


@functions_framework.http
def organise(request: flask.Request) -> flask.Response:
    """The organisers' page: sign in by a mailed link, sessions, registrations, check-in (docs/organisers.md)."""
    from signup.organise import web as organise_web  # the page's own modules: register's cold start goes without

    return organise_web.handle(request, service.organise_from_environment)


@functions_framework.cloud_event
def notify(event: CloudEvent) -> None:
    """Send a registration's due mails (or an organiser's sign-in link), announce a session's change, or on a
    scheduler tick sweep for everything."""
    from signup.mail import events  # decoding Firestore's events is notify's alone: register's cold start goes without

    request = events.read(event)
    if isinstance(request, events.RegistrationWritten):
        service.notifier_from_environment().registration_written(
            request.session_id, request.registration_id, request.change
        )
    elif isinstance(request, events.SessionWritten):
        service.notifier_from_environment().session_written(request.session_id, request.change)
    elif isinstance(request, events.SignInWritten):
        service.sign_in_mailer_from_environment().sign_in_written(request.sign_in_id, request.change)
    elif isinstance(request, events.Tick):
        service.notifier_from_environment().sweep(request.now)
        service.sign_in_mailer_from_environment().sweep(request.now)
