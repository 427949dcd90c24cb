"""What an optimistic Firestore write can run into: someone else wrote the document first."""

from __future__ import annotations

from google.api_core import exceptions as google_errors

# A precondition (`last_update_time`) that no longer holds, or a contended commit: read again and retry.
CONFLICTS = (google_errors.FailedPrecondition, google_errors.Aborted, google_errors.Conflict)
