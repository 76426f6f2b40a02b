"""The whole train on a Dask cluster (a real `distributed.LocalCluster`) equals the local backend:
vectorising (map: chunk counts, reduce: vocabulary, map: rows) and the neighbour step run on its workers."""

from __future__ import annotations

import json
from pathlib import Path

import distributed
import joblib
import numpy as np
import pytest

from recommender import artifacts
from recommender.corpus import load_corpus
from recommender.neighbors import top_k_neighbors
from recommender.vectorize import ArticleVectorizer
from tests.conftest import SAMPLE_CORPUS
from training.cli import main


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_dask_neighbours_equal_local_ones(cluster) -> None:
    vectors = ArticleVectorizer().fit_transform(load_corpus(SAMPLE_CORPUS).articles)
    local = top_k_neighbors(vectors.tfidf, 20, chunk_rows=16)
    with distributed.Client(cluster.scheduler_address), joblib.parallel_config(backend="dask"):
        remote = top_k_neighbors(vectors.tfidf, 20, chunk_rows=16, n_jobs=2)
    np.testing.assert_array_equal(remote.indices, local.indices)
    np.testing.assert_array_equal(remote.scores, local.scores)


def task_names(stream: distributed.client.TaskStream) -> set[str]:
    """The functions of the tasks the cluster ran (joblib names a task `batch_of_<function>_<n>_calls-…`)."""
    return {str(task["key"]).split("batch_of_")[-1].rsplit("_", 2)[0] for task in stream.data}


def test_vectorising_on_the_cluster_equals_local(cluster) -> None:
    articles = load_corpus(SAMPLE_CORPUS).articles
    local = ArticleVectorizer()
    expected = local.fit_transform(articles)
    remote = ArticleVectorizer()
    with distributed.Client(cluster.scheduler_address) as client, joblib.parallel_config(backend="dask"), \
            distributed.get_task_stream(client) as stream:
        vectors = remote.fit_transform(articles, n_jobs=-1)
    assert {"count_chunk", "_chunk_rows"} <= task_names(stream)
    assert remote.tfidf_.vocabulary_ == local.tfidf_.vocabulary_
    assert (vectors.tfidf != expected.tfidf).nnz == 0
    np.testing.assert_array_equal(vectors.lsa, expected.lsa)


def test_train_with_the_dask_backend_publishes_the_same_model(cluster, tmp_path: Path) -> None:
    local_dir, dask_dir = tmp_path / "local", tmp_path / "dask"
    assert main(["train", "--corpus", str(SAMPLE_CORPUS), "--models-dir", str(local_dir), "--jobs", "1"]) == 0
    with distributed.Client(cluster.scheduler_address) as client, distributed.get_task_stream(client) as stream:
        assert main(["train", "--corpus", str(SAMPLE_CORPUS), "--models-dir", str(dask_dir), "--backend", "dask",
                     "--scheduler", cluster.scheduler_address]) == 0
    assert {"count_chunk", "_chunk_rows", "_top_k_of_strip"} <= task_names(stream)
    local, _ = artifacts.load_version(local_dir, artifacts.read_current(local_dir))
    remote, _ = artifacts.load_version(dask_dir, artifacts.read_current(dask_dir))
    assert remote.vectorizer_.tfidf_.vocabulary_ == local.vectorizer_.tfidf_.vocabulary_
    assert (remote.vectors_.tfidf != local.vectors_.tfidf).nnz == 0
    np.testing.assert_array_equal(remote.vectors_.lsa, local.vectors_.lsa)
    np.testing.assert_array_equal(remote.neighbors_.indices, local.neighbors_.indices)
    np.testing.assert_allclose(remote.neighbors_.scores, local.neighbors_.scores, rtol=1e-6)


def test_dask_backend_without_a_scheduler_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--corpus", str(SAMPLE_CORPUS), "--models-dir", str(tmp_path), "--backend", "dask"])
    assert code == 1
    assert "--scheduler" in capsys.readouterr().err
    assert json.dumps(artifacts.list_versions(tmp_path)) == "[]"
