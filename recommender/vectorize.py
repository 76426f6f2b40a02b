"""The representation recipe: field-weighted TF-IDF plus an LSA projection of it.

Title and tags say what a story is about more reliably than its body, so their term weights are
multiplied before the L2 normalisation (a BM25F-style field boost). The vocabulary and IDF come from
whole articles, so a title word still matches the same word in another article's body.
The LSA part (randomized truncated SVD, capped components, fixed seed) maps the TF-IDF rows to a
dense low-rank space where stories on one subject meet even without shared words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from recommender.corpus import Article
from recommender.errors import CorpusError

SMALL_CORPUS = 50  # below this many articles document-frequency cut-offs would remove every shared term


@dataclass(frozen=True)
class VectorizerParams:
    """Hyper-parameters of the recipe, recorded in every manifest."""

    title_weight: float = 1.5
    tags_weight: float = 1.5
    body_weight: float = 1.0
    sublinear_tf: bool = True
    ngram_max: int = 2
    min_df: int = 2
    max_df: float = 0.5
    max_features: int | None = None
    lsa_components: int = 50  # 0 turns the semantic part off
    lsa_weight: float = 0.3
    lsa_seed: int = 0
    lsa_iterations: int = 5

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Vectors:
    """Rows of L2-normalised float32 TF-IDF (sparse) and LSA (dense, d may be 0) vectors."""

    tfidf: sp.csr_matrix
    lsa: np.ndarray


class ArticleVectorizer:
    """Maps articles (or free text) to `Vectors`."""

    def __init__(self, params: VectorizerParams | None = None) -> None:
        self.params = params or VectorizerParams()

    def fit_transform(self, articles: Sequence[Article]) -> Vectors:
        """Learn vocabulary, IDF and the LSA projection from the articles; return their vectors."""
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
        tfidf = self._weighted_tfidf(
            [a.title for a in articles], [a.body for a in articles], [a.tags for a in articles]
        )
        self.svd_ = self._fit_lsa(tfidf)
        return Vectors(tfidf, self._project(tfidf))

    def transform_fields(
        self, titles: Sequence[str], bodies: Sequence[str], tags: Sequence[Sequence[str]]
    ) -> Vectors:
        """Vectors for texts with the fitted vocabulary and projection; never refits."""
        self._check_fitted()
        tfidf = self._weighted_tfidf(titles, bodies, tags)
        return Vectors(tfidf, self._project(tfidf))

    def _fit_lsa(self, tfidf: sp.csr_matrix) -> TruncatedSVD | None:
        """Randomized SVD with a capped rank: bounded time, and reproducible through the fixed seed."""
        rank = min(self.params.lsa_components, tfidf.shape[0] - 1, tfidf.shape[1] - 1)
        if self.params.lsa_weight <= 0 or rank < 2:
            return None
        svd = TruncatedSVD(
            n_components=rank, algorithm="randomized", n_iter=self.params.lsa_iterations,
            random_state=self.params.lsa_seed,
        )
        svd.fit(tfidf)
        return svd

    def _project(self, tfidf: sp.csr_matrix) -> np.ndarray:
        """`TruncatedSVD.transform` (X · componentsᵀ), L2-normalised, over the terms the rows use.

        SciPy's sparse × dense product needs the dense side C-contiguous; the library's transposed
        view of the components costs a copy of V × d floats per call. Gathering only the columns of
        the terms present (a draft has a few hundred) costs next to nothing, and the sums run in the
        same term order, so the vectors are the same bit for bit.
        """
        if self.svd_ is None:
            return np.zeros((tfidf.shape[0], 0), dtype=np.float32)
        used = np.unique(tfidf.indices)
        rows = sp.csr_matrix((tfidf.data, np.searchsorted(used, tfidf.indices), tfidf.indptr),
                             shape=(tfidf.shape[0], len(used)))
        components = np.ascontiguousarray(self.svd_.components_[:, used].T, dtype=np.float32)
        lsa = np.asarray(rows @ components, dtype=np.float32)
        norms = np.sqrt(np.einsum("ij,ij->i", lsa, lsa))
        norms[norms == 0] = 1.0  # a text with no known term stays all zero
        return lsa / norms[:, None]

    @property
    def lsa_weight(self) -> float:
        """The blend weight actually in effect (0 when the corpus was too small for LSA)."""
        return self.params.lsa_weight if getattr(self, "svd_", None) is not None else 0.0

    def _weighted_tfidf(
        self, titles: Sequence[str], bodies: Sequence[str], tags: Sequence[Sequence[str]]
    ) -> sp.csr_matrix:
        """Each article's fields weighted and summed, L2-normalised.

        The three fields of all articles are vectorised together (`_field_tfidf`), and a sparse
        weight matrix sums each article's three rows in the order title, body, tags.
        """
        p = self.params
        n = len(titles)
        fields = self._field_tfidf([*titles, *bodies, *(" ".join(t) for t in tags)])
        rows = np.tile(np.arange(n), 3)
        weights = np.repeat(np.array([p.title_weight, p.body_weight, p.tags_weight], dtype=np.float32), n)
        order = np.argsort(rows, kind="stable")  # per article: its title, body, then tags row
        weighting = sp.csr_matrix((weights[order], order, np.arange(0, 3 * n + 1, 3)), shape=(n, 3 * n))
        combined = weighting @ fields
        matrix = sp.csr_matrix(combined, dtype=np.float32)
        inplace_csr_row_normalize_l2(matrix)  # `normalize`'s own kernel, without its input checks
        matrix.sort_indices()
        return matrix

    def _field_tfidf(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Unnormalised TF-IDF rows of the texts: what the fitted `TfidfVectorizer.transform` gives.

        The same steps (its analyzer, vocabulary, sublinear tf, IDF, all in float32) without its
        input checks, which cost several times the text itself for one draft on the request path;
        a test holds the two equal bit for bit.
        """
        if getattr(self, "_analyzer", None) is None:
            self._analyzer = self.tfidf_.build_analyzer()
        vocabulary, analyze = self.tfidf_.vocabulary_, self._analyzer
        indices: list[int] = []
        indptr = [0]
        for text in texts:
            indices.extend(column for term in analyze(text) if (column := vocabulary.get(term)) is not None)
            indptr.append(len(indices))
        counts = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), np.array(indices, dtype=np.int32), np.array(indptr)),
            shape=(len(texts), len(vocabulary)),
        )
        counts.sum_duplicates()
        if self.tfidf_.sublinear_tf:
            np.log(counts.data, out=counts.data)
            counts.data += 1.0
        counts.data *= self.tfidf_.idf_[counts.indices]
        return counts

    def __getstate__(self) -> dict[str, object]:
        """Pickle the fitted state only: the caches built on first use are rebuilt after loading."""
        state = dict(self.__dict__)
        for cache in ("_analyzer", "_feature_names"):
            state.pop(cache, None)
        return state

    def _check_fitted(self) -> None:
        if not hasattr(self, "tfidf_"):
            raise NotFittedError("ArticleVectorizer is not fitted yet: call fit_transform first")

    @property
    def vocabulary_size(self) -> int:
        self._check_fitted()
        return len(self.tfidf_.vocabulary_)

    def feature_names(self) -> np.ndarray:
        """Term of each TF-IDF column (built once, for explanations)."""
        self._check_fitted()
        if not hasattr(self, "_feature_names"):
            self._feature_names = self.tfidf_.get_feature_names_out()
        return self._feature_names


def _whole_text(title: str, body: str, tags: Sequence[str]) -> str:
    return "\n".join((title, " ".join(tags), body))
