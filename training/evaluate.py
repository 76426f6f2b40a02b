"""`relatedly evaluate`: relevance of the model against reference rankers, side by side in one run.

Every ranker answers the same queries on the same corpus; the metrics (see `recommender.evaluation`)
are printed as a table and written to `--report DIR` as `evaluation.json` and `precision_at_k.png`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recommender import artifacts
from recommender.baselines import bm25_neighbors, random_lists, recent_lists, tfidf_plain_neighbors
from recommender.corpus import Article, CorpusPaths, load_corpus
from recommender.errors import CorpusError
from recommender.evaluation import RankerMetrics, duplicate_groups, evaluate_lists, label_matrix
from recommender.model import RelatedModel
from recommender.neighbors import ProgressCallback
from recommender.ranking import DEFAULT_DUPLICATE_THRESHOLD, RankingOptions
from recommender.sources import ReaderOptions
from recommender.sources.html import BodyFormat
from recommender.vectorize import VectorizerParams

log = logging.getLogger("relatedly.evaluate")

CURVE_K = 20


@dataclass
class EvaluationReport:
    """Metrics per ranker for one corpus, with what was evaluated."""

    corpus: str
    n_articles: int
    n_queries: int
    k: int
    label_field: str
    model_version: str | None
    rankers: dict[str, RankerMetrics] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "corpus": self.corpus,
            "n_articles": self.n_articles,
            "n_queries": self.n_queries,
            "k": self.k,
            "label_field": self.label_field,
            "model_version": self.model_version,
            "rankers": {name: m.as_dict() for name, m in self.rankers.items()},
            "seconds": {name: round(s, 2) for name, s in self.seconds.items()},
        }


def labels_of(article: Article, label_field: str) -> list[str]:
    """An article's labels: a list field, a comma-separated string, or `category` / `tags`."""
    if label_field == "category":
        return [article.category] if article.category else []
    if label_field == "tags":
        return list(article.tags)
    value = article.extra.get(label_field)
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def evaluate_corpus(
    corpus_path: CorpusPaths,
    *,
    label_field: str = "labels",
    k: int = 10,
    sample: int | None = None,
    max_articles: int | None = None,
    seed: int = 0,
    models_dir: str | Path | None = None,
    model_version: str | None = None,
    rules: dict[str, object] | None = None,
    progress_factory: Callable[[str], ProgressCallback] | None = None,
    body_format: BodyFormat = "auto",
    reader_options: ReaderOptions | None = None,
    params: VectorizerParams | None = None,
) -> EvaluationReport:
    """Fit (or load) the model and the reference rankers on a corpus and measure them all."""
    corpus = load_corpus(corpus_path, skip_invalid=True, body_format=body_format, options=reader_options)
    articles, corpus_path = corpus.articles, corpus.path
    rng = np.random.default_rng(seed)
    if max_articles and len(articles) > max_articles:
        labelled = [a for a in articles if labels_of(a, label_field)]
        keep = rng.choice(len(labelled), size=min(max_articles, len(labelled)), replace=False)
        articles = [labelled[i] for i in sorted(keep)]
    labels = [labels_of(a, label_field) for a in articles]
    eligible = np.array([i for i, lab in enumerate(labels) if lab], dtype=np.int64)
    if len(eligible) == 0:
        raise CorpusError([], f"{corpus_path}: no article has labels in field {label_field!r}")
    queries = np.sort(rng.choice(eligible, size=sample, replace=False)) if sample and sample < len(eligible) \
        else eligible
    width = max(k, CURVE_K)
    progress = progress_factory or (lambda stage: None)

    started = time.perf_counter()
    if model_version:
        model, _ = artifacts.load_version(models_dir or ".", model_version)
        if [model.catalog_.id_at(i) for i in range(model.n_articles)] != [a.id for a in articles]:
            raise CorpusError([], f"model {model_version} was not trained on {corpus_path}")
    else:
        model = RelatedModel(top_k=max(width, 50), params=params).fit(articles, progress=progress("model"))
    report = EvaluationReport(str(corpus_path), len(articles), len(queries), k, label_field, model_version)
    report.seconds["relatedly (fit)"] = time.perf_counter() - started
    matrix = label_matrix(labels)
    vectors = model.vectors_.tfidf
    groups = duplicate_groups(model.neighbors_.indices, model.neighbors_.scores, DEFAULT_DUPLICATE_THRESHOLD)

    def record(name: str, lists: np.ndarray, scores: np.ndarray | None, min_score: float = 0.0) -> None:
        report.rankers[name] = evaluate_lists(
            lists, scores, queries, matrix, vectors, k=k, min_score=min_score, story_groups=groups
        )
        log.info("ranker_evaluated name=%s ndcg@%d=%.4f", name, k, report.rankers[name].ndcg_at_k)

    variants = [
        ("relatedly", RankingOptions(limit=width)),
        ("relatedly-unfiltered", RankingOptions(limit=width, min_score=0.0, duplicate_threshold=None)),
    ]
    if rules:
        label = ",".join(f"{key}={value}" for key, value in rules.items())
        variants.append((f"relatedly+{label}", RankingOptions(limit=width, **rules)))
    for name, options in variants:
        started = time.perf_counter()
        lists, scores = _model_lists(model, queries, options, progress(name))
        report.seconds[name] = time.perf_counter() - started
        record(name, lists, scores, options.min_score)

    n = len(articles)
    record("random", random_lists(n, queries, width, seed), None)
    record("recent", recent_lists(articles, queries, width), None)
    for name, build in (("tfidf-plain", tfidf_plain_neighbors), ("bm25", bm25_neighbors)):
        started = time.perf_counter()
        table = build(articles, width, progress(name))
        report.seconds[name] = time.perf_counter() - started
        record(name, table.indices[queries].astype(np.int64), table.scores[queries])
    return report


