"""Every article's related list under the default ranking options, computed once per model version.

The page renderer asks for exactly this list on every article view, for any article of the archive,
and every publish changes the model version (which empties a response cache at once). Computed when
a version is saved and stored beside it (see `recommender.artifacts`), the lists let the service
answer that request for any article by reading one row: no cache, no ranking work, nothing to warm.

The rows are also stored as the response documents themselves (`default_bodies`), so a request
only slices bytes out of one memory-mapped file that every worker shares through the page cache.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from numba import njit

from recommender.model import RelatedModel
from recommender.ranking import Ranked, RankingOptions, candidate_pool

DEFAULT_LIST_LIMIT = RankingOptions().limit
# The layout of the stored documents: the JSON `GET /v1/articles/<id>/related` answers with no options
# (service/api.py). Change it with that document, so a service never sends bodies of another shape.
BODY_FORMAT = 1


@dataclass(frozen=True)
class DefaultLists:
    """Row i: article i's list under `RankingOptions(limit=limit)`, best first, padded with index -1."""

    indices: np.ndarray  # int32, n_articles × limit
    scores: np.ndarray  # float32, n_articles × limit: the final scores `rank` returned

    @property
    def limit(self) -> int:
        return int(self.indices.shape[1])

    def ranked(self, idx: int) -> Ranked:
        """Row `idx` as `rank` returned it (the similarity is the score: the defaults boost nothing)."""
        row = self.indices[idx]
        count = int(np.count_nonzero(row >= 0))
        scores = self.scores[idx, :count]
        return Ranked(row[:count], scores, scores)

    def rows_listing(self, listed: np.ndarray) -> np.ndarray:
        """Rows whose default list holds any of the `listed` row indices (whose lists a block or takedown
        of those stories makes stale)."""
        return np.flatnonzero(np.isin(self.indices, listed).any(axis=1))

    def check(self, n_articles: int) -> None:
        """ValueError unless the arrays fit a model of `n_articles` articles."""
        if self.indices.shape != self.scores.shape or self.indices.ndim != 2 or self.indices.shape[0] != n_articles:
            raise ValueError(f"default lists of shape {self.indices.shape} do not fit {n_articles} articles")
        if self.indices.size and not (int(self.indices.min()) >= -1 and int(self.indices.max()) < n_articles):
            raise ValueError("default lists point outside the model's articles")


def default_options(limit: int) -> RankingOptions:
    """The options of a request that gives none, for a list of `limit` stories."""
    return RankingOptions(limit=limit)


def compute_default_lists(model: RelatedModel, limit: int = DEFAULT_LIST_LIMIT) -> DefaultLists:
    """Every article's list under the default options, as `model.ranked` gives it.

    A compiled greedy pick over the neighbour lists does what `recommender.ranking.rank` does with
    the defaults (the same filters, pool, order and near-copy check, in float32 as numpy compares);
    the rows it cannot settle alone — a near-copy check involving a crowded list, or a list short
    enough to need a whole-corpus scan — are ranked by `model.ranked` itself. At 100k articles the
    per-row Python ranking took 6.2 s of a 15.9 s publish; compiled, 0.03 s.
    """
    limit = min(limit, model.top_k)
    options = default_options(limit)
    indices = np.full((model.n_articles, limit), -1, dtype=np.int32)
    scores = np.zeros((model.n_articles, limit), dtype=np.float32)
    threshold = np.inf if options.duplicate_threshold is None else options.duplicate_threshold
    unsettled = np.zeros(model.n_articles, dtype=bool)
    neighbours = model.neighbors_
    _pick_default_lists(
        neighbours.indices, neighbours.scores, model.catalog_.facts.language_codes, np.float32(options.score_floor),
        np.float32(threshold), candidate_pool(limit), model.lists_truncated,
        indices, scores, unsettled,
    )
    for idx in np.flatnonzero(unsettled).tolist():
        ranked = model.ranked(idx, options)
        indices[idx, : len(ranked.indices)] = ranked.indices
        scores[idx, : len(ranked.scores)] = ranked.scores
    return DefaultLists(indices, scores)


