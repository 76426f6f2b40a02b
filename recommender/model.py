"""`RelatedModel`: fit on articles, then answer "what is related to this article?" from precomputed lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import scipy.sparse as sp

from recommender.catalog import ArticleCatalog, ArticleInfo
from recommender.corpus import Article
from recommender.errors import CorpusError
from recommender.neighbors import NeighborTable, ProgressCallback, top_k_neighbors
from recommender.vectorize import ArticleVectorizer, VectorizerParams

DEFAULT_TOP_K = 50


@dataclass(frozen=True)
class RelatedItem:
    """One entry of a related list."""

    article: ArticleInfo
    score: float


class RelatedModel:
    """TF-IDF vectors of the corpus with each article's top-K cosine neighbours precomputed."""

    def __init__(self, top_k: int = DEFAULT_TOP_K, params: VectorizerParams | None = None) -> None:
        self.top_k = top_k
        self.params = params or VectorizerParams()

    def fit(self, articles: Sequence[Article], *, progress: ProgressCallback | None = None) -> RelatedModel:
        """Vectorise the articles and precompute every neighbour list; returns self."""
        if len(articles) < 2:
            raise CorpusError([], "a model needs at least 2 articles")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        self.vectorizer_ = ArticleVectorizer(self.params)
        self.matrix_ = self.vectorizer_.fit_transform(articles)
        self.neighbors_ = top_k_neighbors(self.matrix_, self.top_k, progress=progress)
        self.catalog_ = ArticleCatalog.from_articles(articles)
        return self

    @classmethod
    def from_parts(
        cls,
        *,
        top_k: int,
        vectorizer: ArticleVectorizer,
        matrix: sp.csr_matrix,
        neighbors: NeighborTable,
        catalog: ArticleCatalog,
    ) -> RelatedModel:
        """Reassemble a fitted model from its stored parts (see `recommender.artifacts`)."""
        model = cls(top_k=top_k, params=vectorizer.params)
        model.vectorizer_, model.matrix_, model.neighbors_, model.catalog_ = vectorizer, matrix, neighbors, catalog
        return model

    @property
    def n_articles(self) -> int:
        return len(self.catalog_)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self.catalog_

    def article(self, article_id: str) -> ArticleInfo:
        """Stored metadata of one article; `UnknownArticleError` if absent."""
        return self.catalog_.info(self.catalog_.index_of(article_id))

    def related(self, article_id: str, limit: int = 10) -> list[RelatedItem]:
        """The article's best `limit` related stories, best first; `UnknownArticleError` if absent."""
        idx = self.catalog_.index_of(article_id)
        row_idx = self.neighbors_.indices[idx, :limit]
        row_scores = self.neighbors_.scores[idx, :limit]
        return [
            RelatedItem(self.catalog_.info(int(j)), round(float(s), 6))
            for j, s in zip(row_idx, row_scores, strict=True)
            if j >= 0
        ]
