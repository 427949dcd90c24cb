"""Whether an address's domain takes mail: asked of DNS within a bounded time, and remembered for a while.

email-validator asks up to four questions (MX, A, AAAA, TXT), each allowed 15 s by default, of a name server that
whoever owns the domain runs. Here the whole check has one budget (about 2 s); what it cannot learn in time is
"unknown", and the address is accepted, as email-validator does with an unreachable name server.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from email_validator import EmailUndeliverableError

from signup.errors import MisconfiguredError

if TYPE_CHECKING:
    import dns.resolver

# How long a verdict holds: a domain that answered is asked again after ten minutes; one whose name server did not
# answer in time after a minute, so that a stalling name server costs one wait a minute, not one every post.
ANSWERED_SECONDS = 600.0
UNKNOWN_SECONDS = 60.0


class Deliverability:
    """The DNS check with one time budget per address and a bounded cache of verdicts; safe across threads."""

    def __init__(
        self,
        resolver: dns.resolver.Resolver | None = None,
        *,
        budget: float = 2.0,
        size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._budget = budget
        self._size = size
        self._clock = clock
        self._verdicts: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, ascii_domain: str, domain: str) -> None:
        """Raise EmailUndeliverableError when the domain surely takes no mail; unknown passes."""
        key = ascii_domain.lower()
        problem = self._remembered(key)
        if problem is None:
            problem = self._ask(key, domain)
        if problem:
            raise EmailUndeliverableError(problem)

    def _remembered(self, key: str) -> str | None:
        """The cached verdict: "" for deliverable or unknown, the reason for undeliverable, None when not known."""
        with self._lock:
            verdict = self._verdicts.get(key)
            if verdict is None:
                return None
            if verdict[0] <= self._clock():
                del self._verdicts[key]
                return None
            self._verdicts.move_to_end(key)
            return verdict[1]

    def _ask(self, key: str, domain: str) -> str:
        # dnspython takes a quarter of a second to import: a cold start without the check need not pay for it.
        import dns.resolver
        from email_validator.deliverability import validate_email_deliverability

        if self._resolver is None:
            try:
                self._resolver = dns.resolver.Resolver()  # reads /etc/resolv.conf: on first use, not at import
            except dns.resolver.NoResolverConfiguration:
                raise MisconfiguredError(
                    "EMAIL_CHECK_DELIVERABILITY is on, but this machine has no DNS resolver configured"
                ) from None
        bounded = _Bounded(self._resolver, self._clock() + self._budget, self._clock)
        try:
            # email-validator asks its resolver only `resolve(name, type)`, which is all that _Bounded offers.
            info = validate_email_deliverability(key, domain, dns_resolver=cast("dns.resolver.Resolver", bounded))
        except EmailUndeliverableError as error:
            problem, lasts = str(error), ANSWERED_SECONDS
        else:
            problem, lasts = "", UNKNOWN_SECONDS if "unknown-deliverability" in info else ANSWERED_SECONDS
        with self._lock:
            self._verdicts[key] = (self._clock() + lasts, problem)
            self._verdicts.move_to_end(key)
            while len(self._verdicts) > self._size:
                self._verdicts.popitem(last=False)
        return problem


class _Bounded:
    """A resolver whose questions together end by one deadline: each gets only the time that is left."""

    def __init__(self, resolver: dns.resolver.Resolver, deadline: float, clock: Callable[[], float]) -> None:
        self._resolver = resolver
        self._deadline = deadline
        self._clock = clock

    def resolve(self, qname: str, rdtype: str) -> Any:
        import dns.exception

        left = self._deadline - self._clock()
        if left <= 0:
            raise dns.exception.Timeout
        return self._resolver.resolve(qname, rdtype, lifetime=left)
