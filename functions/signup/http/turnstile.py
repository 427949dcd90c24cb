"""Cloudflare Turnstile, for sessions that want it: the token the widget put in the form is verified server-side,
and when it cannot be verified the sign-up is refused (it fails closed)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

from signup.errors import MisconfiguredError, TurnstileUnavailableError

log = logging.getLogger(__name__)

FIELD = "cf-turnstile-response"
SCRIPT_URL = "https://challenges.cloudflare.com/turnstile/v0/api.js"


class TurnstileRejectedError(Exception):
    """Cloudflare says the token is not a person's (or it is missing, expired, or used before)."""


@dataclass(frozen=True)
class Turnstile:
    secret: str | None
    verify_url: str
    timeout: float = 3.0

    def verify(self, token: str, remote_ip: str) -> None:
        """Return when Cloudflare vouches for the token; raise otherwise."""
        if not self.secret:
            raise MisconfiguredError("Missing required setting TURNSTILE_SECRET_KEY (a session has turnstile_site_key)")
        if not token or len(token) > 2048:
            raise TurnstileRejectedError("missing-input-response")
        body = urllib.parse.urlencode(
            {"secret": self.secret, "response": token, "remoteip": remote_ip, "idempotency_key": str(uuid.uuid4())}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - Settings allows only http(s) here
            self.verify_url, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - as above
                answer = json.loads(response.read(65536))
        except (urllib.error.URLError, OSError, ValueError) as error:
            log.warning("turnstile verification unavailable: %s", type(error).__name__)
            raise TurnstileUnavailableError() from error
        if not isinstance(answer, dict) or "success" not in answer:
            raise TurnstileUnavailableError()
        if answer["success"] is not True:
            codes = answer.get("error-codes") or []
            if {"missing-input-secret", "invalid-input-secret"} & set(map(str, codes)):
                raise MisconfiguredError("TURNSTILE_SECRET_KEY is not the secret of a Turnstile widget")
            log.info("turnstile rejected a token: %s", ",".join(map(str, codes)))
            raise TurnstileRejectedError(",".join(map(str, codes)))
