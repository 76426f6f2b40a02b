"""Opening export files (plain or gzip) and telling their format from their content, not their name.

Every reader gets its bytes through `open_source`, which counts them: past `MAX_DECOMPRESSED_BYTES` (a gzip
bomb), or past `MAX_ITEM_BYTES` since the reader last called `item_done()` (one giant XML item), reading
stops with a `CorpusError` naming the file and the line reached, so no export costs unbounded time or memory.
An item's `<` are counted too (past `MAX_ITEM_TAGS`, refused): many tiny elements cost far more memory parsed
than their bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
from pathlib import Path
from typing import BinaryIO

from recommender.errors import CorpusError
from recommender.limits import MAX_DECOMPRESSED_BYTES, MAX_ITEM_TAGS

FORMATS = ("jsonl", "csv", "wxr", "rss", "atom", "wp_rest", "ghost")
SNIFF_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_ROOT_ELEMENT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_WXR_NAMESPACE = re.compile(rb"""xmlns:wp\s*=\s*["']http://wordpress\.org/export/""")
_GHOST_HEAD = re.compile(rb'^\{\s*"(?:db|meta|data|posts)"\s*:')  # an export, or a Content API response
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


class _CountedBytes(io.RawIOBase):
    """A file's (decompressed) bytes, counted as they are read, refused past the limits."""

    def __init__(self, inner: BinaryIO, name: str, max_bytes: int, max_item_bytes: int | None) -> None:
        self.inner, self.name_, self.max_bytes, self.max_item_bytes = inner, name, max_bytes, max_item_bytes
        self.read_bytes = self.item_start = self.lines_before = self.item_tags = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self.inner.read(len(buffer))
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise CorpusError.at(self.name_, self.lines_before + 1, f"cannot read: {exc}") from None
        n = len(data)
        buffer[:n] = data
        self.read_bytes += n
        if self.read_bytes > self.max_bytes:
            raise CorpusError.at(self.name_, self.lines_before + 1, f"refused: the file holds more than"
                                 f" {self.max_bytes:,} bytes (decompressed), the limit for one corpus file")
        if self.max_item_bytes is not None:
            self.item_tags += data.count(b"<")
            if self.read_bytes - self.item_start > self.max_item_bytes or self.item_tags > MAX_ITEM_TAGS:
                raise CorpusError.at(self.name_, self.lines_before + 1, f"refused: an item runs over"
                                     f" {self.max_item_bytes:,} bytes or {MAX_ITEM_TAGS:,} tags, the limits for"
                                     " one item")
        self.lines_before += data.count(b"\n")
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


class Source(io.BufferedReader):
    """An open export file: buffered, counted bytes (see the module docstring)."""

    def item_done(self) -> None:
        """The reader finished an item: the per-item limit counts from here (what is read ahead included)."""
        counted: _CountedBytes = self.raw  # type: ignore[assignment]
        counted.item_start, counted.item_tags = counted.read_bytes, 0


def open_source(path: str | Path, *, max_bytes: int = MAX_DECOMPRESSED_BYTES,
                max_item_bytes: int | None = None) -> Source:
    """The file's bytes, decompressed when it is gzip (`.xml.gz` exports), read within `max_bytes` (and
    `max_item_bytes` between `item_done()` calls, when given); `CorpusError` if unreadable."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            inner: BinaryIO = gzip.open(raw, "rb")  # type: ignore[assignment]  # noqa: SIM115 - closed with the Source
        else:
            raw.seek(0)
            inner = raw
    except OSError as exc:
        raise CorpusError([], f"cannot read corpus {path}: {exc.strerror or exc}") from exc
    return Source(_CountedBytes(inner, str(path), max_bytes, max_item_bytes), buffer_size=1 << 16)


def sha256_of(path: str | Path) -> str:
    """Checksum of the file as stored (compressed or not), for the model's manifest."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_head(path: str | Path) -> bytes:
    """The first `SNIFF_BYTES` of the (decompressed) file."""
    with open_source(path) as f:
        try:
            return f.read(SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise CorpusError.at(str(path), 1, f"cannot read: {exc}") from None


def sniffable(path: str | Path, head: bytes) -> bytes:
    """The head as UTF-8 for sniffing: a UTF-16 XML file (by its BOM) is read by the XML parser as it is;
    any other UTF-16 or UTF-32 file gets a clear `CorpusError` (JSON Lines and CSV must be UTF-8)."""
    if head.startswith(_UTF32_BOMS):
        raise CorpusError.at(str(path), 1, "unsupported encoding UTF-32: save the export as UTF-8")
    if head.startswith(_UTF16_BOMS):
        text = head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
        if not text.lstrip("\ufeff").lstrip().startswith("<"):
            raise CorpusError.at(str(path), 1, "unsupported encoding UTF-16: save the export as UTF-8")
        return text.lstrip("\ufeff").encode()
    if b"\x00" in head[:1024]:
        raise CorpusError.at(str(path), 1, "unsupported encoding: the file holds NUL bytes (UTF-16 or UTF-32"
                                           " without a byte-order mark, or not a text file); save it as UTF-8")
    return head.removeprefix(b"\xef\xbb\xbf")


def detect_format(path: str | Path) -> str:
    """One of `FORMATS`, from the first bytes of the file (the extension only tells CSV from JSON Lines)."""
    head = sniffable(path, read_head(path)).lstrip()
    if head.startswith(b"<"):
        return _xml_format(path, head)
    if head.startswith(b"["):
        return "wp_rest"
    if _GHOST_HEAD.match(head):
        return "ghost"
    name = str(path).lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if head.startswith(b"{"):
        return "jsonl"
    if name.endswith((".json", ".jsonl", ".ndjson")) or not head:
        return "jsonl"
    return "csv"


def _xml_format(path: str | Path, head: bytes) -> str:
    """WXR, RSS or Atom by the root element (a DOCTYPE is refused later, by `recommender.sources.xml`)."""
    for match in _ROOT_ELEMENT.finditer(head):
        name = match.group(1).split(b":")[-1].lower()
        if name == b"rss":
            return "wxr" if _WXR_NAMESPACE.search(head) else "rss"
        if name == b"feed":
            return "atom"
        raise CorpusError.at(str(path), head[: match.start()].count(b"\n") + 1,
                                         f"unsupported XML document <{match.group(1).decode(errors='replace')}>:"
                                         " expected a WordPress export (WXR), RSS or Atom")
    return "rss"  # no root element in the first 64 KB: let the XML reader say what is wrong
