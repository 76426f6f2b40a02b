"""The one owner of the mapping between external article ids and internal row indices, plus metadata.

Stored as plain JSON columns (no pickle), so a model directory can be inspected and loaded safely.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from recommender.corpus import Article
from recommender.errors import ArtifactError, UnknownArticleError
from recommender.ranking import CorpusFacts
from recommender.urls import canonical_url


@dataclass(frozen=True)
class ArticleInfo:
    """What the service shows about an article."""

    id: str
    title: str
    url: str | None
    published_at: str | None
    tags: tuple[str, ...]
    category: str | None
    image: str | None = None


class ArticleCatalog:
    """Article metadata by row index, with the id → index lookup."""

    COLUMNS = ("ids", "titles", "urls", "published_at", "tags", "categories", "extra", "images", "languages")

    def __init__(self, columns: dict[str, list[Any]]) -> None:
        for late in ("images", "languages"):  # catalogues written before these were kept: none known
            if late not in columns and "ids" in columns:
                columns = {**columns, late: [None] * len(columns["ids"])}
        missing = [c for c in self.COLUMNS if c not in columns]
        lengths = {len(columns[c]) for c in self.COLUMNS if c in columns}
        if missing or len(lengths) > 1:
            raise ArtifactError(f"article catalog is malformed (missing {missing}, lengths {sorted(lengths)})")
        self._columns = columns
        self._index = {article_id: idx for idx, article_id in enumerate(columns["ids"])}
        if len(self._index) != len(columns["ids"]):
            raise ArtifactError("article catalog has duplicate ids")
        self._url_index = url_index(columns["urls"])
        self.facts = CorpusFacts(
            published_days=np.array([_days(d) for d in columns["published_at"]], dtype=np.float64),
            category_codes=_codes(columns["categories"]),
            language_codes=_codes(columns["languages"]),
        )

    @classmethod
    def from_articles(
        cls, articles: Sequence[Article], languages: Sequence[str | None] | None = None
    ) -> ArticleCatalog:
        """The articles' catalogue, with each one's language as resolved for the model (default: as
        declared; None: unknown)."""
        return cls(
            {
                "ids": [a.id for a in articles],
                "titles": [a.title for a in articles],
                "urls": [a.url for a in articles],
                "published_at": [_iso(a.published_at) for a in articles],
                "tags": [list(a.tags) for a in articles],
                "categories": [a.category for a in articles],
                "extra": [dict(a.extra) for a in articles],
                "images": [a.image for a in articles],
                "languages": list(languages) if languages is not None else [a.lang for a in articles],
            }
        )

    def to_columns(self) -> dict[str, list[Any]]:
        return self._columns

    def __len__(self) -> int:
        return len(self._columns["ids"])

    def __contains__(self, article_id: object) -> bool:
        return self._row(article_id) is not None

    def index_of(self, article_id: str) -> int:
        row = self._row(article_id)
        if row is None:
            raise UnknownArticleError(article_id)
        return row

    def indices_of_known(self, article_ids: Sequence[str]) -> np.ndarray:
        """Row indices of the ids the catalog knows; unknown ids are ignored (used for exclusions)."""
        rows = (self._row(a) for a in article_ids)
        return np.array([row for row in rows if row is not None], dtype=np.int64)

    def _row(self, article_id: object) -> int | None:
        """The id's row; an id given in another Unicode normal form (NFD `café`) finds its NFC spelling,
        the form ids are stored in (`recommender.limits.check_article_id`)."""
        row = self._index.get(article_id)  # type: ignore[call-overload]
        if row is None and isinstance(article_id, str) and not article_id.isascii():
            row = self._index.get(unicodedata.normalize("NFC", article_id))
        return row

    def category_code(self, category: str | None) -> int:
        """The code `facts.category_codes` uses for a category name; -1 when unknown."""
        if category is None:
            return -1
        if not hasattr(self, "_category_codes"):
            self._category_codes = _code_map(self._columns["categories"], self.facts.category_codes)
        return self._category_codes.get(category, -1)

    def language_code(self, language: str | None) -> int:
        """The code `facts.language_codes` uses for a language: -1 when unknown (no filter), -2 for a
        language no article is in (a text in it has no same-language story)."""
        if language is None:
            return -1
        return self._language_map().get(language, -2)

    def languages(self) -> frozenset[str]:
        """The languages the articles are in."""
        return frozenset(self._language_map())

    def _language_map(self) -> dict[str, int]:
        if not hasattr(self, "_language_codes"):
            self._language_codes = _code_map(self._columns["languages"], self.facts.language_codes)
        return self._language_codes

    def main_language(self) -> str | None:
        """The language most articles are in (None when no article's is known)."""
        if not hasattr(self, "_main_language"):
            counts = Counter(lang for lang in self._columns["languages"] if lang is not None)
            self._main_language = counts.most_common(1)[0][0] if counts else None
        return self._main_language
    def category_codes_of(self, categories: frozenset[str]) -> np.ndarray:
        """The codes of the categories the corpus has (for `exclude_categories`); unknown names are ignored."""
        codes = [self.category_code(c) for c in sorted(categories)]
        return np.array([c for c in codes if c >= 0], dtype=np.int32)

    def newest_in_category(self, idx: int, limit: int, leave_out: np.ndarray) -> np.ndarray:
        """Row indices of the newest dated articles of row `idx`'s category, newest first (ties by row),
        leaving out `idx` and the rows in `leave_out`; none when the article has no category."""
        facts = self.facts
        code = facts.category_codes[idx]
        if code < 0:
            return np.empty(0, dtype=np.int64)
        rows = np.flatnonzero((facts.category_codes == code) & ~np.isnan(facts.published_days))
        rows = rows[(rows != idx) & ~np.isin(rows, leave_out)]
        order = np.lexsort((rows, -facts.published_days[rows]))
        return rows[order[:limit]]

    def article_id_for_url(self, url: str) -> str | None:
        """The article whose canonical URL is `url`'s (see `recommender.urls`), None when there is none."""
        canonical = canonical_url(url)
        idx = self._url_index.get(canonical) if canonical is not None else None
        return None if idx is None else self._columns["ids"][idx]

    def id_at(self, idx: int) -> str:
        return self._columns["ids"][idx]

    def info(self, idx: int) -> ArticleInfo:
        c = self._columns
        return ArticleInfo(
            id=c["ids"][idx],
            title=c["titles"][idx],
            url=c["urls"][idx],
            published_at=c["published_at"][idx],
            tags=tuple(c["tags"][idx]),
            category=c["categories"][idx],
            image=c["images"][idx],
        )


def url_index(urls: Sequence[str | None]) -> dict[str, int]:
    """Canonical URL → row index; of two rows with one canonical URL the later wins."""
    index: dict[str, int] = {}
    for idx, url in enumerate(urls):
        canonical = canonical_url(url) if url else None
        if canonical is not None:
            index[canonical] = idx
    return index


def _days(iso: str | None) -> float:
    """Days since the epoch, NaN when the date is unknown."""
    if not iso:
        return float("nan")
    return datetime.fromisoformat(iso).timestamp() / 86400.0


def _code_map(values: Sequence[str | None], codes: np.ndarray) -> dict[str, int]:
    return {v: int(code) for v, code in zip(values, codes, strict=True) if v is not None}


def _codes(categories: Sequence[str | None]) -> np.ndarray:
    codes: dict[str, int] = {}
    return np.array([-1 if c is None else codes.setdefault(c, len(codes)) for c in categories], dtype=np.int32)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
