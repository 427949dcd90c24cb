"""`signup check`: does a deployment work? The configuration, the mail domain's DNS, the mail server, the live
function and, on request, a test sign-up end to end; one line per check, or JSON; exit code 0 when nothing failed."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from email.utils import parseaddr
from typing import Any, TextIO
from urllib.parse import urlsplit

from signup.keys import MAIL_CAPS
from signup.ledger.session import Session
from signup.mail.transport.mailcap import MailCap
from signup.organisers.check.configuration import check_configuration
from signup.organisers.check.live import Http, check_live, timing
from signup.organisers.check.mail_domain import check_mail_domain
from signup.organisers.check.organise import check_organise, not_configured
from signup.organisers.check.report import Report, Result, Status, printable
from signup.organisers.check.smtp import check_smtp
from signup.organisers.check.trial import check_session, check_sign_up
from signup.service import Toolbox
from signup.settings import Settings

LIVE = "live.address"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="register's address (default: PUBLIC_BASE_URL)")
    parser.add_argument("--organise-url", help="the organisers' page's address (default: ORGANISE_URL)")
    parser.add_argument(
        "--session", help="check this session's form and CORS (default: a session of the check's own, removed after)"
    )
    parser.add_argument("--sign-up", metavar="ADDRESS", help="sign this address up and follow its confirmation")
    parser.add_argument("--send-test-mail", metavar="ADDRESS", help="send one test mail through SMTP_URL")
    parser.add_argument("--dkim-selector", help="the DKIM selector your mail provider signs with")
    parser.add_argument("--reply-to", metavar="ADDRESS", help="the address replies go to (default: the organiser's)")
    parser.add_argument(
        "--nameserver",
        metavar="ADDRESS[:PORT]",
        type=name_server,
        help="ask this name server, by its IPv4 or IPv6 address (`192.0.2.53`, `[2001:db8::53]:5353`); default: the "
        "system's",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the test mail (default 60)")
    parser.add_argument(
        "--expect-failure",
        metavar="CHECK",
        action="append",
        default=[],
        help="a check known to fail here, by its name in --json (e.g. mail_domain.spf for a demo domain): "
        "shown as a warning, exit code 0 for it; may be repeated",
    )
    parser.add_argument("--json", action="store_true", help="the results as JSON, for scripts")


def name_server(value: str) -> tuple[str, int]:
    """--nameserver: an IPv4 or IPv6 address and a port (53 unless given; with IPv6, the address in brackets)."""
    host, port = value.strip(), "53"
    if host.startswith("["):
        host, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise argparse.ArgumentTypeError(f"{value!r}: write an IPv6 address with a port as [2001:db8::53]:53")
        port = rest[1:] if rest else port
    elif host.count(":") == 1:  # IPv4 with a port; more colons make an IPv6 address
        host, _, port = host.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an IPv4 or IPv6 address: give the name server's address (a name would need a name "
            "server of its own to find it)"
        ) from None
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise argparse.ArgumentTypeError(f"{value!r}: the port must be a number from 1 to 65535")
    return str(address), int(port)


def resolver_for(name_server: tuple[str, int] | None) -> Any:
    """A resolver that asks this name server only, or the system's resolver."""
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=name_server is None)
    if name_server is not None:
        resolver.nameservers, resolver.port = [name_server[0]], name_server[1]
    return resolver


def run(tools: Toolbox, options: argparse.Namespace, out: TextIO) -> int:
    report = Report()
    with _progress(quiet=options.json) as say:
        say("reading the configuration")
        results, settings = check_configuration(tools.settings, tools.client)
        report.extend(results)
        session = tools.sessions.get(options.session) if options.session else None
        if settings is not None:
            say("asking DNS about the mail domain")
            report.extend(_mail_domain(settings, session, options))
            say("talking to the mail server")
            report.extend(
                check_smtp(
                    str(settings.smtp_url),
                    settings.smtp_password,
                    settings.smtp_timeout,
                    sender=str(settings.mail_from),
                    send_test_to=options.send_test_mail,
                )
            )
        url = options.url or (settings.public_base_url if settings else None)
        if not url or urlsplit(url).scheme not in ("http", "https"):
            fix = "Give --url (`terraform output form_url` without the session part), or set PUBLIC_BASE_URL."
            report.add(Result(LIVE, Status.FAIL, f"live: no http(s) address of register to check ({url})", fix))
        else:
            report.extend(_live(tools, settings, session, Http(url.rstrip("/")), options, say))
        organise_url = options.organise_url or (settings.organise_url if settings else None)
        if organise_url and urlsplit(organise_url).scheme in ("http", "https"):
            say(f"asking {organise_url}")
            report.extend(check_organise(Http(organise_url.rstrip("/"))))
        else:
            report.add(not_configured())
    report.expect_failures(options.expect_failure)
    print(report.to_json() if options.json else "\n".join(report.lines()), file=out)
    return report.exit_code()


def _mail_domain(settings: Settings, session: Session | None, options: argparse.Namespace) -> list[Result]:
    resolver = resolver_for(options.nameserver)
    sender = parseaddr(str(settings.mail_from))[1]
    organiser = session.organiser.email if session is not None and session.organiser else ""
    return check_mail_domain(
        sender.rpartition("@")[2],
        reply_to=options.reply_to or organiser or sender,
        dkim_selector=options.dkim_selector,
        resolver=resolver,
    )


def _live(
    tools: Toolbox,
    settings: Settings | None,
    session: Session | None,
    http: Http,
    options: argparse.Namespace,
    say: Any,
) -> list[Result]:
    own = check_session(tools.client) if session is None or options.sign_up else nullcontext(None)
    with own as check_id:
        say(f"asking {http.base_url}")
        target = session.id if session is not None else str(check_id)
        origins = sorted(session.allowed_origins) if session is not None else []
        results = check_live(http, target, origins)
        if options.sign_up and check_id is not None and not any(r.status is Status.FAIL for r in results[:1]):
            if settings is None:
                results.append(Result("sign_up.stored", Status.FAIL, "sign-up: not tried, the settings do not hold"))
            else:
                cap = MailCap(tools.client, settings.keys.subkey(MAIL_CAPS), settings.mail_cap_per_day)
                results += check_sign_up(
                    http, tools.client, cap, check_id, options.sign_up, timeout=options.timeout, progress=say
                )
    return [*results, timing(http)]


@contextmanager
def _progress(*, quiet: bool) -> Iterator[Any]:
    """A line on standard error that says what is being checked, where a check takes a while; none for scripts."""
    if quiet:
        yield lambda text: None
        return
    from rich.console import Console
    from rich.markup import escape

    with Console(stderr=True).status("checking") as status:
        yield lambda text: status.update(f"checking: {escape(printable(text))}")
