"""At most so many mails a day to one mailbox, so that the form cannot be used to flood someone's inbox.

The cap counts mailboxes, not addresses: `Target+1@example.nl` and `target+2@example.nl` reach one inbox.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore

from signup.ledger.fields import EXPIRES_AT

MAILCAPS = "mailcaps"


def mailbox(address: str) -> str:
    """The inbox an address reaches, as the cap counts it: without a subaddress (`+tag`), in lower case.

    Only for counting: the address is stored and mailed as it was typed."""
    local, _, domain = address.rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}".lower()


class MailCap:
    """Counts mails per mailbox and day in `mailcaps/{keyed hash}-{day}`: a write before a batch goes, and one after
    for what it did not send."""

    def __init__(self, client: Any, key: bytes, per_day: int) -> None:
        self._client = client
        self._key = key
        self.per_day = per_day

    def reserve(self, wanted: Counter[str], now: datetime) -> Counter[str]:
        """Count `wanted` mails per mailbox before they go, and answer how many of them may go.

        Each count is one atomic increment whose answer is the new total, so runs that send at the same moment (one
        per event, on several instances) can never together pass the cap; what is then not sent is given back.
        """
        boxes = [box for box, count in wanted.items() if count > 0]
        if not boxes:
            return Counter()
        results = self._add(Counter({box: wanted[box] for box in boxes}), now)
        granted: Counter[str] = Counter()
        for box, result in zip(boxes, results, strict=True):
            before = int(result.transform_results[0].integer_value) - wanted[box]
            granted[box] = max(min(wanted[box], self.per_day - before), 0)
        return granted

    def release(self, unsent: Counter[str], now: datetime) -> None:
        """Give back what was reserved and not sent."""
        if +unsent:
            self._add(Counter({box: -count for box, count in (+unsent).items()}), now)

    def take_back(self, address: str, count: int, when: datetime) -> None:
        """Uncount `count` mails to `address` on the day of `when` (`signup check`'s own); a day's document with
        nothing left goes."""
        ref = self._ref(mailbox(address), when)

        @firestore.transactional
        def back(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return
            left = int(snapshot.get("count") or 0) - count
            if left > 0:
                transaction.update(ref, {"count": left})
            else:
                transaction.delete(ref)

        back(self._client.transaction())

    def _add(self, counts: Counter[str], now: datetime) -> list[Any]:
        batch = self._client.batch()
        expires = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo) + timedelta(days=2)
        for box, count in counts.items():
            batch.set(self._ref(box, now), {"count": firestore.Increment(count), EXPIRES_AT: expires}, merge=True)
        return list(batch.commit())

    def _ref(self, box: str, now: datetime) -> Any:
        return self._client.collection(MAILCAPS).document(document_id(self._key, box, now))


def document_id(key: bytes, box: str, now: datetime) -> str:
    """The id of the document that counts one mailbox's mails on the day of `now`: a keyed hash, which reveals no
    address."""
    digest = hmac.new(key, box.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{digest}-{now:%Y%m%d}"
