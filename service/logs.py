"""One JSON object per log line on stdout: `{"ts", "level", "event", …fields}`.

Call sites log an event name and pass their fields as `extra={"fields": {...}}`, so log processors
can filter on `event` and read fields without parsing prose.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# One encoder for every line: `json.dumps` with options builds a new encoder per call.
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry)

    def _timestamp(self, created: float) -> str:
        """ISO 8601 UTC with milliseconds; the date and time part is formatted once per second."""
        second, milliseconds = divmod(int(created * 1000), 1000)
        cached = self._second  # one read: another thread may replace it meanwhile
        if cached[0] != second:
            cached = self._second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        return f"{cached[1]}.{milliseconds:03d}+00:00"


def configure_logger(level: str) -> None:
    """JSON lines for every `relatedly.*` logger, on stdout where platforms collect them."""
    root = logging.getLogger("relatedly")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)
    # The logging HOWTO's optimisations: skip the caller, thread and process lookups no line prints.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
