"""Fixtures shared by the service tests."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from service.pipeline.logs import JsonFormatter


@pytest.fixture()
def log_lines() -> Iterator[Callable[[], list[dict]]]:
    """The JSON lines the "relatedly" loggers write during the test, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("relatedly")
    saved_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(saved_level)
