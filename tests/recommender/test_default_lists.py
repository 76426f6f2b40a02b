"""Precomputed default lists: each row is what `related` returns with no options, stored and verified."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from recommender import artifacts
from recommender.corpus import Article, load_corpus
from recommender.default_lists import DEFAULT_LIST_LIMIT, article_lists, compute_default_lists, default_options
from recommender.errors import ArtifactError, UnknownArticleError
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
        manifest = artifacts.read_manifest(tmp_path, version)
        artifacts.load_default_lists(tmp_path, manifest)


def test_rows_listing_finds_every_list_a_story_is_on(fitted: RelatedModel) -> None:
    lists = compute_default_lists(fitted)
    story = int(lists.indices[0, 0])
    expected = [i for i in range(len(ARTICLES)) if story in lists.indices[i].tolist()]
    assert lists.rows_listing(np.array([story])).tolist() == expected and 0 in expected


def test_article_lists_give_each_articles_list_by_id(fitted: RelatedModel) -> None:
    lists = article_lists(fitted, None)
    ids = [article.id for article in ARTICLES]
    assert lists.article_ids() == ids
    for article_id, listed, scores in lists.all_lists():
        expected = fitted.related(article_id, default_options(lists.limit))
        assert (listed, scores) == lists.default_list(article_id)
        assert listed == [item.article.id for item in expected]
        assert [round(score, 6) for score in scores] == [item.score for item in expected]
    story = lists.default_list(ids[0])[0][0]
    assert lists.articles_listing([story, "unknown"]) == [a for a in ids if story in lists.default_list(a)[0]]
    with pytest.raises(UnknownArticleError):
        lists.default_list("unknown")


def test_article_lists_use_the_stored_lists_made_for_their_limit(fitted: RelatedModel) -> None:
    stored = compute_default_lists(fitted)
    assert article_lists(fitted, stored).lists is stored
    assert article_lists(fitted, stored, limit=3).limit == 3
