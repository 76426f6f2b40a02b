"""`RelatedModel`: fit on articles, then answer "what is related to this article (or this text)?".

Each article's top-K neighbours are precomputed at fit time; request-time rules (see
`recommender.ranking`) run on them, and when filters leave the list short of what was asked, the
query is scored against the whole corpus so a filtered list is never shorter than it needs to be.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from recommender.catalog import ArticleCatalog, ArticleInfo
from recommender.corpus import Article
from recommender.errors import CorpusError
from recommender.neighbors import DEFAULT_CHUNK_BYTES, NeighborTable, ProgressCallback, top_k_neighbors
from recommender.ranking import Query, Ranked, RankingOptions, rank
from recommender.similarity import QueryVector, SimilaritySpace
from recommender.vectorize import ArticleVectorizer, VectorizerParams, Vectors

DEFAULT_TOP_K = 50
EXPLAIN_TERMS = 5


@dataclass(frozen=True)
class Explanation:
    """Why a story is related: the shared terms' share of the score, the semantic part, tags, category."""

    terms: list[tuple[str, float]]
    semantic: float
    shared_tags: list[str]
    same_category: bool


@dataclass(frozen=True)
class RelatedItem:
    """One entry of a related list: `score` ranks it (after freshness/category rules), `similarity` is raw."""

    article: ArticleInfo
    score: float
    similarity: float
    explanation: Explanation | None = None


