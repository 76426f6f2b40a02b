"""The TF-IDF recipe: one vocabulary over whole articles, fields weighted before normalising.

Title and tags say what a story is about more reliably than its body, so their term weights are
multiplied before the L2 normalisation (a BM25F-style field boost). The vocabulary and IDF come from
whole articles, so a title word still matches the same word in another article's body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recommender.corpus import Article
from recommender.errors import CorpusError

SMALL_CORPUS = 50  # below this many articles document-frequency cut-offs would remove every shared term


@dataclass(frozen=True)
class VectorizerParams:
    """Hyper-parameters of the recipe, recorded in every manifest."""

    title_weight: float = 2.0
    tags_weight: float = 2.0
    body_weight: float = 1.0
    sublinear_tf: bool = True
    ngram_max: int = 1
    min_df: int = 2
    max_df: float = 0.5
    max_features: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class ArticleVectorizer:
    """Maps articles (or free text) to L2-normalised float32 TF-IDF rows."""

    def __init__(self, params: VectorizerParams | None = None) -> None:
        self.params = params or VectorizerParams()

    def fit_transform(self, articles: Sequence[Article]) -> sp.csr_matrix:
        """Learn vocabulary and IDF from the articles and return their weighted vectors."""
        p = self.params
        small = len(articles) < SMALL_CORPUS
        self.tfidf_ = TfidfVectorizer(
            sublinear_tf=p.sublinear_tf,
            stop_words="english",
            strip_accents="unicode",
            ngram_range=(1, p.ngram_max),
            min_df=1 if small else p.min_df,
            max_df=1.0 if small else p.max_df,
            max_features=p.max_features,
            norm=None,
            dtype=np.float32,
        )
        try:
            self.tfidf_.fit(_whole_text(a.title, a.body, a.tags) for a in articles)
        except ValueError as exc:  # empty vocabulary: nothing in the corpus is a usable word
            raise CorpusError([], f"cannot build a vocabulary from the corpus: {exc}") from exc
        return self.transform_fields(
            [a.title for a in articles], [a.body for a in articles], [a.tags for a in articles]
        )

    def transform_fields(
        self, titles: Sequence[str], bodies: Sequence[str], tags: Sequence[Sequence[str]]
    ) -> sp.csr_matrix:
        """Vectors for texts with the fitted vocabulary; never refits."""
        self._check_fitted()
        p = self.params
        combined = (
            p.title_weight * self.tfidf_.transform(titles)
            + p.body_weight * self.tfidf_.transform(bodies)
            + p.tags_weight * self.tfidf_.transform([" ".join(t) for t in tags])
        )
        matrix = normalize(sp.csr_matrix(combined, dtype=np.float32), norm="l2", copy=False)
        matrix.sort_indices()
        return matrix

    def _check_fitted(self) -> None:
        if not hasattr(self, "tfidf_"):
            raise NotFittedError("ArticleVectorizer is not fitted yet: call fit_transform first")

    @property
    def vocabulary_size(self) -> int:
        self._check_fitted()
        return len(self.tfidf_.vocabulary_)

    def feature_names(self) -> np.ndarray:
        self._check_fitted()
        return self.tfidf_.get_feature_names_out()


def _whole_text(title: str, body: str, tags: Sequence[str]) -> str:
    return "\n".join((title, " ".join(tags), body))
