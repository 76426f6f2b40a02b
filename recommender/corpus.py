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
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from recommender.errors import CorpusError, CorpusProblem
from recommender.languages import language_tag
from recommender.limits import (
    MAX_BODY_CHARS,
    MAX_LINE_BYTES,
    MAX_TAGS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    InvalidIdError,
    JsonTooDeepError,
    check_article_id,
    decode_json,
)
from recommender.sources import LateImage, Note, ReaderOptions, Skipped, SourceItem, SourceRecord, SourceStream
from recommender.sources.feeds import read_feed
from recommender.sources.files import detect_format, open_source, sha256_of
from recommender.sources.ghost import read_ghost
from recommender.sources.html import BodyFormat, clean_field, html_language
from recommender.sources.parallel import map_in_order
from recommender.sources.wp_rest import read_wp_rest
from recommender.sources.wxr import read_wxr
from recommender.urls import canonical_url

KNOWN_FIELDS = ("id", "title", "body", "tags", "category", "published_at", "url", "image")
MAX_URL_NOTES = 20  # dropped-URL notes listed one by one; the rest are counted
_SURROGATE = re.compile("[\ud800-\udfff]")
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
    lang: str | None = None  # primary language subtag as the export declares it ("de"); None: detected at the fit
    site_lang: str | None = None  # the site's or feed's declared language: the fallback for an unsure detection


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
    url_notes: list[str] = []
    stream = map_in_order(functools.partial(clean_batch, body_format=body_format),
                          read_sources(files, options or ReaderOptions()), jobs)
    for item in stream:
        if isinstance(item, SourceRecord):
            problem = _add_record(item, articles, first_seen, url_notes)
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
                image = _web_url({"image": item.image}, "image", item.article_id, url_notes)
                articles[at] = dataclasses.replace(articles[at], image=image)
        elif isinstance(item, Note):
            notes.append(item.message)
    notes += url_notes[:MAX_URL_NOTES]
    if len(url_notes) > MAX_URL_NOTES:
        notes.append(f"… and {len(url_notes) - MAX_URL_NOTES} more url or image values dropped (not http or https)")
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
    for position, item in enumerate(items):
        if isinstance(item, SourceRecord):
            try:
                check_text(item.fields)
            except ValueError as exc:
                items[position] = CorpusProblem(item.path, item.line, str(exc))
                continue
            effective: BodyFormat = "html" if item.html and body_format == "auto" else body_format
            body = item.fields.get("body")
            if effective != "text" and isinstance(body, str) and item.fields.get("lang") is None:
                declared = html_language(body)
                if declared:
                    item.fields["lang"] = declared
            for name, single_line in (("title", True), ("body", False)):
                value = item.fields.get(name)
                if isinstance(value, str):
                    item.fields[name] = clean_field(value, effective, single_line=single_line)
    return items


def _add_record(
    record: SourceRecord, articles: list[Article], first_seen: dict[str, tuple[str, int]], notes: list[str]
) -> CorpusProblem | None:
    """Validate and append one (cleaned) record; the problem when it is invalid or a duplicate."""
    fields = record.fields
    try:
        article = parse_article(fields, body_format="text", notes=notes)  # cleaned already, by `clean_batch`
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


def parse_article(record: Mapping[str, Any], *, body_format: BodyFormat = "auto",
                  notes: list[str] | None = None) -> Article:
    """Validate one record's fields; raise `ValueError` naming the first bad field.

    Title and body are cleaned of HTML under `body_format` (`auto`: when they contain markup, so
    articles sent to the admin API are cleaned as a JSON Lines corpus is; `text`: taken as they are).
    The id must follow the one id rule (`recommender.limits.check_article_id`, stored in NFC); fields are
    bounded by the limits there; a `url` or `image` that is not an absolute http(s) URL is dropped, with a
    line in `notes` saying so (the JSON API only ever hands out web links).
    """
    check_text(record)
    article_id = record.get("id")
    if isinstance(article_id, int) and not isinstance(article_id, bool):
        article_id = str(article_id)
    if article_id is None or (isinstance(article_id, str) and not article_id.strip()):
        raise ValueError("missing field 'id'")
    if not isinstance(article_id, str):
        raise ValueError("field 'id' must be a string")
    try:
        article_id = check_article_id(article_id.strip())
    except InvalidIdError as exc:
        raise ValueError(f"field 'id' {article_id[:80]!r}: {exc}") from None
    title = clean_field(_optional_text(record, "title") or "", body_format, single_line=True)
    if "body" not in record or record["body"] is None:
        raise ValueError("missing field 'body'")
    body = clean_field(_optional_text(record, "body") or "", body_format)
    if not title.strip():
        raise ValueError("missing field 'title'")
    tags = _parse_tags(record.get("tags"))
    category = (_optional_text(record, "category") or "").strip() or None
    for name, value, limit in (("title", title.strip(), MAX_TITLE_CHARS), ("body", body.strip(), MAX_BODY_CHARS),
                               ("category", category or "", MAX_TEXT_CHARS),
                               ("tags", max(tags, key=len, default=""), MAX_TEXT_CHARS)):
        if len(value) > limit:
            raise ValueError(f"field {name!r} holds {len(value):,} characters; at most {limit:,} are allowed")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"field 'tags' holds {len(tags):,} tags; at most {MAX_TAGS} are allowed")
    return Article(
        id=article_id,
        title=title.strip(),
        body=body.strip(),
        tags=tags,
        category=category,
        published_at=_parse_date(record.get("published_at")),
        url=_web_url(record, "url", article_id, notes),
        image=_web_url(record, "image", article_id, notes),
        extra={k: v for k, v in record.items() if k not in KNOWN_FIELDS},
        lang=_language(record, "lang", strict=True) or _language(record, "language"),
        site_lang=_language(record, "site_language"),
    )


