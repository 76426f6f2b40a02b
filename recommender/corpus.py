"""Reading article exports (JSON Lines, CSV, and the CMS formats of `recommender.sources`) into `Article`s.

Every bad row is reported with its file, line and reason, so a publisher can fix the export
instead of guessing; `skip_invalid=True` trains on the good rows and reports how many were dropped.
HTML in titles and bodies is cleaned to text first (`body_format`, see `recommender.sources.html`);
items an export holds but should not become articles (drafts, pages, …) are counted by reason.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from recommender.errors import CorpusError, CorpusProblem
from recommender.sources import LateImage, Note, ReaderOptions, Skipped, SourceItem, SourceRecord, SourceStream
from recommender.sources.feeds import read_feed
from recommender.sources.files import detect_format, open_source, sha256_of
from recommender.sources.ghost import read_ghost
from recommender.sources.html import BodyFormat, clean_field
from recommender.sources.parallel import map_in_order
from recommender.sources.wp_rest import read_wp_rest
from recommender.sources.wxr import read_wxr
from recommender.urls import canonical_url

KNOWN_FIELDS = ("id", "title", "body", "tags", "category", "published_at", "url", "image")
CorpusPaths = str | Path | Sequence[str | Path]


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
    image: str | None = None


@dataclass(frozen=True)
class Corpus:
    """The valid articles of an export, what was invalid or left out, and a checksum of the files read."""

    path: str
    articles: list[Article]
    problems: list[CorpusProblem]
    sha256: str
    excluded: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    paths: tuple[str, ...] = ()  # every file read; `path` names them all for messages

    @property
    def skipped(self) -> int:
        return len(self.problems)


def load_corpus(
    paths: CorpusPaths,
    *,
    skip_invalid: bool = False,
    body_format: BodyFormat = "auto",
    options: ReaderOptions | None = None,
    jobs: int = 1,
    allow_empty: bool = False,
) -> Corpus:
    """Read and validate one export (several files of one export read as one); raise `CorpusError`
    listing the problems unless `skip_invalid`, and when no article is valid unless `allow_empty`
    (`relatedly sync`: a page of changes may hold only posts that are not published).

    Each file's format comes from its content (see `recommender.sources.files.detect_format`); a
    malformed XML or JSON file is always an error, whatever `skip_invalid` says. HTML is cleaned on
    `jobs` processes (-1: one per core); the result does not depend on it.
    """
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise CorpusError([], "no corpus file given")
    names = [str(p) for p in files]
    articles: list[Article] = []
    problems: list[CorpusProblem] = []
    excluded: Counter[str] = Counter()
    notes: list[str] = []
    first_seen: dict[str, tuple[str, int]] = {}
    position: dict[str, int] = {}
    stream = map_in_order(functools.partial(clean_batch, body_format=body_format),
                          read_sources(files, options or ReaderOptions()), jobs)
    for item in stream:
        if isinstance(item, SourceRecord):
            problem = _add_record(item, articles, first_seen)
            if problem is not None:
                problems.append(problem)
            else:
                position[articles[-1].id] = len(articles) - 1
        elif isinstance(item, CorpusProblem):
            problems.append(item)
        elif isinstance(item, Skipped):
            excluded[item.reason] += 1
        elif isinstance(item, LateImage):
            if item.article_id in position:
                at = position[item.article_id]
                articles[at] = dataclasses.replace(articles[at], image=item.image)
        elif isinstance(item, Note):
            notes.append(item.message)
    notes += duplicate_url_notes(articles)

    if problems and not skip_invalid:
        raise CorpusError(problems)
    if not articles and not allow_empty:
        reasons = f" ({describe_excluded(excluded)} left out)" if excluded else ""
        raise CorpusError(problems, f"{', '.join(names)}: no valid articles in the corpus{reasons}")
    return Corpus(", ".join(names), articles, problems, _checksum(files), dict(excluded), notes, tuple(names))


def read_sources(files: Sequence[Path], options: ReaderOptions) -> SourceStream:
    """Every item of the files, by format; files of one multi-file format (WXR parts, REST pages) read as one."""
    by_format: dict[str, list[Path]] = {}
    for path in files:
        by_format.setdefault(detect_format(path), []).append(path)
    for fmt, group in by_format.items():
        if fmt == "wxr":
            yield from read_wxr(group, options)
        elif fmt == "wp_rest":
            yield from read_wp_rest(group, options)
        elif fmt == "ghost":
            for path in group:
                yield from read_ghost(path, options)
        elif fmt in ("rss", "atom"):
            for path in group:
                yield from read_feed(path)
        else:
            for path in group:
                yield from _row_records(path, fmt)


def clean_batch(items: list[SourceItem], *, body_format: BodyFormat) -> list[SourceItem]:
    """The items with the title and body of each record cleaned of HTML (exports' fields are HTML under `auto`)."""
    for item in items:
        if isinstance(item, SourceRecord):
            effective: BodyFormat = "html" if item.html and body_format == "auto" else body_format
            for name, single_line in (("title", True), ("body", False)):
                value = item.fields.get(name)
                if isinstance(value, str):
                    item.fields[name] = clean_field(value, effective, single_line=single_line)
    return items


def _add_record(
    record: SourceRecord, articles: list[Article], first_seen: dict[str, tuple[str, int]]
) -> CorpusProblem | None:
    """Validate and append one (cleaned) record; the problem when it is invalid or a duplicate."""
    fields = record.fields
    try:
        article = parse_article(fields, body_format="text")  # cleaned already, by `clean_batch`
    except ValueError as exc:
        item = fields.get("id") if record.html else None
        return CorpusProblem(record.path, record.line, f"item {item}: {exc}" if item else str(exc))
    if article.id in first_seen:
        path, line = first_seen[article.id]
        where = f"line {line}" if path == record.path else f"{path}:{line}"
        prefix = f"item {article.id}: " if record.html else ""
        return CorpusProblem(record.path, record.line, f"{prefix}duplicate id {article.id!r} (first on {where})")
    first_seen[article.id] = (record.path, record.line)
    articles.append(article)
    return None


def duplicate_url_notes(articles: Sequence[Article]) -> list[str]:
    """One note per canonical URL shared by several articles: the later wins lookups by URL."""
    owners: dict[str, list[str]] = {}
    for article in articles:
        canonical = canonical_url(article.url) if article.url else None
        if canonical is not None:
            owners.setdefault(canonical, []).append(article.id)
    return [
        f"{len(ids)} articles share the canonical URL {url} ({', '.join(ids)}); lookups by URL find {ids[-1]!r}"
        for url, ids in owners.items() if len(ids) > 1
    ]


def describe_excluded(excluded: Mapping[str, int]) -> str:
    """`3 status draft, 1 type page`: the items left out, for summaries."""
    return ", ".join(f"{count} {reason}" for reason, count in sorted(excluded.items(), key=lambda rc: (-rc[1], rc[0])))


def _checksum(files: Sequence[Path]) -> str:
    """The file's SHA-256 for one file; for several, the SHA-256 of their names and checksums."""
    if len(files) == 1:
        return sha256_of(files[0])
    listing = "".join(f"{p.name}\0{sha256_of(p)}\n" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def parse_article(record: Mapping[str, Any], *, body_format: BodyFormat = "auto") -> Article:
    """Validate one record's fields; raise `ValueError` naming the first bad field.

    Title and body are cleaned of HTML under `body_format` (`auto`: when they contain markup, so
    articles sent to the admin API are cleaned as a JSON Lines corpus is; `text`: taken as they are).
    """
    article_id = record.get("id")
    if isinstance(article_id, int) and not isinstance(article_id, bool):
        article_id = str(article_id)
    if article_id is None or (isinstance(article_id, str) and not article_id.strip()):
        raise ValueError("missing field 'id'")
    if not isinstance(article_id, str):
        raise ValueError("field 'id' must be a string")
    title = clean_field(_optional_text(record, "title") or "", body_format, single_line=True)
    if "body" not in record or record["body"] is None:
        raise ValueError("missing field 'body'")
    body = clean_field(_optional_text(record, "body") or "", body_format)
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
        image=(_optional_text(record, "image") or "").strip() or None,
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


def _row_records(path: Path, fmt: str) -> SourceStream:
    """JSON Lines or CSV rows as plain-text records (HTML in them is cleaned under `auto`), streamed."""
    name = str(path)
    with open_source(path) as f:
        rows = _csv_rows(f, name) if fmt == "csv" else _jsonl_rows(f, name)
        for line, record in rows:
            yield record if isinstance(record, CorpusProblem) else SourceRecord(name, line, record, html=False)


def _jsonl_rows(raw: BinaryIO, name: str) -> Iterator[Row]:
    for line_no, line in enumerate(raw, start=1):
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


def _csv_rows(raw: BinaryIO, name: str) -> Iterator[Row]:
    """CSV rows with the line each starts on; bytes that are not UTF-8 make that row invalid."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
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
