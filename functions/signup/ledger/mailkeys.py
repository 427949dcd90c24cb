"""Every kind of mail a registration (or an organiser's digest) can carry, in one registry.

A mail is queued under a key in the document's `emails` map. The key says which mail it is; the registry says which
template it becomes for the registration's status when it goes (none: it no longer applies, and is skipped), in
which order a registration's mails go, whether it counts against the daily cap of the address, and whether it
still goes once the session is called off. Adding a kind of mail is one entry here and its two templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from signup.ledger.status import Status


class Template(StrEnum):
    """The mail templates, `templates/mail/{language}/{name}.txt`."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    PROMOTED = "promoted"
    REMINDER = "reminder"
    CANCELLED = "cancelled"
    CHANGED = "changed"
    SESSION_CANCELLED = "session_cancelled"
    DECLINED = "declined"
    CONFIRM_ADDRESS = "confirm_address"
    MESSAGE = "message"
    ORGANISER_CREATED = "organiser_created"
    ORGANISER_CANCELLED = "organiser_cancelled"
    ORGANISER_DIGEST = "organiser_digest"


@dataclass(frozen=True)
class Look:
    """What a template shows besides its text, for who holds a seat."""

    calendar_method: str | None = None  # the .ics attached: REQUEST or CANCEL
    calendar_links: bool = False  # "add to your calendar"
    cancel_link: bool = True
    cancel_button: bool = False  # the cancel link as the mail's one button, under its text
    unsubscribe: bool = False  # the organiser's messages, which people may stop (RFC 8058 one-click)
    check_in_code: bool = False  # the QR code an organiser scans at the door (with the organisers' page)


LOOKS: Mapping[Template, Look] = MappingProxyType(
    {
        Template.CONFIRMED: Look("REQUEST", calendar_links=True, check_in_code=True),
        Template.WAITLISTED: Look(),
        Template.PROMOTED: Look("REQUEST", calendar_links=True, check_in_code=True),
        Template.REMINDER: Look(calendar_links=True, check_in_code=True),
        Template.CANCELLED: Look("CANCEL", cancel_link=False),
        Template.CHANGED: Look("REQUEST", calendar_links=True),
        Template.SESSION_CANCELLED: Look("CANCEL", cancel_link=False),
        Template.DECLINED: Look(cancel_link=False, cancel_button=True),
        Template.CONFIRM_ADDRESS: Look(cancel_link=False),
        Template.MESSAGE: Look(unsubscribe=True),
        Template.ORGANISER_CREATED: Look(),
        Template.ORGANISER_CANCELLED: Look(),
        Template.ORGANISER_DIGEST: Look(),
    }
)

# The keys. A reminder's and a message's key name one of a family: `reminder_24h`, `message_{digest}`.
CONFIRMATION = "confirmation"
CONFIRM_ADDRESS = "confirm_address"
PROMOTION = "promotion"
CANCELLATION = "cancellation"
CHANGE = "change"
SESSION_CANCELLED = "session_cancelled"
DECLINE = "decline"
ORGANISER_CREATED = "organiser_created"
ORGANISER_CANCELLED = "organiser_cancelled"
ORGANISER_DIGEST = "organiser_digest"
# The organisers' page's sign-in link, on a sign-in document (`signins/{id}`), sent by notify's sign-in mailer.
ORGANISER_SIGN_IN = "organiser_sign_in"
REMINDER_PREFIX = "reminder_"
MESSAGE_PREFIX = "message_"

HOLDING = (Status.CONFIRMED, Status.WAITLISTED)


@dataclass(frozen=True)
class MailKind:
    """One kind of mail: its key (or the prefix of its family), and what the registry says of it."""

    key: str
    # The template by the registration's status when the mail goes; a status not listed: it no longer applies.
    # `None` as the only status: whatever became of the registration.
    templates: Mapping[Status | None, Template]
    order: int = 2
    capped: bool = True  # counts against the daily cap of the address it goes to
    to_organiser: bool = False
    after_cancelling: bool = False  # still goes to the people of a session that was called off
    family: bool = False

    def template(self, status: str | None) -> Template | None:
        if None in self.templates:
            return self.templates[None]
        try:
            return self.templates.get(Status(status or ""))
        except ValueError:
            return None


