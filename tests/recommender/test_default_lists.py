"""Precomputed default lists: each row is what `related` returns with no options, stored and verified."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import mmap
from pathlib import Path

import numpy as np
import pytest

from recommender import artifacts
from recommender.corpus import Article, load_corpus
from recommender.default_lists import (
    BODY_FORMAT,
    DEFAULT_LIST_LIMIT,
    DefaultBodies,
    compute_default_lists,
    default_bodies,
    default_options,
    write_default_bodies,
)
from recommender.errors import ArtifactError
from recommender.model import RelatedModel
from tests.conftest import SAMPLE_CORPUS
from tests.recommender.test_artifacts import ARTICLES, INFO


@pytest.fixture(scope="module")
def fitted() -> RelatedModel:
    return RelatedModel(top_k=5).fit(ARTICLES)


def test_every_row_is_the_list_related_returns(fitted: RelatedModel) -> None:
    lists = compute_default_lists(fitted)
    assert lists.limit == min(DEFAULT_LIST_LIMIT, fitted.top_k)
    for idx, article in enumerate(ARTICLES):
        expected = fitted.related(article.id, default_options(lists.limit))
        assert fitted.items_of(lists.ranked(idx)) == expected
    assert (lists.indices == -1).any()  # short lists are padded, not filled with weak stories


def with_near_copies(articles: list[Article], copies: int) -> list[Article]:
    """The corpus plus `copies` light rewrites of its first story (so the lists of that story and its
    copies are crowded with near-copies at K ≤ copies, and a story related to it finds more near-copies
    among its candidates than the 50 the rules look at when K > 50) and two of every tenth story."""
    extra = [dataclasses.replace(articles[0], id=f"copy-{n}", body=f"{articles[0].body} copy{n}")
             for n in range(copies)]
    extra += [dataclasses.replace(a, id=f"{a.id}-{n}", body=f"{a.body} again{n}")
              for a in articles[::10] for n in range(2)]
    return articles + extra


@pytest.fixture(scope="module", params=[(10, 12), (50, 12), (80, 55)], ids=["K=10", "K=50", "K=80"])
def copied(request: pytest.FixtureRequest) -> RelatedModel:
    top_k, copies = request.param
    return RelatedModel(top_k=top_k).fit(with_near_copies(load_corpus(SAMPLE_CORPUS).articles, copies))


def assert_every_row_is_ranked(model: RelatedModel) -> None:
    """`compute_default_lists` gives every row what the ranking rules (`model.ranked`) give it."""
    options = default_options(min(DEFAULT_LIST_LIMIT, model.top_k))
    lists = compute_default_lists(model)
    for idx in range(model.n_articles):
        expected = model.ranked(idx, options)
        count = len(expected.indices)
        np.testing.assert_array_equal(lists.indices[idx, :count], expected.indices)
        np.testing.assert_array_equal(lists.scores[idx, :count], expected.scores)
        assert (lists.indices[idx, count:] == -1).all()


def test_the_compiled_pick_equals_the_ranking_rules_on_every_row(copied: RelatedModel) -> None:
    """K = 10 = the limit sends short lists to a scan, and 12 copies crowd lists at K = 10; at K = 80
    a story's 55 near-copies fill more than the 50 candidates the rules look at."""
    assert_every_row_is_ranked(copied)
    scores = copied.neighbors_.scores
    assert (scores >= 0.9).any(axis=1).sum() > 12  # near-copies to skip
    assert copied.top_k > 10 or (scores[:, -1] >= 0.9).any()  # crowded lists, whose pairs are computed


def test_the_compiled_pick_compares_scores_in_float32_as_the_rules_do(copied: RelatedModel) -> None:
    """float32(0.9) is below 0.9: as float64 it would pass the near-copy filter that numpy's float32
    comparison applies to it."""
    model = RelatedModel.from_parts(top_k=copied.top_k, vectorizer=copied.vectorizer_, vectors=copied.vectors_,
                                    neighbors=copy.deepcopy(copied.neighbors_), catalog=copied.catalog_)
    scores = model.neighbors_.scores
    rows = np.flatnonzero((scores[:, 0] < 0.85) & (scores[:, -1] >= 0.1))[:20]
    scores[rows, 0] = np.float32(0.9)
    assert_every_row_is_ranked(model)


