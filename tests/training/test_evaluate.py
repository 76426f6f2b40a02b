"""`relatedly evaluate` on a synthetic labelled corpus, and the metric functions on hand-computed cases."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.evaluation import (
    duplicate_groups,
    evaluate_lists,
    label_matrix,
    near_duplicate_rate,
    relevance,
    relevant_counts,
)
from training.cli import main

RANKERS = ("relatedly", "relatedly-unfiltered", "random", "recent", "tfidf-plain", "bm25")
METRICS = {
    "precision_at_k", "ndcg_at_k", "coverage", "catalogue_coverage", "catalogue_coverage_distinct", "hub_max",
    "hub_p99", "near_duplicate_rate", "precision_curve",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TOPICS = {
    "volcanoes": "volcano lava magma eruption crater ash caldera basalt pyroclastic fumarole seismic vent",
    "football": "football striker goalkeeper league penalty midfielder stadium referee transfer tournament goal coach",
    "baking": "bakery sourdough flour oven yeast dough loaf pastry croissant knead crust baguette",
    "genetics": "genome dna gene mutation chromosome sequencing protein enzyme heredity allele crispr rna",
}
COMMON = ["report", "today", "said", "new", "week", "people", "year", "local", "first", "according"]


def write_corpus(path: Path, *, per_topic: int = 15, labels: bool = True, seed: int = 7) -> Path:
    """`per_topic` articles in each of 4 topics with disjoint vocabularies, a `labels` list and dates."""
    rng = np.random.default_rng(seed)
    rows = []
    for t, (topic, words) in enumerate(TOPICS.items()):
        vocab = words.split()
        for i in range(per_topic):
            picked = rng.choice(vocab, size=8, replace=False)
            filler = rng.choice(COMMON, size=4, replace=False)
            row = {
                "id": f"{topic}-{i:02d}",
                "title": " ".join(picked[:3]).capitalize(),
                "body": " ".join([*picked, *filler]) + ".",
                "category": topic,
                "published_at": (date(2024, 1, 1) + timedelta(days=int(rng.integers(0, 365)) + t)).isoformat(),
            }
            if labels:
                row["labels"] = [topic]
            rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def evaluate(corpus: Path, *extra: str) -> int:
    return main(["evaluate", "--corpus", str(corpus), *extra])


def test_evaluate_prints_the_table_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "articles.jsonl")
    report_dir = tmp_path / "report"

    assert evaluate(corpus, "--report", str(report_dir)) == 0

    out = capsys.readouterr().out
    table = out[out.index(f"{corpus}: 60 articles, 60 queries, labels=labels"):].splitlines()
    assert [line.split()[0] for line in table[2 : 2 + len(RANKERS)]] == list(RANKERS)
    report = json.loads((report_dir / "evaluation.json").read_text(encoding="utf-8"))
    assert (report["n_articles"], report["n_queries"], report["k"], report["label_field"]) == (60, 60, 10, "labels")
    assert list(report["rankers"]) == list(RANKERS)
    for name, metrics in report["rankers"].items():
        assert set(metrics) == METRICS, name
        assert len(metrics["precision_curve"]) == 20, name
        assert all(0.0 <= p <= 1.0 for p in metrics["precision_curve"]), name
        assert metrics["precision_curve"][9] == pytest.approx(metrics["precision_at_k"], abs=1e-3), name
        assert 0.0 <= metrics["catalogue_coverage"] <= 1.0 and metrics["hub_max"] >= metrics["hub_p99"], name
    png = report_dir / "precision_at_k.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert f"wrote {png}" in out


def test_the_model_beats_random_by_a_wide_margin(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "articles.jsonl")
    assert evaluate(corpus, "--report", str(tmp_path)) == 0
    rankers = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))["rankers"]
    assert rankers["relatedly"]["ndcg_at_k"] >= 0.9
    assert rankers["relatedly"]["ndcg_at_k"] - rankers["random"]["ndcg_at_k"] >= 0.5
    assert rankers["random"]["precision_at_k"] < 0.45  # 14 of 59 others share a topic: chance is about 0.24
    assert rankers["relatedly"]["near_duplicate_rate"] == 0.0


def test_label_field_category(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "articles.jsonl", labels=False)
    assert evaluate(corpus, "--label-field", "category", "--report", str(tmp_path)) == 0
    report = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))
    assert (report["label_field"], report["n_queries"]) == ("category", 60)
    assert report["rankers"]["relatedly"]["ndcg_at_k"] >= 0.9


def test_a_corpus_smaller_than_k_is_evaluated(tmp_path: Path) -> None:
    """8 articles, k = 10: the reference rankers can only return 7 stories each; that is a short list, not a crash."""
    corpus = write_corpus(tmp_path / "articles.jsonl", per_topic=2)
    assert evaluate(corpus, "--report", str(tmp_path)) == 0
    report = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))
    assert list(report["rankers"]) == list(RANKERS)
    assert all(1 <= len(m["precision_curve"]) <= 20 for m in report["rankers"].values())


def test_a_corpus_without_labels_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = write_corpus(tmp_path / "articles.jsonl", labels=False)
    assert evaluate(corpus, "--report", str(tmp_path / "report")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "labels" in err
    assert not (tmp_path / "report").exists()


def test_sample_evaluates_that_many_queries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = write_corpus(tmp_path / "articles.jsonl")
    assert evaluate(corpus, "--sample", "10", "--report", str(tmp_path)) == 0
    report = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))
    assert (report["n_articles"], report["n_queries"]) == (60, 10)
    assert "60 articles, 10 queries" in capsys.readouterr().out


# --- metric functions on a hand-computed case ------------------------------------------------------
#
# Five articles with labels a | a | b | a,b | c. Queries 0 (a) and 2 (b), k = 2:
#   query 0 → [1, 3]: both share "a"          → DCG = 1 + 1/log2(3); 2 relevant exist (1, 3) → nDCG 1
#   query 2 → [4, 3]: only 3 shares "b"       → DCG = 1/log2(3);     1 relevant exists (3)   → nDCG 1/log2(3)

LABELS = [["a"], ["a"], ["b"], ["a", "b"], ["c"]]
QUERIES = np.array([0, 2])
LISTS = np.array([[1, 3], [4, 3]])
# rows 3 and 4 are the same vector (cosine 1); 1 and 3 have cosine 0.8
VECTORS = sp.csr_matrix(
    np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.6, 0.8, 0], [0.6, 0.8, 0]], dtype=np.float32)
)


def test_relevance_and_relevant_counts() -> None:
    labels = label_matrix(LABELS)
    assert relevance(labels, QUERIES, LISTS).tolist() == [[True, True], [False, True]]
    assert relevant_counts(labels, QUERIES).tolist() == [2, 1]
    padded = np.array([[1, -1], [-1, 3]])
    assert relevance(labels, QUERIES, padded).tolist() == [[True, False], [False, True]]


def test_evaluate_lists_on_a_hand_computed_case() -> None:
    m = evaluate_lists(LISTS, None, QUERIES, label_matrix(LABELS), VECTORS, k=2)
    assert m.precision_at_k == pytest.approx((2 / 2 + 1 / 2) / 2)
    assert m.precision_curve == pytest.approx([1 / 2, 3 / 4])
    assert m.ndcg_at_k == pytest.approx((1.0 + 1 / math.log2(3)) / 2)
    assert m.catalogue_coverage == pytest.approx(3 / 5)  # 1, 3 and 4 are recommended somewhere
    assert m.hub_max == 2  # article 3 is in both lists
    assert m.hub_p99 == pytest.approx(1.96)  # in-degrees 0, 0, 1, 1, 2: 99th percentile between 1 and 2
    assert m.coverage == 1.0
    assert m.near_duplicate_rate == 0.5  # [4, 3] holds two identical vectors, [1, 3] does not


def test_ndcg_divides_by_the_ideal_dcg() -> None:
    # query 0 with its two relevant articles in the second and third places of a list of three
    m = evaluate_lists(np.array([[4, 1, 3]]), None, np.array([0]), label_matrix(LABELS), VECTORS, k=3)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert m.ndcg_at_k == pytest.approx(dcg / idcg)
    assert m.precision_at_k == pytest.approx(2 / 3)


def test_coverage_counts_full_lists_above_the_score_floor() -> None:
    labels = label_matrix(LABELS)
    short = evaluate_lists(np.array([[1, -1], [4, 3]]), None, QUERIES, labels, VECTORS, k=2)
    assert short.coverage == 0.5
    assert short.catalogue_coverage == pytest.approx(3 / 5)
    scores = np.array([[0.5, 0.05], [0.3, 0.2]], dtype=np.float32)
    weak = evaluate_lists(LISTS, scores, QUERIES, labels, VECTORS, k=2, min_score=0.1)
    assert weak.coverage == 0.5


def test_near_duplicate_rate() -> None:
    assert near_duplicate_rate(np.array([[4, 3], [1, 3], [0, 2]]), VECTORS) == pytest.approx(1 / 3)
    assert near_duplicate_rate(np.array([[1, 3]]), VECTORS, threshold=0.8) == 1.0
    assert near_duplicate_rate(np.array([[3, -1]]), VECTORS) == 0.0  # a lone item is no duplicate
    assert near_duplicate_rate(np.empty((0, 2), dtype=np.int64), VECTORS) == 0.0


def test_distinct_catalogue_coverage_counts_a_duplicate_group_once() -> None:
    """Articles 3 and 4 are copies (group 3): showing one of them covers the story."""
    groups = np.array([0, 1, 2, 3, 3])
    lists = np.array([[1, 3], [3, 1]])
    m = evaluate_lists(lists, None, QUERIES, label_matrix(LABELS), VECTORS, k=2, story_groups=groups)
    assert m.catalogue_coverage == pytest.approx(2 / 5)
    assert m.catalogue_coverage_distinct == pytest.approx(2 / 4)


def test_duplicate_groups_link_articles_above_the_threshold() -> None:
    indices = np.array([[1, 2], [0, 2], [0, 1], [-1, -1]])
    scores = np.array([[0.95, 0.2], [0.95, 0.1], [0.2, 0.1], [0.0, 0.0]])
    groups = duplicate_groups(indices, scores, threshold=0.9)
    assert groups[0] == groups[1] and len({groups[0], groups[2], groups[3]}) == 3


def test_rules_add_a_row_measured_in_the_same_run(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    assert evaluate(corpus, "--report", str(tmp_path / "r"), "--rules", "diversity=0.5", "max_age_days=60") == 0
    rankers = json.loads((tmp_path / "r" / "evaluation.json").read_text())["rankers"]
    ruled = rankers["relatedly+diversity=0.5,max_age_days=60.0"]
    # a 60-day window around each article leaves fewer candidates than the unrestricted list
    assert ruled["coverage"] < rankers["relatedly"]["coverage"]


@pytest.mark.parametrize("rule", ["colour=red", "half_life_days=soon", "diversity"])
def test_malformed_rules_are_usage_errors(tmp_path: Path, rule: str) -> None:
    with pytest.raises(SystemExit) as exited:
        evaluate(write_corpus(tmp_path / "corpus.jsonl"), "--rules", rule)
    assert exited.value.code == 2


def test_out_of_range_rules_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate(write_corpus(tmp_path / "corpus.jsonl"), "--rules", "diversity=5") == 2
    assert "diversity must be between 0 and 1" in capsys.readouterr().err
