"""Whether mail from MAIL_FROM's domain is delivered: SPF, DMARC and DKIM in its DNS, and an MX for the replies.

Each DNS question has `lifetime` seconds; one that gets no verdict in time (a timeout, SERVFAIL, no name server) is a
warning that says so, never a hang and never an exception.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
from typing import Any

import dns.exception
import dns.name
import dns.resolver

from signup.organisers.check.report import Result, Status

SPF, DMARC, DKIM, REPLY_MX = "mail_domain.spf", "mail_domain.dmarc", "mail_domain.dkim", "mail_domain.reply_mx"
AGAIN = "Run the check again; if this persists, the domain's name servers do not answer, and receivers cannot check it."


def check_mail_domain(
    domain: str,
    *,
    reply_to: str | None,
    dkim_selector: str | None,
    resolver: dns.resolver.Resolver,
    lifetime: float = 3.0,
) -> list[Result]:
    """SPF, DMARC and DKIM of `domain` (MAIL_FROM's), and the MX of `reply_to`'s domain when there is one."""
    domain = domain.strip().rstrip(".").lower()
    ask = _Asker(resolver, lifetime)
    checks: list[tuple[str, str, Callable[[], Result]]] = [
        (SPF, "SPF", lambda: _spf(ask, domain)),
        (DMARC, "DMARC", lambda: _dmarc(ask, domain)),
        (DKIM, "DKIM", lambda: _dkim(ask, domain, dkim_selector)),
    ]
    if reply_to:
        checks.append((REPLY_MX, "Replies", lambda: _reply_mx(ask, reply_to)))
    results = []
    for name, label, check in checks:
        started = time.monotonic()
        try:
            result = check()
        except _UnansweredError as error:
            result = Result(name, Status.WARN, f"{label}: could not ask DNS {error}", AGAIN, details={"domain": domain})
        results.append(replace(result, seconds=time.monotonic() - started))
    return results


class _UnansweredError(Exception):
    """DNS gave no verdict (timeout, SERVFAIL, no name server): the question may be asked again later."""


@dataclass(frozen=True)
class _Answer:
    records: list[Any] = field(default_factory=list)
    nxdomain: bool = False

    def texts(self) -> list[str]:
        """TXT records, each one's strings joined without a separator (RFC 7208 section 3.3)."""
        return [b"".join(record.strings).decode("utf-8", errors="replace") for record in self.records]


@dataclass(frozen=True)
class _Asker:
    resolver: dns.resolver.Resolver
    lifetime: float

    def __call__(self, name: str, rdtype: str) -> _Answer:
        try:
            answer = self.resolver.resolve(name, rdtype, lifetime=self.lifetime, search=False)
        except dns.resolver.NXDOMAIN:
            return _Answer(nxdomain=True)
        except dns.resolver.NoAnswer:
            return _Answer()
        except dns.exception.Timeout:
            problem = f"no answer within {self.lifetime:g} s"
        except dns.resolver.NoNameservers:
            problem = "the name servers failed (SERVFAIL or refused)"
        except dns.exception.DNSException as error:
            problem = str(error) or type(error).__name__
        else:
            return _Answer(list(answer))
        raise _UnansweredError(f"for {rdtype} of {name}: {problem}")


# --- SPF: RFC 7208; the grammar is its section 12.

_MACRO_EXPAND = r"%\{[slodiphcrtv][0-9]*r?[-.+,/_=]*\}|%%|%_|%-"
_MACRO_TOKEN = re.compile(rf"{_MACRO_EXPAND}|[\x21-\x24\x26-\x7e]", re.IGNORECASE)
_TOPLABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.IGNORECASE)
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IP4_NETWORK = re.compile(rf"{_QNUM}(?:\.{_QNUM}){{3}}")
_IP4_CIDR = r"/(?:0|[1-9][0-9]?)"
_IP6_CIDR = r"/(?:0|[1-9][0-9]{0,2})"
_MODIFIER = re.compile(r"([a-z][a-z0-9_.-]*)=(.*)", re.IGNORECASE | re.DOTALL)
_DIRECTIVE = re.compile(r"([-+?~]?)([a-z][a-z0-9]*)(.*)", re.IGNORECASE | re.DOTALL)
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")


def _macro_tokens(text: str) -> list[str] | None:
    """The macro-string's tokens, or None when `text` is not one."""
    tokens: list[str] = _MACRO_TOKEN.findall(text)
    return tokens if sum(map(len, tokens)) == len(text) else None


