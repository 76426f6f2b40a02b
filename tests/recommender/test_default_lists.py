"""Precomputed default lists: each row is what `related` returns with no options, stored and verified."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recommender import artifacts
from recommender.default_lists import DEFAULT_LIST_LIMIT, compute_default_lists, default_options
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
    assert manifest["default_lists"] == {"limit": expected.limit}


def test_a_version_saved_without_them_loads_without_them(fitted: RelatedModel, tmp_path: Path) -> None:
    version = artifacts.save_version(fitted, tmp_path, info=INFO)
    path = tmp_path / artifacts.VERSIONS / version / artifacts.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["default_lists"]
    assert artifacts.load_default_lists(tmp_path, manifest) is None


@pytest.mark.parametrize("name", artifacts.DEFAULT_LIST_FILES)
@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_lists_are_refused(fitted: RelatedModel, tmp_path: Path, name: str, damage: str) -> None:
    version = artifacts.save_version(fitted, tmp_path, info=INFO)
    path = tmp_path / artifacts.VERSIONS / version / name
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ArtifactError, match=version):
        artifacts.load_default_lists(tmp_path, artifacts.read_manifest(tmp_path, version))


def test_rows_listing_finds_every_list_a_story_is_on(fitted: RelatedModel) -> None:
    lists = compute_default_lists(fitted)
    story = int(lists.indices[0, 0])
    expected = [i for i in range(len(ARTICLES)) if story in lists.indices[i].tolist()]
    assert lists.rows_listing(np.array([story])).tolist() == expected and 0 in expected
