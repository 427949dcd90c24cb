"""What an organiser changes on the page, each through the same code as `signup`, each recorded in the session's
audit trail: a registration checked in (or back), cancelled, promoted, its confirmation sent again; the session's
title, time, place and capacity (attendees are told by `notify`, as after any change); the session called off; a
message written to attendees (previewed, counted, queued once)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

import flask

from signup.errors import MisconfiguredError, NotFoundError
from signup.ledger.session import CAPACITY, ENDS_AT, LOCATION, STARTS_AT, TITLE, Session
from signup.ledger.status import Status
from signup.mail import changes, messages
from signup.organise import listing
from signup.organise.errors import NotConfirmedError
from signup.organise.texts import text
from signup.store import attendance, audit, sessions

if TYPE_CHECKING:
    from signup.organise.web import Exchange

# The changes a registration's row or page can post.
ACTS = ("check-in", "check-out", "cancel", "promote", "resend")
MAX_TITLE = 200
MAX_PLACE = 300
MAX_CAPACITY = 100_000
MAX_CALL_OFF_MESSAGE = 2_000


def act(exchange: Exchange, session: Session, registration_id: str, what: str) -> flask.Response:
    service = exchange.service
    client, now = service.client, service.clock()
    found = service.registrar.find(session, registration_id)
    if found is None:
        raise NotFoundError(registration_id)
    done = what
    if what in ("check-in", "check-out"):
        checked = attendance.check_in(client, session, registration_id, now, present=what == "check-in")
        if checked is attendance.CheckedIn.NOT_CONFIRMED:
            raise NotConfirmedError(registration_id)
        changed = checked is attendance.CheckedIn.CHANGED
    elif what == "cancel":
        changed = service.registrar.cancel(session, registration_id) != Status.CANCELLED
    elif what == "promote":
        changed = bool(service.registrar.promote(session, registration_id))
        done = what if changed else "promote-failed"
    else:
        changed = service.registrar.resend(session, registration_id)
        done = what if changed else "resend-on-its-way"
    if changed:
        audit.record(client, session, exchange.organiser, what, registration_id=registration_id)
    if exchange.first("back") == "session":
        [row] = listing.rows_of([found])
        notice = text(exchange.language, f"done.{done}", name=row.name)
        return listing.session_page(exchange, session, notice=notice)
    return exchange.redirect(f"/sessions/{session.id}/registrations/{registration_id}?{listing.RESULT}={done}")


# The session's form: each field and how it reads from the session.
def _session_values(session: Session) -> dict[str, str]:
    start, end = session.starts_at.astimezone(session.zone), session.ends_at.astimezone(session.zone)
    return {
        "title": session.title,
        "date": start.date().isoformat(),
        "starts": f"{start:%H:%M}",
        "end_date": end.date().isoformat(),
        "ends": f"{end:%H:%M}",
        "place": session.location.name,
        "address": session.location.address,
        "capacity": "" if session.capacity is None else str(session.capacity),
    }


def edit(exchange: Exchange, session: Session) -> flask.Response:
    """Change the title, time, place or capacity; `notify` tells the attendees of what concerns them."""
    current = _session_values(session)
    if exchange.request.method != "POST":
        return exchange.render("organise/edit.html", session=session, values=current, errors={})
    values = {name: exchange.first(name).strip() for name in current}
    errors, update, remove = _read_session_form(exchange.language, session, values)
    if not errors:
        try:
            before = sessions.save(exchange.service.client, session.id, update, remove, create=False) or {}
        except MisconfiguredError as error:
            errors["form"] = text(exchange.language, "edit.refused", reason=str(error))
        else:
            changed = {
                name: {"old": before.get(name), "new": value}
                for name, value in update.items()
                if before.get(name) != value
            }
            changed.update({name: {"old": before.get(name), "new": None} for name in remove if name in before})
            if changed:
                audit.record(exchange.service.client, session, exchange.organiser, "edit", changes=changed)
            return exchange.redirect(f"/sessions/{session.id}?{listing.RESULT}={'saved' if changed else 'unchanged'}")
    return exchange.render("organise/edit.html", status=422, session=session, values=values, errors=errors)


def _read_session_form(
    language: str, session: Session, values: dict[str, str]
) -> tuple[dict[str, str], dict[str, Any], frozenset[str]]:
    """The form's values as the session's fields; what is wrong, per field."""
    errors: dict[str, str] = {}
    if not values["title"]:
        errors["title"] = text(language, "edit.required")
    elif len(values["title"]) > MAX_TITLE or not values["title"].isprintable():
        errors["title"] = text(language, "edit.too_long", max=MAX_TITLE)
    for name in ("place", "address"):
        if len(values[name]) > MAX_PLACE or not values[name].isprintable():
            errors[name] = text(language, "edit.too_long", max=MAX_PLACE)
    starts = _moment(values["date"], values["starts"], session)
    ends = _moment(values["end_date"] or values["date"], values["ends"], session)
    if starts is None:
        errors["starts"] = text(language, "edit.moment")
    if ends is None:
        errors["ends"] = text(language, "edit.moment")
    elif starts is not None and ends <= starts:
        errors["ends"] = text(language, "edit.ends_before")
    capacity: int | None = None
    if values["capacity"]:
        if (
            not (values["capacity"].isascii() and values["capacity"].isdigit())
            or int(values["capacity"]) > MAX_CAPACITY
        ):
            errors["capacity"] = text(language, "edit.capacity", max=MAX_CAPACITY)
        else:
            capacity = int(values["capacity"])
    update: dict[str, Any] = {
        TITLE: values["title"],
        STARTS_AT: starts,
        ENDS_AT: ends,
        LOCATION: {"name": values["place"], "address": values["address"]},
    }
    remove: frozenset[str] = frozenset()
    if capacity is None:
        remove = frozenset({CAPACITY}) if session.capacity is not None else frozenset()
    else:
        update[CAPACITY] = capacity
    return errors, update, remove


def _moment(day: str, at: str, session: Session) -> datetime | None:
    """A date (YYYY-MM-DD) and a time (HH:MM) in the session's time zone."""
    try:
        local = datetime.combine(date.fromisoformat(day), time.fromisoformat(at), tzinfo=session.zone)
    except ValueError:
        return None
    return local if 2000 <= local.year <= 2200 else None