def test_a_saved_version_holds_them_memory_mapped(fitted: RelatedModel, tmp_path: Path) -> None:
    version = artifacts.save_version(fitted, tmp_path, info=INFO)
    manifest = artifacts.read_manifest(tmp_path, version)
    lists = artifacts.load_default_lists(tmp_path, manifest)
    assert isinstance(lists.indices.base, np.memmap) and isinstance(lists.scores.base, np.memmap)
    expected = compute_default_lists(fitted)
    np.testing.assert_array_equal(lists.indices, expected.indices)
    np.testing.assert_array_equal(lists.scores, expected.scores)
    assert manifest["default_lists"] == {"limit": expected.limit, "body_format": BODY_FORMAT}


def test_a_saved_version_holds_each_list_as_its_document(fitted: RelatedModel, tmp_path: Path) -> None:
    version = artifacts.save_version(fitted, tmp_path, info=INFO)
    bodies = artifacts.load_default_bodies(tmp_path, artifacts.read_manifest(tmp_path, version))
    assert isinstance(bodies.blob, mmap.mmap) and bodies.limit == compute_default_lists(fitted).limit
    for idx, article in enumerate(ARTICLES):
        document = json.loads(bodies.body(idx))
        assert (document["article_id"], document["model_version"]) == (article.id, version)
        expected = fitted.related(article.id, default_options(bodies.limit))
        assert [(s["id"], s["score"]) for s in document["related"]] == [(i.article.id, i.score) for i in expected]
        assert document["count"] == len(expected) and document["limit"] == bodies.limit


def test_the_saved_documents_are_the_encoded_ones_byte_for_byte(fitted: RelatedModel, tmp_path: Path) -> None:
    version = artifacts.save_version(fitted, tmp_path, info=INFO)  # written one document at a time
    bodies = artifacts.load_default_bodies(tmp_path, artifacts.read_manifest(tmp_path, version))
    documents = list(default_bodies(fitted, compute_default_lists(fitted), version))
    assert bodies.blob[:] == b"".join(documents)
    np.testing.assert_array_equal(bodies.offsets, np.cumsum([0] + [len(document) for document in documents]))


def test_bodies_of_another_format_are_not_used(fitted: RelatedModel, tmp_path: Path) -> None:
    version = artifacts.save_version(fitted, tmp_path, info=INFO)
    manifest = artifacts.read_manifest(tmp_path, version)
    manifest["default_lists"]["body_format"] = BODY_FORMAT + 1
    assert artifacts.load_default_bodies(tmp_path, manifest) is None
    assert artifacts.load_default_lists(tmp_path, manifest) is not None


def test_the_offsets_must_fit_the_documents(fitted: RelatedModel) -> None:
    lists = compute_default_lists(fitted)
    blob = io.BytesIO()
    offsets = write_default_bodies(fitted, lists, "v", blob)
    with pytest.raises(ValueError, match="offsets"):
        DefaultBodies(blob.getvalue()[:-1], offsets, lists.limit).check(len(ARTICLES))


def test_a_version_saved_without_them_loads_without_them(fitted: RelatedModel, tmp_path: Path) -> None:
    version = artifacts.save_version(fitted, tmp_path, info=INFO)
    path = tmp_path / artifacts.VERSIONS / version / artifacts.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["default_lists"]
    assert artifacts.load_default_lists(tmp_path, manifest) is None


@pytest.mark.parametrize("name", artifacts.DEFAULT_LIST_FILES + artifacts.DEFAULT_BODY_FILES)
@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_lists_are_refused(fitted: RelatedModel, tmp_path: Path, name: str, damage: str) -> None:
    version = artifacts.save_version(fitted, tmp_path, info=INFO)
    path = tmp_path / artifacts.VERSIONS / version / name
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ArtifactError, match=version):
        manifest = artifacts.read_manifest(tmp_path, version)
        artifacts.load_default_lists(tmp_path, manifest)
        artifacts.load_default_bodies(tmp_path, manifest)


def test_rows_listing_finds_every_list_a_story_is_on(fitted: RelatedModel) -> None:
    lists = compute_default_lists(fitted)
    story = int(lists.indices[0, 0])
    expected = [i for i in range(len(ARTICLES)) if story in lists.indices[i].tolist()]
    assert lists.rows_listing(np.array([story])).tolist() == expected and 0 in expected
