"""The vectorizer's one-pass fit and fast request-path steps equal scikit-learn's public recipe bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recommender.corpus import Article, load_corpus
from recommender.neighbors import DEFAULT_CHUNK_BYTES
from recommender.vectorize import ArticleVectorizer, VectorizerParams
from tests.conftest import SAMPLE_CORPUS

ODD_TEXTS = [
    ("", "", ()),
    ("Zzyzx qwertyuiop", "words the corpus never saw", ()),
    ("Café déjà vu", "Naïve coöperation: accents are stripped like in training", ("Résumé",)),
    ("Space space SPACE", "space " * 50 + "station station", ("space", "space station")),
    ("the and of", "a an the", ()),  # stop words only
]


@pytest.fixture(scope="module")
def fitted() -> tuple[ArticleVectorizer, list]:
    articles = list(load_corpus(SAMPLE_CORPUS).articles)
    vectorizer = ArticleVectorizer()
    vectorizer.fit_transform(articles)
    return vectorizer, articles


def reference_tfidf(vectorizer: ArticleVectorizer, titles, bodies, tags) -> sp.csr_matrix:
    """The recipe through scikit-learn's public API: each field's TfidfVectorizer row, weighted, summed, L2."""
    p, tfidf = vectorizer.params, vectorizer.tfidf_
    combined = (
        p.title_weight * tfidf.transform(titles)
        + p.body_weight * tfidf.transform(bodies)
        + p.tags_weight * tfidf.transform([" ".join(t) for t in tags])
    )
    matrix = normalize(sp.csr_matrix(combined, dtype=np.float32), norm="l2")
    matrix.sort_indices()
    return matrix


def test_corpus_and_odd_texts_match_scikit_learn_exactly(fitted) -> None:
    vectorizer, articles = fitted
    titles = [a.title for a in articles] + [t for t, _, _ in ODD_TEXTS]
    bodies = [a.body for a in articles] + [b for _, b, _ in ODD_TEXTS]
    tags = [a.tags for a in articles] + [g for _, _, g in ODD_TEXTS]
    ours = vectorizer.transform_fields(titles, bodies, tags).tfidf
    expected = reference_tfidf(vectorizer, titles, bodies, tags)
    assert ours.dtype == np.float32
    assert np.array_equal(ours.indptr, expected.indptr) and np.array_equal(ours.indices, expected.indices)
    assert np.array_equal(ours.data, expected.data)  # bit for bit, not approximately


def test_one_draft_gets_the_same_vector_as_in_a_batch(fitted) -> None:
    vectorizer, articles = fitted
    batch = vectorizer.transform_fields([a.title for a in articles], [a.body for a in articles],
                                        [a.tags for a in articles])
    for i in (0, 17, len(articles) - 1):
        one = vectorizer.transform_fields([articles[i].title], [articles[i].body], [articles[i].tags])
        assert (one.tfidf != batch.tfidf[i]).nnz == 0
        assert np.array_equal(one.lsa[0], batch.lsa[i])


def test_texts_without_known_terms_get_zero_vectors(fitted) -> None:
    vectorizer, _ = fitted
    vectors = vectorizer.transform_fields(["Zzyzx"], ["qwertyuiop"], [()])
    assert vectors.tfidf.nnz == 0
    assert not vectors.lsa.any() and np.isfinite(vectors.lsa).all()


def test_request_path_caches_are_not_pickled(fitted) -> None:
    vectorizer, articles = fitted
    vectorizer.transform_fields(["Space"], ["station"], [()])
    vectorizer.feature_names()
    state = pickle.loads(pickle.dumps(vectorizer)).__dict__
    assert not {"_analyzer", "_feature_names"} & set(state)
    restored = pickle.loads(pickle.dumps(vectorizer))
    again = restored.transform_fields([articles[3].title], [articles[3].body], [articles[3].tags])
    first = vectorizer.transform_fields([articles[3].title], [articles[3].body], [articles[3].tags])
    assert (again.tfidf != first.tfidf).nnz == 0


ODD_ARTICLES = [  # accents, final sigma, stop words only, empty fields, pairs across fields, repeated words
    Article(id="odd-1", title="Café déjà vu", body="Naïve coöperation in the café", tags=("Résumé", "café")),
    Article(id="odd-2", title="ΟΔΟΣ ΣΟΦΟΣ", body="Σοφός οδός σοφος", tags=()),
    Article(id="odd-3", title="the and of", body="a an the", tags=()),
    Article(id="odd-4", title="", body="", tags=("space station",)),
    Article(id="odd-5", title="Space space SPACE", body="space " * 30 + "station station", tags=("space",)),
    Article(id="odd-6", title="İstanbul ﬁnance", body="ﬁnance in İstanbul, station", tags=("space",)),
]


def sklearn_fit(vectorizer: ArticleVectorizer, articles: list[Article]) -> TfidfVectorizer:
    """Today's recipe: scikit-learn's own fit, with the same parameters, on each article's whole text."""
    reference = TfidfVectorizer(**vectorizer.tfidf_.get_params())
    return reference.fit("\n".join((a.title, " ".join(a.tags), a.body)) for a in articles)


