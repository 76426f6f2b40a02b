"""Publishing lists that learned from readers: re-rank every candidate pool, write the lists, ring the doorbell.

`learn_lists` takes the served version's candidate pools (each article's default ranking, longer than a
list: `recommender.default_lists`) and the reader evidence (`recommender.reader_evidence`) and keeps the
articles whose first `limit` stories change. `write_learned` stores them as `learned/<version>.json`
beside the versions (temporary file, fsync, `os.replace`) and rings the `learned.revision` doorbell, the
same 8-byte file kind the overrides use (`storage.overrides.ring_doorbell`); every service process
checks it and re-renders those articles' lists (`service.models.learned`). The file is keyed by the model
version it was computed for, so a service never applies it to another version; the evidence itself is
keyed by article ids and read from all events in the window, so a new version starts from what readers
did under the old one wherever the pairs still exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from recommender import artifacts
from recommender.default_lists import ArticleLists
from recommender.reader_evidence import (
    MAX_POSITIONS,
    ClickTable,
    Evidence,
    LearnedList,
    LearningOptions,
    Move,
    examination_curve,
    learned_orders,
    pair_evidence,
)
from storage.overrides import ring_doorbell

LEARNED_DIR = "learned"
DOORBELL_FILE = "learned.revision"
FORMAT = 1
CHUNK_ROWS = 8192  # articles re-ranked at a time (`learn_lists`)


@dataclass(frozen=True)
class LearnedLists:
    """One learn run's lists for one model version, and what the run saw."""

    model_version: str
    limit: int
    lists: dict[str, LearnedList]
    stats: dict[str, Any] = field(default_factory=dict)


def pool_size(limit: int, top_k: int) -> int:
    """How many candidates a list of `limit` is re-ranked from: twice the list, within the model's K."""
    return min(2 * limit, top_k)


def weigh_evidence(table: ClickTable, options: LearningOptions, *, debias: bool = True) -> tuple[Evidence, np.ndarray]:
    """Each pair's evidence and the examination curve it was weighed at (`reader_evidence`). `debias=False`
    takes every position as equally examined (raw click-through rates: the benchmark's comparison)."""
    examination = examination_curve(table, options.fit_iterations) if debias else np.ones(MAX_POSITIONS)
    return pair_evidence(table, examination, options), examination