def call_off(exchange: Exchange, session: Session) -> flask.Response:
    """Call the session off with a message to everyone confirmed or waitlisted (one mail each, within seconds)."""
    service = exchange.service
    people = changes.people_to_tell(service.client, session.id)
    if exchange.request.method != "POST" or session.cancelled:
        return exchange.render("organise/call_off.html", session=session, people=people, error=None, message="")
    message = exchange.first("message").strip()
    error = None
    if not message:
        error = text(exchange.language, "call_off.required")
    elif len(message) > MAX_CALL_OFF_MESSAGE:
        error = text(exchange.language, "edit.too_long", max=MAX_CALL_OFF_MESSAGE)
    if error:
        return exchange.render(
            "organise/call_off.html", status=422, session=session, people=people, error=error, message=message
        )
    if changes.cancel_session(service.client, session.id, message):
        audit.record(service.client, session, exchange.organiser, "call-off", changes={"message": message})
    return exchange.redirect(f"/sessions/{session.id}?{listing.RESULT}=called-off")


def message(exchange: Exchange, session: Session) -> flask.Response:
    """Write to attendees: first a preview with the number of people it goes to, then send (once: the same text
    again goes only to who lacks it)."""
    service = exchange.service
    values = {name: exchange.first(name) for name in ("subject", "body", "to")}
    values["to"] = values["to"] if values["to"] in messages.AUDIENCES else "confirmed"
    context: dict[str, Any] = {"session": session, "values": values, "audiences": tuple(messages.AUDIENCES)}
    if exchange.request.method != "POST":
        return exchange.render("organise/message.html", error=None, preview=None, count=None, **context)
    try:
        written = messages.message(values["subject"], values["body"], values["to"])
    except MisconfiguredError:
        error = text(exchange.language, "message.invalid", subject=messages.MAX_SUBJECT, body=messages.MAX_BODY)
        return exchange.render("organise/message.html", status=422, error=error, preview=None, count=None, **context)
    recipients = list(messages.recipients(service.client, session, written))
    if exchange.first("step") != "send" or not recipients:
        preview = _preview(exchange, session, recipients[0] if recipients else None, written)
        return exchange.render("organise/message.html", error=None, preview=preview, count=len(recipients), **context)
    messages.store(service.client, session, written, service.clock())
    queued = messages.queue(service.client, written, recipients)
    audit.record(
        service.client,
        session,
        exchange.organiser,
        "message",
        changes={"subject": written.subject, "to": written.to, "queued": queued},
    )
    return exchange.redirect(f"/sessions/{session.id}?{listing.RESULT}=message")


def _preview(exchange: Exchange, session: Session, snapshot: Any, written: messages.Message) -> str:
    """What the first person gets, as the mail's plain text reads; the bare text without a composer."""
    composer = exchange.service.composer
    if composer is None or snapshot is None:
        return written.body
    from email.utils import make_msgid

    from signup.ledger.mailkeys import Template
    from signup.mail.compose.mails import Recipient, UnreachableAddressError

    recipient = Recipient.from_document(session.id, snapshot.id, snapshot.to_dict() or {})
    try:
        mail = composer.compose(
            Template.MESSAGE,
            session,
            recipient,
            message_id=make_msgid(domain=composer.sender.domain),
            now=exchange.service.clock(),
            extra=written.context(),
        )
    except (UnreachableAddressError, ValueError):
        return written.body  # the first person's address cannot be written to: the text as it is
    part = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8") if isinstance(payload, bytes) else ""