@njit(cache=True, nogil=True)
def _pick_default_lists(
    nbr_idx, nbr_val, languages, min_score, threshold, pool, can_scan, out_idx, out_val, unsettled
):  # pragma: no cover - compiled
    """For each row: its neighbours that pass the similarity filters and are in its language (both
    known and different: left out, as `lang="same"` does), the first `pool` of them in list order,
    picked best first unless a near-copy (similarity ≥ threshold, read from either list) of an
    earlier pick, until the list is full. Marks `unsettled` what needs `rank` itself."""
    k = nbr_idx.shape[1]
    limit = out_idx.shape[1]
    if k == 0:
        return
    picked = np.empty(limit, dtype=np.int64)
    picked_scores = np.empty(limit, dtype=np.float32)
    for i in range(nbr_idx.shape[0]):
        count = 0
        seen = 0
        settled = True
        for pos in range(k):
            c = nbr_idx[i, pos]
            s = nbr_val[i, pos]
            if c < 0 or not (s >= min_score and s < threshold):  # a list never holds its own row
                continue
            if languages[i] >= 0 and languages[c] >= 0 and languages[c] != languages[i]:
                continue
            if seen == pool:
                break
            seen += 1
            copy = False
            for q in range(count):
                p = picked[q]
                if nbr_val[c, k - 1] >= threshold or nbr_val[p, k - 1] >= threshold:
                    settled = False  # a crowded list: the pair's similarity must be computed
                    break
                if _lists_close(nbr_idx, nbr_val, c, p, threshold) or _lists_close(nbr_idx, nbr_val, p, c, threshold):
                    copy = True
                    break
            if not settled:
                break
            if not copy:
                picked[count] = c
                picked_scores[count] = s
                count += 1
                if count == limit:
                    break
        if not settled or (count < limit and can_scan and nbr_idx[i, k - 1] >= 0):
            unsettled[i] = True
            continue
        out_idx[i, :count] = picked[:count]
        out_val[i, :count] = picked_scores[:count]


@njit(cache=True, nogil=True)
def _lists_close(nbr_idx, nbr_val, a, b, threshold):  # pragma: no cover - compiled
    """Whether row b is on row a's list with a score ≥ threshold (lists are best first)."""
    for pos in range(nbr_idx.shape[1]):
        if nbr_val[a, pos] < threshold:
            return False
        if nbr_idx[a, pos] == b:
            return True
    return False


@dataclass(frozen=True)
class DefaultBodies:
    """Every article's default-list response document: body i is `blob[offsets[i]:offsets[i + 1]]`."""

    blob: mmap.mmap | bytes  # UTF-8 JSON documents, one after the other
    offsets: np.ndarray  # int64, n_articles + 1
    limit: int  # the lists' limit, named in each document

    def body(self, idx: int) -> bytes:
        return self.blob[self.offsets[idx] : self.offsets[idx + 1]]

    def check(self, n_articles: int) -> None:
        """ValueError unless the offsets fit `n_articles` documents in the blob."""
        offsets = self.offsets
        if offsets.shape != (n_articles + 1,) or offsets[0] != 0 or offsets[-1] != len(self.blob):
            raise ValueError(f"default bodies' offsets do not fit {n_articles} articles in {len(self.blob)} bytes")
        if (np.diff(offsets) <= 0).any():
            raise ValueError("default bodies' offsets are not increasing")


def write_default_bodies(model: RelatedModel, lists: DefaultLists, version: str, out: BinaryIO) -> np.ndarray:
    """`default_bodies` written to `out` as each document is made; returns their offsets. The
    documents are never all held (at 100k articles they and their join were ~400 MB at the publish)."""
    offsets = np.zeros(model.n_articles + 1, dtype=np.int64)
    for idx, body in enumerate(default_bodies(model, lists, version)):
        out.write(body)
        offsets[idx + 1] = offsets[idx] + len(body)
    return offsets


def default_bodies(model: RelatedModel, lists: DefaultLists, version: str) -> Iterator[bytes]:
    """Every article's default-list document as the service sends it (`BODY_FORMAT`), in row order.

    Byte for byte what the API's JSON encoder makes of `{"article_id", "model_version", "limit", "count",
    "related": [{"id", "title", "url", "published_at", "score", "source", "image"?}]}`; each story's
    JSON around its score is encoded once and reused for every list it is on.
    """
    columns = model.catalog_.to_columns()
    images = columns["images"]
    stories: list[tuple[str, str] | None] = [None] * model.n_articles

    def story(j: int) -> tuple[str, str]:
        known = stories[j]
        if known is None:
            entry = {"id": columns["ids"][j], "title": columns["titles"][j], "url": columns["urls"][j],
                     "published_at": columns["published_at"][j], "score": 0}
            tail = _dumps({"source": "model", **({"image": images[j]} if images[j] is not None else {})})
            known = stories[j] = (_dumps(entry)[:-2], "," + tail[1:])
        return known

    head = f',"model_version":{_dumps(version)},"limit":{lists.limit},"count":'
    for idx in range(model.n_articles):
        listed = [f"{front}{round(score, 6)!r}{back}" for (front, back), score in
                  ((story(j), score) for j, score in
                   zip(lists.indices[idx].tolist(), lists.scores[idx].tolist(), strict=True) if j >= 0)]
        yield (f'{{"article_id":{_dumps(columns["ids"][idx])}{head}{len(listed)},"related":['
               f'{",".join(listed)}]}}').encode()


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # as the API's, to str
