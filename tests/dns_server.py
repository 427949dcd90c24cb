"""A real name server on a free loopback UDP port (IPv4, or IPv6 with `host="::1"`) that answers from a dict of
records (dnspython reads and writes the wire format), for tests that give a resolver which asks only it.

A name with no record of any type does not exist (NXDOMAIN); a name with records of other types has no answer for
the type asked; a CNAME is followed as a recursive resolver would. Names in `stalls` never get an answer, names in
`failing` get SERVFAIL. Every question is counted.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset

Records = Mapping[tuple[str, str], Sequence[str]]


def absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


def txt(*strings: str) -> str:
    """A TXT record's text form: each string quoted (a record longer than 255 characters is several strings)."""
    return " ".join('"' + string.replace("\\", "\\\\").replace('"', '\\"') + '"' for string in strings)


class NameServer:
    """`records` maps (name, type) to the records' text forms, as in a zone file: ("example.nl", "MX"): ["10 mx."]."""

    def __init__(
        self,
        records: Records | None = None,
        *,
        stalls: Iterable[str] = (),
        failing: Iterable[str] = (),
        host: str = "127.0.0.1",
    ):
        self.records = {
            (absolute(name), rdtype.upper()): list(texts) for (name, rdtype), texts in (records or {}).items() if texts
        }
        self.stalls = {absolute(name) for name in stalls}
        self.failing = {absolute(name) for name in failing}
        self.questions: Counter[tuple[str, str]] = Counter()
        self.host = host
        self.socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((host, 0))
        self.socket.settimeout(0.05)  # to notice `close` soon
        self.port = self.socket.getsockname()[1]
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def resolver(self) -> dns.resolver.Resolver:
        """A resolver that asks this server only (and nothing from /etc/resolv.conf)."""
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [self.host]
        resolver.port = self.port
        return resolver

    def close(self) -> None:
        self._closing.set()
        self._thread.join()
        self.socket.close()

    def __enter__(self) -> NameServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                wire, client = self.socket.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
            self.questions[(name, rdtype)] += 1
            if name in self.stalls:
                continue
            answer = dns.message.make_response(query)
            if name in self.failing:
                answer.set_rcode(dns.rcode.SERVFAIL)
            elif not self._answer(answer, name, rdtype):
                answer.set_rcode(dns.rcode.NXDOMAIN)
            self.socket.sendto(answer.to_wire(), client)

    def _answer(self, answer: dns.message.Message, name: str, rdtype: str) -> bool:
        """Add the records of `name` (through its CNAME); False when the name does not exist."""
        for _ in range(8):
            if (name, rdtype) in self.records:
                answer.answer.append(dns.rrset.from_text_list(name, 300, "IN", rdtype, self.records[(name, rdtype)]))
                return True
            aliases = self.records.get((name, "CNAME"))
            if not aliases:
                return any(owner == name for owner, _ in self.records)
            answer.answer.append(dns.rrset.from_text(name, 300, "IN", "CNAME", aliases[0]))
            name = absolute(aliases[0])
        return True
