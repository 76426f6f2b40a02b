"""`RelatedModel`: fit on articles, then answer "what is related to this article (or this text)?".

Each article's top-K neighbours are precomputed at fit time; request-time rules (see
`recommender.ranking`) run on them, and when filters leave the list short of what was asked, the
query is scored against the whole corpus so a filtered list is never shorter than it needs to be.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from recommender.catalog import ArticleCatalog, ArticleInfo
from recommender.corpus import Article
from recommender.errors import CorpusError
from recommender.heap import trim_heap
from recommender.languages import resolve_languages
from recommender.neighbors import DEFAULT_CHUNK_BYTES, NeighborTable, ProgressCallback, top_k_neighbors
from recommender.overrides import NO_RULES, ArticleRules, Source, served_pins
from recommender.ranking import Query, Ranked, RankingOptions, rank
from recommender.similarity import DenseRows, QueryVector, SimilaritySpace
from recommender.vectorize import ArticleVectorizer, VectorizerParams, Vectors

DEFAULT_TOP_K = 50
EXPLAIN_TERMS = 5
_NO_ROWS = np.empty(0, dtype=np.int64)
_NOTHING = Ranked(_NO_ROWS, np.empty(0, dtype=np.float32), np.empty(0, dtype=np.float32))


@dataclass(frozen=True)
class Explanation:
    """Why a story is related: the shared terms' share of the score, the semantic part (every dense
    space's together), tags, category."""

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
    source: Source = "model"  # "pinned": an editor put it there (see `recommender.overrides`)


