"""The CLI tests: every `relatedly` call starts with logging as in a new process."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _new_process_logging(fresh_process_logging: None) -> None:
    """Applies `fresh_process_logging` (tests/conftest.py) to every CLI test."""
