"""Changes to a model without a refit: add or replace articles, take articles down (pure: model in, model out).

New and edited articles are vectorised with the published vectorizer and dense spaces (never refit).
Their own lists are computed against the whole corpus; every other article's list is merged with its
similarities to the changed articles, so a new story enters the lists of the older stories it now
ranks in — the reverse update a related-articles block needs. Lists that held a removed or edited
article are recomputed against the whole corpus, so they are refilled, never shortened. The result
is exactly what a full neighbour pass over the same vectors would give.

A removal is a takedown: its id is recorded in the manifest and later updates refuse to bring it
back; only a full `relatedly train` starts a new lineage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.catalog import ArticleCatalog
from recommender.corpus import Article
from recommender.errors import RelatedlyError, UnknownArticleError
from recommender.model import RelatedModel
from recommender.neighbors import NeighborTable, empty_lists, top_k_rows
from recommender.sparse_kernels import offer_to_lists
from recommender.vectorize import Vectors

RETRAIN_ADDED_SHARE = 0.25  # recommend a full fit once this share of the corpus came in by updates
RETRAIN_UNKNOWN_TERMS = 0.30  # … or once this share of the added text's terms is outside the vocabulary


@dataclass(frozen=True)
class ChangeSummary:
    """What an update did, for logs, the CLI and the manifest."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # taken down earlier: never brought back by an update
    recomputed_lists: int = 0
    tokens: int = 0
    unknown_tokens: int = 0


def apply_changes(
    model: RelatedModel,
    upserts: Sequence[Article] = (),
    removals: Sequence[str] = (),
    *,
    takedowns: frozenset[str] = frozenset(),
) -> tuple[RelatedModel, ChangeSummary]:
    """A new model with the articles added/replaced and the removals gone; the input is not modified."""
    catalog = model.catalog_
    unknown = [r for r in removals if r not in catalog]
    if unknown:
        raise UnknownArticleError(unknown[0])
    removed = set(removals)
    blocked = takedowns | removed
    refused = [a.id for a in upserts if a.id in blocked]
    latest = {a.id: a for a in upserts if a.id not in blocked}  # the last version of an id wins
    changes = list(latest.values())
    n_old = model.n_articles

    # New row order: surviving old rows in place (edited ones swapped for their new text), then additions.
    replaced_at = {catalog.index_of(a.id): j for j, a in enumerate(changes) if a.id in catalog}
    added = [j for j, a in enumerate(changes) if a.id not in catalog]
    order = [n_old + replaced_at[i] if i in replaced_at else i
             for i in range(n_old) if catalog.id_at(i) not in removed]
    order += [n_old + j for j in added]
    if len(order) < 2:
        raise RelatedlyError(f"the update would leave {len(order)} article(s); a model needs at least 2")
    order_arr = np.array(order, dtype=np.int64)
    old_to_new = np.full(n_old, -1, dtype=np.int64)
    survivors = [i for i in range(n_old) if catalog.id_at(i) not in removed]
    old_to_new[survivors] = np.arange(len(survivors))

    languages = model.languages_of(changes)
    fresh = (
        model.vectorizer_.transform_fields(
            [a.title for a in changes], [a.body for a in changes], [a.tags for a in changes], languages
        )
        if changes
        else Vectors(sp.csr_matrix((0, model.vectors_.tfidf.shape[1]), dtype=np.float32),
                     {name: np.zeros((0, rows.shape[1]), np.float32) for name, rows in model.vectors_.dense.items()})
    )
    vectors = Vectors(
        sp.vstack([model.vectors_.tfidf, fresh.tfidf]).tocsr()[order_arr],
        {name: np.vstack([rows, fresh.dense[name]])[order_arr] for name, rows in model.vectors_.dense.items()},
    )
    columns = _merged_columns(catalog, ArticleCatalog.from_articles(changes, languages), order_arr)
    updated = RelatedModel.from_parts(
        top_k=model.top_k, vectorizer=model.vectorizer_, vectors=vectors,
        neighbors=NeighborTable(np.empty((0, 0), np.int32), np.empty((0, 0), np.float32)),
        catalog=ArticleCatalog(columns),
    )

    changed_new = np.array([int(np.nonzero(order_arr == n_old + j)[0][0]) for j in range(len(changes))],
                           dtype=np.int64)
    gone_old = np.array([i for i in range(n_old) if catalog.id_at(i) in removed] + list(replaced_at),
                        dtype=np.int64)
    table, recomputed = _updated_neighbours(model.neighbors_, updated, old_to_new, changed_new, gone_old)
    updated.neighbors_ = table
    tokens, unknown_tokens = _vocabulary_coverage(model, changes, languages)
    return updated, ChangeSummary(
        added=[changes[j].id for j in added],
        replaced=[changes[j].id for j in replaced_at.values()],
        removed=sorted(removed),
        refused=refused,
        recomputed_lists=recomputed,
        tokens=tokens,
        unknown_tokens=unknown_tokens,
    )