def _to_organiser(key: str, template: Template) -> MailKind:
    # The organiser hears of it whatever became of the registration since; their own mails are not capped.
    return MailKind(key, {None: template}, capped=False, to_organiser=True)


REGISTRY: tuple[MailKind, ...] = (
    MailKind(CONFIRM_ADDRESS, {Status.UNCONFIRMED: Template.CONFIRM_ADDRESS}, order=-1),
    MailKind(CONFIRMATION, {Status.CONFIRMED: Template.CONFIRMED, Status.WAITLISTED: Template.WAITLISTED}, order=0),
    MailKind(PROMOTION, {Status.CONFIRMED: Template.PROMOTED}, order=1),
    MailKind(REMINDER_PREFIX, {Status.CONFIRMED: Template.REMINDER}, family=True),
    MailKind(MESSAGE_PREFIX, dict.fromkeys(HOLDING, Template.MESSAGE), family=True),
    MailKind(CHANGE, dict.fromkeys(HOLDING, Template.CHANGED)),
    MailKind(SESSION_CANCELLED, dict.fromkeys(HOLDING, Template.SESSION_CANCELLED), after_cancelling=True),
    # A decline in a calendar asks whether to cancel: only while the registration holds its place.
    MailKind(DECLINE, dict.fromkeys(HOLDING, Template.DECLINED)),
    MailKind(CANCELLATION, {Status.CANCELLED: Template.CANCELLED}, order=3, after_cancelling=True),
    _to_organiser(ORGANISER_CREATED, Template.ORGANISER_CREATED),
    _to_organiser(ORGANISER_CANCELLED, Template.ORGANISER_CANCELLED),
    _to_organiser(ORGANISER_DIGEST, Template.ORGANISER_DIGEST),
)
_BY_KEY = {kind.key: kind for kind in REGISTRY if not kind.family}
_FAMILIES = tuple(kind for kind in REGISTRY if kind.family)


def kind(key: str) -> MailKind | None:
    """What the registry says of the mail under `key`; None for a key it does not know."""
    found = _BY_KEY.get(key)
    if found is not None:
        return found
    return next((family for family in _FAMILIES if key.startswith(family.key) and key != family.key), None)


def template(key: str, status: str | None) -> Template | None:
    """The template the mail `key` becomes for a registration in `status`; None: it no longer applies."""
    found = kind(key)
    return found.template(status) if found is not None else None


def order(key: str) -> tuple[int, str]:
    """A registration's mails go in this order: the request to confirm the address, the confirmation, a promotion,
    whatever else, a cancellation last."""
    found = kind(key)
    return (found.order if found is not None else 2, key)


def capped(key: str) -> bool:
    found = kind(key)
    return found is None or found.capped


def to_organiser(key: str) -> bool:
    found = kind(key)
    return found is not None and found.to_organiser


def after_cancelling(key: str) -> bool:
    found = kind(key)
    return found is not None and found.after_cancelling


def reminder_key(hours: float) -> str:
    """`reminder_24h`, or `reminder_90m` for 1.5 hours: a field name without dots."""
    amount = f"{int(hours)}h" if float(hours).is_integer() else f"{round(hours * 60)}m"
    return REMINDER_PREFIX + amount


def hours_of(key: str) -> float:
    """How long before the start the reminder `key` goes."""
    amount = key.removeprefix(REMINDER_PREFIX)
    return float(amount[:-1]) if amount.endswith("h") else float(amount[:-1]) / 60


def is_reminder(key: str) -> bool:
    return key.startswith(REMINDER_PREFIX)


def message_key(digest: str) -> str:
    """The key of the organiser's message with this digest (see mail/messages.py)."""
    return MESSAGE_PREFIX + digest


def message_digest(key: str) -> str:
    return key.removeprefix(MESSAGE_PREFIX)
