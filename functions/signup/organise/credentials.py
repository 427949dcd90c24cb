"""What proves who an organiser is: the mailed link, the cookie it leads to, and the token of each form.

Each is keyed with a subkey of SIGNING_KEY of its own (keys.py), so that one can never be passed off as another:
- a sign-in link carries a sign-in's id and a MAC of it (`{id}.{mac}`): the database holds no secret, and only
  who holds the key can make a link (`notify` makes them for its mail, `organise` reads them);
- the cookie carries the sign-in's id, signed and timed (itsdangerous), never an address; the sign-in document
  says whether it is still signed in, so that signing out ends every copy of it;
- a form's CSRF token is a MAC of the sign-in's id: another organiser's, or none, does not do.
A link or cookie made with a previous key (during a rotation) still works while that key is kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import itsdangerous

from signup.keys import ORGANISER_COOKIES, ORGANISER_FORMS, SIGN_IN_LINKS, KeyRing
from signup.ledger.signin import SESSION_LIFETIME
from signup.store.signins import valid_id

# The cookie's name: `__Host-` where the page is served over https (the browser then holds it to this host, over
# https, for every path: nobody on another host or path can set it); plain on http://localhost in development.
COOKIE = "signup-organiser"
SECURE_COOKIE = "__Host-signup-organiser"
CSRF_FIELD = "csrf_token"


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _matches(given: str, made: str) -> bool:
    """Whether what a request carries is the MAC we made; compare_digest refuses (TypeError) a str outside ASCII,
    which no MAC of ours is."""
    return given.isascii() and hmac.compare_digest(given, made)


@dataclass(frozen=True)
class Credentials:
    keys: KeyRing

    def sign_in_link(self, sign_in_id: str) -> str:
        """The token of a sign-in's mailed link."""
        return f"{sign_in_id}.{_mac(self.keys.subkey(SIGN_IN_LINKS), sign_in_id)}"

    def sign_in_id(self, token: str) -> str | None:
        """The sign-in a link's token names, if we made it; None for anything else."""
        sign_in_id, _, mac = token.partition(".")
        if not valid_id(sign_in_id):
            return None
        made = (_mac(key, sign_in_id) for key in self.keys.subkeys(SIGN_IN_LINKS))
        return sign_in_id if any(_matches(mac, expected) for expected in made) else None

    def cookie(self, sign_in_id: str) -> str:
        return str(self._cookies.dumps(sign_in_id))

    def cookie_sign_in(self, value: str) -> str | None:
        """The sign-in a cookie names, if we made it within the session's lifetime."""
        try:
            sign_in_id = self._cookies.loads(value, max_age=int(SESSION_LIFETIME.total_seconds()))
        except itsdangerous.BadData:
            return None
        return sign_in_id if isinstance(sign_in_id, str) and valid_id(sign_in_id) else None

    def csrf(self, sign_in_id: str) -> str:
        return _mac(self.keys.subkey(ORGANISER_FORMS), sign_in_id)

    def csrf_holds(self, sign_in_id: str, token: str) -> bool:
        return any(_matches(token, _mac(key, sign_in_id)) for key in self.keys.subkeys(ORGANISER_FORMS))

    @property
    def _cookies(self) -> itsdangerous.URLSafeTimedSerializer:
        # itsdangerous signs with the last key of its list and accepts every one.
        keys = list(reversed(self.keys.subkeys(ORGANISER_COOKIES)))
        return itsdangerous.URLSafeTimedSerializer(keys, salt="signup.organise.cookie.v1")
