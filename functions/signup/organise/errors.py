"""The organisers' page's own errors, beside the domain's (signup/errors.py); organise/web.py answers each."""

from __future__ import annotations

from signup.errors import SignupError


class NotSignedInError(SignupError):
    """The organisers' page, asked for without a valid sign-in (no cookie, an expired or ended one)."""

    code = "not_signed_in"


class CsrfError(SignupError):
    """A change posted on the organisers' page without the token of the signed-in organiser's own form."""

    code = "csrf"


class NotConfirmedError(SignupError):
    """Only a confirmed registration, which holds a seat, can be checked in at the door."""

    code = "not_confirmed"
