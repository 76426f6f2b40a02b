"""Precomputed default lists: each row is what `related` returns with no options, stored and verified."""

from __future__ import annotations

import io
import json
import mmap
from pathlib import Path

import numpy as np
import pytest

from recommender import artifacts
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