def _model_lists(
    model: RelatedModel, queries: np.ndarray, options: RankingOptions, progress: ProgressCallback | None
) -> tuple[np.ndarray, np.ndarray]:
    lists = np.full((len(queries), options.limit), -1, dtype=np.int64)
    scores = np.zeros((len(queries), options.limit), dtype=np.float32)
    for row, q in enumerate(queries):
        items = model.related(model.catalog_.id_at(int(q)), options)
        lists[row, : len(items)] = [model.catalog_.index_of(i.article.id) for i in items]
        scores[row, : len(items)] = [i.score for i in items]
        if progress is not None and ((row + 1) % 500 == 0 or row + 1 == len(queries)):
            progress(row + 1, len(queries))
    return lists, scores


def format_table(report: EvaluationReport) -> str:
    """The terminal table: one line per ranker, ratios against tfidf-plain."""
    k = report.k
    base = report.rankers.get("tfidf-plain")
    width = max(22, *(len(name) + 1 for name in report.rankers))
    lines = [
        f"{report.corpus}: {report.n_articles} articles, {report.n_queries} queries, labels={report.label_field}",
        f"{'ranker':<{width}}{'P@' + str(k):>8}{'nDCG@' + str(k):>9}{'vs plain':>9}{'cover':>7}{'catalog':>8}"
        f"{'distinct':>9}{'hub max':>8}{'hub p99':>8}{'dup':>7}",
    ]
    for name, m in report.rankers.items():
        ratio = m.ndcg_at_k / base.ndcg_at_k if base and base.ndcg_at_k else float("nan")
        lines.append(
            f"{name:<{width}}{m.precision_at_k:>8.3f}{m.ndcg_at_k:>9.3f}{ratio:>8.2f}x{m.coverage:>7.2f}"
            f"{m.catalogue_coverage:>8.2f}{m.catalogue_coverage_distinct:>9.2f}{m.hub_max:>8d}{m.hub_p99:>8.1f}{m.near_duplicate_rate:>7.3f}"
        )
    return "\n".join(lines)


def write_report(report: EvaluationReport, directory: str | Path) -> list[Path]:
    """`evaluation.json` and `precision_at_k.png` (one line per ranker, k = 1…20)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "evaluation.json"
    json_path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    figure, axes = plt.subplots(figsize=(8, 5))
    for name, metrics in report.rankers.items():
        curve = metrics.precision_curve
        axes.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3, label=name)
    title = f"precision@k — {Path(report.corpus).parent.name or report.corpus}"
    axes.set(xlabel="k", ylabel="precision@k", title=title, ylim=(0, 1), xticks=range(1, CURVE_K + 1))
    axes.grid(alpha=0.3)
    axes.legend()
    png_path = directory / "precision_at_k.png"
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return [json_path, png_path]