def _merged_columns(old: ArticleCatalog, fresh: ArticleCatalog, order: np.ndarray) -> dict[str, list[Any]]:
    old_columns, fresh_columns = old.to_columns(), fresh.to_columns()
    return {
        name: [old_columns[name][i] if i < len(old) else fresh_columns[name][i - len(old)] for i in order]
        for name in ArticleCatalog.COLUMNS
    }


def _updated_neighbours(
    old: NeighborTable, model: RelatedModel, old_to_new: np.ndarray, changed: np.ndarray, gone_old: np.ndarray
) -> tuple[NeighborTable, int]:
    """Merge clean lists with the changed rows; recompute lists of changed rows and of lists that lost one."""
    n, k = model.n_articles, model.top_k
    width = max(0, min(k, n - 1))
    indices, scores = empty_lists(n, width)
    survivors = np.nonzero(old_to_new >= 0)[0]
    lost = np.isin(old.indices, gone_old).any(axis=1) if len(gone_old) else np.zeros(len(old.indices), bool)
    dirty = np.zeros(n, dtype=bool)
    dirty[changed] = True
    dirty[old_to_new[survivors[lost[survivors]]]] = True

    clean_old = survivors[~dirty[old_to_new[survivors]]]
    clean_new = old_to_new[clean_old]
    space = model.space_
    kept = min(width, old.indices.shape[1])
    # A clean list holds no changed or removed article, and the row map keeps the old order, so it
    # is still best first by (-score, index) under the new numbering.
    previous = old.indices[clean_old, :kept]
    clean_idx, clean_val = empty_lists(len(clean_new), width)
    clean_idx[:, :kept] = np.where(previous >= 0, old_to_new[np.maximum(previous, 0)], -1)
    clean_val[:, :kept] = old.scores[clean_old, :kept]
    # Each changed row is scored against every row once: its own list comes from that block, and the
    # same scores (symmetric, bit for bit) are offered to the clean lists — the reverse update.
    columns = clean_new.astype(np.int64)

    def reverse_update(part: np.ndarray, block: np.ndarray) -> None:
        offer_to_lists(clean_idx, clean_val, part.astype(np.int64), block, columns)

    if len(changed):
        indices[changed], scores[changed] = top_k_rows(space, width, changed, reverse_update)
    indices[clean_new], scores[clean_new] = clean_idx, clean_val
    dirty_rows = np.nonzero(dirty)[0]
    lost_rows = dirty_rows[~np.isin(dirty_rows, changed)]  # lists that held a removed or edited article
    if len(lost_rows):
        indices[lost_rows], scores[lost_rows] = top_k_rows(space, width, lost_rows)
    return NeighborTable(indices, scores), int(len(dirty_rows))


def _vocabulary_coverage(
    model: RelatedModel, articles: Sequence[Article], languages: Sequence[str | None]
) -> tuple[int, int]:
    """How many words the new text has (as analysed for its language, without the boilerplate), and
    how many of them the fitted vocabulary does not know.

    Single words only: most word pairs of any new text are unseen, which says nothing about drift.
    """
    analyze = model.vectorizer_.tfidf_.build_analyzer()
    vocabulary = model.vectorizer_.tfidf_.vocabulary_
    tokens = unknown = 0
    for article, language in zip(articles, languages, strict=True):
        text = "\n".join(model.vectorizer_.prepared(article.title, " ".join(article.tags), article.body, language))
        terms = [term for term in analyze(text) if " " not in term]
        tokens += len(terms)
        unknown += int((vocabulary.columns(terms) < 0).sum())
    return tokens, unknown


def drift_after(previous: dict[str, Any], summary: ChangeSummary) -> dict[str, Any]:
    """The manifest's running drift record: additions since the last full fit and unknown-term share."""
    drift = {
        "fit_articles": previous.get("fit_articles", 0),
        "added_since_fit": previous.get("added_since_fit", 0) + len(summary.added),
        "tokens_since_fit": previous.get("tokens_since_fit", 0) + summary.tokens,
        "unknown_tokens_since_fit": previous.get("unknown_tokens_since_fit", 0) + summary.unknown_tokens,
    }
    drift["unknown_term_share"] = round(drift["unknown_tokens_since_fit"] / max(drift["tokens_since_fit"], 1), 4)
    drift["retrain_recommended"] = bool(
        drift["added_since_fit"] > RETRAIN_ADDED_SHARE * max(drift["fit_articles"], 1)
        or drift["unknown_term_share"] > RETRAIN_UNKNOWN_TERMS
    )
    return drift