class RelatedModel:
    """Blended TF-IDF + dense-space (LSA…) vectors of the corpus with each article's top-K neighbours precomputed."""

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
        release_texts: bool = False,
        spill_dir: str | Path | None = None,
    ) -> RelatedModel:
        """Vectorise the articles and precompute every neighbour list (see `top_k_neighbors`); returns self.

        `timings`, when given, receives each stage's seconds (count, rows, lsa, neighbours). With
        `release_texts` the caller hands `articles` (a list) over and the texts are freed once counted
        (`ArticleVectorizer.fit_transform`); the catalogue keeps what the service shows. With
        `spill_dir`, the LSA components (V × d floats, the model's largest array: 657 MB at 100k
        synthetic articles) are written to an unlinked file there a block at a time as the LSA fit
        computes them, and mapped back read-only: they are never resident, neither in the fit nor in
        the neighbour step, and the save copies them a slab at a time (the service maps them from the
        saved version the same way).
        """
        if len(articles) < 2:
            raise CorpusError([], "a model needs at least 2 articles")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        self.vectorizer_ = ArticleVectorizer(self.params)
        started = time.perf_counter()
        languages = resolve_languages([a.lang for a in articles], [a.title for a in articles],
                                      [a.body for a in articles], [a.site_lang for a in articles])
        if timings is not None:
            timings["languages"] = time.perf_counter() - started
        catalog = ArticleCatalog.from_articles(articles, languages)
        vectors = self.vectorizer_.fit_transform(articles, n_jobs=n_jobs, timings=timings, spill_dir=spill_dir,
                                                 memory_budget_bytes=memory_budget_bytes, release_texts=release_texts,
                                                 languages=languages)
        self._assemble(vectors, catalog)
        started = time.perf_counter()
        self.neighbors_ = top_k_neighbors(
            self.space_, self.top_k, n_jobs=n_jobs, memory_budget_bytes=memory_budget_bytes, progress=progress
        )
        trim_heap()  # the neighbour tasks' freed arenas (`recommender.heap`), before the publish
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
        blended = [space for space in self.vectorizer_.spaces_ if space.weight and vectors.dense[space.name].shape[1]]
        self._dense_names = [space.name for space in blended]  # a query's dense vectors, in the blend's order
        self.space_ = SimilaritySpace(
            vectors.tfidf, dense=tuple(DenseRows(vectors.dense[space.name], space.weight) for space in blended))

    @property
    def n_articles(self) -> int:
        return len(self.catalog_)

    @property
    def lists_truncated(self) -> bool:
        """Whether a full neighbour list may leave stories out (K < every other article): a list the
        rules leave short is then refilled from a whole-corpus scan."""
        return self.top_k < self.n_articles - 1

    def __contains__(self, article_id: object) -> bool:
        return article_id in self.catalog_

    def article(self, article_id: str) -> ArticleInfo:
        """Stored metadata of one article; `UnknownArticleError` if absent."""
        return self.catalog_.info(self.catalog_.index_of(article_id))

    def article_id_for_url(self, url: str) -> str | None:
        """The id of the article at `url` (compared in canonical form, see `recommender.urls`), else None."""
        return self.catalog_.article_id_for_url(url)

    def related(
        self,
        article_id: str,
        options: RankingOptions | None = None,
        *,
        explain: bool = False,
        rules: ArticleRules = NO_RULES,
    ) -> list[RelatedItem]:
        """The article's related stories under the ranking options and the editors' rules (pins first);
        `UnknownArticleError` if absent."""
        options = options or RankingOptions()
        idx = self.catalog_.index_of(article_id)
        pins, fill = self._split(article_id, rules, options)
        ranked = self.ranked(idx, fill) if fill is not None else _NOTHING
        vector = self.space_.row(idx) if explain or len(pins) else None
        info = self.catalog_.info(idx)
        return self._listed(pins, ranked, vector, info.tags, info.category, explain=explain)

    def related_in_order(
        self,
        article_id: str,
        order: Sequence[str],
        options: RankingOptions,
        *,
        explain: bool = False,
        rules: ArticleRules = NO_RULES,
    ) -> list[RelatedItem]:
        """The article's list with the model's stories taken in `order` (story ids, best first: an order
        reader evidence gave the candidate pool) instead of by score; pins first, and blocked, excluded,
        unknown or left-out stories skipped, as in `related`. When `order` runs short the model's own
        list fills the rest. `UnknownArticleError` if the article is absent."""
        idx = self.catalog_.index_of(article_id)
        pins, fill = self._split(article_id, rules, options)
        vector = self.space_.row(idx)
        ranked = _NOTHING
        if fill is not None:
            leave_out = fill.exclude | {article_id}
            rows = self.catalog_.indices_of_known([s for s in dict.fromkeys(order) if s not in leave_out])
            rows = rows[: fill.limit]
            if len(rows) < fill.limit:
                taken = frozenset(self.catalog_.id_at(int(j)) for j in rows)
                more = self.ranked(idx, replace(fill, limit=fill.limit - len(rows), exclude=fill.exclude | taken))
                rows = np.concatenate([rows, more.indices]).astype(np.int64)
            sims = self.space_.to_candidates(vector, rows).astype(np.float32) if len(rows) else _NOTHING.scores
            ranked = Ranked(rows, sims, sims)
        info = self.catalog_.info(idx)
        return self._listed(pins, ranked, vector, info.tags, info.category, explain=explain)

    def ranked(self, idx: int, options: RankingOptions) -> Ranked:
        """Row `idx`'s list under the options as row indices and scores (what `related` returns as items)."""
        facts = self.catalog_.facts
        query = Query(idx, float(facts.published_days[idx]), int(facts.category_codes[idx]),
                      int(facts.language_codes[idx]))
        row = self.neighbors_.indices[idx]
        ranked = self._rank(query, row, self.neighbors_.scores[idx], options)
        if len(ranked.indices) < options.limit and self.lists_truncated and row[-1] >= 0:
            ranked = self._rank(query, *self._scan(self.space_.row(idx)), options)
        return ranked

    def items_of(self, ranked: Ranked) -> list[RelatedItem]:
        """A ranked list (row indices and scores) as the items `related` returns, without explanations."""
        return self._items(ranked, None, (), None)

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
        article_id: str | None = None,
        rules: ArticleRules = NO_RULES,
        lang: str | None = None,
    ) -> list[RelatedItem]:
        """Related stories for a text that is not in the model (a draft, a new article); never refits.

        `article_id` names the article the text is (a draft of a known story): it is left out of the list.
        The text is analysed in `lang` (else its detected language: `languages_of`).
        """
        options = options or RankingOptions()
        lang = lang or self.languages_of([Article("", title, body)])[0]
        vectors = self.vectorizer_.transform_fields([title], [body], [tuple(tags)], [lang])
        vector = QueryVector(vectors.tfidf, tuple(vectors.dense[name][0] for name in self._dense_names))
        pins, fill = self._split(article_id, rules, options)
        ranked = _NOTHING
        if fill is not None:
            codes = self.catalog_.category_code(category)
            days = published_at.timestamp() / 86400.0 if published_at else float("nan")
            if article_id is not None:
                fill = replace(fill, exclude=fill.exclude | {article_id})
            query = Query(None, days, codes, self.catalog_.language_code(lang))
            ranked = self._rank(query, *self._scan(vector, like_the_lists=False), fill)
        return self._listed(pins, ranked, vector, tuple(tags), category, explain=explain)

    def analysis_notes(self) -> list[str]:
        """What the analysis made of the corpus, for a train's summary: articles per language, and
        the boilerplate left out of the vectors."""
        counts = Counter(lang or "unknown" for lang in self.catalog_.to_columns()["languages"])
        languages = ", ".join(f"{lang} {count}" for lang, count in counts.most_common())
        return [f"languages: {languages}", f"boilerplate: {self.vectorizer_.boilerplate.summary()}"]

    def languages_of(self, articles: Sequence[Article]) -> list[str | None]:
        """New articles' languages as the fit resolves them, an unsure detection taking the model's
        main language (`recommender.languages.resolve_languages`)."""
        return resolve_languages([a.lang for a in articles], [a.title for a in articles], [a.body for a in articles],
                                 [a.site_lang for a in articles], fallback=self.catalog_.main_language(),
                                 known=self.catalog_.languages())

    def _split(
        self, article_id: str | None, rules: ArticleRules, options: RankingOptions
    ) -> tuple[np.ndarray, RankingOptions | None]:
        """The rows of the pins to show first, and the options the model fills the rest with (None: full)."""
        if rules is NO_RULES:
            return _NO_ROWS, options
        pins = served_pins(article_id, rules, self.__contains__, leave_out=options.exclude, limit=options.limit)
        rows = self.catalog_.indices_of_known(pins)
        if len(pins) == options.limit:
            return rows, None
        never = options.exclude | rules.never | set(pins)
        return rows, replace(options, limit=options.limit - len(pins), exclude=never)

    def _listed(
        self, pins: np.ndarray, ranked: Ranked, vector: QueryVector | None, tags: Sequence[str],
        category: str | None, *, explain: bool,
    ) -> list[RelatedItem]:
        """Pinned stories (scored by their similarity to the query) followed by the model's picks."""
        shown = vector if explain else None
        if not len(pins):
            return self._items(ranked, shown, tags, category)
        assert vector is not None
        sims = self.space_.to_candidates(vector, pins).astype(np.float32)
        scores = np.clip(sims, 0.0, 1.0)  # the LSA part can make an unrelated pin's similarity slightly negative
        pinned = self._items(Ranked(pins, scores, sims), shown, tags, category, source="pinned")
        return pinned + self._items(ranked, shown, tags, category)

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
            excluded_categories=self.catalog_.category_codes_of(options.exclude_categories),
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
        self, ranked: Ranked, vector: QueryVector | None, tags: Sequence[str], category: str | None,
        source: Source = "model",
    ) -> list[RelatedItem]:
        return [
            RelatedItem(
                self.catalog_.info(int(j)),
                round(float(score), 6),
                round(float(sim), 6),
                None if vector is None else self._explain(vector, int(j), tags, category),
                source,
            )
            for j, score, sim in zip(ranked.indices, ranked.scores, ranked.similarities, strict=True)
        ]

    def _explain(self, vector: QueryVector, idx: int, tags: Sequence[str], category: str | None) -> Explanation:
        """Split the similarity into shared terms' contributions and the semantic part (the dense spaces')."""
        share = self.space_.tfidf_share
        overlap = vector.tfidf.multiply(self.vectors_.tfidf[idx]).tocsr()
        top = np.argsort(-overlap.data, kind="stable")[:EXPLAIN_TERMS]
        names = self.vectorizer_.feature_names()
        terms = [(str(names[overlap.indices[t]]), round(float(share * overlap.data[t]), 4)) for t in top]
        semantic = 0.0
        if vector.dense:
            semantic = round(sum(float(space.weight * space.rows[idx] @ query)
                                 for space, query in zip(self.space_.dense, vector.dense, strict=True)), 4)
        info = self.catalog_.info(idx)
        lowered = {t.lower() for t in tags}
        return Explanation(
            terms=terms,
            semantic=semantic,
            shared_tags=[t for t in info.tags if t.lower() in lowered],
            same_category=category is not None and info.category == category,
        )

