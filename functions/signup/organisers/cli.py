"""`signup`: the organisers' command line, against the emulator locally or Google Cloud with application-default
credentials. It goes through the same code as the functions."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from signup import dates
from signup.errors import MisconfiguredError, NotFoundError
from signup.ledger.status import Status
from signup.mail import changes
from signup.mail.messages import AUDIENCES
from signup.organisers import export, organiser
from signup.organisers.asking import agreed
from signup.organisers.check import command as check_command
from signup.service import Toolbox, toolbox
from signup.settings import OrganiserSettings
from signup.store import overview, privacy


def sessions_create(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    file = organiser.session_from_toml(options.file)
    created = organiser.save_session(tools.client, file)
    print(f"{'created' if created else 'updated'} session {file.id}", file=out)


def sessions_list(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    print(
        f"{'id':<24} {'date':<44} {'confirmed':>9} {'waitlisted':>10} {'cancelled':>9} {'seats left':>10} "
        f"{'mail queued':>11} {'mail failed':>11} {'unconfirmed':>11} {'expired':>7}",
        file=out,
    )
    for counts in overview.session_counts(tools.client):
        session = counts.session
        when = dates.span(session.starts_at, session.ends_at, session.zone, session.language)
        # A session called off has no seats to give, whatever is left: it says so where the seats would be.
        left = (
            "called off" if session.cancelled else "unlimited" if counts.seats_left is None else str(counts.seats_left)
        )
        print(
            f"{session.id:<24} {when:<44} {counts.confirmed:>9} {counts.waitlisted:>10} {counts.cancelled:>9} "
            f"{left:>10} {counts.mails_queued:>11} {counts.mails_failed:>11} {counts.unconfirmed:>11} "
            f"{counts.expired:>7}",
            file=out,
        )


def sessions_cancel(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    """Call a session off: everyone confirmed or waitlisted gets one mail with the message, within seconds."""
    message = options.message.strip()
    if not message:
        raise MisconfiguredError("--message must say something: it is what everyone signed up reads")
    session = tools.sessions.get(options.session)
    if session.cancelled:
        print(f"session {session.id} was already called off; nobody is mailed again", file=out)
        return
    when = dates.span(session.starts_at, session.ends_at, session.zone, session.language)
    count = changes.people_to_tell(tools.client, session.id)
    print(
        f"{session.title}, {when}: {count} {'person' if count == 1 else 'people'} (confirmed or waitlisted) "
        "will be told that it does not take place, with your message.",
        file=out,
    )
    if not options.yes and not agreed("Call the session off?", "not calling it off", out, sys.stdin):
        print("nothing changed", file=out)
        return
    changes.cancel_session(tools.client, session.id, message)
    print(f"called off session {session.id}; the mails go out within seconds", file=out)


def export_registrations(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    session = tools.sessions.get(options.session)
    if session.check_session:
        raise MisconfiguredError(f"{session.id} is a session of `signup check`, removed when the check ends")
    rows = [data for _, data in overview.registration_documents(tools.client, session.id)]
    if options.output:
        with open(options.output, "w", encoding="utf-8-sig", newline="", opener=_private) as file:
            count = export.write(file, session, rows, delimiter=options.delimiter)
        print(f"wrote {count} registration{'' if count == 1 else 's'} to {options.output}", file=out)
    else:
        export.write(out, session, rows, delimiter=options.delimiter)


def _private(path: str, flags: int) -> int:
    """Opens a new export readable by its owner only: it holds names and addresses, whatever the umask."""
    return os.open(path, flags, 0o600)


def cancel(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    session = tools.sessions.get(options.session)
    was = tools.registrar.cancel(session, options.registration)
    print(
        "already cancelled" if was == Status.CANCELLED else f"cancelled (was {was}); the mail goes out within seconds",
        file=out,
    )


def resend(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    session = tools.sessions.get(options.session)
    found = tools.registrar.find(session, options.registration)
    if found is None:
        raise NotFoundError(options.registration)
    # Someone whose address is not confirmed yet has no confirmation to get: they get the confirm link again.
    what = "confirm mail" if found.status == Status.UNCONFIRMED else "confirmation mail"
    if tools.registrar.resend(session, options.registration):
        print(f"{what} queued; it goes out within seconds", file=out)
    else:
        print(f"the {what} is on its way already: nothing queued", file=out)


def promote(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    session = tools.sessions.get(options.session)
    promoted = tools.registrar.promote(session, options.registration)
    if not promoted:
        raise MisconfiguredError(
            f"{options.registration} was not promoted: it is not on the waiting list, or no seat is free "
            "(raise the session's capacity first)"
        )
    print(f"promoted {options.registration}; the mail goes out within seconds", file=out)


def erase(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    erased = privacy.erase(tools.client, tools.ids, options.address)
    print(f"erased the personal data of {len(erased)} registration(s)", file=out)


def sweep(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    report = tools.notifier().sweep(datetime.now(UTC))
    print(
        f"sent {report.outcomes.get('sent', 0)}, reminders queued {report.reminders_queued}, "
        f"promoted {report.promoted}, purged {report.purged}"
        + (f", sessions failed {report.sessions_failed} (see the log)" if report.sessions_failed else ""),
        file=out,
    )


def calendar_replies(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    """Where the mail provider is to post what arrives at CALENDAR_REPLY_ADDRESS (docs/calendars.md)."""
    from signup.http import inbound

    settings = tools.settings.functions
    print(f"{settings.public_base_url}/inbound/{inbound.url_secret(settings.keys)}", file=out)
    if not settings.calendar_reply_address:
        print(
            "CALENDAR_REPLY_ADDRESS is not set: invitations name the organiser, and a decline in a calendar reaches "
            "the organiser's inbox only",
            file=sys.stderr,
        )


def check(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> int:
    return check_command.run(tools, options, out)


def mail(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> None:
    from signup.organisers import mailing

    mailing.run(tools, options, out, sys.stdin)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="signup", description=__doc__)
    top.add_argument("--project", help="Google Cloud project (default: GOOGLE_CLOUD_PROJECT)")
    commands = top.add_subparsers(dest="command", required=True)

    sessions = commands.add_parser("sessions", help="create and list sessions").add_subparsers(
        dest="action", required=True
    )
    create = sessions.add_parser(
        "create",
        help=f"create a session from a TOML file, or merge the file into it (fields listed under {organiser.REMOVE} "
        "= [...] are taken off)",
    )
    create.add_argument("file", type=Path)
    create.set_defaults(run=sessions_create)
    listing = sessions.add_parser("list", help="each session with its date and counts")
    listing.set_defaults(run=sessions_list)
    calling_off = sessions.add_parser("cancel", help="call a session off and tell everyone signed up")
    calling_off.add_argument("session")
    calling_off.add_argument("--message", required=True, help="what everyone confirmed or waitlisted reads")
    calling_off.add_argument("--yes", action="store_true", help="do not ask first")
    calling_off.set_defaults(run=sessions_cancel)

    exporting = commands.add_parser("export", help="a session's registrations as CSV for Excel")
    exporting.add_argument("session")
    exporting.add_argument("--output", "-o", type=Path, help="file to write (UTF-8 with BOM); default: standard output")
    exporting.add_argument("--delimiter", default=export.DELIMITER, help="default ';', what Dutch Excel expects")
    exporting.set_defaults(run=export_registrations)

    for name, run, help_text in (
        ("cancel", cancel, "cancel a registration (the seat goes to the waiting list)"),
        ("resend", resend, "send a registration's confirmation again"),
        ("promote", promote, "move a waitlisted registration onto a free seat"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("session")
        command.add_argument("registration")
        command.set_defaults(run=run)

    erasing = commands.add_parser("erase", help="remove one person's personal data from every session")
    erasing.add_argument("address", metavar="EMAIL")
    erasing.set_defaults(run=erase)
    mailing = commands.add_parser("mail", help="write to everyone signed up: one mail each, exactly once")
    mailing.add_argument("session")
    mailing.add_argument("--subject", required=True)
    mailing.add_argument("--body-file", required=True, type=Path, help="UTF-8 text; blank lines part paragraphs")
    mailing.add_argument("--to", required=True, choices=tuple(AUDIENCES))
    mailing.add_argument("--dry-run", action="store_true", help="send nothing; show who would get it, and what")
    mailing.add_argument("--yes", action="store_true", help="do not ask before sending")
    mailing.set_defaults(run=mail)
    replies = commands.add_parser(
        "calendar-replies",
        help="the URL the mail provider posts mails to CALENDAR_REPLY_ADDRESS to (a decline in a calendar asks the "
        "person whether to cancel)",
    )
    replies.set_defaults(run=calendar_replies)
    sweeping = commands.add_parser("sweep", help="run notify's sweep once now (needs MAIL_FROM and SMTP_URL)")
    sweeping.set_defaults(run=sweep)
    checking = commands.add_parser(
        "check", help="does a deployment work? settings, mail DNS, the mail server, the live function, a test sign-up"
    )
    check_command.add_arguments(checking)
    checking.set_defaults(run=check)
    return top


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    options = parser().parse_args(argv)
    try:
        code = options.run(toolbox(OrganiserSettings.from_env(project=options.project)), options, out)
    except MisconfiguredError as error:
        print(f"signup: {error}", file=sys.stderr)
        return 2
    except NotFoundError as error:
        print(f"signup: not found: {error}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