def _is_domain_spec(text: str) -> bool:
    """domain-spec: a macro-string that ends in a macro-expand or in "." toplabel ["."]."""
    tokens = _macro_tokens(text)
    if not tokens:
        return False
    if tokens[-1].startswith("%"):
        return True
    tail = ""
    for token in reversed(tokens):
        if token.startswith("%"):
            break
        tail = token + tail
    tail = tail.removesuffix(".")
    _, dot, label = tail.rpartition(".")
    return bool(dot) and bool(_TOPLABEL.fullmatch(label)) and not label.isdigit()


def _within(cidr: str | None, most: int) -> bool:
    """A cidr-length ("/24", or "//64" after an ip4 one) no longer than `most`."""
    return cidr is None or int(cidr.lstrip("/")) <= most


def _is_ip6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _mechanism_is_valid(name: str, arguments: str) -> bool:
    if name == "all":
        return arguments == ""
    if name in ("include", "exists"):
        return arguments.startswith(":") and _is_domain_spec(arguments[1:])
    if name == "ptr":
        return arguments == "" or (arguments.startswith(":") and _is_domain_spec(arguments[1:]))
    if name in ("a", "mx"):
        parts = re.fullmatch(rf"(?::(.*?))?({_IP4_CIDR})?(/{_IP6_CIDR})?", arguments, re.DOTALL)
        return (
            parts is not None
            and (parts[1] is None or _is_domain_spec(parts[1]))
            and _within(parts[2], 32)
            and _within(parts[3], 128)
        )
    if name == "ip4":
        parts = re.fullmatch(rf":([0-9.]+)({_IP4_CIDR})?", arguments)
        return parts is not None and bool(_IP4_NETWORK.fullmatch(parts[1])) and _within(parts[2], 32)
    if name == "ip6":
        parts = re.fullmatch(rf":([0-9a-f:.]+)({_IP6_CIDR})?", arguments, re.IGNORECASE)
        return parts is not None and _is_ip6(parts[1]) and _within(parts[2], 128)
    return False


@dataclass(frozen=True)
class _Term:
    text: str
    name: str  # lower case
    qualifier: str | None  # "+", "-", "~" or "?" for a mechanism; None for a modifier


def _spf_terms(record: str) -> list[_Term]:
    """The terms of a "v=spf1" record; ValueError names the first one that RFC 7208's grammar does not allow."""
    terms: list[_Term] = []
    for text in record[len("v=spf1") :].split(" "):  # terms are separated by spaces only: a tab makes a bad term
        if not text:
            continue
        modifier = _MODIFIER.fullmatch(text)
        if modifier:
            name, value = modifier[1].lower(), modifier[2]
            if not (_is_domain_spec(value) if name in ("redirect", "exp") else _macro_tokens(value) is not None):
                raise ValueError(f"{text!r} is not a valid {name}= modifier")
            if name in ("redirect", "exp") and any(term.name == name for term in terms if term.qualifier is None):
                raise ValueError(f"{name}= may appear only once")
            terms.append(_Term(text, name, None))
            continue
        directive = _DIRECTIVE.fullmatch(text)
        if not directive or not _mechanism_is_valid(directive[2].lower(), directive[3]):
            raise ValueError(
                f"{text!r} is not a mechanism ({', '.join(MECHANISMS)}, with +, -, ~ or ? in front) "
                "nor a name=value modifier"
            )
        terms.append(_Term(text, directive[2].lower(), directive[1] or "+"))
    return terms


