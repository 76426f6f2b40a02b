"""Model versions on disk: round trip, verification, crash-safe publish, leftovers, pruning and ordering."""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn

from publishing.train import train_and_publish
from recommender import artifacts
from recommender.catalog import ArticleCatalog, ArticleInfo
from recommender.corpus import Article
from recommender.errors import ArtifactError
from recommender.model import RelatedModel
from recommender.ranking import RankingOptions
from recommender.term_index import TermIndex
from tests.conftest import ROOT, SAMPLE_CORPUS

INFO = {"corpus": {"path": "/data/articles.jsonl", "sha256": "ab" * 32, "n_valid": 8, "n_skipped": 1},
        "training_seconds": 0.25}


def _article(article_id: str, title: str, body: str, tags: tuple[str, ...], category: str, day: int) -> Article:
    return Article(
        id=article_id,
        title=title,
        body=body,
        tags=tags,
        category=category,
        published_at=datetime(2024, 5, day, 9, 30, tzinfo=UTC),
        url=f"https://example.org/{article_id}",
        extra={"author": f"author-{day}", "word_count": 100 + day},
    )


ARTICLES = [
    _article("mars-rover", "Rover finds ancient lake bed on Mars", "The rover drilled rock from a dry lake bed "
             "on Mars and found clay minerals.", ("mars", "space"), "space", 1),
    _article("mars-water", "Water ice mapped under Martian plains", "Radar maps show water ice under the plains "
             "of Mars, a resource for crews.", ("mars", "water"), "space", 2),
    _article("moon-base", "Agencies plan a crewed base near the Moon's south pole", "Crews would mine water ice "
             "at the lunar south pole for a base.", ("moon", "space"), "space", 3),
    _article("coral-heat", "Heatwave bleaches coral reefs", "Ocean heat bleached coral reefs across the reef "
             "system this summer.", ("coral", "ocean"), "environment", 4),
    _article("coral-recovery", "Some coral reefs recover after bleaching", "Divers found coral recovering on "
             "reefs bleached by ocean heat.", ("coral", "reef"), "environment", 5),
    _article("ocean-plastic", "Ocean plastic reaches the deep sea", "Plastic from the ocean surface sinks to "
             "the deep sea floor.", ("ocean", "plastic"), "environment", 6),
    _article("vaccine-trial", "Malaria vaccine trial shows strong protection", "A malaria vaccine protected "
             "children in a large trial.", ("malaria", "vaccine"), "health", 7),
    _article("zebra", "Zebra stripes confuse biting flies", "Stripes deter flies.", (), "nature", 8),
]


@pytest.fixture(scope="module")
def fitted() -> RelatedModel:
    return RelatedModel(top_k=5).fit(ARTICLES)


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    """An empty models directory of this test's own."""
    return tmp_path / "models"


def _related_lists(model: RelatedModel) -> dict[str, list]:
    return {a.id: model.related(a.id, RankingOptions(limit=model.top_k)) for a in ARTICLES}