def learn_lists(version: str, pools: ArticleLists, evidence: Evidence, examination: np.ndarray,
                options: LearningOptions, limit: int, *, chunk_rows: int = CHUNK_ROWS) -> LearnedLists:
    """Every article whose first `limit` stories reader evidence reorders, with its learned order.

    `pools` holds each article's candidate pool in the model's order (see `pool_size`); `evidence` is
    `reader_evidence.pair_evidence` at the `examination` curve (`weigh_evidence`). The pools are re-ranked
    `chunk_rows` articles at a time, so the re-ranking's arrays stay small beside the loaded model.
    """
    coded = pools.coded({article_id: code for code, article_id in enumerate(evidence.ids)})
    # The evidence's pairs by key (article code × ids + story code), sorted, to look each pool's up at once.
    n_ids = max(len(evidence.ids), 1)
    keys = evidence.article.astype(np.int64) * n_ids + evidence.story
    by_key = np.argsort(keys, kind="stable")
    sorted_keys = keys[by_key]
    with_evidence = np.zeros(n_ids, dtype=bool)
    with_evidence[evidence.article] = True
    rows = np.flatnonzero((coded.articles >= 0) & with_evidence[coded.articles] & (coded.lengths > 1))
    lists: dict[str, LearnedList] = {}
    covered = 0
    for start in range(0, len(rows), chunk_rows):
        block = rows[start : start + chunk_rows]
        listed = np.arange(pools.limit) < coded.lengths[block, None]
        stories = coded.stories[block]
        wanted = coded.articles[block, None] * n_ids + stories
        at = np.minimum(np.searchsorted(sorted_keys, wanted), max(len(sorted_keys) - 1, 0))
        found = np.where((stories >= 0) & (sorted_keys[at] == wanted), by_key[at], -1)  # the pair, or -1
        known = found >= 0
        lifts, shown = np.ones(found.shape), np.zeros(found.shape)
        lifts[known] = evidence.lift[found[known]]
        shown[known] = evidence.impressions[found[known]]
        # every story of the list proven: the list is covered
        covered += int(((shown[:, :limit] >= options.min_impressions) | ~listed[:, :limit]).all(axis=1).sum())
        orders = learned_orders(np.where(listed, coded.scores[block].astype(np.float64), np.nan), lifts, shown,
                                options)
        slots = np.arange(min(limit, orders.shape[1]))
        in_model_order = np.where(slots < (orders >= 0).sum(axis=1)[:, None], slots, -1)
        for r in np.flatnonzero((orders[:, :limit] != in_model_order).any(axis=1)).tolist():
            article_id = evidence.ids[int(coded.articles[block[r]])]
            ids, scores = pools.default_list(article_id)
            order = [int(p) for p in orders[r] if p >= 0]
            moves = {}
            for slot, pos in enumerate(order[:limit]):
                if pos != slot and found[r, pos] >= 0:
                    i = int(found[r, pos])
                    moves[ids[pos]] = Move(pos + 1, int(evidence.impressions[i]), int(evidence.clicks[i]),
                                           round(float(evidence.expected[i]), 3), round(float(evidence.mean[i]), 3))
            lists[article_id] = LearnedList(tuple(ids[p] for p in order), tuple(round(scores[p], 6) for p in order),
                                            moves)
    stats = {
        "articles": pools.model.n_articles,
        "with_evidence": len(rows),
        "covered": covered,
        "changed": len(lists),
        "pairs": len(evidence.article),
        "impressions": int(evidence.impressions.sum()),
        "clicks": int(evidence.clicks.sum()),
        "examination": [round(float(x), 4) for x in examination[:limit]],
    }
    return LearnedLists(version, limit, lists, stats)


def learned_path(models_dir: str | Path, version: str) -> Path:
    return Path(models_dir) / LEARNED_DIR / f"{version}.json"


def write_learned(models_dir: str | Path, learned: LearnedLists) -> Path:
    """Store the lists atomically, drop the files of versions no longer on disk, ring the doorbell."""
    directory = Path(models_dir) / LEARNED_DIR
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "format": FORMAT,
        "model_version": learned.model_version,
        "limit": learned.limit,
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "stats": learned.stats,
        "lists": {a: {"order": list(entry.order), "scores": list(entry.scores),
                      "moves": {s: asdict(m) for s, m in entry.moves.items()}}
                  for a, entry in learned.lists.items()},
    }
    path = learned_path(models_dir, learned.model_version)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, ensure_ascii=False, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    kept = set(artifacts.list_versions(models_dir))
    for stale in directory.glob("*.json"):
        if stale.stem not in kept:
            with contextlib.suppress(OSError):
                stale.unlink()
    ring_doorbell(models_dir, DOORBELL_FILE)
    return path


def read_learned(models_dir: str | Path, version: str) -> LearnedLists | None:
    """The learned lists stored for `version` (None when there are none); ValueError when the file is damaged."""
    path = learned_path(models_dir, version)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(text)
        if document.get("format") != FORMAT or document.get("model_version") != version:
            raise ValueError(f"format {document.get('format')!r} for {document.get('model_version')!r}")
        lists = {a: LearnedList(tuple(entry["order"]), tuple(map(float, entry["scores"])),
                                {s: Move(**m) for s, m in entry["moves"].items()})
                 for a, entry in document["lists"].items()}
        if any(len(entry.order) != len(entry.scores) for entry in lists.values()):
            raise ValueError("a list's order and scores differ in length")
        stats = {**document["stats"], "computed_at": document["computed_at"]}
        return LearnedLists(version, int(document["limit"]), lists, stats)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a learned-lists file: {exc}") from None