def _is_spf(text: str) -> bool:
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def _spf(ask: _Asker, domain: str) -> Result:
    name = SPF
    records = [text for text in ask(domain, "TXT").texts() if _is_spf(text)]
    facts: dict[str, Any] = {"domain": domain, "records": records}
    if not records:
        return Result(
            name,
            Status.FAIL,
            f"SPF: {domain} has no SPF record, so receivers cannot tell your mail server from a forger",
            f"Publish a TXT record on {domain}: v=spf1 include:<your mail provider's SPF domain> ~all.",
            details=facts,
        )
    if len(records) > 1:
        return Result(
            name,
            Status.FAIL,
            f"SPF: {domain} has {len(records)} SPF records ({' | '.join(records)}), which is an error "
            "(RFC 7208 permerror): receivers treat its mail as unchecked",
            "Merge them into one TXT record that starts with v=spf1 and ends with a single ~all or -all.",
            details=facts,
        )
    [record] = records
    try:
        terms = _spf_terms(record)
    except ValueError as error:
        return Result(
            name,
            Status.FAIL,
            f"SPF: {record} is broken: {error} (RFC 7208 permerror)",
            f"Correct the TXT record on {domain} by the grammar of RFC 7208 section 12.",
            details=facts,
        )
    mechanisms = [term for term in terms if term.qualifier is not None]
    final = next((term for term in mechanisms if term.name == "all"), None)
    used = mechanisms[: mechanisms.index(final)] if final else mechanisms
    allows = [term.text.lstrip("+") for term in used if term.qualifier == "+"]
    redirect = next((term.text for term in terms if term.name == "redirect" and term.qualifier is None), None)
    allowed = ", ".join(allows) or "no server"
    facts.update(allows=allows, all=final.text if final else None, redirect=redirect)
    if final is not None and final.qualifier == "+":
        summary = f"SPF: {record} lets anyone send as {domain} ({final.text})"
        fix = f"Replace {final.text} with ~all or -all, so that only the servers you name may send as {domain}."
        return Result(name, Status.FAIL, summary, fix, details=facts)
    if final is None and redirect is None:
        summary = f"SPF: {record} allows {allowed}, and ends without an all: other servers get a neutral verdict"
        return Result(name, Status.WARN, summary, "End the record with ~all (or -all).", details=facts)
    if final is not None and final.qualifier == "?":
        summary = f"SPF: {record} allows {allowed}, and says nothing of other servers (?all)"
        return Result(name, Status.WARN, summary, "Replace ?all with ~all (or -all).", details=facts)
    if final is not None and not allows:
        summary = f"SPF: {record} allows no server to send as {domain}: all its mail fails SPF"
        fix = f"Add your mail provider before the all: v=spf1 include:<its SPF domain> {final.text}."
        return Result(name, Status.FAIL, summary, fix, details=facts)
    if final is None:
        summary = f"SPF: {record} allows {allowed}, and leaves the rest to {redirect}"
        return Result(name, Status.PASS, summary, details=facts)
    return Result(name, Status.PASS, f"SPF: {record} allows {allowed}", details=facts)


# --- DMARC: RFC 7489, sections 6.3 (tags) and 6.4 (grammar).


def _tags(record: str) -> list[tuple[str, str]]:
    """name=value pairs separated by ";", whitespace allowed around both; a part without "=" is left out."""
    pairs = []
    for part in record.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            pairs.append((name.strip(" \t\r\n"), value.strip(" \t\r\n")))
    return pairs


def _is_dmarc(record: str) -> bool:
    return any(name.lower() == "v" and value.upper() == "DMARC1" for name, value in _tags(record))


def _dmarc(ask: _Asker, domain: str) -> Result:
    """The record at _dmarc.<domain>, else at the nearest parent that has one (DMARCbis's tree walk, which needs no
    public suffix list): a subdomain falls under its organisation's sp= (or p=)."""
    labels = domain.split(".")
    for start in range(max(len(labels) - 1, 1)):
        owner = ".".join(labels[start:])
        records = [text for text in ask(f"_dmarc.{owner}", "TXT").texts() if _is_dmarc(text)]
        if records:
            return _dmarc_verdict(domain, owner, records)
    return Result(
        DMARC,
        Status.FAIL,
        f"DMARC: _dmarc.{domain} has no DMARC record: Gmail and Yahoo refuse or spam bulk mail without one "
        "(since 2024)",
        f"Publish a TXT record at _dmarc.{domain}: v=DMARC1; p=none; rua=mailto:<an address of yours>, and move "
        "to p=quarantine once the reports show only your own mail.",
        details={"domain": domain},
    )


def _dmarc_verdict(domain: str, owner: str, records: list[str]) -> Result:
    name = DMARC
    where = f"_dmarc.{owner}"
    facts: dict[str, Any] = {"domain": domain, "name": where, "records": records}
    if len(records) > 1:
        summary = f"DMARC: {where} has {len(records)} DMARC records ({' | '.join(records)}): receivers ignore them all"
        return Result(name, Status.FAIL, summary, f"Merge them into one TXT record at {where}.", details=facts)
    [record] = records
    values = {key.lower(): value for key, value in reversed(_tags(record))}  # the first of a repeated tag counts
    tag = "p" if owner == domain else ("sp" if "sp" in values else "p")
    policy = values.get(tag, "").lower()
    version, equals, first = record.split(";", 1)[0].partition("=")
    problem = None
    if not (equals and version.strip(" \t").lower() == "v" and first.strip(" \t") == "DMARC1"):
        problem = "it must start with v=DMARC1"
    elif "p" not in values:
        problem = "it has no p= tag"
    elif policy not in ("none", "quarantine", "reject"):
        problem = f"{tag}={policy} is none of none, quarantine, reject"
    if problem:
        summary = f"DMARC: {where} is broken ({record}): {problem}, so receivers ignore it"
        fix = f"Write it as v=DMARC1; p=none; rua=mailto:<an address of yours> (RFC 7489 section 6.4) at {where}."
        return Result(name, Status.FAIL, summary, fix, details=facts)
    facts.update(policy=policy, rua=values.get("rua"))
    inherited = "" if owner == domain else f" (for {domain}, a subdomain)"
    if policy == "none":
        return Result(
            name,
            Status.WARN,
            f"DMARC: {where} has {tag}=none{inherited}: monitoring only; mail that fails SPF and DKIM is delivered "
            f"all the same, so others can still send as {domain}",
            f"Once the reports (rua=) show only your own mail, set {tag}=quarantine, and later {tag}=reject.",
            details=facts,
        )
    outcome = "put in spam" if policy == "quarantine" else "refused"
    summary = f"DMARC: {where} has {tag}={policy}{inherited}: mail that fails SPF and DKIM is {outcome}"
    return Result(name, Status.PASS, summary, details=facts)


