"""Reading an article export (JSON Lines or CSV) into validated `Article`s.

Every bad row is reported with its file, line and reason, so a publisher can fix the export
instead of guessing; `skip_invalid=True` trains on the good rows and reports how many were dropped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recommender.errors import CorpusError, CorpusProblem

KNOWN_FIELDS = ("id", "title", "body", "tags", "category", "published_at", "url")


@dataclass(frozen=True)
class Article:
    """One article of the corpus; `extra` keeps the export's other fields as metadata."""

    id: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    category: str | None = None
    published_at: datetime | None = None
    url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Corpus:
    """The valid articles of an export, what was skipped, and a checksum of the file read."""

    path: str
    articles: list[Article]
    problems: list[CorpusProblem]
    sha256: str

    @property
    def skipped(self) -> int:
        return len(self.problems)


def load_corpus(path: str | Path, *, skip_invalid: bool = False) -> Corpus:
    """Read and validate an export; raise `CorpusError` listing the problems unless `skip_invalid`.

    The format follows the extension: `.csv` is CSV with a header, anything else is JSON Lines.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError([], f"cannot read corpus {path}: {exc.strerror or exc}") from exc
    name = str(path)
    rows = _csv_rows(raw, name) if path.suffix.lower() == ".csv" else _jsonl_rows(raw, name)

    articles: list[Article] = []
    problems: list[CorpusProblem] = []
    first_line_of: dict[str, int] = {}
    for line, record in rows:
        if isinstance(record, CorpusProblem):
            problems.append(record)
            continue
        try:
            article = parse_article(record)
        except ValueError as exc:
            problems.append(CorpusProblem(name, line, str(exc)))
            continue
        if article.id in first_line_of:
            problems.append(
                CorpusProblem(name, line, f"duplicate id {article.id!r} (first on line {first_line_of[article.id]})")
            )
            continue
        first_line_of[article.id] = line
        articles.append(article)

    if problems and not skip_invalid:
        raise CorpusError(problems)
    if not articles:
        raise CorpusError(problems, f"{name}: no valid articles in the corpus")
    return Corpus(name, articles, problems, hashlib.sha256(raw).hexdigest())


def parse_article(record: Mapping[str, Any]) -> Article:
    """Validate one record's fields; raise `ValueError` naming the first bad field."""
    article_id = record.get("id")
    if isinstance(article_id, int) and not isinstance(article_id, bool):
        article_id = str(article_id)
    if article_id is None or (isinstance(article_id, str) and not article_id.strip()):
        raise ValueError("missing field 'id'")
    if not isinstance(article_id, str):
        raise ValueError("field 'id' must be a string")
    title = _optional_text(record, "title") or ""
    if "body" not in record or record["body"] is None:
        raise ValueError("missing field 'body'")
    body = _optional_text(record, "body") or ""
    if not title.strip():
        raise ValueError("missing field 'title'")
    return Article(
        id=article_id.strip(),
        title=title.strip(),
        body=body.strip(),
        tags=_parse_tags(record.get("tags")),
        category=(_optional_text(record, "category") or "").strip() or None,
        published_at=_parse_date(record.get("published_at")),
        url=(_optional_text(record, "url") or "").strip() or None,
        extra={k: v for k, v in record.items() if k not in KNOWN_FIELDS},
    )


def _optional_text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"field {name!r} must be a string, got {type(value).__name__}")


def _parse_tags(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise ValueError("field 'tags' must be a list of strings or a comma-separated string")
    return tuple(dict.fromkeys(t.strip() for t in items if t.strip()))


def _parse_date(value: Any) -> datetime | None:
    """ISO 8601 date or date-time; a date without a zone is taken as UTC."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError("field 'published_at' must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"bad date in 'published_at': {value!r} is not ISO 8601") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


Row = tuple[int, "dict[str, Any] | CorpusProblem"]


def _jsonl_rows(raw: bytes, name: str) -> Iterator[Row]:
    for line_no, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            yield line_no, CorpusProblem(name, line_no, f"invalid UTF-8 at byte {exc.start} of the line")
            continue
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield line_no, CorpusProblem(name, line_no, f"malformed JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(record, dict):
            yield line_no, CorpusProblem(name, line_no, "each line must be a JSON object")
            continue
        yield line_no, record


def _csv_rows(raw: bytes, name: str) -> Iterator[Row]:
    """CSV rows with the line each starts on; bytes that are not UTF-8 make that row invalid."""
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        yield 1, CorpusProblem(name, 1, f"malformed CSV header: {exc}")
        return
    if not header:
        return
    header = [column.strip() for column in header]
    missing = [f for f in ("id", "title", "body") if f not in header]
    if missing:
        yield 1, CorpusProblem(name, 1, f"CSV header lacks required column(s): {', '.join(missing)}")
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, CorpusProblem(name, start, f"malformed CSV: {exc}")
            start = reader.line_num + 1
            continue
        line_no, start = start, reader.line_num + 1
        if not row:  # a blank line
            continue
        if len(row) > len(header):
            yield line_no, CorpusProblem(name, line_no, "more fields than the header has columns")
        elif any(_has_surrogates(value) for value in row):
            yield line_no, CorpusProblem(name, line_no, "invalid UTF-8 in the row")
        else:
            yield line_no, dict(zip(header, row, strict=False))


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
