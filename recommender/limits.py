"""The bounds on what Relatedly reads, in one place: every reader and HTTP entrance checks its input against
these before the input can cost more than they allow, so a hostile or broken file or request gets a clear
error in seconds and bounded memory instead of eating the machine (issue 23; listed in the README).

The article id rule (`check_article_id`) is here too: ids are checked once, at ingest (training, updates,
the admin API), so every route that later takes an id in its path or query agrees on what an id is.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

# --- files (corpus exports) ---
MAX_DECOMPRESSED_BYTES = 8 * 1024**3  # one corpus file, after gunzip: a gzip bomb stops here
MAX_LINE_BYTES = 32 * 1024**2  # one JSON Lines line or CSV row
MAX_ITEM_BYTES = 8 * 1024**2  # one XML item (WXR, RSS, Atom), with whatever precedes it since the last item
MAX_ITEM_TAGS = 500_000  # `<` in one XML item: bounds its elements (a parsed element costs ~450 bytes)
MAX_JSON_DOCUMENT_BYTES = 256 * 1024**2  # a whole-document JSON export (a WordPress REST page, a Ghost export)
MAX_JSON_DEPTH = 64  # nesting of arrays and objects in any JSON value (a corpus row, a request body)

# --- fields of an article (after HTML cleaning) ---
MAX_ID_CHARS = 512  # the width of the events table's id columns
MAX_TITLE_CHARS = 2_000
MAX_BODY_CHARS = 4_000_000
MAX_TEXT_CHARS = 500  # a tag, a category
MAX_TAGS = 200
MAX_URL_CHARS = 4_096  # url, image

# --- HTTP requests (bodies are also capped by RELATEDLY_MAX_BODY_BYTES) ---
MAX_ARTICLES_PER_REQUEST = 1_000  # POST /v1/admin/articles
MAX_EVENT_BYTES = 64 * 1024  # POST /v1/events
MAX_EVENT_ITEMS = 50  # stories in one impression
MAX_BATCH_IDS = 100  # POST /v1/related:batch

_ID_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]")


class JsonTooDeepError(ValueError):
    """A JSON value nested deeper than `MAX_JSON_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


def decode_json(text: str | bytes) -> Any:
    """`json.loads` with the nesting bound: `JsonTooDeepError` past `MAX_JSON_DEPTH` (the C decoder would
    raise `RecursionError` near 1,000 levels, and deep values break whatever walks them later);
    `ValueError` for malformed JSON, as `json.loads`."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeepError() from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise JsonTooDeepError()
    return value


def json_depth(value: Any) -> int:
    """Levels of arrays and objects in a decoded JSON value (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH:  # past the bound the answer is known: stop walking
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


class InvalidIdError(ValueError):
    """An article id that breaks the id rule; the message says which part."""


def check_article_id(value: str) -> str:
    """The id in Unicode NFC if it follows the one id rule, else `InvalidIdError` naming the reason.

    The rule: 1 to `MAX_ID_CHARS` characters, no leading or trailing whitespace; no control characters (a
    newline would split a log line or a header), line separators, byte-order marks or lone surrogates; no
    leading `/` (`/v1/articles//lead` is not a path a proxy keeps), no `.` or `..` segment (proxies
    normalise them away), and no last segment `related` (`a/b/related` reads as the related list of `a/b`).
    Feed guids such as `https://example.com/?p=1` are fine. NFC and NFD spellings of one name (`café`) are
    one id: ids are stored in NFC and looked up in NFC.
    """
    normal = unicodedata.normalize("NFC", value)
    if not normal:
        raise InvalidIdError("the id is empty")
    if len(normal) > MAX_ID_CHARS:
        raise InvalidIdError(f"the id is {len(normal)} characters long; at most {MAX_ID_CHARS} are allowed")
    bad = _ID_FORBIDDEN.search(normal)
    if bad:
        raise InvalidIdError(f"the id contains {_describe(bad.group())}; ids may not hold control characters,"
                             " line separators, byte-order marks or lone surrogates")
    if normal != normal.strip():
        raise InvalidIdError("the id may not start or end with whitespace")
    if normal.startswith("/"):
        raise InvalidIdError("the id may not start with '/'")
    segments = normal.split("/")
    if any(segment in (".", "..") for segment in segments):
        raise InvalidIdError("the id may not hold a '.' or '..' segment")
    if len(segments) > 1 and segments[-1] == "related":
        raise InvalidIdError("the id may not end in '/related' (it would read as a related-list path)")
    return normal


def _describe(char: str) -> str:
    name = unicodedata.name(char, "") if not 0xD800 <= ord(char) <= 0xDFFF else "a lone surrogate"
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")
