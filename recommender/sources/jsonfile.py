"""JSON export files read with the line each item starts on, and `file:line: reason` for malformed JSON.

A REST page or a Ghost export is one JSON document of at most tens of megabytes (WordPress pages
hold ≤ 100 posts), so a file is decoded whole, up to `MAX_JSON_DOCUMENT_BYTES` (a larger one is refused
before it is decoded); the items of a top-level array are decoded one by one (`raw_decode`) so each keeps
its line, and only the current item is held as Python objects. Nesting past what the decoder can take is
refused with the line of the item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recommender.errors import CorpusError
from recommender.limits import MAX_JSON_DEPTH, MAX_JSON_DOCUMENT_BYTES
from recommender.sources.files import open_source

_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\r\n]*")


def read_text(path: str | Path) -> str:
    """The file's text (UTF-8, a BOM allowed); `CorpusError` naming the line of the first bad byte."""
    with open_source(path) as f:
        raw = f.read(MAX_JSON_DOCUMENT_BYTES + 1)
    if len(raw) > MAX_JSON_DOCUMENT_BYTES:
        raise CorpusError.at(str(path), 1, f"refused: a JSON export file may hold at most"
                                           f" {MAX_JSON_DOCUMENT_BYTES:,} bytes (decompressed)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CorpusError.at(str(path), line, "invalid UTF-8") from None


def load_document(path: str | Path) -> tuple[str, Any]:
    """The file's text and its decoded JSON value."""
    text = read_text(path)
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        raise malformed(path, exc) from None
    except RecursionError:
        raise too_deep(path, 1) from None


def iter_array(path: str | Path) -> Iterator[tuple[int, Any]]:
    """`(line, item)` for each item of a file holding one JSON array."""
    text = read_text(path)
    pos, line = _skip(text, 0), 1
    if not text.startswith("[", pos):
        raise CorpusError.at(str(path), _line_at(text, pos), "expected a JSON array of items")
    pos = _skip(text, pos + 1)
    counted = 0
    if text.startswith("]", pos):
        return
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            item, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise malformed(path, exc) from None
        except RecursionError:
            raise too_deep(path, line) from None
        yield line, item
        pos = _skip(text, pos)
        if text.startswith("]", pos):
            rest = _skip(text, pos + 1)
            if rest < len(text):
                raise CorpusError.at(str(path), _line_at(text, rest), "extra data after the array")
            return
        if not text.startswith(",", pos):
            raise CorpusError.at(str(path), _line_at(text, pos), "expected ',' or ']' between items")
        pos = _skip(text, pos + 1)


def malformed(path: str | Path, exc: json.JSONDecodeError) -> CorpusError:
    return CorpusError.at(str(path), exc.lineno, f"malformed JSON: {exc.msg} at column {exc.colno}")


def too_deep(path: str | Path, line: int) -> CorpusError:
    return CorpusError.at(str(path), line, f"refused: JSON nested deeper than the decoder can take"
                                           f" (an export needs a few levels; the limit is {MAX_JSON_DEPTH})")


def _skip(text: str, pos: int) -> int:
    return _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1
