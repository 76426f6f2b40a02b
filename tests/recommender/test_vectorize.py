"""The vectorizer's fast request-path steps equal scikit-learn's public recipe bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recommender.corpus import load_corpus
from recommender.vectorize import ArticleVectorizer
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
