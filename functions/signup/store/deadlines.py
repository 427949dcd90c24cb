"""How long a request waits for Firestore: a few seconds, then a 503, never a hang.

The client library's defaults retry for up to a minute; a visitor should not stare at a spinner that long. When
the database is unreachable or overloaded these settings give up after about three seconds, and the HTTP layer
answers 503 with Retry-After; the gRPC channel reconnects by itself once the database is back.
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry

# Pass as **ON_REQUEST to every Firestore call in a request's path.
ON_REQUEST: dict[str, Any] = {
    "retry": Retry(initial=0.1, maximum=0.5, multiplier=2.0, timeout=3.0),
    "timeout": 2.0,
}

# Firestore's answers that mean "not now", not "never": a page answers them 503 with Retry-After.
NOT_NOW = (
    google_errors.ServiceUnavailable,
    google_errors.DeadlineExceeded,
    google_errors.Aborted,
    google_errors.ResourceExhausted,
    google_errors.InternalServerError,
    google_errors.RetryError,
)
