"""Changes to a published model without a refit: `apply_changes` against a from-scratch neighbour pass,
reverse insertion into older lists, refills, takedowns, lineage and drift, and the publish lock."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from publishing.train import train_and_publish
from publishing.updates import update_published
from recommender import artifacts
from recommender.changes import RETRAIN_ADDED_SHARE, RETRAIN_UNKNOWN_TERMS, apply_changes
from recommender.corpus import Article, load_corpus
from recommender.default_lists import default_options
from recommender.errors import RelatedlyError, UnknownArticleError
from recommender.model import RelatedModel
from recommender.neighbors import top_k_neighbors
from recommender.ranking import RankingOptions
from recommender.spaces import DenseSpace, LsaSpace, normalised
from recommender.vectorize import ArticleVectorizer
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID

TOP_K = 10  # small enough that every sample list is full, so changes displace and refill entries
SHENZHOU_ID = "shenzhou-crews-complete-handover-aboard-tiangong"
ASTEROID_ID = "bus-sized-asteroid-passes-closer-than-the-moon"
SODIUM_ID = "sodium-ion-batteries-debut-in-grid-storage"

TIANGONG_STORY = Article(
    id="first-foreign-astronaut-to-fly-to-tiangong",
    title="First foreign astronaut selected to fly to China's Tiangong space station",
    body=(
        "A Pakistani pilot has been chosen as the first foreign astronaut to visit the Tiangong space station, "
        "after China opened its orbital outpost to crews from other countries. The candidate will train in Beijing "
        "with Chinese taikonauts on Shenzhou capsule operations before launching on a Shenzhou mission and docking "
        "with the Tianhe core module. Experiments planned for the Wentian and Mengtian laboratory modules include "
        "microgravity materials science and life-support research. Zorblax quintaphor."  # words unseen at fit
    ),
    tags=("tiangong", "china", "space station", "astronauts"),
    category="spaceflight",
)
BATTERY_TEXT = dict(
    title="Sodium-ion grid batteries now store power for a whole region",
    body=(
        "A grid storage plant built with sodium-ion battery cells has doubled in size, storing cheap renewable "
        "electricity from wind and solar farms and releasing it in the evening peak. Sodium is abundant and the "
        "cells avoid lithium and cobalt, although their energy density is lower."
    ),
    tags=("batteries", "sodium-ion", "grid storage"),
    category="energy",
)

# A tiny corpus with four disjoint vocabularies: cheap to train, publish and update many times.
TOPIC_WORDS = {
    "volcanoes": "volcano lava magma eruption crater ash caldera basalt pyroclastic fumarole",
    "football": "football striker goalkeeper league penalty midfielder stadium referee transfer",
    "baking": "bakery sourdough flour oven yeast dough loaf pastry croissant knead",
    "genetics": "genome dna gene mutation chromosome sequencing protein enzyme allele",
}
SMALL_PER_TOPIC = 3
SMALL_FIT_ARTICLES = SMALL_PER_TOPIC * len(TOPIC_WORDS)


@pytest.fixture(scope="module")
def sample_articles() -> list[Article]:
    return load_corpus(SAMPLE_CORPUS).articles


@pytest.fixture(scope="module")
def base_model(sample_articles: list[Article]) -> RelatedModel:
    return RelatedModel(top_k=TOP_K).fit(sample_articles)


def listed(model: RelatedModel, article_id: str) -> list[str]:
    """The ids in an article's precomputed neighbour list, best first."""
    row = model.neighbors_.indices[model.catalog_.index_of(article_id)]
    return [model.catalog_.id_at(int(j)) for j in row if j >= 0]


def ids_of(model: RelatedModel) -> list[str]:
    return list(model.catalog_.to_columns()["ids"])


def assert_table_is_exact(model: RelatedModel) -> None:
    """The model's neighbour table is what a full neighbour pass over its own vectors gives."""
    expected = top_k_neighbors(model.space_, model.top_k)
    assert model.neighbors_.indices.shape == expected.indices.shape
    np.testing.assert_array_equal(model.neighbors_.indices, expected.indices)
    np.testing.assert_allclose(model.neighbors_.scores, expected.scores, rtol=0, atol=1e-6)


