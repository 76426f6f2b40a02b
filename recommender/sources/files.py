"""Opening export files (plain or gzip) and telling their format from their content, not their name."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path
from typing import BinaryIO

from recommender.errors import CorpusError

FORMATS = ("jsonl", "csv", "wxr", "rss", "atom", "wp_rest", "ghost")
SNIFF_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_ROOT_ELEMENT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_WXR_NAMESPACE = re.compile(rb"""xmlns:wp\s*=\s*["']http://wordpress\.org/export/""")
_GHOST_HEAD = re.compile(rb'^\{\s*"(?:db|meta|data|posts)"\s*:')  # an export, or a Content API response


def open_source(path: str | Path) -> BinaryIO:
    """The file's bytes, decompressed when it is gzip (`.xml.gz` exports); `CorpusError` if unreadable."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            return gzip.open(raw, "rb")  # type: ignore[return-value]
        raw.seek(0)
        return raw
    except OSError as exc:
        raise CorpusError([], f"cannot read corpus {path}: {exc.strerror or exc}") from exc


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


def detect_format(path: str | Path) -> str:
    """One of `FORMATS`, from the first bytes of the file (the extension only tells CSV from JSON Lines)."""
    head = read_head(path).removeprefix(b"\xef\xbb\xbf").lstrip()
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
