"""An organiser's sign-in: a mailed link, valid once and briefly, that becomes a signed-in session when used.

`signins/{id}` holds who asked (the address the link goes to), the page's language, until when the link works, the
link's mail (queued in the document, as a registration's are, and sent by `notify`), and once used, when and until
when its holder is signed in. Nothing in it is the link's secret: the link carries the id and a MAC of it made
with a subkey of SIGNING_KEY, so the database alone signs nobody in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from signup.ledger import fields, mailkeys
from signup.ledger.outbox import new_mail

# A link works this long after it was asked for, and once.
LINK_LIFETIME = timedelta(minutes=15)
# Signed in for this long, then the organiser asks for a new link.
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class SignIn:
    id: str
    email: str
    language: str
    link_expires_at: datetime
    expires_at: datetime
    signed_in_at: datetime | None = None
    signed_out_at: datetime | None = None
    next_path: str | None = None

    @classmethod
    def from_document(cls, sign_in_id: str, data: Mapping[str, Any]) -> SignIn:
        return cls(
            id=sign_in_id,
            email=str(data.get(fields.EMAIL) or ""),
            language=str(data.get(fields.PAGE_LANGUAGE) or ""),
            link_expires_at=data[fields.LINK_EXPIRES_AT],
            expires_at=data[fields.EXPIRES_AT],
            signed_in_at=data.get(fields.SIGNED_IN_AT),
            signed_out_at=data.get(fields.SIGNED_OUT_AT),
            next_path=data.get(fields.NEXT_PATH),
        )

    def link_usable(self, now: datetime) -> bool:
        """The link may still sign in: never used, and not yet past its end."""
        return self.signed_in_at is None and self.signed_out_at is None and now < self.link_expires_at

    def signed_in(self, now: datetime) -> bool:
        """Its holder is signed in now."""
        return self.signed_in_at is not None and self.signed_out_at is None and now < self.expires_at


def requested(email: str, language: str, now: datetime, next_path: str | None = None) -> dict[str, Any]:
    """A new sign-in's document, with the mail of its link queued."""
    return {
        **({fields.NEXT_PATH: next_path} if next_path else {}),
        fields.EMAIL: email,
        fields.PAGE_LANGUAGE: language,
        fields.REQUESTED_AT: now,
        fields.LINK_EXPIRES_AT: now + LINK_LIFETIME,
        fields.EXPIRES_AT: now + LINK_LIFETIME,
        fields.EMAILS: {mailkeys.ORGANISER_SIGN_IN: new_mail()},
        fields.MAIL_DUE_AT: now,
    }


def used(now: datetime) -> dict[str, Any]:
    """The update that turns a used link into a signed-in session."""
    return {fields.SIGNED_IN_AT: now, fields.EXPIRES_AT: now + SESSION_LIFETIME}


def signed_out(now: datetime) -> dict[str, Any]:
    """The update that ends a signed-in session (the TTL policy then deletes the document)."""
    return {fields.SIGNED_OUT_AT: now, fields.EXPIRES_AT: now}
