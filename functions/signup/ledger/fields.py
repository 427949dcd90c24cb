"""The field names of the documents the ledger keeps, as the Firestore console shows them.

Nowhere else are they written out: a query, an update or a test of the code names them from here.
"""

from __future__ import annotations

# Collections.
SESSIONS = "sessions"
REGISTRATIONS = "registrations"
SEATS = "seats"
FORM_TOKENS = "formtokens"
# The organisers' page: its sign-ins (`signins/{id}`), and each session's audit trail (`sessions/{id}/audit/{id}`).
SIGNINS = "signins"
AUDIT = "audit"

# Every document with a Firestore TTL policy deletes itself at this time (infra/firestore.tf names it too).
EXPIRES_AT = "expires_at"
CREATED_AT = "created_at"

# A registration: the person, as they typed it (the form's fields have these names as well).
ORGANISATION = "organisation"
FIRST_NAME = "first_name"
INFIX = "infix"
LAST_NAME = "last_name"
EMAIL = "email"
CONSENT = "consent"
PERSONAL = (ORGANISATION, FIRST_NAME, INFIX, LAST_NAME, EMAIL)
# ... where they signed up, and what became of it.
ORIGIN = "origin"
STATUS = "status"
SEAT = "seat"
GENERATION = "generation"
CONFIRMED_AT = "confirmed_at"
CANCELLED_AT = "cancelled_at"
REQUESTED_AT = "requested_at"
CONFIRM_BY = "confirm_by"
EXPIRED_AT = "expired_at"
ERASED_AT = "erased_at"
# ... its mails: a map of mail key to mail, the earliest moment one needs attention, and how many failed.
EMAILS = "emails"
MAIL_DUE_AT = "mail_due_at"
MAILS_FAILED = "mails_failed"
# ... the session's last revision it was told of (see mail/changes.py).
TOLD_REVISION = "told_revision"
# ... when the person asked for no more of the organiser's messages (the unsubscribe link, RFC 8058).
UNSUBSCRIBED_AT = "unsubscribed_at"
# ... when an organiser checked them in at the door (absent: not, or not yet).
CHECKED_IN_AT = "checked_in_at"
# ... the ORGANIZER address their calendar entry was first sent with, which its updates keep (mail/compose/calendar.py).
CALENDAR_ORGANIZER = "calendar_organizer"

# One mail, under `emails.<key>`.
STATE = "state"
ATTEMPTS = "attempts"
NEXT_ATTEMPT_AT = "next_attempt_at"
LEASE_UNTIL = "lease_until"
SENT_AT = "sent_at"
MESSAGE_ID = "message_id"
LAST_ERROR = "last_error"
# The session's revision a notice of a change tells of, and the facts it changed (title, times, place) as they were.
REVISION = "revision"
BEFORE = "before"

# A seat, `sessions/{id}/seats/{n}`, and a used form token, `formtokens/{nonce}`: each names its registration.
REGISTRATION_ID = "registration_id"
TAKEN_AT = "taken_at"
SESSION_ID = "session_id"
# A sign-in (`signins/{id}`): who asked for a link (`email`), in which language, until when the link works, when
# it was used and when its holder signed out; `expires_at` is the link's end, then the signed-in session's.
PAGE_LANGUAGE = "page_language"
LINK_EXPIRES_AT = "link_expires_at"
SIGNED_IN_AT = "signed_in_at"
SIGNED_OUT_AT = "signed_out_at"
# ... and the page it was asked from (a scanned check-in code), to go on to once signed in: a path, nothing personal.
NEXT_PATH = "next_path"
# An entry of a session's audit trail: when (`at`), by whom, what was done, to which registration (if one), and
# what changed (old and new values).
DONE_BY = "done_by"
DONE = "done"
CHANGES = "changed"
# The consent map.
GIVEN = "given"
AT = "at"
PRIVACY_URL = "privacy_url"


def mail_field(key: str, name: str | None = None) -> str:
    """The path of a mail (`emails.confirmation`), or of one field of it, for an update."""
    return f"{EMAILS}.{key}" if name is None else f"{EMAILS}.{key}.{name}"
