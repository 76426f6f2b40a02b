"""The CLI's log lines: `event key=value …` text (the default), or one JSON object per line like the service's.

`--log-format json` (or `RELATEDLY_LOG_FORMAT=json`) turns a line such as
`model_published version=v1 seconds=2.10` into `{"ts", "level", "event": "model_published", "version": "v1",
"seconds": "2.10"}`, the shape the service writes (service/pipeline/logs.py), so one log pipeline reads both.
Values stay the strings the line printed; words that are not `key=value` go to `detail`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

LOG_FORMATS = ("text", "json")
_PAIR = re.compile(r"(?<!\S)([A-Za-z_][\w@.]*)=(\S*)")


class JsonLineFormatter(logging.Formatter):
    """`event key=value …` messages as JSON objects: {"ts", "level", "event", key: value, …, "detail"?}."""

    def format(self, record: logging.LogRecord) -> str:
        event, _, rest = record.getMessage().partition(" ")
        entry: dict[str, str] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": event,
        }
        for key, value in _PAIR.findall(rest):
            entry.setdefault(key, value)
        detail = " ".join(_PAIR.sub("", rest).split())
        if detail:
            entry["detail"] = detail
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_cli_logging(log_format: str, *, debug: bool) -> None:
    """Every log line of the run to stdout, as text or JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLineFormatter() if log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, handlers=[handler], force=True)
