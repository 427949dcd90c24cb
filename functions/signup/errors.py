"""Domain errors: each one means something to the person or client that caused it.

The HTTP layer maps them to answers in one place (`signup.http.web`).
"""

from __future__ import annotations


class SignupError(Exception):
    """Base of the errors that a request can run into."""

    code = "error"


class MisconfiguredError(SignupError):
    """A setting or a session document is missing or malformed; the operator must act."""

    code = "misconfigured"


class NotFoundError(SignupError):
    """No such session or page."""

    code = "not_found"


class PageNotFoundError(NotFoundError):
    """No page at this path at all: no session was asked for, so none is said to be missing."""


class MethodNotAllowedError(SignupError):
    code = "method_not_allowed"

    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


class OriginNotAllowedError(SignupError):
    """A browser on a site that the session does not list in `allowed_origins`."""

    code = "origin_not_allowed"


class CrossSiteRequestError(SignupError):
    """A browser on another site posting to a page that only our own pages may post to (a cancel link)."""

    code = "cross_site"


class CrossSiteConfirmError(CrossSiteRequestError):
    """The same, for a confirm link: the same code, its own words."""


class CrossSiteUnsubscribeError(CrossSiteRequestError):
    """The same, for an unsubscribe link."""


class SupersededError(SignupError):
    """A cancel link for a sign-up that is no more: cancelled and signed up for afresh since, or erased."""

    code = "link_superseded"


class UnsubscribeSupersededError(SupersededError):
    """The same, for an unsubscribe link: the same code, its own words."""


class PayloadTooLargeError(SignupError):
    code = "payload_too_large"


class UnsupportedMediaTypeError(SignupError):
    code = "unsupported_media_type"


class MalformedBodyError(SignupError):
    """A body that cannot be read as the content type it claims, or of the wrong shape."""

    code = "malformed_body"


class RegistrationClosedError(SignupError):
    """The session's registration has closed (or the session has begun)."""

    code = "registration_closed"


class SessionCancelledError(RegistrationClosedError):
    """The organiser called the session off: it will not take place."""


class ValidationError(SignupError):
    """Fields that are missing or invalid, with a message per field."""

    code = "invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(errors)))
        self.errors = errors


class UnavailableError(SignupError):
    """The database cannot be reached right now; the client may try again."""

    code = "unavailable"


class RateLimitedError(SignupError):
    """Too many attempts from one visitor; they may try again after `retry_after` seconds."""

    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(str(retry_after))
        self.retry_after = retry_after


class FormReplayedError(SignupError):
    """A form token that already brought in another registration: a bot replaying a harvested form."""

    code = "form_replayed"


class TurnstileUnavailableError(SignupError):
    """Cloudflare's verification cannot be reached: the sign-up is refused for now (fail closed)."""

    code = "turnstile_unavailable"
