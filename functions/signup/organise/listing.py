"""What the organisers' page shows: the sessions, a session's registrations (searched and sorted on the server),
one registration, the printable attendance list, the export and the audit trail."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import flask

from signup.errors import NotFoundError
from signup.ledger import fields, mailkeys
from signup.ledger.outbox import MailState
from signup.ledger.registration import Registration
from signup.ledger.session import Session
from signup.ledger.status import Status
from signup.names import full_name
from signup.organise.texts import mail_kind
from signup.organisers import export as csv_export
from signup.store import audit, overview

if TYPE_CHECKING:
    from signup.organise.web import Exchange

# How a session's registrations can be sorted (the first is the default), and which statuses filtered on.
SORTS = ("name", fields.ORGANISATION, fields.STATUS, "signed_up", "present")
FILTERS = ("", *(status.value for status in Status), "present", "absent")
_STATUS_ORDER = {status: number for number, status in enumerate(Status)}
# The query parameter that says what a change just did (`?result=saved`), for the page it leads to.
RESULT = "result"


@dataclass(frozen=True)
class Row:
    """One registration as a row of the session's page."""

    registration: Registration
    name: str
    organisation: str
    email: str

    @property
    def id(self) -> str:
        return self.registration.id

    @property
    def status(self) -> str:
        return self.registration.status.value

    @property
    def signed_up(self) -> datetime | None:
        return self.registration.created_at or self.registration.requested_at

    @property
    def present(self) -> bool:
        return self.registration.checked_in_at is not None

    @property
    def can_check_in(self) -> bool:
        return self.registration.status == Status.CONFIRMED

    def sort_key(self, sort: str) -> tuple[Any, ...]:
        person = self.registration.person
        name = csv_export.sort_key(
            {fields.LAST_NAME: person.last_name, fields.FIRST_NAME: person.first_name} if person else {}
        )
        if sort == fields.ORGANISATION:
            return (not self.organisation, _folded(self.organisation), name)
        if sort == fields.STATUS:
            return (_STATUS_ORDER[self.registration.status], name)
        if sort == "signed_up":
            return (self.signed_up is None, self.signed_up.timestamp() if self.signed_up else 0, name)
        if sort == "present":
            return (not self.present, self.registration.status != Status.CONFIRMED, name)
        return (name,)

    def matches(self, words: list[str]) -> bool:
        haystack = _folded(" ".join((self.name, self.organisation, self.email)))
        return all(word in haystack for word in words)

    def shown(self, status: str) -> bool:
        if status == "present":
            return self.present
        if status == "absent":
            return self.can_check_in and not self.present
        return not status or self.status == status


@dataclass(frozen=True)
class MailLine:
    """One of a registration's mails as its page shows it: which, how it went, when, and the mail server's words."""

    kind: str  # the word for it: a key of the texts (`mail.confirmation`), or `mail.other` with `key` shown
    key: str
    hours: str  # a reminder's hours before the start, as written
    state: str
    attempts: int
    at: datetime | None  # when it went, or when it is tried again
    error: str


def mail_lines(registration: Registration) -> list[MailLine]:
    """A registration's mails in the order they go, so that an organiser sees what became of each (what they read
    in the console's `emails` map before)."""
    lines = []
    for key in sorted(registration.emails, key=mailkeys.order):
        mail = registration.emails[key]
        kind, hours = mail_kind(key)
        state = str(mail.get(fields.STATE) or "")
        sent_at, retry_at = mail.get(fields.SENT_AT), mail.get(fields.NEXT_ATTEMPT_AT)
        at = sent_at if state == MailState.SENT else retry_at
        attempts = mail.get(fields.ATTEMPTS)
        lines.append(
            MailLine(
                kind=kind,
                key=key,
                hours=hours,
                state=state if state in _MAIL_STATES else "other",
                attempts=attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0,
                at=at if isinstance(at, datetime) else None,
                error=str(mail.get(fields.LAST_ERROR) or ""),
            )
        )
    return lines


_MAIL_STATES = frozenset(state.value for state in MailState)


def rows_of(registrations: Iterable[Registration]) -> list[Row]:
    rows = []
    for registration in registrations:
        person = registration.person
        rows.append(
            Row(
                registration,
                full_name(person.first_name, person.infix, person.last_name) if person else "",
                person.organisation if person else "",
                person.email if person else "",
            )
        )
    return rows


@dataclass(frozen=True)
class Tally:
    """A session's counts, from its registrations as read for the page."""

    confirmed: int
    waitlisted: int
    cancelled: int
    unconfirmed: int
    present: int
    seats_left: int | None

    @property
    def absent(self) -> int:
        return self.confirmed - self.present


