"""The per-request line written straight to the JSON handler is the line `logging` writes (service/pipeline/logs.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from service.pipeline.logs import JsonFormatter, JsonLineHandler, write_line

FIELDS = {"method": "GET", "path": "/v1/articles/a\nb\"c/related", "status": 200, "duration_ms": 0.042,
          "cache": "precomputed", "model_version": "v1", "request_id": "é-1"}


@pytest.fixture()
def relatedly_logger() -> Iterator[logging.Logger]:
    """The `relatedly` logger with only a JSON line handler on a string, as `configure_logger` leaves it."""
    root = logging.getLogger("relatedly")
    saved = root.handlers[:], root.level, root.propagate
    root.handlers, root.propagate = [JsonLineHandler(io.StringIO())], False
    root.setLevel(logging.INFO)
    yield root
    root.handlers, root.propagate = saved[0], saved[2]
    root.setLevel(saved[1])


def _only_json_handler(logger: logging.Logger) -> io.StringIO:
    """Drop the capture handlers pytest adds around each test phase; the JSON handler's stream."""
    logger.handlers[:] = [handler for handler in logger.handlers if type(handler) is JsonLineHandler]
    return logger.handlers[0].stream


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_direct_line_is_the_logging_line(relatedly_logger: logging.Logger) -> None:
    direct_stream = _only_json_handler(relatedly_logger)
    records, factory = [], logging.getLogRecordFactory()
    logging.setLogRecordFactory(lambda *args, **kwargs: records.append(factory(*args, **kwargs)) or records[-1])
    try:
        write_line(logging.getLogger("relatedly.http"), "request", FIELDS)
        assert records == []  # written without a LogRecord
    finally:
        logging.setLogRecordFactory(factory)
    # a second handler: the line now goes through `logging`, to both
    through_logging = logging.StreamHandler(io.StringIO())
    through_logging.setFormatter(JsonFormatter())
    relatedly_logger.addHandler(through_logging)
    write_line(logging.getLogger("relatedly.http"), "request", FIELDS)
    direct, via_handler = _lines(direct_stream)[0], _lines(through_logging.stream)[0]
    assert list(direct) == list(via_handler) == ["ts", "level", "event", *FIELDS]
    assert {**direct, "ts": None} == {**via_handler, "ts": None} == {"ts": None, "level": "info", "event": "request",
                                                                       **FIELDS}
    assert len(direct_stream.getvalue().splitlines()) == 2  # the direct line once, then the one via logging


def test_a_level_above_info_or_a_filter_is_respected(relatedly_logger: logging.Logger) -> None:
    stream = _only_json_handler(relatedly_logger)
    relatedly_logger.setLevel(logging.WARNING)
    write_line(logging.getLogger("relatedly.http"), "request", FIELDS)
    relatedly_logger.setLevel(logging.INFO)
    relatedly_logger.handlers[0].addFilter(lambda record: False)
    write_line(logging.getLogger("relatedly.http"), "request", FIELDS)
    assert stream.getvalue() == ""