def _edit_manifest(store: Path, version: str, edit) -> None:
    path = store / artifacts.VERSIONS / version / artifacts.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _record_file(manifest: dict, path: Path) -> None:
    """The manifest's checksum and size of a file the test rewrote."""
    data = path.read_bytes()
    manifest["files"][path.name].update({"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})


def _tmp_entries(store: Path) -> list[str]:
    return sorted(
        p.name
        for directory in (store, store / artifacts.VERSIONS)
        if directory.is_dir()
        for p in directory.iterdir()
        if p.name.startswith(artifacts.TMP_PREFIX)
    )


def test_round_trip_gives_the_same_model_and_a_complete_manifest(fitted: RelatedModel, store: Path) -> None:
    assert artifacts.read_current(store) is None

    version = artifacts.save_version(fitted, store, info=INFO)
    artifacts.publish(store, version)
    assert artifacts.read_current(store) == version
    loaded, manifest = artifacts.load_version(store, artifacts.read_current(store))

    assert any(items for items in _related_lists(fitted).values())  # the comparison is not vacuous
    assert _related_lists(loaded) == _related_lists(fitted)
    assert loaded.catalog_.to_columns() == fitted.catalog_.to_columns()
    assert [loaded.article(a.id) for a in ARTICLES] == [fitted.article(a.id) for a in ARTICLES]
    assert loaded.article("mars-rover") == ArticleInfo(
        id="mars-rover",
        title="Rover finds ancient lake bed on Mars",
        url="https://example.org/mars-rover",
        published_at="2024-05-01T09:30:00Z",
        tags=("mars", "space"),
        category="space",
    )
    assert loaded.catalog_.to_columns()["extra"][0] == {"author": "author-1", "word_count": 101}
    assert loaded.top_k == 5 and loaded.params == fitted.params
    np.testing.assert_array_equal(loaded.neighbors_.indices, fitted.neighbors_.indices)
    np.testing.assert_array_equal(loaded.neighbors_.scores, fitted.neighbors_.scores)
    assert loaded.neighbors_.indices.dtype == np.int32 and loaded.neighbors_.scores.dtype == np.float32
    assert loaded.vectors_.tfidf.shape == fitted.vectors_.tfidf.shape
    assert (loaded.vectors_.tfidf != fitted.vectors_.tfidf).nnz == 0
    np.testing.assert_array_equal(loaded.vectors_.lsa, fitted.vectors_.lsa)
    probe = ["coral reefs bleached by ocean heat"]
    loaded_probe = loaded.vectorizer_.transform_fields(probe, [""], [()])
    fitted_probe = fitted.vectorizer_.transform_fields(probe, [""], [()])
    assert (loaded_probe.tfidf != fitted_probe.tfidf).nnz == 0
    np.testing.assert_array_equal(loaded_probe.lsa, fitted_probe.lsa)

    assert manifest["format"] == artifacts.FORMAT
    assert manifest["version"] == version
    created = datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60
    assert manifest["n_articles"] == len(ARTICLES)
    assert manifest["vocabulary_size"] == fitted.vectorizer_.vocabulary_size
    assert manifest["parameters"] == {"top_k": 5, "vectorizer": fitted.params.as_dict()}
    assert manifest["libraries"]["scikit-learn"] == sklearn.__version__
    assert manifest["libraries"]["numpy"] == np.__version__
    assert manifest["libraries"]["relatedly"] == importlib.metadata.version("relatedly")
    assert manifest["corpus"] == INFO["corpus"]
    assert manifest["training_seconds"] == INFO["training_seconds"]
    directory = store / artifacts.VERSIONS / version
    files = (*artifacts.FILES, artifacts.COMPONENTS_FILE, *artifacts.DEFAULT_LIST_FILES)
    assert set(manifest["files"]) == set(files)
    for name in files:
        data = (directory / name).read_bytes()
        assert manifest["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest["files"][name]["bytes"] == len(data)
    assert sorted(p.name for p in directory.iterdir()) == sorted([*files, artifacts.MANIFEST])
    assert artifacts.list_versions(store) == [version]


def test_the_vocabulary_is_stored_as_arrays_and_memory_mapped(fitted: RelatedModel, store: Path) -> None:
    version = artifacts.save_version(fitted, store, info=INFO)
    stored = joblib.load(store / artifacts.VERSIONS / version / "vectorizer.joblib")
    assert isinstance(stored["tfidf"].vocabulary_, TermIndex)  # no slow-to-unpickle dict in the file
    loaded, _ = artifacts.load_version(store, version)
    assert isinstance(loaded.vectorizer_.tfidf_.vocabulary_.blob, np.memmap)
    assert dict(loaded.vectorizer_.tfidf_.vocabulary_) == dict(fitted.vectorizer_.tfidf_.vocabulary_)


def test_a_version_with_the_terms_as_one_string_still_loads(fitted: RelatedModel, store: Path) -> None:
    """The previous format: the TfidfVectorizer without its vocabulary, the terms newline-joined beside it."""
    version = artifacts.save_version(fitted, store, info=INFO)
    path = store / artifacts.VERSIONS / version / "vectorizer.joblib"
    slim = copy.copy(fitted.vectorizer_.tfidf_)
    del slim.vocabulary_
    terms = "\n".join(fitted.vectorizer_.tfidf_.vocabulary_)
    joblib.dump({"tfidf": slim, "svd": fitted.vectorizer_.svd_, "terms": terms}, path)
    _edit_manifest(store, version, lambda manifest: _record_file(manifest, path))
    loaded, _ = artifacts.load_version(store, version)
    assert _related_lists(loaded) == _related_lists(fitted)
    assert loaded.vectorizer_.tfidf_.vocabulary_ == fitted.vectorizer_.tfidf_.vocabulary_


def test_the_lsa_components_are_memory_mapped_and_survive_a_resave(
    fitted: RelatedModel, store: Path, monkeypatch
) -> None:
    """Workers share the components' pages instead of each reading a copy (stored terms × components:
    a text's terms are rows); a version saved from a loaded model (what an update does) still holds them
    in full, copied a slab at a time."""
    version = artifacts.save_version(fitted, store, info=INFO)
    assert "components_" not in joblib.load(store / artifacts.VERSIONS / version / "vectorizer.joblib")["svd"].__dict__
    loaded, _ = artifacts.load_version(store, version)
    components = loaded.vectorizer_.svd_.components_
    assert isinstance(components, np.memmap) and components.T.flags.c_contiguous
    monkeypatch.setattr(artifacts, "SLAB_BYTES", 4 * components.shape[0] * 3)  # 3 terms a slab
    again, _ = artifacts.load_version(store, artifacts.save_version(loaded, store, info=INFO))
    np.testing.assert_array_equal(again.vectorizer_.svd_.components_, fitted.vectorizer_.svd_.components_)
    assert _related_lists(again) == _related_lists(fitted)


def test_a_version_with_the_components_in_the_pickle_still_loads(fitted: RelatedModel, store: Path) -> None:
    """Format 2: the components (components × terms) inside vectorizer.joblib, no components.npy."""
    version = artifacts.save_version(fitted, store, info=INFO)
    directory = store / artifacts.VERSIONS / version
    svd = copy.copy(fitted.vectorizer_.svd_)
    svd.components_ = np.ascontiguousarray(svd.components_)
    joblib.dump({"tfidf": fitted.vectorizer_.tfidf_, "svd": svd}, directory / "vectorizer.joblib")
    (directory / artifacts.COMPONENTS_FILE).unlink()

    def older(manifest: dict) -> None:
        _record_file(manifest, directory / "vectorizer.joblib")
        del manifest["files"][artifacts.COMPONENTS_FILE]
        manifest["format"] = "relatedly-model/2"

    _edit_manifest(store, version, older)
    loaded, _ = artifacts.load_version(store, version)
    np.testing.assert_array_equal(loaded.vectorizer_.svd_.components_, fitted.vectorizer_.svd_.components_)
    assert _related_lists(loaded) == _related_lists(fitted)
    text = (["Space station"], ["A crew docks"], [()])
    np.testing.assert_array_equal(loaded.vectorizer_.transform_fields(*text).lsa,
                                  fitted.vectorizer_.transform_fields(*text).lsa)
    resaved = artifacts.save_version(loaded, store, info=INFO)  # an update of an older version: format 3
    assert artifacts.COMPONENTS_FILE in artifacts.read_manifest(store, resaved)["files"]


def test_saving_gives_back_the_pages_of_mapped_components(tmp_path: Path) -> None:
    """The copy into a version reads a mapped array a slab at a time and drops each slab's pages: the
    process's resident memory does not grow by the array (1.8 GB at 300k synthetic articles)."""
    source = tmp_path / "source.npy"
    np.save(source, np.random.default_rng(0).random((2**18, 64), dtype=np.float32))  # 64 MB
    mapped = np.load(source, mmap_mode="r")

    def resident_file_kb() -> int:
        return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("RssFile:"))

    before = resident_file_kb()
    artifacts._save_terms(mapped, tmp_path / "copy.npy")
    assert resident_file_kb() - before < 40 * 1024  # at most one 64 MB slab, released after it
    np.testing.assert_array_equal(np.load(tmp_path / "copy.npy"), mapped)


def test_a_version_with_the_vocabulary_dict_inside_still_loads(fitted: RelatedModel, store: Path) -> None:
    """Versions written before the terms were stored apart keep loading (rollback must work)."""
    version = artifacts.save_version(fitted, store, info=INFO)
    path = store / artifacts.VERSIONS / version / "vectorizer.joblib"
    tfidf = copy.copy(fitted.vectorizer_.tfidf_)
    tfidf.vocabulary_ = dict(tfidf.vocabulary_)
    joblib.dump({"tfidf": tfidf, "svd": fitted.vectorizer_.svd_}, path)

    def as_format_1(manifest: dict) -> None:
        manifest["format"] = "relatedly-model/1"
        _record_file(manifest, path)

    _edit_manifest(store, version, as_format_1)
    loaded, _ = artifacts.load_version(store, version)
    assert _related_lists(loaded) == _related_lists(fitted)
    assert loaded.vectorizer_.tfidf_.vocabulary_ == fitted.vectorizer_.tfidf_.vocabulary_


def test_the_catalogue_is_one_json_document_with_a_value_a_line(fitted: RelatedModel, store: Path) -> None:
    """Lines load a slice at a time (no long GIL hold in a serving worker); any JSON reader still reads it."""
    version = artifacts.save_version(fitted, store, info=INFO)
    text = (store / artifacts.VERSIONS / version / "articles.json").read_text(encoding="utf-8")
    assert json.loads(text) == fitted.catalog_.to_columns()
    assert len(text.splitlines()) > len(ArticleCatalog.COLUMNS) * len(ARTICLES)
    assert artifacts.read_article_ids(store, version) == [a.id for a in ARTICLES]


def test_a_catalogue_written_on_one_line_still_loads(fitted: RelatedModel, store: Path) -> None:
    """Versions saved before the one-value-a-line layout keep loading (rollback must work)."""
    version = artifacts.save_version(fitted, store, info=INFO)
    data = json.dumps(fitted.catalog_.to_columns(), ensure_ascii=False).encode()
    (store / artifacts.VERSIONS / version / "articles.json").write_bytes(data)
    _edit_manifest(store, version, lambda manifest: manifest["files"]["articles.json"].update(
        {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}))
    loaded, _ = artifacts.load_version(store, version)
    assert loaded.catalog_.to_columns() == fitted.catalog_.to_columns()
    assert _related_lists(loaded) == _related_lists(fitted)


@pytest.mark.parametrize("damage", ["flip-byte", "append", "delete"])
@pytest.mark.parametrize("name", (*artifacts.FILES, artifacts.COMPONENTS_FILE))
def test_a_tampered_file_is_refused(fitted: RelatedModel, store: Path, name: str, damage: str) -> None:
    version = artifacts.save_version(fitted, store, info=INFO)
    artifacts.load_version(store, version)  # intact: loads
    path = store / artifacts.VERSIONS / version / name
    if damage == "delete":
        path.unlink()
    else:
        data = bytearray(path.read_bytes())
        if damage == "flip-byte":
            data[len(data) // 2] ^= 0x01
        else:
            data += b" "
        path.write_bytes(bytes(data))

    with pytest.raises(ArtifactError, match=name):
        artifacts.load_version(store, version)


def test_a_model_from_another_scikit_learn_is_refused(fitted: RelatedModel, store: Path) -> None:
    version = artifacts.save_version(fitted, store, info=INFO)
    _edit_manifest(store, version, lambda m: m["libraries"].update({"scikit-learn": "0.24.2"}))

    with pytest.raises(ArtifactError, match="scikit-learn 0.24.2"):
        artifacts.load_version(store, version)


def test_a_version_in_a_format_this_code_does_not_know_is_refused_by_name(fitted: RelatedModel, store: Path) -> None:
    version = artifacts.save_version(fitted, store, info=INFO)
    _edit_manifest(store, version, lambda m: m.update({"format": "relatedly-model/99"}))

    with pytest.raises(ArtifactError, match="relatedly-model/1 or relatedly-model/2 or relatedly-model/3 manifest"):
        artifacts.load_version(store, version)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.pop("files"),
        lambda m: m.pop("parameters"),
        lambda m: m["parameters"]["vectorizer"].update({"unknown_knob": 1}),
        lambda m: m.update({"libraries": "scikit-learn"}),
    ],
    ids=["no-files", "no-parameters", "unknown-parameter", "libraries-not-a-dict"],
)
def test_a_malformed_manifest_is_an_artifact_error(fitted: RelatedModel, store: Path, edit) -> None:
    """ModelStore only catches RelatedlyError: anything else escapes the start-up load."""
    version = artifacts.save_version(fitted, store, info=INFO)
    _edit_manifest(store, version, edit)

    with pytest.raises(ArtifactError):
        artifacts.load_version(store, version)


@pytest.mark.parametrize("version", ["20200101T000000Z-000000", "", ".tmp-x", "../models"])
def test_a_missing_or_invalid_version_is_an_artifact_error(fitted: RelatedModel, store: Path, version: str) -> None:
    artifacts.save_version(fitted, store, info=INFO)

    with pytest.raises(ArtifactError):
        artifacts.load_version(store, version)


@pytest.mark.parametrize("version", ["20200101T000000Z-000000", ".tmp-x", "../models"])
def test_publishing_a_missing_version_raises_and_keeps_current(
    fitted: RelatedModel, store: Path, version: str
) -> None:
    good = artifacts.save_version(fitted, store, info=INFO)
    artifacts.publish(store, good)

    with pytest.raises(ArtifactError):
        artifacts.publish(store, version)

    assert artifacts.read_current(store) == good
    assert _tmp_entries(store) == []


def test_publishing_an_incomplete_version_raises(fitted: RelatedModel, store: Path) -> None:
    good = artifacts.save_version(fitted, store, info=INFO)
    artifacts.publish(store, good)
    half = artifacts.save_version(fitted, store, info=INFO)
    (store / artifacts.VERSIONS / half / artifacts.MANIFEST).unlink()

    with pytest.raises(ArtifactError):
        artifacts.publish(store, half)

    assert artifacts.read_current(store) == good


def test_publishing_into_an_empty_directory_leaves_no_pointer(store: Path) -> None:
    store.mkdir()

    with pytest.raises(ArtifactError):
        artifacts.publish(store, "20200101T000000Z-000000")

    assert artifacts.read_current(store) is None
    assert list(store.iterdir()) == []


def _failing_manifest_dump(real_dump):
    def dump(obj, fh, *args, **kwargs):
        if getattr(fh, "name", "").endswith(artifacts.MANIFEST):
            raise OSError(28, "No space left on device")
        return real_dump(obj, fh, *args, **kwargs)

    return dump


def _disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device")


CRASHES = {
    "vectorizer": (joblib, "dump", lambda real: _disk_full),  # the first file
    "arrays": (np, "savez", lambda real: _disk_full),  # part-way: matrix.npz and neighbors.npz
    "manifest": (json, "dump", _failing_manifest_dump),  # every data file written, the manifest not
}


@pytest.mark.parametrize("crash", CRASHES)
def test_a_crash_while_training_keeps_the_published_model(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, crash: str
) -> None:
    old = artifacts.read_current(models_dir)
    before = artifacts.list_versions(models_dir)
    assert old is not None and before == [old]
    module, name, make = CRASHES[crash]
    monkeypatch.setattr(module, name, make(getattr(module, name)))

    with pytest.raises(OSError, match="No space left"):
        train_and_publish(SAMPLE_CORPUS, models_dir, top_k=10)

    monkeypatch.undo()
    assert artifacts.read_current(models_dir) == old
    model, manifest = artifacts.load_version(models_dir, old)
    assert manifest["version"] == old and model.n_articles > 0
    assert artifacts.list_versions(models_dir) == before
    assert _tmp_entries(models_dir) == []
    assert sorted(p.name for p in (models_dir / artifacts.VERSIONS).iterdir()) == before


def test_training_after_a_crash_publishes_normally(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = artifacts.read_current(models_dir)
    monkeypatch.setattr(np, "savez", _disk_full)
    with pytest.raises(OSError):
        train_and_publish(SAMPLE_CORPUS, models_dir, top_k=10)
    monkeypatch.undo()

    summary = train_and_publish(SAMPLE_CORPUS, models_dir, top_k=10)

    assert artifacts.read_current(models_dir) == summary.version != old
    assert set(artifacts.list_versions(models_dir)) == {old, summary.version}
    assert artifacts.load_version(models_dir, summary.version)[1]["parameters"]["top_k"] == 10


KILLED_TRAINING = """
import os, signal, sys
import numpy as np
from publishing.train import train_and_publish

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

np.savez = killed  # the process dies mid-save, with no chance to clean up
train_and_publish(sys.argv[1], sys.argv[2], top_k=10)
"""


def test_a_training_killed_mid_save_leaves_the_old_model_and_a_prunable_leftover(models_dir: Path) -> None:
    old = artifacts.read_current(models_dir)
    before = artifacts.list_versions(models_dir)

    done = subprocess.run(
        [sys.executable, "-c", KILLED_TRAINING, str(SAMPLE_CORPUS), str(models_dir)],
        cwd=ROOT, capture_output=True, timeout=120,
    )

    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    leftovers = _tmp_entries(models_dir)
    assert len(leftovers) == 1 and leftovers[0].startswith(artifacts.TMP_PREFIX)
    assert artifacts.read_current(models_dir) == old
    assert artifacts.list_versions(models_dir) == before
    artifacts.load_version(models_dir, old)

    artifacts.prune(models_dir, keep=5)
    assert _tmp_entries(models_dir) == leftovers  # fresh: may belong to a running job
    leftover = models_dir / artifacts.VERSIONS / leftovers[0]
    stamp = time.time() - artifacts.STALE_TMP_SECONDS - 1
    os.utime(leftover, (stamp, stamp))
    artifacts.prune(models_dir, keep=5)
    assert _tmp_entries(models_dir) == []
    assert artifacts.list_versions(models_dir) == before


def _leftover(store: Path, age_seconds: float) -> Path:
    """A half-written version directory, as a training job killed with SIGKILL leaves it."""
    leftover = store / artifacts.VERSIONS / f"{artifacts.TMP_PREFIX}20200101T000000Z-dead{int(age_seconds):02x}"
    leftover.mkdir(parents=True)
    (leftover / "vectorizer.joblib").write_bytes(b"half a pickle")
    stamp = time.time() - age_seconds
    os.utime(leftover, (stamp, stamp))
    return leftover


def test_a_leftover_temporary_directory_is_ignored_then_pruned_when_stale(
    fitted: RelatedModel, store: Path
) -> None:
    version = artifacts.save_version(fitted, store, info=INFO)
    artifacts.publish(store, version)
    stale = _leftover(store, artifacts.STALE_TMP_SECONDS + 60)
    fresh = _leftover(store, 5)  # may be a training job still running

    assert artifacts.list_versions(store) == [version]
    assert artifacts.read_current(store) == version

    assert artifacts.prune(store, keep=5) == []

    assert not stale.exists()
    assert fresh.exists() and (fresh / "vectorizer.joblib").exists()
    assert artifacts.list_versions(store) == [version]
    artifacts.load_version(store, version)


def test_a_leftover_is_ignored_when_nothing_was_ever_published(store: Path) -> None:
    stale = _leftover(store, artifacts.STALE_TMP_SECONDS + 60)

    assert artifacts.list_versions(store) == []
    assert artifacts.read_current(store) is None
    assert artifacts.prune(store, keep=1) == []
    assert not stale.exists()


def _save_many(model: RelatedModel, store: Path, count: int) -> list[str]:
    return [artifacts.save_version(model, store, info={"run": i}) for i in range(count)]


def _dated_versions(model: RelatedModel, store: Path, count: int) -> list[str]:
    """`count` versions as if trained on consecutive days, oldest first; suffixes run against the dates."""
    names = []
    for day in range(1, count + 1):
        saved = artifacts.save_version(model, store, info={"day": day})
        name = f"202403{day:02d}T120000Z-{'fedcba'[day % 6] * 6}"
        (store / artifacts.VERSIONS / saved).rename(store / artifacts.VERSIONS / name)
        _edit_manifest(store, name, lambda m, name=name, day=day: m.update(
            {"version": name, "created_at": f"2024-03-{day:02d}T12:00:00Z"}))
        names.append(name)
    return names


def test_list_versions_sorts_oldest_first_by_date(fitted: RelatedModel, store: Path) -> None:
    assert artifacts.list_versions(store) == []
    dated = _dated_versions(fitted, store, 5)

    assert artifacts.list_versions(store) == dated


def test_list_versions_sorts_oldest_first_within_one_second(fitted: RelatedModel, store: Path) -> None:
    """Saved back to back, as a retrain on a small corpus or a test suite does."""
    saved = _save_many(fitted, store, 8)

    listed = artifacts.list_versions(store)

    runs = [artifacts.read_manifest(store, v)["run"] for v in listed]
    assert runs == list(range(8)), f"saved {saved}, listed {listed}"


def test_prune_keeps_the_newest_versions(fitted: RelatedModel, store: Path) -> None:
    versions = _dated_versions(fitted, store, 5)
    artifacts.publish(store, versions[-1])

    removed = artifacts.prune(store, keep=2)

    assert sorted(removed) == sorted(versions[:3])
    assert artifacts.list_versions(store) == versions[3:]
    assert not any((store / artifacts.VERSIONS / v).exists() for v in removed)
    for version in versions[3:]:
        artifacts.load_version(store, version)
    assert artifacts.prune(store, keep=2) == []


def test_prune_never_deletes_the_current_version_even_when_old(fitted: RelatedModel, store: Path) -> None:
    versions = _dated_versions(fitted, store, 4)
    artifacts.publish(store, versions[-1])
    artifacts.publish(store, versions[0])  # rollback to the oldest

    removed = artifacts.prune(store, keep=2)

    assert removed == [versions[1]]
    assert artifacts.list_versions(store) == [versions[0], *versions[2:]]
    assert artifacts.read_current(store) == versions[0]
    artifacts.load_version(store, versions[0])


def test_prune_keep_one_keeps_the_newest_and_the_current(fitted: RelatedModel, store: Path) -> None:
    versions = _dated_versions(fitted, store, 3)
    artifacts.publish(store, versions[1])

    assert artifacts.prune(store, keep=1) == [versions[0]]

    assert artifacts.list_versions(store) == [versions[1], versions[2]]
    assert artifacts.read_current(store) == versions[1]
