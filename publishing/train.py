"""The build-check-publish pipeline behind `relatedly train`: load, validate, fit, save, switch, prune."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np

from recommender import artifacts
from recommender.corpus import CorpusPaths, describe_excluded, load_corpus
from recommender.errors import RelatedlyError
from recommender.heap import return_freed_memory
from recommender.model import RelatedModel
from recommender.neighbors import DEFAULT_CHUNK_BYTES, ProgressCallback
from recommender.sources import ReaderOptions
from recommender.sources.html import BodyFormat

log = logging.getLogger("relatedly.training")

DEFAULT_KEEP_VERSIONS = 5
DEFAULT_MEMORY_BUDGET_MB = DEFAULT_CHUNK_BYTES // 2**20  # the neighbour step's own default: 128 MB
PARALLEL_MIN_ARTICLES = 5000


@contextlib.contextmanager
def neighbour_backend(backend: str, scheduler: str | None) -> Iterator[None]:
    """Run joblib work locally, or on the Dask cluster at `scheduler` (needs `pip install relatedly[dask]`)."""
    if backend == "local":
        yield
        return
    if backend != "dask" or not scheduler:
        raise RelatedlyError("the dask backend needs --scheduler tcp://host:port")
    try:
        from distributed import Client
    except ImportError:
        raise RelatedlyError("the dask backend needs the 'distributed' package: pip install 'relatedly[dask]'") \
            from None
    with Client(scheduler, timeout="10s") as client, joblib.parallel_config(backend="dask"):
        log.info("dask_connected scheduler=%s workers=%d", scheduler, len(client.scheduler_info()["workers"]))
        yield


@dataclass(frozen=True)
class TrainSummary:
    """What a training run produced, for the CLI's summary and for tests."""

    version: str
    n_articles: int
    n_skipped: int
    vocabulary_size: int
    seconds: float
    pruned: list[str]
    stage_seconds: dict[str, float]  # load, count, rows, lsa, neighbours, check, publish: where the time went
    excluded: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    analysis: list[str] = field(default_factory=list)  # languages found, boilerplate left out

    def stages_text(self) -> str:
        """`load 1.2 s, count 3.4 s, …` for the CLI's summary."""
        return ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.stage_seconds.items())


def train_and_publish(
    corpus_path: CorpusPaths,
    models_dir: str | Path,
    *,
    top_k: int,
    skip_invalid: bool = False,
    keep_versions: int = DEFAULT_KEEP_VERSIONS,
    jobs: int = -1,
    memory_budget_mb: int = DEFAULT_MEMORY_BUDGET_MB,
    backend: str = "local",
    scheduler: str | None = None,
    progress_factory: Callable[[str], ProgressCallback] | None = None,
    body_format: BodyFormat = "auto",
    reader_options: ReaderOptions | None = None,
) -> TrainSummary:
    """Train on a corpus export and publish the model; the previous model serves until the switch.

    The neighbour step runs on `jobs` local processes (-1: all cores), or on a Dask cluster with
    `backend="dask"` and the scheduler's address; results are identical either way.
    """
    started = time.perf_counter()
    return_freed_memory()
    stages: dict[str, float] = {}
    corpus = load_corpus(corpus_path, skip_invalid=skip_invalid, body_format=body_format, options=reader_options,
                         jobs=jobs if backend == "local" else -1)
    stages["load"] = time.perf_counter() - started
    for problem in corpus.problems[:20]:
        log.warning("corpus_row_skipped %s", problem)
    if corpus.excluded:
        log.info("corpus_items_left_out %s", describe_excluded(corpus.excluded))
    for note in corpus.notes:
        log.warning("corpus_note %s", note)
    log.info(
        "corpus_loaded path=%s articles=%d skipped=%d sha256=%s seconds=%.2f",
        corpus.path, len(corpus.articles), corpus.skipped, corpus.sha256[:12], stages["load"],
    )
    if backend == "local" and len(corpus.articles) < PARALLEL_MIN_ARTICLES:
        jobs = 1  # a small corpus is fitted on one thread: its tasks are too small to share
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    with neighbour_backend(backend, scheduler):
        model = RelatedModel(top_k=top_k).fit(
            corpus.articles,
            n_jobs=jobs,
            memory_budget_bytes=memory_budget_mb * 2**20,
            progress=progress_factory("neighbours") if progress_factory else None,
            timings=stages,
            release_texts=True,  # the corpus's texts are not needed once counted: free them for the later stages
            spill_dir=models_dir,  # the LSA components wait for the publish on disk, not in memory
        )
    fit_seconds = time.perf_counter() - started
    log.info("model_fitted articles=%d vocabulary=%d seconds=%.2f %s", model.n_articles,
             model.vectorizer_.vocabulary_size, fit_seconds, _stage_pairs(stages))
    analysis = model.analysis_notes()
    for line in analysis:
        log.info("model_analysis %s", line)
    checked = time.perf_counter()
    _check_model(model)
    stages["check"] = time.perf_counter() - checked
    info = {
        "corpus": {
            "path": ", ".join(str(Path(p).resolve()) for p in corpus.paths),
            "sha256": corpus.sha256,
            "n_valid": len(corpus.articles),
            "n_skipped": corpus.skipped,
            "excluded": corpus.excluded,
        },
        "training_seconds": round(fit_seconds, 3),
        "stage_seconds": {stage: round(seconds, 3) for stage, seconds in stages.items()},
        "lineage": {"kind": "fit"},
        "drift": {"fit_articles": model.n_articles, "added_since_fit": 0, "unknown_term_share": 0.0,
                  "retrain_recommended": False},
        "takedowns": [],
    }
    publishing = time.perf_counter()
    with artifacts.publish_lock(models_dir):
        version = artifacts.save_version(model, models_dir, info=info)
        artifacts.publish(models_dir, version)
    stages["publish"] = time.perf_counter() - publishing
    log.info("model_published version=%s models_dir=%s seconds=%.2f", version, models_dir, stages["publish"])
    with artifacts.publish_lock(models_dir):
        pruned = artifacts.prune(models_dir, keep_versions)
    if pruned:
        log.info("versions_pruned removed=%s", ",".join(pruned))
    return TrainSummary(
        version=version,
        n_articles=model.n_articles,
        n_skipped=corpus.skipped,
        vocabulary_size=model.vectorizer_.vocabulary_size,
        seconds=time.perf_counter() - started,
        pruned=pruned,
        excluded=corpus.excluded,
        notes=corpus.notes,
        stage_seconds=stages,
        analysis=analysis,
    )


def _stage_pairs(stages: dict[str, float]) -> str:
    """`load_seconds=1.20 count_seconds=3.40 …` for a log line."""
    return " ".join(f"{stage}_seconds={seconds:.2f}" for stage, seconds in stages.items())


def _check_model(model: RelatedModel) -> None:
    """Refuse to publish a neighbour table that breaks the model's invariants."""
    table, n = model.neighbors_, model.n_articles
    rows = np.arange(n)[:, None]
    problems = []
    if table.indices.shape[0] != n or model.vectors_.tfidf.shape[0] != n:
        problems.append("parts disagree on the number of articles")
    elif (table.indices == rows).any():
        problems.append("an article is listed as related to itself")
    if not np.isfinite(table.scores).all() or (table.scores > 1.0 + 1e-4).any() or (table.scores < 0).any():
        problems.append("scores outside [0, 1]")
    elif (np.diff(table.scores, axis=1) > 1e-6).any():
        problems.append("a list is not ordered best first")
    if problems:
        raise RelatedlyError("model check failed: " + "; ".join(problems))
