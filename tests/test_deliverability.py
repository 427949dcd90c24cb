"""The DNS check of an address's domain: bounded in time, remembered, and a name server that stalls never stalls us.

A real name server on a free loopback UDP port (tests/dns_server.py): it answers some names, says others do not
exist, and never answers for `stall.example`. The resolver that the check is given asks only it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import dns.exception
import dns.resolver
import pytest
from email_validator import EmailUndeliverableError
from signup import service
from signup.http.deliverability import ANSWERED_SECONDS, UNKNOWN_SECONDS, Deliverability
from signup.settings import Settings

from tests.conftest import ROOT
from tests.dns_server import NameServer
from tests.support import serve

Registrations = Callable[[str], list[dict[str, Any]]]
STALLS = "stall.example."
TAKES_MAIL = "mail.example."


@pytest.fixture
def name_server() -> Iterator[NameServer]:
    """Answers MX for mail.example, NXDOMAIN for other names, nothing at all for stall.example; counts questions."""
    with NameServer({(TAKES_MAIL, "MX"): ["10 mx.mail.example."]}, stalls=[STALLS]) as server:
        yield server


# A guard against a hang, not a measure of speed: unbounded, email-validator would wait 15 s per question.
@pytest.mark.timeout(10)
def test_a_name_server_that_never_answers_makes_the_address_unknown_which_passes(name_server: NameServer) -> None:
    check = Deliverability(name_server.resolver(), budget=0.5)

    check.check("stall.example", "stall.example")  # raises nothing: unknown is accepted

    assert name_server.questions[(STALLS, "MX")] >= 1
    assert set(name_server.questions) == {(STALLS, "MX")}  # it gave up, rather than going on to A, AAAA, TXT


@pytest.mark.timeout(10)
def test_a_stall_is_remembered_for_a_minute_so_it_costs_one_wait_not_one_per_post(name_server: NameServer) -> None:
    now = [1000.0]
    check = Deliverability(name_server.resolver(), budget=0.3, clock=lambda: now[0])
    check.check("stall.example", "stall.example")
    asked = name_server.questions[(STALLS, "MX")]

    check.check("stall.example", "stall.example")
    now[0] += UNKNOWN_SECONDS - 1
    check.check("stall.example", "stall.example")
    remembered = name_server.questions[(STALLS, "MX")]
    now[0] += 2
    check.check("stall.example", "stall.example")

    assert remembered == asked
    assert name_server.questions[(STALLS, "MX")] > asked


def test_a_domain_that_takes_mail_passes_and_is_asked_about_once_until_its_verdict_lapses(
    name_server: NameServer,
) -> None:
    now = [1000.0]
    check = Deliverability(name_server.resolver(), clock=lambda: now[0])

    check.check("mail.example", "mail.example")
    check.check("MAIL.example", "MAIL.example")
    now[0] += ANSWERED_SECONDS + 1
    check.check("mail.example", "mail.example")

    assert name_server.questions == {(TAKES_MAIL, "MX"): 2}


def test_a_domain_that_does_not_exist_is_refused_and_remembered(name_server: NameServer) -> None:
    check = Deliverability(name_server.resolver())

    for _ in range(2):
        with pytest.raises(EmailUndeliverableError, match="does not exist"):
            check.check("nowhere.example", "nowhere.example")

    assert name_server.questions == {("nowhere.example.", "MX"): 1}


def test_the_cache_holds_a_bounded_number_of_domains_and_forgets_the_least_recently_used(
    name_server: NameServer,
) -> None:
    check = Deliverability(name_server.resolver(), size=2)

    for domain in ("a.example", "b.example", "a.example", "c.example", "a.example", "b.example"):
        with pytest.raises(EmailUndeliverableError):
            check.check(domain, domain)

    # a stays in (used again), b falls out when c comes in, and is asked again.
    assert name_server.questions == {("a.example.", "MX"): 1, ("b.example.", "MX"): 2, ("c.example.", "MX"): 1}


class Stopwatch:
    """A clock that moves only while a question is asked: each takes its duration, or times out at its lifetime."""

    def __init__(self, durations: list[float]) -> None:
        self.now = 0.0
        self.durations = durations
        self.lifetimes: list[float] = []

    def __call__(self) -> float:
        return self.now

    def resolve(self, qname: str, rdtype: str, lifetime: float) -> Any:
        self.lifetimes.append(lifetime)
        duration = self.durations.pop(0)
        self.now += min(duration, lifetime)
        if duration > lifetime:
            raise dns.exception.Timeout
        raise dns.resolver.NoAnswer


@pytest.mark.parametrize(
    ("durations", "lifetimes"),
    [
        ([1.5, 9.0], [2.0, 0.5]),  # MX finds nothing after 1.5 s; A gets the half second left, and times out
        ([2.0], [2.0]),  # MX uses it all: A is not even asked
        ([0.5, 0.5, 9.0], [2.0, 1.5, 1.0]),
    ],
)
def test_all_questions_together_fit_in_one_budget(durations: list[float], lifetimes: list[float]) -> None:
    # Pure logic: a stand-in resolver and clock. Each question gets only the time left; none is asked after it.
    watch = Stopwatch(durations)
    check = Deliverability(watch, budget=2.0, clock=watch)  # type: ignore[arg-type]

    check.check("slow.test", "slow.test")  # runs out of time: unknown, which passes

    assert watch.lifetimes == pytest.approx(lifetimes)
    assert watch.now <= 2.0


def register(db: Any, deliverability: Deliverability) -> Any:
    return serve(replace(service.build(Settings.from_env(), client=db), deliverability=deliverability))


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("domain", "status", "stored"),
    [("stall.example", 201, 1), ("mail.example", 201, 1), ("nowhere.example", 422, 0)],
)
def test_a_sign_up_is_checked_through_the_given_resolver_and_a_stall_does_not_hold_it_up(
    db: Any,
    make_session: Callable[..., str],
    registrations: Registrations,
    name_server: NameServer,
    domain: str,
    status: int,
    stored: int,
) -> None:
    session_id = make_session()
    client = register(db, Deliverability(name_server.resolver(), budget=0.5))

    response = client.post(
        f"/sessions/{session_id}/registrations",
        json={"first_name": "Jan", "last_name": "Berg", "email": f"jan@{domain}"},
    )

    assert response.status_code == status, response.get_json()
    assert len(registrations(session_id)) == stored
    assert name_server.questions[(f"{domain}.", "MX")] >= 1


# What the check says on a machine without a resolver, shown in a mount namespace of the test's own where
# /etc/resolv.conf is empty: no question goes anywhere.
NO_RESOLVER = """
from signup.http.deliverability import Deliverability
from signup.errors import MisconfiguredError
try:
    Deliverability().check("example.nl", "example.nl")
except MisconfiguredError as error:
    print(error)
"""


def test_a_machine_without_a_dns_resolver_is_a_misconfiguration_that_names_the_setting() -> None:
    shell = 'mount --bind /dev/null /etc/resolv.conf && exec "$0" -c "$1"'
    ran = subprocess.run(
        ["unshare", "--mount", "sh", "-c", shell, sys.executable, NO_RESOLVER],  # noqa: S607 - util-linux's, from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "EMAIL_CHECK_DELIVERABILITY is on, but this machine has no DNS resolver configured"
