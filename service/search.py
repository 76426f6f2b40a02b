"""Title search for the editor page: every title in one case-folded string, scanned with `str.find`.

On 100k articles a linear scan in Python (a `for` over the titles) costs tens of milliseconds per
query; one `find` over the joined titles runs in C and stops after enough matches, so a query costs
well under a millisecond to a few (see benchmarks/title_search_bench.py). The index is built once
per served model version, on the first search.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Sequence

from service.model_store import LoadedModel

MAX_CANDIDATES = 500  # matches collected before ranking; a query that matches more is too vague to page through


class TitleIndex:
    """Case-insensitive substring search over titles (and exact ids)."""

    def __init__(self, ids: Sequence[str], titles: Sequence[str]) -> None:
        self.ids = list(ids)
        self.folded = [t.casefold() for t in titles]
        self.text = "\n".join(self.folded) + "\n"
        self.starts = []
        offset = 0
        for title in self.folded:
            self.starts.append(offset)
            offset += len(title) + 1
        self._by_id = {article_id: idx for idx, article_id in enumerate(self.ids)}

    def search(self, query: str, limit: int) -> list[str]:
        """Ids of the articles whose title holds every word of the query, best first.

        An exact id comes first, then titles starting with the query, then titles with a word starting
        with it, then the rest; shorter titles first within each.
        """
        words = query.casefold().split()
        if not words:
            return []
        exact = self._by_id.get(query.strip())
        rarest = max(words, key=len)  # the longest word is the likeliest to be rare: fewest candidates
        others = [w for w in words if w is not rarest]
        found: list[int] = []
        position = self.text.find(rarest)
        while position >= 0 and len(found) < MAX_CANDIDATES:
            row = bisect_right(self.starts, position) - 1
            title = self.folded[row]
            if all(w in title for w in others):
                found.append(row)
            position = self.text.find(rarest, self.starts[row] + len(title) + 1)  # next title
        phrase = " ".join(words)

        def rank(row: int) -> tuple[int, int, int]:
            title = self.folded[row]
            at = title.find(phrase)
            return (0 if at == 0 else 1 if at > 0 and not title[at - 1].isalnum() else 2, len(title), row)

        ranked = sorted(found, key=rank)
        if exact is not None:
            ranked = [exact, *(r for r in ranked if r != exact)]
        return [self.ids[row] for row in ranked[:limit]]


_cached: tuple[str, TitleIndex] | None = None
_lock = threading.Lock()


def search_titles(loaded: LoadedModel, query: str, limit: int) -> list[str]:
    """Ids of the served model's articles matching the query, best first."""
    global _cached
    with _lock:
        if _cached is None or _cached[0] != loaded.version:
            columns = loaded.model.catalog_.to_columns()
            _cached = (loaded.version, TitleIndex(columns["ids"], columns["titles"]))
        index = _cached[1]
    return index.search(query, limit)
