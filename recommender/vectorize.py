"""The representation recipe: field-weighted TF-IDF plus the dense semantic spaces (LSA first).

Title and tags say what a story is about more reliably than its body, so their term weights are
multiplied before the L2 normalisation (a BM25F-style field boost). The vocabulary and IDF come from
whole articles, so a title word still matches the same word in another article's body.
The dense spaces (`recommender.spaces`: the LSA part, a randomized truncated SVD of the TF-IDF rows)
map the articles to spaces where stories on one subject meet even without shared words.
Before any of it, an article's body loses the site's boilerplate sentences and each field is
analysed for the article's language (`prepared`: `recommender.boilerplate`, `recommender.languages`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from joblib import delayed, effective_n_jobs, parallel_config
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from recommender.boilerplate import MIN_ARTICLES, MIN_SHARE, NO_BOILERPLATE, Boilerplate
from recommender.corpus import Article
from recommender.count_kernels import union_sum
from recommender.errors import CorpusError
from recommender.heap import trim_heap
from recommender.languages import analysis_text
from recommender.neighbors import DEFAULT_CHUNK_BYTES
from recommender.spaces import DenseSpace, LsaSpace
from recommender.term_counts import Fields, TermLookup, count_corpus, field_counts, run_tasks

SMALL_CORPUS = 50  # below this many articles document-frequency cut-offs would remove every shared term
COUNT_BYTES_PER_CHAR = 20  # a counting task's peak per character of text (measured: 100 MB for 5 MB of text)
MIN_CHUNK_CHARS = 4096  # a floor for absurdly small budgets
TERM_BATCH_ARTICLES = 2048  # articles whose term occurrences are counted in one sort (~60 MB of keys for long ones)


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
    lsa_oversamples: int = 10
    lsa_sample_rows: int | None = None  # fit the basis on this many sampled rows (all rows: None)
    # A sentence in at least this many articles and this share of them is boilerplate (None: learn none;
    # `recommender.boilerplate`). A version saved before them reads these defaults but holds no blocks.
    boilerplate_min_articles: int = MIN_ARTICLES
    boilerplate_min_share: float | None = MIN_SHARE

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Vectors:
    """Rows of L2-normalised float32 TF-IDF (sparse) vectors and of each dense space's (by name, in
    the spaces' order; LSA's is always there, 0 wide without LSA)."""

    tfidf: sp.csr_matrix
    dense: dict[str, np.ndarray]

    @property
    def lsa(self) -> np.ndarray:
        return self.dense["lsa"]


class ArticleVectorizer:
    """Maps articles (or free text) to `Vectors`."""

    def __init__(self, params: VectorizerParams | None = None) -> None:
        self.params = params or VectorizerParams()

    def _make_spaces(self) -> list[DenseSpace]:
        """The dense spaces the parameters ask for, in blend order (LSA first)."""
        return [LsaSpace(self.params)]

    @property
    def svd_(self) -> TruncatedSVD | None:
        """The LSA space's fitted `TruncatedSVD` (None without LSA)."""
        return getattr(self.spaces_[0], "svd_", None) if hasattr(self, "spaces_") else None

    @svd_.setter
    def svd_(self, svd: TruncatedSVD | None) -> None:
        """Set the LSA space's basis (a loaded version's; the spaces are made when missing)."""
        if not hasattr(self, "spaces_"):
            self.spaces_ = self._make_spaces()
        self.spaces_[0].svd_ = svd

    def fit_transform(
        self, articles: Sequence[Article], *, n_jobs: int = 1, timings: dict[str, float] | None = None,
        memory_budget_bytes: int = DEFAULT_CHUNK_BYTES, release_texts: bool = False,
        spill_dir: str | Path | None = None, languages: Sequence[str | None] | None = None,
    ) -> Vectors:
        """Learn the site's boilerplate, vocabulary, IDF and the LSA projection from the articles;
        return their vectors.

        Each article's text is analysed for its language (`languages`, None: English for all; see
        `recommender.languages`), without the boilerplate blocks (`recommender.boilerplate`).

        The corpus is tokenised once, a chunk of articles per task on `n_jobs` workers (or the active
        joblib backend's), and counted as integers (`recommender.term_counts`): the vocabulary, IDF
        and rows are those of `TfidfVectorizer.fit` on the whole texts and of `transform_fields`.
        The counting chunks and the LSA's column blocks are sized so that the tasks running at once
        stay within `memory_budget_bytes` (the model is the same for any budget but for the float32
        rounding of the LSA's block sums). With `release_texts`, `articles` is a list the caller hands
        over: each item is replaced by None once its chunk is counted, so the texts are freed before
        the LSA and neighbour steps. With `spill_dir`, the LSA components are written to an unlinked
        file there as they are computed (`recommender.lsa`), never held in memory. `timings`, when
        given, receives each stage's seconds.
        """
        p = self.params
        small = len(articles) < SMALL_CORPUS
        analyzer = TfidfVectorizer(
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
        if not 1 <= p.ngram_max <= 2:
            raise ValueError("ngram_max must be 1 (words) or 2 (words and word pairs)")
        clock = _StageClock(timings)
        workers = max(1, effective_n_jobs(n_jobs))
        if release_texts and not isinstance(articles, list):
            raise TypeError("release_texts needs the articles as a list")
        self.boilerplate_ = NO_BOILERPLATE if p.boilerplate_min_share is None else Boilerplate.learn(
            (a.body for a in articles), len(articles), min_articles=p.boilerplate_min_articles,
            min_share=p.boilerplate_min_share)
        clock.stage("boilerplate")
        chunks = _chunks(articles, workers, memory_budget_bytes // workers, release=release_texts,
                         prepare=self.prepared, languages=languages)
        counts = count_corpus(chunks, analyzer, n_jobs)
        try:
            vocabulary = counts.vocabulary(analyzer)
        except ValueError as exc:  # empty vocabulary: nothing in the corpus is a usable word
            raise CorpusError([], f"cannot build a vocabulary from the corpus: {exc}") from exc
        counts.release_frequencies()
        analyzer.vocabulary_, analyzer.idf_ = vocabulary.terms, vocabulary.idf
        self.tfidf_ = analyzer
        trim_heap()  # the counting threads' arenas: hundreds of MB free but not returned (`recommender.heap`)
        clock.stage("count")
        weights = self._field_weights()
        calls = (delayed(_chunk_rows)(tokens, lengths, vocabulary.lookup, vocabulary.idf, weights, p.sublinear_tf)
                 for tokens, lengths in counts.chunks)
        tfidf = _assemble(list(run_tasks(calls, n_jobs, prefer="threads")), len(articles), len(vocabulary.terms))
        del counts
        trim_heap()
        clock.stage("rows")
        with parallel_config(backend="threading"):  # the spaces' threads are local whatever the backend
            threads = effective_n_jobs(n_jobs)
        self.spaces_ = self._make_spaces()
        dense = {}
        for space in self.spaces_:
            dense[space.name] = space.fit_transform(tfidf, n_jobs=n_jobs, block_bytes=memory_budget_bytes // threads,
                                                    spill_dir=spill_dir)
            trim_heap()
            clock.stage(space.name)
        return Vectors(tfidf, dense)

    def _field_weights(self) -> dict[str, float]:
        return {"title": self.params.title_weight, "body": self.params.body_weight, "tags": self.params.tags_weight}

    def transform_fields(
        self, titles: Sequence[str], bodies: Sequence[str], tags: Sequence[Sequence[str]],
        languages: Sequence[str | None] | None = None,
    ) -> Vectors:
        """Vectors for texts (in `languages`, None: English) with the fitted boilerplate, vocabulary
        and projection; never refits."""
        self._check_fitted()
        prepared = [self.prepared(title, " ".join(tag), body, lang) for title, tag, body, lang in
                    zip(titles, tags, bodies, languages or [None] * len(titles), strict=True)]
        tfidf = self._weighted_tfidf(prepared)
        return Vectors(tfidf, {space.name: space.transform(tfidf) for space in self.spaces_})

    def prepared(self, title: str, tags: str, body: str, language: str | None) -> Fields:
        """An article's fields (title, tags, body) as the analyser is given them: the body without
        the site's boilerplate, each field analysed for its language."""
        body = getattr(self, "boilerplate_", NO_BOILERPLATE).strip(body)  # versions before it had none
        if language is None or language == "en":
            return title, tags, body
        return analysis_text(title, language), analysis_text(tags, language), analysis_text(body, language)

    @property
    def boilerplate(self) -> Boilerplate:
        """The blocks learned at the fit (none for versions saved before blocks were learned)."""
        return getattr(self, "boilerplate_", NO_BOILERPLATE)

    def _weighted_tfidf(self, fields: Sequence[Fields]) -> sp.csr_matrix:
        """Each article's fields weighted and summed, L2-normalised: what each field's fitted
        `TfidfVectorizer.transform`, weighted, summed in the order title, body, tags and normalised
        gives, bit for bit (a test holds them equal).

        Built with a few array steps per batch of articles instead of SciPy's and scikit-learn's
        sparse intermediates and input checks, which cost several times the text itself for one
        draft on the request path; batches bound the memory of a corpus's term lists.
        """
        if getattr(self, "_analyzer", None) is None:
            self._analyzer = self.tfidf_.build_analyzer()
        weights, idf = self._field_weights(), self.tfidf_.idf_
        parts = []
        for start in range(0, len(fields), TERM_BATCH_ARTICLES):
            batch = fields[start : start + TERM_BATCH_ARTICLES]
            texts = {"title": [f[0] for f in batch], "tags": [f[1] for f in batch], "body": [f[2] for f in batch]}
            counted = {field: np.unique(self._term_keys(texts[field]), return_counts=True) for field in weights}
            parts.append(weighted_rows(counted, len(batch), idf, weights, self.tfidf_.sublinear_tf))
        return _assemble(parts, len(fields), len(self.tfidf_.vocabulary_))

    def _term_keys(self, texts: Sequence[str]) -> np.ndarray:
        """article × V + column of every known term occurrence in the texts (article = position)."""
        vocabulary, analyze = self.tfidf_.vocabulary_, self._analyzer
        terms: list[str] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        for article, text in enumerate(texts):
            before = len(terms)
            terms.extend(analyze(text))
            lengths[article] = len(terms) - before
        columns = vocabulary.columns(terms)  # one compiled lookup of every term (`TermIndex`)
        keys = np.repeat(np.arange(len(texts), dtype=np.int64) * len(vocabulary), lengths) + columns
        return keys[columns >= 0]

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
            self._feature_names = np.asarray(self.tfidf_.vocabulary_.terms(), dtype=object)
        return self._feature_names


def weighted_rows(
    counted: dict[str, tuple[np.ndarray, np.ndarray]], n_rows: int, idf: np.ndarray, weights: dict[str, float],
    sublinear: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows' lengths, sorted columns and weighted TF-IDF values, unnormalised, from each field's
    sorted distinct (row × V + column) keys and counts.

    The fields' values are added in the order title, body, tags, in float32, as SciPy's sum does.
    """
    n_terms = len(idf)
    fields = []
    for field in ("title", "body", "tags"):
        keys, counts = counted[field]
        values = counts.astype(np.float32)
        if sublinear:
            np.log(values, out=values)
            values += 1.0
        values *= idf[keys % n_terms]
        values *= np.float32(weights[field])
        fields.append((keys, values))
    union, total = union_sum(*fields[0], *fields[1], *fields[2])
    lengths = np.bincount(union // n_terms, minlength=n_rows)
    return lengths, (union % n_terms).astype(np.int32), total


def _chunk_rows(
    tokens: np.ndarray, field_lengths: np.ndarray, lookup: TermLookup, idf: np.ndarray, weights: dict[str, float],
    sublinear: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map step of the fit: a chunk's weighted rows from its kept token ids (no second tokenisation)."""
    return weighted_rows(field_counts(tokens, field_lengths, lookup), len(field_lengths), idf, weights, sublinear)


def _assemble(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_rows: int, n_terms: int) -> sp.csr_matrix:
    """One L2-normalised float32 CSR matrix from consecutive batches' (lengths, columns, values).

    `parts` is emptied: each kind of array is joined and its parts dropped before the next is joined,
    so the batches and the whole matrix are never both held (12 bytes a non-zero at most, not 16)."""
    lengths, columns, values = ([part[i] for part in parts] for i in range(3))
    parts.clear()
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(_joined(lengths, np.int64), out=indptr[1:])
    data = _joined(values, np.float32)
    matrix = sp.csr_matrix((data, _joined(columns, np.int32), indptr), shape=(n_rows, n_terms))
    inplace_csr_row_normalize_l2(matrix)  # `normalize`'s own kernel, without its input checks
    return matrix


def _joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    """The arrays end to end; the list is emptied (its arrays freed) once they are copied."""
    joined = np.concatenate([np.zeros(0, dtype), *arrays])
    arrays.clear()
    return joined


def _chunks(
    articles: Sequence[Article], workers: int, task_bytes: int, *, release: bool,
    prepare: Callable[[str, str, str, str | None], Fields], languages: Sequence[str | None] | None,
) -> Iterator[list[Fields]]:
    """The counting tasks' articles (title, tags, body, as `prepare` makes them): consecutive runs of
    at least 4 tasks per worker, each within `task_bytes` of working memory (COUNT_BYTES_PER_CHAR per
    character). With `release`, each article is dropped from the list once read (see `fit_transform`)."""
    most_articles = max(1, -(-len(articles) // (4 * workers)))
    most_chars = max(MIN_CHUNK_CHARS, task_bytes // COUNT_BYTES_PER_CHAR)
    chunk: list[Fields] = []
    chars = 0
    for i, article in enumerate(articles):
        fields = prepare(article.title, " ".join(article.tags), article.body,
                         languages[i] if languages is not None else None)
        if release:
            articles[i] = None  # type: ignore[index]  # the caller handed the list over
        chunk.append(fields)
        chars += sum(map(len, fields))
        if len(chunk) == most_articles or chars >= most_chars:
            yield chunk
            chunk, chars = [], 0
    if chunk:
        yield chunk


class _StageClock:
    """Records the seconds since the previous stage into `timings` (when the caller asked for them)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings, self.last = timings, time.perf_counter()

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[name] = now - self.last
        self.last = now
