"""`signup check` against make dev's pieces: the emulator with its trigger delivery, `register` and `notify` served,
the local SMTP server (and one with STARTTLS), and a local name server; each line comes from a real exchange."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from signup.organisers import cli

from dev import processes
from dev.mailbox import Mailbox
from tests import smtp_servers
from tests.conftest import STACK_PROJECT, Stack
from tests.dns_server import NameServer, txt
from tests.support import sign_up

GOOD_DNS = {
    ("example.nl", "TXT"): [txt("v=spf1 include:_spf.mail.example.net -all")],
    ("_dmarc.example.nl", "TXT"): [txt("v=DMARC1; p=quarantine; rua=mailto:dmarc@example.nl")],
    ("example.nl", "MX"): ["10 mx.example.nl."],
}


def every_document(db: Any) -> set[str]:
    """The path of every document in the database, subcollections too."""
    found: set[str] = set()
    pending = list(db.collections())
    while pending:
        for snapshot in pending.pop().list_documents():
            found.add(snapshot.path)
            pending.extend(snapshot.collections())
    return found


@pytest.fixture
def deployment(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The environment an operator runs `signup check` with, for the stack's project."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", STACK_PROJECT)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", stack.firestore.host)
    monkeypatch.setenv("PUBLIC_BASE_URL", stack.register_url)
    monkeypatch.setenv("ORGANISE_URL", stack.organise_url)
    return stack


@pytest.fixture
def good_dns() -> Iterator[NameServer]:
    with NameServer(GOOD_DNS) as server:
        yield server


def check(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(["check", *argv], out=out)
    return code, out.getvalue()


def results(output: str) -> dict[str, dict[str, Any]]:
    return {result["name"]: result for result in json.loads(output)["checks"]}


def test_a_working_deployment_passes_end_to_end_and_the_check_leaves_nothing_behind(
    deployment: Stack, inbox: Mailbox, good_dns: NameServer
) -> None:
    before = every_document(deployment.db)

    code, output = check("--sign-up", "check@example.nl", "--nameserver", f"127.0.0.1:{good_dns.port}", "--json")
    time.sleep(1.0)  # the events of the check's own writes, still on their way

    found = results(output)
    assert code == 0
    assert {name: result["result"] for name, result in found.items()} == {
        "configuration.settings": "pass",
        "configuration.key": "pass",
        "configuration.protections": "warn",  # the stack checks no addresses' DNS
        "mail_domain.spf": "pass",
        "mail_domain.dmarc": "pass",
        "mail_domain.dkim": "warn",  # no selector given
        "mail_domain.reply_mx": "pass",
        "smtp.connect": "pass",
        "smtp.tls": "warn",  # the local relay speaks clear text, on loopback
        "live.health": "pass",
        "live.embed": "pass",
        "live.form": "pass",
        "live.headers": "pass",
        "live.cors": "warn",  # the check's own session lists no site
        "sign_up.stored": "pass",
        "sign_up.mail": "pass",
        "live.timing": "pass",
        "organise.health": "pass",
        "organise.sign_in": "pass",
        "organise.cross_site": "pass",
    }
    [mail] = [r for r in inbox.received if r.recipients == ["check@example.nl"]]
    assert mail.message["Message-ID"] == found["sign_up.mail"]["details"]["message-id"]
    assert mail.message["Subject"].startswith("Bevestiging: signup check")
    assert every_document(deployment.db) == before


def test_the_lines_mark_each_check_and_a_failure_makes_the_exit_code_1(deployment: Stack, inbox: Mailbox) -> None:
    records = {**GOOD_DNS, ("_dmarc.example.nl", "TXT"): [txt("v=DMARC1; p=none")]}
    records.pop(("example.nl", "TXT"))
    with NameServer(records) as server:
        code, output = check("--nameserver", f"127.0.0.1:{server.port}")

    lines = output.splitlines()
    assert code == 1
    assert any(line.startswith("✘ SPF") for line in lines), output
    assert any(line.startswith("⚠ DMARC") and "p=none" in line for line in lines), output
    assert any(line.startswith("✔ health") for line in lines), output
    assert any(line.startswith("  → ") for line in lines)  # a fix under each line that is not ✔


def test_a_session_given_is_checked_with_cors_for_each_site_it_allows(deployment: Stack, good_dns: NameServer) -> None:
    session_id = deployment.create_session("met-sites")  # allows the demo site

    code, output = check("--session", session_id, "--nameserver", f"127.0.0.1:{good_dns.port}", "--json")

    found = results(output)
    assert code == 0
    assert found[f"live.cors.{deployment.site_url}"]["result"] == "pass"
    assert "sign_up.stored" not in found


def test_a_function_that_does_not_answer_fails_the_live_checks_and_nothing_is_signed_up(
    deployment: Stack, good_dns: NameServer
) -> None:
    nowhere = f"http://127.0.0.1:{processes.free_port()}"
    before = every_document(deployment.db)

    code, output = check(
        "--url", nowhere, "--sign-up", "check@example.nl", "--nameserver", f"127.0.0.1:{good_dns.port}", "--json"
    )

    found = results(output)
    assert code == 1
    assert found["live.health"]["result"] == "fail"
    assert "no answer" in found["live.health"]["summary"]
    assert "sign_up.stored" not in found
    assert every_document(deployment.db) == before


def test_a_mail_server_that_refuses_the_test_mail_shows_its_reason(
    deployment: Stack, inbox: Mailbox, good_dns: NameServer
) -> None:
    inbox.refuse_always("550 5.1.1 No such mailbox here")

    code, output = check("--sign-up", "nobody@example.nl", "--nameserver", f"127.0.0.1:{good_dns.port}", "--json")

    found = results(output)
    assert code == 1
    assert found["sign_up.mail"]["result"] == "fail"
    assert "No such mailbox here" in found["sign_up.mail"]["summary"]


@pytest.fixture
def starttls_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Mailbox, int]]:
    authority = trustme.CA()
    smtp_servers.trust(authority, tmp_path, monkeypatch)
    yield from smtp_servers.starttls(authority)


def test_a_relay_with_starttls_and_a_login_takes_the_test_mail(
    deployment: Stack, good_dns: NameServer, starttls_relay: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    relay, port = starttls_relay
    monkeypatch.setenv("SMTP_URL", f"smtp://{smtp_servers.USER}@127.0.0.1:{port}")
    monkeypatch.setenv("SMTP_PASSWORD", smtp_servers.PASSWORD)

    code, output = check("--send-test-mail", "anna@example.nl", "--nameserver", f"127.0.0.1:{good_dns.port}", "--json")

    found = results(output)
    assert code == 0
    assert [found[name]["result"] for name in ("smtp.connect", "smtp.tls", "smtp.login", "smtp.test_mail")] == [
        "pass"
    ] * 4
    [mail] = relay.received
    assert mail.recipients == ["anna@example.nl"]
    assert mail.message["Subject"] == "signup check: test mail"


def test_a_check_session_is_never_counted_exported_or_reminded(
    db: Any, client: Any, make_session: Callable[..., str]
) -> None:
    from signup.ledger.session import parse_session
    from signup.mail.reminders import queue_due
    from signup.organisers.check.trial import check_session
    from signup.store.overview import session_counts

    make_session()
    with check_session(db) as session_id:
        sign_up(client, session_id)
        session = parse_session(session_id, db.collection("sessions").document(session_id).get().to_dict())
        counted = [counts.session.id for counts in session_counts(db)]
        exported = cli.main(["export", session_id], out=io.StringIO())
        reminded = queue_due(db, replace(session, reminder_hours=(24.0,)), session.starts_at - timedelta(hours=1), 500)
    left = db.collection("sessions").document(session_id).get().exists

    assert session.check_session
    assert session_id not in counted
    assert exported == 2
    assert reminded == 0
    assert not left


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("ns.example.nl", "is not an IPv4 or IPv6 address"),
        ("192.0.2.53:dns", "the port must be a number"),
        ("192.0.2.53:70000", "the port must be a number"),
        ("[2001:db8::53]x", "[2001:db8::53]:53"),
        ("[2001:db8::53", "[2001:db8::53]:53"),
    ],
)
def test_a_name_server_that_is_no_address_is_refused_with_a_clear_line(
    given: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        check("--nameserver", given)

    error = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"argument --nameserver: {given!r}" in error
    assert said in error
    assert "Traceback" not in error


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("::1", ("::1", 53)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[::1]:53", ("::1", 53)),
        ("[2001:DB8::53]", ("2001:db8::53", 53)),
    ],
)
def test_a_name_server_is_an_ipv4_or_ipv6_address_with_or_without_a_port(given: str, expected: tuple[str, int]) -> None:
    assert cli.parser().parse_args(["check", "--nameserver", given]).nameserver == expected


@pytest.mark.parametrize("secret", ["none", " NONE ", ""])
def test_turnstile_is_off_with_the_secret_infra_stores_when_none_is_used(
    db: Any, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    from signup.organisers.check.configuration import PROTECTIONS, check_configuration
    from signup.settings import OrganiserSettings

    monkeypatch.setenv("TURNSTILE_SECRET_KEY", secret)
    monkeypatch.setenv("SMTP_URL", "smtp://127.0.0.1:25")  # notify's settings must hold for the check to go on
    results, settings = check_configuration(OrganiserSettings.from_env(), db)

    [protections] = [result for result in results if result.name == PROTECTIONS]
    assert settings is not None
    assert settings.turnstile_secret_key is None
    assert "Cloudflare Turnstile" in " ".join(protections.details["off"])
    assert "Cloudflare Turnstile" not in " ".join(protections.details["on"])


def test_the_organisers_page_is_checked_and_one_that_does_not_answer_fails(
    deployment: Stack, good_dns: NameServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    nameserver = ("--nameserver", f"127.0.0.1:{good_dns.port}", "--json")
    monkeypatch.setenv("ORGANISE_URL", f"http://127.0.0.1:{processes.free_port()}")
    code, output = check(*nameserver)
    failed = results(output)["organise.health"]
    monkeypatch.delenv("ORGANISE_URL")
    unset_code, unset = check(*nameserver)

    assert code == 1
    assert (failed["result"], failed["fix"]) == (
        "fail",
        "Check the address (`terraform output organise_url`) and that `organise` is deployed.",
    )
    assert unset_code == 0
    assert results(unset)["organise.url"]["result"] == "warn"
    assert "organise.health" not in results(unset)


def test_an_organise_url_in_clear_text_elsewhere_than_this_machine_fails_the_settings(
    deployment: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGANISE_URL", "http://organise.example.nl")

    code, output = check("--json", "--url", "http://127.0.0.1:9")

    assert code == 1
    assert "ORGANISE_URL must be an https address" in results(output)["configuration.settings"]["summary"]
