"""`signup check` on MAIL_FROM's domain: SPF, DMARC, DKIM and the reply address's MX, asked of a real name server.

The name server (tests/dns_server.py) runs on a free loopback UDP port and answers from each test's records; the
resolver that the check is given asks only it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import pytest
from signup.organisers.check.command import name_server as name_server_option
from signup.organisers.check.command import resolver_for
from signup.organisers.check.mail_domain import DKIM, DMARC, REPLY_MX, SPF, check_mail_domain
from signup.organisers.check.report import Report, Result, Status

from tests.dns_server import NameServer, txt

DOMAIN = "sessies.example"
GOOD_SPF = "v=spf1 include:_spf.provider.example -all"
GOOD_DMARC = "v=DMARC1; p=reject; rua=mailto:dmarc@sessies.example"
KEY = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFC"


def check(
    records: Mapping[tuple[str, str], Sequence[str]],
    *,
    domain: str = DOMAIN,
    reply_to: str | None = None,
    dkim_selector: str | None = None,
    lifetime: float = 3.0,
    stalls: Sequence[str] = (),
    failing: Sequence[str] = (),
) -> dict[str, Result]:
    with NameServer(records, stalls=stalls, failing=failing) as name_server:
        results = check_mail_domain(
            domain,
            reply_to=reply_to,
            dkim_selector=dkim_selector,
            resolver=name_server.resolver(),
            lifetime=lifetime,
        )
    return {result.name: result for result in results}


def assert_outcome(result: Result, status: Status, says: str) -> None:
    assert result.status is status, result.summary
    assert says in result.summary
    assert (result.fix is None) is (status is Status.PASS), "a fix exactly when something is to be done"
    assert result.seconds is not None


@pytest.mark.parametrize(
    ("records", "status", "says"),
    [
        pytest.param([GOOD_SPF], Status.PASS, f"SPF: {GOOD_SPF} allows include:_spf.provider.example", id="good"),
        pytest.param(
            ["v=spf1 mx ip4:192.0.2.0/24 +a:out.sessies.example ~all"],
            Status.PASS,
            "allows mx, ip4:192.0.2.0/24, a:out.sessies.example",
            id="softfail",
        ),
        pytest.param(
            ["google-site-verification=abc", "v=spf1 ip6:2001:db8::/32 a:mail.sessies.example/24//64 -all"],
            Status.PASS,
            "allows ip6:2001:db8::/32, a:mail.sessies.example/24//64",
            id="beside-other-txt",
        ),
        pytest.param(
            ["v=spf1 exists:%{i}._spf.provider.example -all exp=explain._spf.%{d}"],
            Status.PASS,
            "allows exists:%{i}._spf.provider.example",
            id="macros",
        ),
        pytest.param(
            [txt("v=spf1 include:_spf.provider.example ", "ip4:198.51.100.7 -all")],
            Status.PASS,
            "allows include:_spf.provider.example, ip4:198.51.100.7",
            id="split-into-strings",
        ),
        pytest.param(["v=spf1 mx note= -all"], Status.PASS, "allows mx", id="unknown-modifier"),
        pytest.param(
            ["v=spf1 redirect=_spf.provider.example"],
            Status.PASS,
            "leaves the rest to redirect=_spf.provider.example",
            id="redirect",
        ),
        pytest.param([], Status.FAIL, "sessies.example has no SPF record", id="no-txt"),
        pytest.param(["google-site-verification=abc"], Status.FAIL, "has no SPF record", id="other-txt-only"),
        pytest.param(["v=spf10 include:_spf.provider.example -all"], Status.FAIL, "has no SPF record", id="spf10"),
        pytest.param([GOOD_SPF, "v=spf1 mx -all"], Status.FAIL, "has 2 SPF records", id="two-records"),
        pytest.param(["v=spf1 inclde:_spf.provider.example -all"], Status.FAIL, "'inclde:_spf", id="typo"),
        pytest.param(["v=spf1 include:_spf.provider.example !all"], Status.FAIL, "'!all' is not", id="qualifier"),
        pytest.param(["v=spf1 ip4:192.0.2.300 -all"], Status.FAIL, "'ip4:192.0.2.300' is not", id="bad-ip4"),
        pytest.param(["v=spf1 ip4:192.0.2.0/33 -all"], Status.FAIL, "'ip4:192.0.2.0/33' is not", id="bad-cidr"),
        pytest.param(["v=spf1 ip6:2001:db8::g -all"], Status.FAIL, "'ip6:2001:db8::g' is not", id="bad-ip6"),
        pytest.param(["v=spf1 include:localhost -all"], Status.FAIL, "'include:localhost' is not", id="no-dot"),
        pytest.param(["v=spf1 include:provider.example -all:x"], Status.FAIL, "'-all:x' is not", id="all-argument"),
        pytest.param(["v=spf1 mx redirect="], Status.FAIL, "'redirect=' is not a valid redirect= modifier", id="empty"),
        pytest.param(["v=spf1 include:provider.example\t-all"], Status.FAIL, "is not a mechanism", id="tab"),
        pytest.param(
            ["v=spf1 redirect=a.example redirect=b.example"], Status.FAIL, "redirect= may appear only once", id="twice"
        ),
        pytest.param(["v=spf1 a +all"], Status.FAIL, "lets anyone send as sessies.example (+all)", id="plus-all"),
        pytest.param(["v=spf1 mx all"], Status.FAIL, "lets anyone send as sessies.example (all)", id="bare-all"),
        pytest.param(["v=spf1 -all"], Status.FAIL, "allows no server to send as sessies.example", id="nobody"),
        pytest.param(["v=spf1 mx ?all"], Status.WARN, "says nothing of other servers (?all)", id="neutral"),
        pytest.param(["v=spf1 include:_spf.provider.example"], Status.WARN, "ends without an all", id="no-all"),
    ],
)
def test_spf_is_judged_by_rfc_7208(records: list[str], status: Status, says: str) -> None:
    result = check({(DOMAIN, "TXT"): [text if text.startswith('"') else txt(text) for text in records]})[SPF]

    assert_outcome(result, status, says)


def test_a_missing_spf_record_says_what_to_publish() -> None:
    result = check({})[SPF]

    assert (
        result.fix == "Publish a TXT record on sessies.example: v=spf1 include:<your mail provider's SPF domain> ~all."
    )


@pytest.mark.parametrize(
    ("records", "status", "says"),
    [
        pytest.param({"_dmarc.sessies.example": [GOOD_DMARC]}, Status.PASS, "p=reject: mail that fails", id="reject"),
        pytest.param(
            {"_dmarc.sessies.example": ["v = DMARC1 ;p = quarantine ; pct=100;"]},
            Status.PASS,
            "p=quarantine: mail that fails SPF and DKIM is put in spam",
            id="spaced-quarantine",
        ),
        pytest.param(
            {"_dmarc.sessies.example": ["v=DMARC1; p=none"]}, Status.WARN, "p=none: monitoring only", id="none"
        ),
        pytest.param({}, Status.FAIL, "_dmarc.sessies.example has no DMARC record", id="missing"),
        pytest.param(
            {"_dmarc.sessies.example": ["some-verification=1"]}, Status.FAIL, "has no DMARC record", id="other-txt"
        ),
        pytest.param(
            {"_dmarc.sessies.example": ["p=reject; v=DMARC1"]}, Status.FAIL, "it must start with v=DMARC1", id="v-late"
        ),
        pytest.param(
            {"_dmarc.sessies.example": ["v=DMARC1; rua=mailto:d@sessies.example"]},
            Status.FAIL,
            "it has no p= tag",
            id="no-p",
        ),
        pytest.param(
            {"_dmarc.sessies.example": ["v=DMARC1; p=block"]}, Status.FAIL, "p=block is none of", id="bad-policy"
        ),
        pytest.param(
            {"_dmarc.sessies.example": [GOOD_DMARC, "v=DMARC1; p=none"]}, Status.FAIL, "has 2 DMARC records", id="two"
        ),
    ],
)
def test_dmarc_is_judged_by_rfc_7489(records: dict[str, list[str]], status: Status, says: str) -> None:
    result = check({(name, "TXT"): [txt(text) for text in texts] for name, texts in records.items()})[DMARC]

    assert_outcome(result, status, says)


def test_without_dmarc_the_fix_names_the_record_and_the_2024_requirement() -> None:
    result = check({(DOMAIN, "TXT"): [txt(GOOD_SPF)]})[DMARC]

    assert result.status is Status.FAIL
    assert "Gmail and Yahoo" in result.summary
    assert result.fix is not None
    assert "_dmarc.sessies.example: v=DMARC1; p=none; rua=mailto:" in result.fix


@pytest.mark.parametrize(
    ("record", "status", "says"),
    [
        ("v=DMARC1; p=reject", Status.PASS, "_dmarc.sessies.example has p=reject (for news.sessies.example"),
        ("v=DMARC1; p=reject; sp=none", Status.WARN, "has sp=none (for news.sessies.example, a subdomain)"),
        ("v=DMARC1; p=none; sp=quarantine", Status.PASS, "has sp=quarantine"),
    ],
)
def test_a_subdomain_without_its_own_dmarc_record_falls_under_its_organisation(
    record: str, status: Status, says: str
) -> None:
    result = check({("_dmarc.sessies.example", "TXT"): [txt(record)]}, domain="news.sessies.example")[DMARC]

    assert_outcome(result, status, says)


@pytest.mark.parametrize(
    ("records", "status", "says"),
    [
        pytest.param({("s1._domainkey.sessies.example", "TXT"): [txt(KEY)]}, Status.PASS, "has a key", id="present"),
        pytest.param(
            {
                ("s1._domainkey.sessies.example", "CNAME"): ["s1.dkim.provider.example."],
                ("s1.dkim.provider.example", "TXT"): [txt(KEY)],
            },
            Status.PASS,
            "s1._domainkey.sessies.example has a key",
            id="through-cname",
        ),
        pytest.param(
            {("s1._domainkey.sessies.example", "TXT"): [txt("v=DKIM1; k=rsa; p=")]},
            Status.FAIL,
            "is revoked (p= is empty)",
            id="revoked",
        ),
        pytest.param({}, Status.FAIL, "there is no DKIM key at s1._domainkey.sessies.example", id="absent"),
        pytest.param(
            {("s1._domainkey.sessies.example", "TXT"): [txt("v=DKIM1; k=rsa")]},
            Status.FAIL,
            "holds no DKIM key (no p= tag)",
            id="no-key",
        ),
        pytest.param(
            {("s1._domainkey.sessies.example", "TXT"): [txt(KEY), txt("v=DKIM1; p=")]},
            Status.WARN,
            "has 2 key records",
            id="two-keys",
        ),
    ],
)
def test_dkim_looks_up_the_selectors_key(records: dict[tuple[str, str], list[str]], status: Status, says: str) -> None:
    result = check(records, dkim_selector="s1")[DKIM]

    assert_outcome(result, status, says)


def test_without_a_selector_dkim_is_not_checked_and_the_line_says_how_to_give_one() -> None:
    with NameServer() as name_server:
        results = check_mail_domain(DOMAIN, reply_to=None, dkim_selector=None, resolver=name_server.resolver())

    [dkim] = [result for result in results if result.name == DKIM]
    assert dkim.status is Status.WARN
    assert "give the DKIM selector your mail provider signs with (--dkim-selector)" in dkim.summary
    assert not any(name.endswith("_domainkey.sessies.example.") for name, _ in name_server.questions)


@pytest.mark.parametrize(
    ("records", "status", "says"),
    [
        pytest.param(
            {("reply.example", "MX"): ["20 mx2.reply.example.", "10 mx1.reply.example."]},
            Status.PASS,
            "Replies to org@reply.example go to MX 10 mx1.reply.example, 20 mx2.reply.example",
            id="mx",
        ),
        pytest.param(
            {("reply.example", "A"): ["192.0.2.25"]},
            Status.WARN,
            "reply.example has no MX, so they go to its own address (192.0.2.25)",
            id="implicit-a",
        ),
        pytest.param(
            {("reply.example", "AAAA"): ["2001:db8::25"]},
            Status.WARN,
            "has no MX, so they go to its own address (2001:db8::25)",
            id="implicit-aaaa",
        ),
        pytest.param(
            {("reply.example", "MX"): ["0 ."]}, Status.FAIL, "says it takes no mail (null MX, RFC 7505)", id="null-mx"
        ),
        pytest.param(
            {}, Status.FAIL, "Replies to org@reply.example bounce: reply.example does not exist", id="nxdomain"
        ),
        pytest.param(
            {("reply.example", "TXT"): [txt("v=spf1 -all")]}, Status.FAIL, "has no MX, A or AAAA record", id="no-host"
        ),
    ],
)
def test_the_reply_address_must_take_mail(records: dict[tuple[str, str], list[str]], status: Status, says: str) -> None:
    result = check(records, reply_to="De organisator <org@reply.example>")[REPLY_MX]

    assert_outcome(result, status, says)


def test_without_a_reply_address_no_mx_is_asked() -> None:
    assert set(check({})) == {SPF, DMARC, DKIM}


def test_a_deployment_with_everything_in_place_passes_every_check() -> None:
    records = {
        (DOMAIN, "TXT"): [txt(GOOD_SPF)],
        ("_dmarc.sessies.example", "TXT"): [txt(GOOD_DMARC)],
        ("s1._domainkey.sessies.example", "TXT"): [txt(KEY)],
        (DOMAIN, "MX"): ["10 mx.provider.example."],
    }

    results = check(records, dkim_selector="s1", reply_to="info@sessies.example")

    assert {name: result.status for name, result in results.items()} == dict.fromkeys(
        (SPF, DMARC, DKIM, REPLY_MX), Status.PASS
    )
    assert results[REPLY_MX].details["mx"] == ["10 mx.provider.example"]
    assert results[DMARC].details["rua"] == "mailto:dmarc@sessies.example"


STALLING = ["stall.example", "_dmarc.stall.example", "s1._domainkey.stall.example"]


# A guard against a hang, not a measure of speed: each question must give up after its lifetime.
@pytest.mark.timeout(10)
def test_a_name_server_that_never_answers_gives_warnings_within_the_bound() -> None:
    started = time.monotonic()

    results = check(
        {}, domain="stall.example", dkim_selector="s1", reply_to="org@stall.example", lifetime=0.3, stalls=STALLING
    )

    assert [(result.status, result.summary.split(":", 1)[0]) for result in results.values()] == [
        (Status.WARN, "SPF"),
        (Status.WARN, "DMARC"),
        (Status.WARN, "DKIM"),
        (Status.WARN, "Replies"),
    ]
    assert results[SPF].summary == "SPF: could not ask DNS for TXT of stall.example: no answer within 0.3 s"
    assert results[REPLY_MX].summary == "Replies: could not ask DNS for MX of stall.example: no answer within 0.3 s"
    assert all(result.fix for result in results.values())
    assert all(result.seconds is not None and result.seconds < 1.0 for result in results.values())
    assert time.monotonic() - started < 4 * 0.3 + 2


def test_a_name_server_that_fails_gives_warnings_not_verdicts() -> None:
    results = check({}, domain="broken.example", reply_to="org@broken.example", failing=["broken.example"])

    assert results[SPF].status is Status.WARN
    assert "SERVFAIL" in results[SPF].summary
    assert results[REPLY_MX].status is Status.WARN
    assert results[DMARC].status is Status.FAIL  # _dmarc.broken.example answered: it has no record


def test_a_name_server_given_by_its_ipv6_address_and_port_is_asked() -> None:
    with NameServer({(DOMAIN, "TXT"): [txt(GOOD_SPF)]}, host="::1") as name_server:
        resolver = resolver_for(name_server_option(f"[::1]:{name_server.port}"))
        results = {
            result.name: result
            for result in check_mail_domain(DOMAIN, reply_to=None, dkim_selector=None, resolver=resolver)
        }

    assert results[SPF].status is Status.PASS
    assert name_server.questions[(f"{DOMAIN}.", "TXT")] == 1


def test_what_a_hostile_record_holds_is_shown_escaped_never_sent_to_the_terminal() -> None:
    # A TXT record as a zone file writes bytes: \027 is ESC, \007 BEL, \226\128\174 U+202E in UTF-8.
    hostile = '"v=spf1 \\027]0;pwned\\007\\027[2J include:_spf.provider.example \\226\\128\\174lla- -all"'
    found = check({(DOMAIN, "TXT"): [hostile], (f"_dmarc.{DOMAIN}", "TXT"): ['"v=DMARC1; p=none\\027[5m"']})
    report = Report(found.values())

    shown = "\n".join(report.lines())

    assert all(line.isprintable() for line in report.lines())
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in shown
    assert "\\u202ella- -all" in shown
    assert all(ch.isprintable() or ch == "\n" for ch in report.to_json())