def tally(session: Session, rows: list[Row]) -> Tally:
    def count(status: Status) -> int:
        return sum(1 for row in rows if row.registration.status == status)

    confirmed = count(Status.CONFIRMED)
    return Tally(
        confirmed=confirmed,
        waitlisted=count(Status.WAITLISTED),
        cancelled=count(Status.CANCELLED),
        unconfirmed=count(Status.UNCONFIRMED),
        present=sum(1 for row in rows if row.present and row.can_check_in),
        seats_left=None if session.capacity is None else max(session.capacity - confirmed, 0),
    )


def sessions_page(exchange: Exchange) -> flask.Response:
    service = exchange.service
    now = service.clock()
    mine = [s for s in overview.sessions_by_date(service.client) if service.may_organise(exchange.organiser, s)]
    counted = overview.session_counts(service.client, mine)
    return exchange.render(
        "organise/sessions.html",
        upcoming=[counts for counts in counted if counts.session.ends_at >= now],
        past=[counts for counts in reversed(counted) if counts.session.ends_at < now],
        signed_out=False,
    )


def session_page(
    exchange: Exchange, session: Session, *, notice: str | None = None, status: int = 200
) -> flask.Response:
    """The session and its registrations; a POST searches (the words stay out of the URL and the log)."""
    service, request = exchange.service, exchange.request
    sort = _choice(exchange, "sort", SORTS)
    shown = _choice(exchange, fields.STATUS, FILTERS)
    query = exchange.first("q").strip()[:200]
    rows = rows_of(overview.registrations(service.client, session.id))
    counts = tally(session, rows)
    words = _folded(query).split()
    listed = sorted((row for row in rows if row.shown(shown) and row.matches(words)), key=lambda r: r.sort_key(sort))
    done = request.args.get(RESULT)
    return exchange.render(
        "organise/session.html",
        status=status,
        session=session,
        rows=listed,
        total=len(rows),
        counts=counts,
        sort=sort,
        sorts=SORTS,
        shown=shown,
        filters=FILTERS,
        query=query,
        notice=notice,
        done=done if done and done.replace("-", "_").isidentifier() else None,
        over=session.ends_at <= service.clock(),
    )


def registration_page(
    exchange: Exchange, session: Session, registration_id: str, found: Registration | None = None
) -> flask.Response:
    found = found or exchange.service.registrar.find(session, registration_id)
    if found is None:
        raise NotFoundError(registration_id)
    [row] = rows_of([found])
    done = exchange.request.args.get(RESULT)
    return exchange.render(
        "organise/registration.html",
        session=session,
        row=row,
        mails=mail_lines(found),
        done=done if done and done.replace("-", "_").isidentifier() else None,
    )


def export(exchange: Exchange, session: Session, *, recorded: bool = True) -> flask.Response:
    """The registrations as CSV for Dutch Excel (the same file as `signup export`); who downloaded it is recorded
    (not for a HEAD, which downloads nothing)."""
    service = exchange.service
    out = io.StringIO()
    out.write("\ufeff")  # UTF-8 with a byte-order mark: what Dutch Excel needs to read it right
    rows = [data for _, data in overview.registration_documents(service.client, session.id)]
    csv_export.write(out, session, rows)
    if recorded:
        audit.record(service.client, session, exchange.organiser, "export")
    response = flask.Response(out.getvalue().encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="aanmeldingen-{session.id}.csv"'
    return response


def attendance(exchange: Exchange, session: Session) -> flask.Response:
    """The confirmed, in the Dutch order, to print and sign on paper."""
    rows = [row for row in rows_of(overview.registrations(exchange.service.client, session.id)) if row.can_check_in]
    rows.sort(key=lambda row: row.sort_key("name"))
    return exchange.render("organise/attendance.html", session=session, rows=rows)


def audit_page(exchange: Exchange, session: Session) -> flask.Response:
    """The trail, as an organiser reads it: who was concerned by name (the entry keeps the id only)."""
    client = exchange.service.client
    entries = audit.entries(client, session.id)
    concerned = {entry.registration_id for entry in entries if entry.registration_id}
    names: dict[str, str] = {}
    if concerned:
        registrations = [r for r in overview.registrations(client, session.id) if r.id in concerned]
        names = {row.registration.id: row.name for row in rows_of(registrations)}
    return exchange.render("organise/audit.html", session=session, entries=entries, names=names)


def _choice(exchange: Exchange, name: str, choices: tuple[str, ...]) -> str:
    asked = exchange.first(name) if exchange.fields else exchange.request.args.get(name, "")
    return asked if asked in choices else choices[0]


def _folded(text: str) -> str:
    """Letters without accents and case, as a person searching expects: "zoe" finds Zoë."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()