# --- DKIM: the public key at <selector>._domainkey.<domain> (RFC 6376 section 3.6.1).


def _dkim(ask: _Asker, domain: str, selector: str | None) -> Result:
    name = DKIM
    if not selector:
        return Result(
            name,
            Status.WARN,
            "DKIM: not checked: give the DKIM selector your mail provider signs with (--dkim-selector)",
            "Pass --dkim-selector: it is the s= of the DKIM-Signature header in a mail you sent through your provider.",
            details={"domain": domain},
        )
    where = f"{selector}._domainkey.{domain}"
    records = ask(where, "TXT").texts()
    facts: dict[str, Any] = {"domain": domain, "name": where, "records": records}
    keys = ["".join(value.split()) for record in records for key, value in _tags(record) if key == "p"]
    if not keys:
        summary = (
            f"DKIM: there is no DKIM key at {where}"
            if not records
            else f"DKIM: {where} holds no DKIM key (no p= tag): {' | '.join(records)}"
        )
        fix = f"Publish the DKIM key your mail provider gives you for selector {selector}, or check the selector."
        return Result(name, Status.FAIL, summary, fix, details=facts)
    if len(keys) > 1:
        summary = f"DKIM: {where} has {len(keys)} key records: receivers may pick any of them"
        return Result(name, Status.WARN, summary, f"Keep one key record at {where}.", details=facts)
    if not keys[0]:
        summary = f"DKIM: the key at {where} is revoked (p= is empty): mail signed with it fails DKIM"
        fix = "Publish the current key from your mail provider, or give the selector it signs with now."
        return Result(name, Status.FAIL, summary, fix, details=facts)
    return Result(name, Status.PASS, f"DKIM: {where} has a key", details=facts)


# --- Replies: the MX of the reply address's domain (RFC 5321 section 5.1; a null MX is RFC 7505).


def _reply_mx(ask: _Asker, reply_to: str) -> Result:
    name = REPLY_MX
    address = parseaddr(reply_to)[1]
    domain = address.rpartition("@")[2].rstrip(".").lower()
    facts: dict[str, Any] = {"address": address, "domain": domain}
    if "@" not in address or not domain:
        summary = f"Replies: {reply_to!r} is not an address, so replies have nowhere to go"
        return Result(name, Status.FAIL, summary, "Give the reply address as name@domain.", details=facts)
    answer = ask(domain, "MX")
    implicit = [] if answer.records or answer.nxdomain else ask(domain, "A").records or ask(domain, "AAAA").records
    bounce = f"Give a reply address whose domain takes mail, or publish an MX record for {domain}."
    if answer.nxdomain:
        summary = f"Replies to {address} bounce: {domain} does not exist"
        return Result(name, Status.FAIL, summary, bounce, details=facts)
    if any(record.exchange == dns.name.root for record in answer.records):
        summary = f"Replies to {address} bounce: {domain} says it takes no mail (null MX, RFC 7505)"
        return Result(name, Status.FAIL, summary, bounce, details=facts)
    if answer.records:
        exchanges = [
            f"{record.preference} {record.exchange.to_text(omit_final_dot=True)}"
            for record in sorted(answer.records, key=lambda record: (record.preference, str(record.exchange)))
        ]
        facts["mx"] = exchanges
        return Result(name, Status.PASS, f"Replies to {address} go to MX {', '.join(exchanges)}", details=facts)
    if implicit:
        facts["addresses"] = [record.to_text() for record in implicit]
        summary = f"Replies to {address}: {domain} has no MX, so they go to its own address ({implicit[0]})"
        fix = f"Publish an MX record for {domain} naming the server that takes its mail."
        return Result(name, Status.WARN, summary, fix, details=facts)
    summary = f"Replies to {address} bounce: {domain} has no MX, A or AAAA record"
    return Result(name, Status.FAIL, summary, bounce, details=facts)
