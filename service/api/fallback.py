"""What a block shows when the model has no related story above the floor (`fallback=recent|popular`).

Off unless a request asks for it: an empty list stays empty. `recent` is the newest stories of the
article's category (from the model's catalogue); `popular` the stories readers followed most in the
last `POPULAR_DAYS` days (from the events table, read at most once a minute per worker). Either leaves
out the article itself, the request's `exclude` and `exclude_category`, and every story the editors
blocked under the article or excluded. The response says `"fallback": "recent"` (or `"popular"`), and
its stories carry that as their `source`, so a page can label them.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError

from recommender.model import RelatedModel
from recommender.overrides import Overrides
from recommender.ranking import RankingOptions
from storage import Database
from storage.events import most_clicked

Fallback = Literal["recent", "popular"]
FALLBACKS: tuple[Fallback, ...] = ("recent", "popular")
POPULAR_DAYS = 7
POPULAR_REFRESH_SECONDS = 60.0
POPULAR_POOL = 500  # most-clicked ids kept; a request's exclusions are taken from these

_popular: tuple[float, str, list[str]] = (float("-inf"), "", [])
_lock = threading.Lock()


def fallback_rows(kind: Fallback, model: RelatedModel, article_id: str, options: RankingOptions,
                  overrides: Overrides, database: Database) -> list[str]:
    """The ids of the fallback stories of `article_id`, at most `options.limit`, best first."""
    never = {article_id} | options.exclude | overrides.rules_for(article_id).never
    catalog = model.catalog_
    excluded_codes = catalog.category_codes_of(options.exclude_categories)
    if kind == "recent":
        idx = catalog.index_of(article_id)
        if catalog.facts.category_codes[idx] in excluded_codes:  # its category is the one asked to leave out
            return []
        rows = catalog.newest_in_category(idx, options.limit, catalog.indices_of_known(sorted(never)))
        return [catalog.id_at(int(row)) for row in rows]
    stories = []
    for story_id in popular_ids(database):
        if story_id in never or story_id not in model:
            continue
        if len(excluded_codes) and catalog.facts.category_codes[catalog.index_of(story_id)] in excluded_codes:
            continue
        stories.append(story_id)
        if len(stories) == options.limit:
            break
    return stories


def popular_ids(database: Database) -> list[str]:
    """The most-clicked stories of the last `POPULAR_DAYS` days, read again after `POPULAR_REFRESH_SECONDS`;
    the last good list (or none) while the database cannot be read."""
    global _popular
    with _lock:
        read_at, url, ids = _popular
        if url == database.url and time.monotonic() - read_at < POPULAR_REFRESH_SECONDS:
            return ids
        try:
            ids = most_clicked(database, datetime.now(UTC) - timedelta(days=POPULAR_DAYS), POPULAR_POOL)
        except SQLAlchemyError:
            ids = ids if url == database.url else []
        _popular = (time.monotonic(), database.url, ids)
        return ids


def with_fallback(document: dict[str, Any], kind: Fallback, stories: list[dict[str, Any]]) -> dict[str, Any]:
    """A list document whose empty list is replaced by the fallback stories (marked as such)."""
    return {**document, "fallback": kind, "count": len(stories), "related": stories}
