"""At most so many mails a day to one address, so that the form cannot be used to flood someone's inbox."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore

MAILCAPS = "mailcaps"


class MailCap:
    """Counts mails per address and day in `mailcaps/{keyed hash}-{day}`: one read and one write per batch."""

    def __init__(self, client: Any, key: bytes, per_day: int) -> None:
        self._client = client
        self._key = key
        self.per_day = per_day

    def remaining(self, addresses: Iterable[str], now: datetime) -> Counter[str]:
        """How many more mails each address may get today."""
        refs = {address: self._ref(address, now) for address in set(addresses) if address}
        sent = {
            snapshot.id: int(snapshot.get("count") or 0)
            for snapshot in self._client.get_all(list(refs.values()))
            if snapshot.exists
        }
        return Counter({address: max(self.per_day - sent.get(ref.id, 0), 0) for address, ref in refs.items()})

    def spend(self, sent: Counter[str], now: datetime) -> None:
        if not sent:
            return
        batch = self._client.batch()
        expires = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo) + timedelta(days=2)
        for address, count in sent.items():
            batch.set(self._ref(address, now), {"count": firestore.Increment(count), "expires_at": expires}, merge=True)
        batch.commit()

    def _ref(self, address: str, now: datetime) -> Any:
        digest = hmac.new(self._key, address.lower().encode(), hashlib.sha256).hexdigest()[:32]
        return self._client.collection(MAILCAPS).document(f"{digest}-{now:%Y%m%d}")
