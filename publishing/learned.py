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


def learn_lists(version: str, pools: ArticleLists, table: ClickTable, options: LearningOptions,
                limit: int, *, debias: bool = True) -> LearnedLists:
    """Every article whose first `limit` stories reader evidence reorders, with its learned order.

    `pools` holds each article's candidate pool in the model's order (see `pool_size`). `debias=False`
    takes every position as equally examined (raw click-through rates: the benchmark's comparison).
    """
    examination = examination_curve(table, options.fit_iterations) if debias else np.ones(MAX_POSITIONS)
    evidence = pair_evidence(table, examination, options)
    index = evidence.index()
    with_evidence = {article_id for article_id, _ in evidence.pairs}
    rows: list[tuple[str, list[str], list[float]]] = []
    width = pools.limit
    for article_id, ids, scores in pools.all_lists():
        if article_id in with_evidence and len(ids) > 1:
            rows.append((article_id, ids, scores))
    shape = (len(rows), width)
    scores_m, lifts, shown = np.full(shape, np.nan), np.ones(shape), np.zeros(shape)
    found = np.full(shape, -1, dtype=np.int64)
    for r, (article_id, ids, scores) in enumerate(rows):
        scores_m[r, : len(scores)] = scores
        for c, story_id in enumerate(ids):
            i = index.get((article_id, story_id))
            if i is not None:
                found[r, c] = i
    known = found >= 0
    lifts[known] = evidence.lift[found[known]]
    shown[known] = evidence.impressions[found[known]]
    listed = ~np.isnan(scores_m[:, :limit])  # every story of the list proven: the list is covered
    covered = int(((shown[:, :limit] >= options.min_impressions) | ~listed).all(axis=1).sum())
    orders = learned_orders(scores_m, lifts, shown, options)
    lists: dict[str, LearnedList] = {}
    for r, (article_id, ids, scores) in enumerate(rows):
        order = [int(p) for p in orders[r] if p >= 0]
        if order[:limit] == list(range(min(limit, len(order)))):
            continue
        moves = {}
        for slot, pos in enumerate(order[:limit]):
            if pos != slot and found[r, pos] >= 0:
                i = int(found[r, pos])
                moves[ids[pos]] = Move(pos + 1, int(evidence.impressions[i]), int(evidence.clicks[i]),
                                       round(float(evidence.expected[i]), 3), round(float(evidence.mean[i]), 3))
        lists[article_id] = LearnedList(tuple(ids[p] for p in order), tuple(round(scores[p], 6) for p in order), moves)
    stats = {
        "articles": pools.model.n_articles,
        "with_evidence": len(rows),
        "covered": covered,
        "changed": len(lists),
        "pairs": len(evidence.pairs),
        "impressions": int(table.impressions.sum()),
        "clicks": int(table.clicks.sum()),
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