def random_changes(
    articles: list[Article], seed: int, n_added: int, n_replaced: int, n_removed: int
) -> tuple[list[Article], list[str]]:
    """Seeded changes: new stories mixing halves of two same-beat stories, existing ids rewritten with
    another story's text, and removals."""
    rng = random.Random(seed)
    by_category: dict[str | None, list[Article]] = {}
    for a in articles:
        by_category.setdefault(a.category, []).append(a)
    removed = rng.sample([a.id for a in articles], n_removed)
    kept = [a for a in articles if a.id not in removed]
    upserts = []
    for i in range(n_added):
        first, second = rng.sample(by_category[rng.choice(sorted(by_category, key=str))], 2)
        body = f"{first.body[: len(first.body) // 2]} {second.body[len(second.body) // 2:]}"
        upserts.append(Article(id=f"new-{seed}-{i}", title=f"{first.title}: {second.title}", body=body,
                               tags=first.tags, category=first.category))
    for target in rng.sample(kept, n_replaced):
        donor = rng.choice(articles)
        upserts.append(Article(id=target.id, title=donor.title, body=f"{donor.body} {target.body[:200]}",
                               tags=donor.tags, category=donor.category))
    return upserts, removed


# --- apply_changes: the oracle ---------------------------------------------------------------------

MIXES = {  # (added, replaced, removed)
    "mixed": (6, 4, 5),
    "additions only": (8, 0, 0),
    "replacements only": (0, 6, 0),
    "removals only": (0, 0, 12),
    "empty": (0, 0, 0),
}


@pytest.mark.parametrize(
    ("mix", "seed"),
    [("mixed", 0), ("mixed", 1), ("mixed", 2), ("additions only", 3), ("replacements only", 4),
     ("removals only", 5), ("removals only", 6), ("empty", 7)],
)
def test_updated_table_equals_a_full_neighbour_pass(
    base_model: RelatedModel, sample_articles: list[Article], mix: str, seed: int
) -> None:
    upserts, removed = random_changes(sample_articles, seed, *MIXES[mix])
    before_indices = base_model.neighbors_.indices.copy()
    before_ids = ids_of(base_model)

    updated, summary = apply_changes(base_model, upserts, removed)

    assert_table_is_exact(updated)
    added = [a.id for a in upserts if a.id not in before_ids]
    assert ids_of(updated) == [i for i in before_ids if i not in removed] + added  # old rows in place, then new
    assert (updated.neighbors_.indices >= 0).all()  # enough candidates everywhere: every list full
    assert summary.added == added
    assert sorted(summary.replaced) == sorted(a.id for a in upserts if a.id in before_ids)
    assert summary.removed == sorted(removed)
    # the input model is left as it was
    assert ids_of(base_model) == before_ids
    np.testing.assert_array_equal(base_model.neighbors_.indices, before_indices)
    if mix == "empty":
        np.testing.assert_array_equal(updated.neighbors_.indices, before_indices)
        assert summary.recomputed_lists == 0
    else:  # every changed story's own list, plus each list that lost an entry, is recomputed
        assert summary.recomputed_lists >= len(upserts) + (len(removed) > 0)


class ProjectionSpace:
    """A second dense space for the list's tests: the TF-IDF rows through a seeded Gaussian projection."""

    name = "projection"
    weight = 0.2

    def fit_transform(self, tfidf: sp.csr_matrix, *, n_jobs: int, block_bytes: int, spill_dir: object) -> np.ndarray:
        return self.transform(tfidf)

    def transform(self, tfidf: sp.csr_matrix, n_jobs: int = 1) -> np.ndarray:
        basis = np.random.default_rng(0).standard_normal((tfidf.shape[1], 16)).astype(np.float32)
        return normalised(np.asarray(tfidf @ basis, dtype=np.float32))