@pytest.mark.parametrize(("params", "n_articles", "n_jobs", "budget"), [
    (VectorizerParams(), None, 1, DEFAULT_CHUNK_BYTES),
    (VectorizerParams(max_features=700), None, 1, DEFAULT_CHUNK_BYTES),
    (VectorizerParams(ngram_max=1, min_df=3, max_df=0.2), None, 1, DEFAULT_CHUNK_BYTES),
    (VectorizerParams(), 30, 1, DEFAULT_CHUNK_BYTES),  # below SMALL_CORPUS: no document-frequency cut-offs
    (VectorizerParams(), None, 2, DEFAULT_CHUNK_BYTES),  # chunks counted in two threads
    (VectorizerParams(), None, 1, 2**16),  # a small memory budget: many small chunks and LSA blocks
])
def test_fit_equals_scikit_learn_fit_and_transform(params, n_articles, n_jobs, budget) -> None:
    articles = [*load_corpus(SAMPLE_CORPUS).articles[:n_articles], *ODD_ARTICLES]
    vectorizer = ArticleVectorizer(params)
    vectors = vectorizer.fit_transform(articles, n_jobs=n_jobs, memory_budget_bytes=budget)
    reference = sklearn_fit(vectorizer, articles)
    assert vectorizer.tfidf_.vocabulary_ == reference.vocabulary_
    assert vectorizer.tfidf_.idf_.dtype == reference.idf_.dtype
    assert np.array_equal(vectorizer.tfidf_.idf_, reference.idf_)
    expected = reference_tfidf(vectorizer, [a.title for a in articles], [a.body for a in articles],
                               [a.tags for a in articles])
    assert np.array_equal(vectors.tfidf.indptr, expected.indptr)
    assert np.array_equal(vectors.tfidf.indices, expected.indices)
    assert np.array_equal(vectors.tfidf.data, expected.data)
    again = vectorizer.transform_fields([a.title for a in articles], [a.body for a in articles],
                                        [a.tags for a in articles])
    assert np.array_equal(again.lsa, vectors.lsa)  # the published vectorizer maps texts as the fit did


def test_released_texts_are_freed_and_give_the_same_vectors() -> None:
    articles = list(load_corpus(SAMPLE_CORPUS).articles)
    kept = ArticleVectorizer().fit_transform(articles)
    handed_over = list(articles)
    released = ArticleVectorizer().fit_transform(handed_over, release_texts=True)
    assert handed_over == [None] * len(articles)
    assert (kept.tfidf != released.tfidf).nnz == 0 and np.array_equal(kept.lsa, released.lsa)
    with pytest.raises(TypeError, match="list"):
        ArticleVectorizer().fit_transform(tuple(articles), release_texts=True)