class RelatedModel:
    """Blended TF-IDF + LSA vectors of the corpus with each article's top-K neighbours precomputed."""

    def __init__(self, top_k: int = DEFAULT_TOP_K, params: VectorizerParams | None = None) -> None:
        self.top_k = top_k
        self.params = params or VectorizerParams()

    def fit(
        self,
        articles: Sequence[Article],
        *,
        n_jobs: int = 1,
        memory_budget_bytes: int = DEFAULT_CHUNK_BYTES,
        progress: ProgressCallback | None = None,
        timings: dict[str, float] | None = None,
    ) -> RelatedModel:
        """Vectorise the articles and precompute every neighbour list (see `top_k_neighbors`); returns self.

        `timings`, when given, receives each stage's seconds (count, rows, lsa, neighbours).
        """
        if len(articles) < 2:
            raise CorpusError([], "a model needs at least 2 articles")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        self.vectorizer_ = ArticleVectorizer(self.params)
        vectors = self.vectorizer_.fit_transform(articles, n_jobs=n_jobs, timings=timings)
        self._assemble(vectors, ArticleCatalog.from_articles(articles))
        started = time.perf_counter()
        self.neighbors_ = top_k_neighbors(
            self.space_, self.top_k, n_jobs=n_jobs, memory_budget_bytes=memory_budget_bytes, progress=progress
        )
        if timings is not None:
            timings["neighbours"] = time.perf_counter() - started
        return self

    @classmethod
    def from_parts(
        cls,
        *,
        top_k: int,
        vectorizer: ArticleVectorizer,
        vectors: Vectors,
        neighbors: NeighborTable,
        catalog: ArticleCatalog,
    ) -> RelatedModel:
        """Reassemble a fitted model from its stored parts (see `recommender.artifacts`)."""
        model = cls(top_k=top_k, params=vectorizer.params)
        model.vectorizer_ = vectorizer
        model._assemble(vectors, catalog)
        model.neighbors_ = neighbors
        return model

    def _assemble(self, vectors: Vectors, catalog: ArticleCatalog) -> None:
        self.vectors_ = vectors
        self.catalog_ = catalog
        lsa = vectors.lsa if vectors.lsa.shape[1] else None
        self.space_ = SimilaritySpace(vectors.tfidf, lsa, self.vectorizer_.lsa_weight)

    @property
    def n_articles(self) -> int:
        return len(self.catalog_)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self.catalog_

    def article(self, article_id: str) -> ArticleInfo:
        """Stored metadata of one article; `UnknownArticleError` if absent."""
        return self.catalog_.info(self.catalog_.index_of(article_id))

    def related(
        self, article_id: str, options: RankingOptions | None = None, *, explain: bool = False
    ) -> list[RelatedItem]:
        """The article's related stories under the ranking options; `UnknownArticleError` if absent."""
        options = options or RankingOptions()
        idx = self.catalog_.index_of(article_id)
        facts = self.catalog_.facts
        query = Query(idx, float(facts.published_days[idx]), int(facts.category_codes[idx]))
        row = self.neighbors_.indices[idx]
        ranked = self._rank(query, row, self.neighbors_.scores[idx], options)
        list_was_full = self.top_k < self.n_articles - 1 and row[-1] >= 0
        if len(ranked.indices) < options.limit and list_was_full:
            ranked = self._rank(query, *self._scan(self.space_.row(idx)), options)
        vector = self.space_.row(idx) if explain else None
        info = self.catalog_.info(idx)
        return self._items(ranked, vector, info.tags, info.category)

    def related_to_text(
        self,
        title: str,
        body: str,
        tags: Sequence[str] = (),
        options: RankingOptions | None = None,
        *,
        category: str | None = None,
        published_at: datetime | None = None,
        explain: bool = False,
    ) -> list[RelatedItem]:
        """Related stories for a text that is not in the model (a draft, a new article); never refits."""
        options = options or RankingOptions()
        vectors = self.vectorizer_.transform_fields([title], [body], [tuple(tags)])
        vector = QueryVector(vectors.tfidf, vectors.lsa[0] if self.space_.lsa is not None else None)
        codes = self.catalog_.category_code(category)
        days = published_at.timestamp() / 86400.0 if published_at else float("nan")
        ranked = self._rank(Query(None, days, codes), *self._scan(vector, like_the_lists=False), options)
        return self._items(ranked, vector if explain else None, tuple(tags), category)

    def _scan(self, vector: QueryVector, *, like_the_lists: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Every corpus row as a candidate, with its similarity to the query (see `against_all`)."""
        return np.arange(self.n_articles), self.space_.against_all(vector, like_the_lists=like_the_lists)

    def _rank(self, query: Query, candidates: np.ndarray, sims: np.ndarray, options: RankingOptions) -> Ranked:
        return rank(
            query,
            candidates,
            sims,
            options,
            self.catalog_.facts,
            excluded=self.catalog_.indices_of_known(sorted(options.exclude)),
            pairwise=self.space_.pairwise,
            near_duplicates=self._near_duplicates,
        )

    def _near_duplicates(self, rows: np.ndarray, threshold: float) -> np.ndarray:
        """rows × rows: similarity ≥ threshold, read from the precomputed neighbour lists.

        Two stories that similar are in each other's top-K unless one has K or more such copies;
        for those rows (their K-th score is ≥ threshold) the similarities are computed instead.
        """
        scores = self.neighbors_.scores[rows]
        above = scores >= threshold
        width = int(above.sum(axis=1).max(initial=0))  # lists are best first: only their prefixes matter
        neighbours = self.neighbors_.indices[rows, :width]
        close = (neighbours[:, :, None] == rows[None, None, :]) & above[:, :width, None]
        copies = close.any(axis=1)
        crowded = above[:, -1] if scores.shape[1] else np.zeros(len(rows), dtype=bool)
        if crowded.any():
            copies[crowded] = self.space_.pairwise(rows)[crowded] >= threshold
        np.fill_diagonal(copies, False)
        return copies | copies.T

    def _items(
        self, ranked: Ranked, vector: QueryVector | None, tags: Sequence[str], category: str | None
    ) -> list[RelatedItem]:
        return [
            RelatedItem(
                self.catalog_.info(int(j)),
                round(float(score), 6),
                round(float(sim), 6),
                None if vector is None else self._explain(vector, int(j), tags, category),
            )
            for j, score, sim in zip(ranked.indices, ranked.scores, ranked.similarities, strict=True)
        ]

    def _explain(self, vector: QueryVector, idx: int, tags: Sequence[str], category: str | None) -> Explanation:
        """Split the similarity into shared terms' contributions and the semantic (LSA) part."""
        w = self.space_.lsa_weight
        overlap = vector.tfidf.multiply(self.vectors_.tfidf[idx]).tocsr()
        top = np.argsort(-overlap.data, kind="stable")[:EXPLAIN_TERMS]
        names = self.vectorizer_.feature_names()
        terms = [(str(names[overlap.indices[t]]), round(float((1 - w) * overlap.data[t]), 4)) for t in top]
        semantic = 0.0
        if vector.lsa is not None and self.space_.lsa is not None:
            semantic = round(float(w * self.space_.lsa[idx] @ vector.lsa), 4)
        info = self.catalog_.info(idx)
        lowered = {t.lower() for t in tags}
        return Explanation(
            terms=terms,
            semantic=semantic,
            shared_tags=[t for t in info.tags if t.lower() in lowered],
            same_category=category is not None and info.category == category,
        )