def test_a_second_dense_space_joins_the_lists_updates_and_versions(
    sample_articles: list[Article], base_model: RelatedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A space added to the list is fitted, blended, stacked by an update (still equal to a full pass),
    saved with a checksum and loaded back, like LSA."""
    def two_spaces(self: ArticleVectorizer) -> list[DenseSpace]:
        return [LsaSpace(self.params), ProjectionSpace()]

    monkeypatch.setattr(ArticleVectorizer, "_make_spaces", two_spaces)
    model = RelatedModel(top_k=TOP_K).fit(sample_articles)
    assert [space.weight for space in model.space_.dense] == [0.3, 0.2]
    assert_table_is_exact(model)
    assert not np.array_equal(model.neighbors_.scores, base_model.neighbors_.scores)  # the space takes part

    updated, _ = apply_changes(model, *random_changes(sample_articles, 8, *MIXES["mixed"]))

    assert_table_is_exact(updated)
    assert updated.vectors_.dense["projection"].shape == (updated.n_articles, 16)
    version = artifacts.save_version(updated, tmp_path, info={})
    loaded, manifest = artifacts.load_version(tmp_path, version)
    assert "projection.npy" in manifest["files"]
    np.testing.assert_array_equal(loaded.neighbors_.scores, updated.neighbors_.scores)
    np.testing.assert_array_equal(loaded.space_.rows_against(np.arange(5), None),
                                  updated.space_.rows_against(np.arange(5), None))
    text = BATTERY_TEXT["title"], BATTERY_TEXT["body"], BATTERY_TEXT["tags"]
    assert loaded.related_to_text(*text, explain=True) == updated.related_to_text(*text, explain=True)


def test_an_update_publishes_the_default_lists_a_full_ranking_gives(models_dir: Path) -> None:
    result = update_published(models_dir, upserts=[TIANGONG_STORY, Article(id="grid-batteries", **BATTERY_TEXT)],
                              removals=[ASTEROID_ID])

    model, manifest = artifacts.load_version(models_dir, result.version)
    stored = artifacts.load_default_lists(models_dir, manifest)
    for idx in range(model.n_articles):
        expected = model.ranked(idx, default_options(stored.limit))
        np.testing.assert_array_equal(stored.ranked(idx).indices, expected.indices)
        np.testing.assert_array_equal(stored.ranked(idx).scores, expected.scores)


def test_an_exact_copy_ranks_after_the_original_as_in_a_full_pass(base_model: RelatedModel) -> None:
    """Equal scores resolve to the lower row, so in a full pass a syndicated copy added later always
    follows its original; the update must order the tie the same way (with default de-duplication only
    the first of the two is served)."""
    original = "private-crew-docks-for-two-week-research-stay"
    story = next(a for a in load_corpus(SAMPLE_CORPUS).articles if a.id == original)
    copy = Article(id=f"{original}-syndicated", title=story.title, body=story.body, tags=story.tags,
                   category=story.category)

    updated, _ = apply_changes(base_model, [copy])

    holding_both = [a for a in ids_of(updated) if {original, copy.id} <= set(listed(updated, a))]
    assert len(holding_both) >= 5
    misordered = [a for a in holding_both if listed(updated, a).index(copy.id) < listed(updated, a).index(original)]
    assert misordered == []
    assert_table_is_exact(updated)
    served = [item.article.id for item in updated.related(SHENZHOU_ID, RankingOptions(limit=5))]
    assert original in served and copy.id not in served  # the copy is the de-duplicated one


# --- reverse update, vectors, edits, removals ---------------------------------------------------------


def test_a_new_story_enters_the_lists_of_older_stories(base_model: RelatedModel) -> None:
    old_neighbours = listed(base_model, SPACE_STATION_ID)
    assert TIANGONG_STORY.id not in base_model

    updated, summary = apply_changes(base_model, [TIANGONG_STORY])

    assert summary.added == [TIANGONG_STORY.id]
    assert listed(updated, SPACE_STATION_ID)[0] == TIANGONG_STORY.id
    assert listed(updated, SHENZHOU_ID)[0] == TIANGONG_STORY.id
    for neighbour in old_neighbours[:5]:  # the other station stories list it too
        assert TIANGONG_STORY.id in listed(updated, neighbour), neighbour
        assert len(listed(updated, neighbour)) == TOP_K  # it displaced an entry, the list did not grow
    categories = [updated.article(a).category for a in listed(updated, TIANGONG_STORY.id)]
    assert listed(updated, TIANGONG_STORY.id)[:2] == [SPACE_STATION_ID, SHENZHOU_ID]
    assert categories == ["spaceflight"] * TOP_K
    unrelated = "ancient-dna-maps-five-generations-of-a-neolithic-family-tomb"
    assert listed(updated, unrelated) == listed(base_model, unrelated)


def test_the_vectorizer_is_never_refit(base_model: RelatedModel) -> None:
    vocabulary = base_model.vectorizer_.tfidf_.vocabulary_
    size = len(vocabulary)
    assert "zorblax" not in vocabulary

    updated, summary = apply_changes(base_model, [TIANGONG_STORY])

    assert updated.vectorizer_ is base_model.vectorizer_
    assert updated.vectorizer_.tfidf_.vocabulary_ is vocabulary
    assert len(vocabulary) == size and "zorblax" not in vocabulary
    assert updated.vectors_.tfidf.shape[1] == base_model.vectors_.tfidf.shape[1]
    expected = base_model.vectorizer_.transform_fields(
        [TIANGONG_STORY.title], [TIANGONG_STORY.body], [TIANGONG_STORY.tags]
    )
    row = updated.catalog_.index_of(TIANGONG_STORY.id)
    np.testing.assert_array_equal(updated.vectors_.tfidf[row].toarray(), expected.tfidf.toarray())
    np.testing.assert_allclose(updated.vectors_.lsa[row], expected.lsa[0], rtol=0, atol=1e-6)
    assert summary.unknown_tokens >= 2  # zorblax, quintaphor


def test_an_edited_story_keeps_its_row_with_new_text_and_metadata(base_model: RelatedModel) -> None:
    row = base_model.catalog_.index_of(ASTEROID_ID)
    edited = Article(id=ASTEROID_ID, **BATTERY_TEXT)

    updated, summary = apply_changes(base_model, [edited])

    assert summary.replaced == [ASTEROID_ID] and summary.added == []
    assert updated.n_articles == base_model.n_articles
    assert updated.catalog_.index_of(ASTEROID_ID) == row
    assert ids_of(updated).count(ASTEROID_ID) == 1
    info = updated.article(ASTEROID_ID)
    assert (info.title, info.category, info.tags) == (BATTERY_TEXT["title"], "energy", BATTERY_TEXT["tags"])
    assert base_model.article(ASTEROID_ID).category == "astronomy"
    expected = base_model.vectorizer_.transform_fields([edited.title], [edited.body], [edited.tags])
    np.testing.assert_array_equal(updated.vectors_.tfidf[row].toarray(), expected.tfidf.toarray())
    assert listed(updated, ASTEROID_ID)[0] == SODIUM_ID  # its list follows the new text
    assert ASTEROID_ID in listed(updated, SODIUM_ID)
    assert_table_is_exact(updated)


def test_removed_stories_leave_every_list_and_the_lists_are_refilled(base_model: RelatedModel) -> None:
    removed = [SHENZHOU_ID, SODIUM_ID]
    holders = [a for a in ids_of(base_model) if set(listed(base_model, a)) & set(removed)]
    assert len(holders) >= 4

    updated, summary = apply_changes(base_model, [], removed)

    assert summary.removed == sorted(removed)
    assert summary.recomputed_lists == len(holders)  # exactly the lists that lost an entry
    assert updated.n_articles == base_model.n_articles - 2
    for article_id in removed:
        assert article_id not in updated
        with pytest.raises(UnknownArticleError):
            updated.related(article_id)
    for holder in holders:
        before, after = listed(base_model, holder), listed(updated, holder)
        assert len(after) == TOP_K, holder  # refilled, not shortened
        survivors = [a for a in before if a not in removed]
        assert after[: len(survivors)] == survivors, holder  # same order, refills at the end
        assert not set(after) & set(removed)


def test_an_unknown_removal_is_an_error(base_model: RelatedModel) -> None:
    with pytest.raises(UnknownArticleError) as caught:
        apply_changes(base_model, [TIANGONG_STORY], [SHENZHOU_ID, "no-such-article"])
    assert caught.value.article_id == "no-such-article"


def test_the_last_version_of_a_duplicated_id_wins(base_model: RelatedModel) -> None:
    first_new = Article(id="dup-story", title="First draft", body=TIANGONG_STORY.body, tags=TIANGONG_STORY.tags)
    last_new = Article(id="dup-story", **BATTERY_TEXT)
    first_edit = Article(id=ASTEROID_ID, **BATTERY_TEXT)
    last_edit = Article(id=ASTEROID_ID, title="Asteroid misses Earth", body="An asteroid passed the Moon.")

    updated, summary = apply_changes(base_model, [first_new, first_edit, last_new, last_edit])

    assert summary.added == ["dup-story"] and summary.replaced == [ASTEROID_ID]
    assert updated.n_articles == base_model.n_articles + 1
    assert ids_of(updated).count("dup-story") == 1
    assert updated.article("dup-story").title == BATTERY_TEXT["title"]
    assert updated.article(ASTEROID_ID).title == "Asteroid misses Earth"
    expected = base_model.vectorizer_.transform_fields([last_new.title], [last_new.body], [last_new.tags])
    row = updated.catalog_.index_of("dup-story")
    np.testing.assert_array_equal(updated.vectors_.tfidf[row].toarray(), expected.tfidf.toarray())
    assert listed(updated, "dup-story")[0] == SODIUM_ID
    assert_table_is_exact(updated)


# --- update_published: takedowns, lineage, drift, the lock ------------------------------------------------


def test_a_takedown_is_not_undone_by_an_update_only_by_a_full_training(
    models_dir: Path, sample_articles: list[Article]
) -> None:
    story = next(a for a in sample_articles if a.id == SPACE_STATION_ID)
    removal = update_published(models_dir, removals=[SPACE_STATION_ID])
    assert removal.summary.removed == [SPACE_STATION_ID]

    again = update_published(models_dir, upserts=[story, TIANGONG_STORY])

    assert again.summary.refused == [SPACE_STATION_ID]
    assert again.summary.added == [TIANGONG_STORY.id]
    model, manifest = artifacts.load_version(models_dir, artifacts.read_current(models_dir))
    assert SPACE_STATION_ID not in model and TIANGONG_STORY.id in model
    assert manifest["takedowns"] == [SPACE_STATION_ID]
    assert manifest["changes"]["refused"] == [SPACE_STATION_ID]

    fit = train_and_publish(SAMPLE_CORPUS, models_dir, top_k=TOP_K)

    model, manifest = artifacts.load_version(models_dir, artifacts.read_current(models_dir))
    assert manifest["version"] == fit.version
    assert SPACE_STATION_ID in model
    assert manifest["lineage"] == {"kind": "fit"} and manifest["takedowns"] == []
    back = update_published(models_dir, upserts=[story])
    assert back.summary.replaced == [SPACE_STATION_ID] and back.summary.refused == []


def test_a_withdrawal_leaves_every_list_but_an_update_brings_it_back(
    models_dir: Path, sample_articles: list[Article]
) -> None:
    story = next(a for a in sample_articles if a.id == SPACE_STATION_ID)
    withdrawal = update_published(models_dir, withdrawals=[SPACE_STATION_ID, "never-served"])

    model, manifest = artifacts.load_version(models_dir, withdrawal.version)
    assert SPACE_STATION_ID not in model and "never-served" not in model  # an unknown id: already not served
    assert_table_is_exact(model)
    assert manifest["takedowns"] == [] and manifest["changes"]["withdrawn"] == [SPACE_STATION_ID]

    back = update_published(models_dir, upserts=[story])
    assert back.summary.added == [SPACE_STATION_ID] and back.summary.refused == []


def test_updates_record_lineage_and_accumulate_drift(models_dir: Path) -> None:
    fit_version = artifacts.read_current(models_dir)
    fit_manifest = artifacts.read_manifest(models_dir, fit_version)

    first = update_published(models_dir, upserts=[TIANGONG_STORY])
    second = update_published(models_dir, upserts=[Article(id="grid-batteries", **BATTERY_TEXT),
                                                    Article(id=ASTEROID_ID, **BATTERY_TEXT)])

    assert artifacts.read_current(models_dir) == second.version
    m1, m2 = artifacts.read_manifest(models_dir, first.version), artifacts.read_manifest(models_dir, second.version)
    assert m1["lineage"] == {"kind": "update", "base_version": fit_version, "fit_version": fit_version}
    assert m2["lineage"] == {"kind": "update", "base_version": first.version, "fit_version": fit_version}
    assert (first.previous, second.previous) == (fit_version, first.version)
    assert m1["n_articles"] == fit_manifest["n_articles"] + 1 and m2["n_articles"] == fit_manifest["n_articles"] + 2
    assert m2["changes"] == {"added": 1, "replaced": 1, "removed": [], "withdrawn": [], "refused": [],
                             "recomputed_lists": second.summary.recomputed_lists}
    assert m1["drift"]["fit_articles"] == m2["drift"]["fit_articles"] == fit_manifest["n_articles"]
    assert (m1["drift"]["added_since_fit"], m2["drift"]["added_since_fit"]) == (1, 2)  # a replacement adds nothing
    assert m2["drift"]["tokens_since_fit"] == m1["drift"]["tokens_since_fit"] + second.summary.tokens > 0
    assert m2["drift"]["unknown_tokens_since_fit"] == first.summary.unknown_tokens + second.summary.unknown_tokens
    assert m2["drift"]["retrain_recommended"] is False
    assert m2["vocabulary_size"] == fit_manifest["vocabulary_size"]
    model, _ = artifacts.load_version(models_dir, second.version)
    assert_table_is_exact(model)  # also after the round trip through disk


def topic_article(article_id: str, topic: str, rng: random.Random) -> Article:
    words = TOPIC_WORDS[topic].split()
    return Article(id=article_id, title=" ".join(rng.sample(words, 3)), body=" ".join(rng.choices(words, k=15)),
                   category=topic)


@pytest.fixture()
def small_models_dir(tmp_path: Path) -> Path:
    """A published model of SMALL_FIT_ARTICLES stories on four beats with no shared words."""
    rng = random.Random(3)
    corpus = tmp_path / "small.jsonl"
    rows = [topic_article(f"{topic}-{i}", topic, rng) for topic in TOPIC_WORDS for i in range(SMALL_PER_TOPIC)]
    corpus.write_text("".join(json.dumps({"id": a.id, "title": a.title, "body": a.body, "category": a.category}) + "\n"
                              for a in rows))
    models_dir = tmp_path / "small-models"
    train_and_publish(corpus, models_dir, top_k=5)
    return models_dir


def test_retraining_is_recommended_once_enough_articles_were_added(small_models_dir: Path) -> None:
    threshold = int(RETRAIN_ADDED_SHARE * SMALL_FIT_ARTICLES)
    assert threshold == RETRAIN_ADDED_SHARE * SMALL_FIT_ARTICLES >= 2
    rng = random.Random(4)
    new = [topic_article(f"new-{i}", "baking", rng) for i in range(threshold + 1)]

    at_threshold = update_published(small_models_dir, upserts=new[:threshold])
    over = update_published(small_models_dir, upserts=new[threshold:])  # one more, in a later update

    assert at_threshold.drift["added_since_fit"] == threshold
    assert at_threshold.drift["unknown_term_share"] == 0.0
    assert at_threshold.drift["retrain_recommended"] is False
    assert over.drift["added_since_fit"] == threshold + 1
    assert over.drift["retrain_recommended"] is True
    manifest = artifacts.read_manifest(small_models_dir, over.version)
    assert manifest["drift"] == over.drift


def test_retraining_is_recommended_when_new_text_is_mostly_unknown_words(small_models_dir: Path) -> None:
    made_up = Article(id="made-up", title="Zorblax quintaphor", category="baking",
                      body="zorblax quintaphor glimmerwick sourdough flurbish oven trandle yeast vospering")

    result = update_published(small_models_dir, upserts=[made_up])

    summary, drift = result.summary, result.drift
    assert summary.tokens == 11 and summary.unknown_tokens == 8  # 3 known words: sourdough, oven, yeast
    assert drift["added_since_fit"] == 1 <= RETRAIN_ADDED_SHARE * SMALL_FIT_ARTICLES
    assert drift["unknown_term_share"] == round(8 / 11, 4) > RETRAIN_UNKNOWN_TERMS
    assert drift["retrain_recommended"] is True


def test_concurrent_updates_are_serialised_and_both_survive(models_dir: Path) -> None:
    fit_version = artifacts.read_current(models_dir)
    stories = [TIANGONG_STORY, Article(id="grid-batteries", **BATTERY_TEXT)]
    barrier = threading.Barrier(len(stories))
    results, errors = [], []

    def run(story: Article) -> None:
        barrier.wait()
        try:
            results.append(update_published(models_dir, upserts=[story]))
        except Exception as exc:  # reported below, with the thread's exception
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(story,)) for story in stories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == [] and len(results) == 2
    first, second = sorted(results, key=lambda r: r.previous != fit_version)
    assert first.previous == fit_version
    assert second.previous == first.version  # read after the other's publish, not alongside it
    current = artifacts.read_current(models_dir)
    assert current == second.version
    model, manifest = artifacts.load_version(models_dir, current)  # complete: checksums verified
    assert TIANGONG_STORY.id in model and "grid-batteries" in model
    assert manifest["drift"]["added_since_fit"] == 2


@pytest.mark.parametrize("left", [1, 0])
def test_removals_that_leave_no_usable_model_are_refused(small_models_dir: Path, left: int) -> None:
    """A full fit refuses fewer than 2 articles; an update must not publish (or crash into) such a model."""
    before = artifacts.read_current(small_models_dir)
    model, _ = artifacts.load_version(small_models_dir, before)
    removals = ids_of(model)[left:]

    with pytest.raises(RelatedlyError):
        update_published(small_models_dir, removals=removals)

    assert artifacts.read_current(small_models_dir) == before
