"""Our log records as Cloud Logging reads them: one JSON object a line on standard error, with its severity.

Nothing sets up Python's logging in a function's process: without this, records below WARNING are dropped (a
cancellation, a promotion, a honeypot filled, a mail's outcome) and the rest arrive as bare text that Cloud
Logging files at its default severity.
"""

from __future__ import annotations

import json
import logging
import sys
import threading

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_lock = threading.Lock()  # an instance's first requests may arrive together


class CloudFormatter(logging.Formatter):
    """A record as the JSON object Cloud Logging turns into an entry: `severity` and `message` are its own fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = "\n".join((message, self.formatException(record.exc_info)))
        return json.dumps({"severity": record.levelname, "message": message, "logger": record.name})


def configure(level: str) -> None:
    """For the instance: the package's records from `level` up, and every other library's warnings, as JSON lines.

    What a process has already set up stays: a level chosen for the package, a handler on the root logger
    (functions-framework's with LOG_EXECUTION_ID, a test runner's), which our records reach all the same."""
    with _lock:
        package = logging.getLogger("signup")
        if package.level == logging.NOTSET:
            package.setLevel(level)
        root = logging.getLogger()
        if not root.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(CloudFormatter())
            root.addHandler(handler)