def _language(record: Mapping[str, Any], name: str, *, strict: bool = False) -> str | None:
    """A language field's primary subtag. `lang` is ours and must be a tag; `language` (a Polylang
    slug, an importer's copy) and `site_language` are the exports' own and count only when they are."""
    try:
        return language_tag(record.get(name))
    except ValueError as exc:
        if strict:
            raise ValueError(f"field {name!r} {exc}") from None
        return None


def check_text(record: Mapping[str, Any]) -> None:
    """`ValueError` when a string anywhere in the record holds a lone surrogate (`"\\ud800"` in JSON decodes
    to one): it is not text, cannot be written as UTF-8, and would fail far from its line."""
    stack: list[tuple[str, Any]] = [(str(name), value) for name, value in record.items()]
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            bad = _SURROGATE.search(value)
            if bad:
                raise ValueError(f"field {name!r} holds a lone surrogate (U+{ord(bad.group()):04X}), which is not"
                                 " text: fix the export's encoding")
        elif isinstance(value, dict):
            stack.extend((name, v) for v in value.values())
            stack.extend((name, k) for k in value)
        elif isinstance(value, list):
            stack.extend((name, v) for v in value)


def _web_url(record: Mapping[str, Any], name: str, article_id: str, notes: list[str] | None) -> str | None:
    """The field when it is an absolute http(s) URL; anything else (`javascript:`, `data:`, a relative path,
    a look-alike colon) is dropped, with a note."""
    value = (_optional_text(record, name) or "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        web = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and len(value) <= MAX_URL_CHARS \
            and not any(c.isspace() or unicodedata.category(c) == "Cc" for c in value)
    except ValueError:
        web = False
    if not web:
        if notes is not None:
            notes.append(f"article {article_id}: {name} {value[:80]!r} dropped: only absolute http and https URLs"
                         " are kept")
        return None
    return value


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
    for line_no, line in _lines(raw, name):
        if line is None:
            yield line_no, CorpusProblem(name, line_no, f"refused: the line is longer than {MAX_LINE_BYTES:,} bytes")
            continue
        try:
            text = line.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            yield line_no, CorpusProblem(name, line_no, f"invalid UTF-8 at byte {exc.start} of the line")
            continue
        try:
            record = decode_json(text)
        except JsonTooDeepError as exc:
            yield line_no, CorpusProblem(name, line_no, f"refused: {exc}")
            continue
        except json.JSONDecodeError as exc:
            yield line_no, CorpusProblem(name, line_no, f"malformed JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(record, dict):
            yield line_no, CorpusProblem(name, line_no, "each line must be a JSON object")
            continue
        yield line_no, record


def _lines(raw: BinaryIO, name: str, block_bytes: int = 1 << 20) -> Iterator[tuple[int, bytes | None]]:
    """`(line number, line)` of each line that is not blank, read in blocks: a line longer than
    `MAX_LINE_BYTES` is `None` (never held whole); a block of nothing but whitespace is skipped at once, and
    more than `MAX_LINE_BYTES` of them in a row (a file padded with gigabytes of newlines) is refused."""
    line_no, pending, pending_bytes, too_long, blank_bytes = 1, [], 0, False, 0
    for block in iter(lambda: raw.read(block_bytes), b""):
        if not pending and not too_long and not block.strip():
            line_no += block.count(b"\n")
            blank_bytes += len(block)
            if blank_bytes > MAX_LINE_BYTES:
                raise CorpusError.at(name, line_no, f"refused: more than {MAX_LINE_BYTES:,} bytes of blank lines")
            continue
        blank_bytes = 0
        parts = block.split(b"\n")
        for part in parts[:-1]:
            if too_long or pending_bytes + len(part) > MAX_LINE_BYTES:
                yield line_no, None
            else:
                line = b"".join([*pending, part])
                if line.strip():
                    yield line_no, line
            line_no, pending, pending_bytes, too_long = line_no + 1, [], 0, False
        if not too_long:
            pending.append(parts[-1])
            pending_bytes += len(parts[-1])
            if pending_bytes > MAX_LINE_BYTES:
                pending, pending_bytes, too_long = [], 0, True
    if too_long:
        yield line_no, None
    elif b"".join(pending).strip():
        yield line_no, b"".join(pending)


def _text_lines(text: io.TextIOWrapper, name: str) -> Iterator[str]:
    """The text's lines for the CSV reader, each at most `MAX_LINE_BYTES` characters (else `CorpusError`)."""
    line_no = 1
    while line := text.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES:
            raise CorpusError.at(name, line_no, f"refused: the line is longer than {MAX_LINE_BYTES:,} characters")
        line_no += 1
        yield line


def _csv_rows(raw: BinaryIO, name: str) -> Iterator[Row]:
    """CSV rows with the line each starts on; bytes that are not UTF-8 make that row invalid."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(_text_lines(text, name))
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
