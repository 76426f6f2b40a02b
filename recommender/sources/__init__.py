"""Readers of CMS exports (WordPress WXR and REST dumps, RSS/Atom feeds, Ghost), and HTML cleaning.

Each reader streams its files and yields plain data — a `SourceRecord` per item in the corpus
record shape (`id`, `title`, `body`, `tags`, `category`, `published_at`, `url`, `image`, …), a
`CorpusProblem` for a bad item, `Skipped` for an item deliberately left out (a draft, a page), a
`LateImage` when a featured image is only named after its post, and `Note`s for the summary.
`recommender.corpus` turns them into validated `Article`s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from recommender.errors import CorpusProblem

DEFAULT_POST_TYPES = ("post",)
DEFAULT_STATUSES = ("publish",)


@dataclass(frozen=True)
class ReaderOptions:
    """Which items of an export become articles, and how its relative URLs are completed."""

    post_types: tuple[str, ...] = DEFAULT_POST_TYPES
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    site_url: str | None = None


@dataclass
class SourceRecord:
    """One item of an export as a corpus record; `html` says its text fields are HTML by nature."""

    path: str
    line: int
    fields: dict[str, Any]
    html: bool = True


@dataclass(frozen=True)
class Skipped:
    """An item left out on purpose (not a published post): counted by reason in the summary."""

    reason: str


@dataclass(frozen=True)
class LateImage:
    """The featured image of an article read earlier (WXR lists attachments after their posts)."""

    article_id: str
    image: str


@dataclass(frozen=True)
class Note:
    """Something the summary should say that does not make an item invalid."""

    message: str


SourceItem = SourceRecord | CorpusProblem | Skipped | LateImage | Note
SourceStream = Iterator[SourceItem]


def selection_reason(post_type: str, status: str, protected: bool, options: ReaderOptions) -> str | None:
    """Why an item is not imported (`type page`, `status draft`, `password protected`), or None."""
    if post_type not in options.post_types:
        return f"type {post_type or 'unknown'}"
    if status not in options.statuses:
        return f"status {status or 'unknown'}"
    if protected:
        return "password protected"
    return None
