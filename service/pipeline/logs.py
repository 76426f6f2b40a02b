"""One JSON object per log line on stdout: `{"ts", "level", "event", …fields}`.

Call sites log an event name and pass their fields as `extra={"fields": {...}}`, so log processors
can filter on `event` and read fields without parsing prose. The per-request line (`write_line`) skips
`logging`'s record, dispatch and filters when the JSON stdout handler is the only place lines go, and
writes the same line there itself; any other set-up (another handler, a filter) gets it through `logging`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

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

    def format_fields(self, created: float, level: str, event: str, fields: dict[str, Any]) -> str:
        """The line `format` makes of a record without exception info (the level in lower case)."""
        return _encode({"ts": self._timestamp(created), "level": level, "event": event, **fields})

    def _timestamp(self, created: float) -> str:
        """ISO 8601 UTC with milliseconds; the date and time part is formatted once per second."""
        second, milliseconds = divmod(int(created * 1000), 1000)
        cached = self._second  # one read: another thread may replace it meanwhile
        if cached[0] != second:
            cached = self._second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        return f"{cached[1]}.{milliseconds:03d}+00:00"


class JsonLineHandler(logging.StreamHandler):
    """The stream handler `configure_logger` installs: JSON lines, and `write_line` for the hot path."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.setFormatter(JsonFormatter())


def configure_logger(level: str, stream: TextIO | None = None) -> None:
    """JSON lines for every `relatedly.*` logger, on stdout (where platforms collect them) unless `stream`."""
    root = logging.getLogger("relatedly")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.addHandler(JsonLineHandler(sys.stdout if stream is None else stream))
        root.propagate = False
    root.setLevel(level)
    # The logging HOWTO's optimisations: skip the caller and thread lookups no line prints (the process id
    # stays: the server's own lines, which share this process's `logging`, print it).
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False


def write_line(logger: logging.Logger, event: str, fields: dict[str, Any]) -> None:
    """`logger.info(event, extra={"fields": fields})`, the same line written straight to the JSON handler.

    The direct write applies only while `configure_logger`'s handler on the `relatedly` logger is the
    sole destination (no other handler or filter on the way, the line's level let through); otherwise,
    and when `logger` is not under `relatedly`, the line goes through `logging` as usual.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    parent = logger.parent
    handlers = parent.handlers if parent is not None else ()
    if (len(handlers) != 1 or type(handlers[0]) is not JsonLineHandler or parent is None or parent.name != "relatedly"
            or parent.propagate or parent.filters or logger.handlers or logger.filters or handlers[0].filters
            or handlers[0].level > logging.INFO):
        logger.info(event, extra={"fields": fields})
        return
    handler = handlers[0]
    line = handler.formatter.format_fields(time.time(), "info", event, fields)  # type: ignore[union-attr]
    with handler.lock:  # type: ignore[union-attr]
        try:
            handler.stream.write(line + handler.terminator)
            handler.stream.flush()
        except Exception:  # noqa: BLE001 - as in `logging`: a failed log write is reported, never raised
            handler.handleError(logging.makeLogRecord({"name": logger.name, "msg": event, "fields": fields}))
