"""Training benchmark: the whole `relatedly train` against scikit-learn and a sparse_dot_topn pipeline.

    pip install sparse_dot_topn          # for the benchmark only
    python benchmarks/train_bench.py [--sizes 30000 100000 300000] [--k 50] [--jobs 2]
                                     [--newsgroups ../shared/data/20newsgroups/articles.jsonl]
                                     [--baseline-max-articles 100000] [--keep DIR]
    python benchmarks/train_bench.py --neighbour-methods [--sizes 10000 100000]   # the all-pairs step alone

For each corpus (the real 20 Newsgroups, then seeded synthetic corpora with Zipfian vocabularies,
topics and 150–600 words per article), each of these runs in a process of its own, so its wall time
and peak memory are its own:
  relatedly train        the whole job (load, count, rows, LSA, neighbours, check, publish) with its stage
                         times, on `--jobs` workers; "vectorise" is its count + rows stages
  (a) sklearn bigrams    TfidfVectorizer(ngram_range=(1, 2), stop_words="english", min_df=2, max_df=0.5,
                         sublinear_tf=True).fit_transform on the same whole texts, alone (texts already read)
  (b) unigrams + topn    reading the corpus, TfidfVectorizer(stop_words="english", sublinear_tf=True)
                         .fit_transform and sp_matmul_topn(X, X.T, top_n=K + 1, n_threads=2): a plain
                         related-articles pipeline
Peak memory is the summed PSS of the process and its workers; CPU is the user + system time of the
process and its workers (less sensitive than wall time to other load on a shared machine). The
baselines are skipped above `--baseline-max-articles` (scikit-learn's bigram fit needs ~1.6 GB per
30k articles). Ratios are within the same run: vectorise vs (a), and relatedly train vs (b).

`--neighbour-methods` times the all-pairs step alone on the stored vectors instead:
  relatedly            Relatedly's exact chunked top-K on the TF-IDF cosine (`--jobs` workers)
  relatedly-blend      the same on the product's TF-IDF + LSA blend (what `relatedly train` computes)
  sparse_dot_topn      sp_matmul_topn(X, X.T, top_n=K + 1, n_threads=2), self removed afterwards
  naive-dense          cosine_similarity(X) then argsort (only where N² float64 fits in memory)
with recall@K against `relatedly` (same TF-IDF cosine) on every row.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NEWSGROUPS = ROOT.parent / "shared" / "data" / "20newsgroups" / "articles.jsonl"
METHODS = ("relatedly", "relatedly-blend", "sparse_dot_topn", "naive-dense")
TRAIN_METHODS = ("relatedly train", "sklearn-bigram", "unigram-topn")
NAIVE_MAX_ROWS = 35_000  # float64 N×N similarities plus argsort indices must fit in 24 GB


def synthetic_corpus(n: int, seed: int = 0, vocabulary: int = 60_000, topics: int = 200) -> Iterator[dict]:
    """Articles whose words follow a Zipfian background plus a Zipfian topic vocabulary each."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i:05d}" for i in range(vocabulary)])
    ranks = np.arange(1, vocabulary + 1)
    background = 1.0 / ranks**1.07
    background /= background.sum()
    topic_words = [rng.choice(vocabulary, size=400, replace=False) for _ in range(topics)]
    topic_weights = 1.0 / np.arange(1, 401) ** 0.9
    topic_weights /= topic_weights.sum()
    for i in range(n):
        topic = int(rng.integers(topics))
        length = int(rng.integers(150, 601))
        own = int(length * rng.uniform(0.25, 0.5))
        tokens = np.concatenate((
            rng.choice(vocabulary, size=length - own, p=background),
            topic_words[topic][rng.choice(400, size=own, p=topic_weights)],
        ))
        rng.shuffle(tokens)
        text = words[tokens]
        yield {"id": f"syn-{i}", "title": " ".join(text[:8]), "body": " ".join(text[8:]),
               "labels": [f"t{topic}"], "published_at": f"2025-{1 + i % 12:02d}-01"}


class PeakMemory:
    """Samples the proportional set size (PSS) of this process and all its descendants (joblib workers)."""

    def __init__(self, interval_seconds: float = 0.05) -> None:
        self.peak_bytes = 0
        self.samples: list[tuple[float, int]] = []  # (perf_counter, bytes), for the peak of each stage
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval_seconds,), daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self, interval: float) -> None:
        tree: list[int] = []
        for tick in itertools.count():
            if self._stop.is_set():
                break
            if tick % 20 == 0:  # walking /proc holds the GIL: find the workers once a second, not every sample
                tree = _process_tree(os.getpid())
            now = sum(_pss_bytes(pid) for pid in tree)
            self.samples.append((time.perf_counter(), now))
            self.peak_bytes = max(self.peak_bytes, now)
            self._stop.wait(interval)

    def stage_peaks_mb(self, started: float, stages: dict[str, float]) -> dict[str, float]:
        """The peak of each stage, the stages taken as consecutive from `started` in their order."""
        peaks, end = {}, started
        for stage, seconds in stages.items():
            begin, end = end, end + seconds
            inside = [size for at, size in self.samples if begin <= at < end]
            peaks[stage] = max(inside, default=0) / 2**20
        return peaks


def _process_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree.extend(frontier)
    return tree


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def run_method(method: str, data_dir: Path, k: int, jobs: int) -> dict:
    """Child process: time one method on the stored matrices, save its lists, report peak memory."""
    with PeakMemory() as memory:
        result = _timed_method(method, data_dir, k, jobs)
    return {**result, "peak_rss_mb": memory.peak_bytes / 2**20}


def _timed_method(method: str, data_dir: Path, k: int, jobs: int) -> dict:
    tfidf = sp.load_npz(data_dir / "tfidf.npz").tocsr()
    started = time.perf_counter()
    if method in ("relatedly", "relatedly-blend"):
        from recommender.neighbors import top_k_neighbors
        from recommender.similarity import SimilaritySpace

        lsa = np.load(data_dir / "lsa.npy") if method == "relatedly-blend" else None
        space = SimilaritySpace(tfidf, lsa, 0.3 if lsa is not None else 0.0)
        indices = top_k_neighbors(space, k, n_jobs=jobs).indices
    elif method == "sparse_dot_topn":
        from sparse_dot_topn import sp_matmul_topn

        product = sp_matmul_topn(tfidf, tfidf.T.tocsr(), top_n=k + 1, n_threads=2, sort=True)
        indices = _drop_self(product, k)
    else:
        from sklearn.metrics.pairwise import cosine_similarity

        similarities = cosine_similarity(tfidf)
        np.fill_diagonal(similarities, -np.inf)
        indices = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
    seconds = time.perf_counter() - started
    np.save(data_dir / f"{method}.npy", indices)
    return {"seconds": seconds}


def _drop_self(product: sp.csr_matrix, k: int) -> np.ndarray:
    indices = np.full((product.shape[0], k), -1, dtype=np.int64)
    for row in range(product.shape[0]):
        cols = product.indices[product.indptr[row] : product.indptr[row + 1]]
        cols = cols[cols != row][:k]
        indices[row, : len(cols)] = cols
    return indices


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-K neighbours (positive scores only) that a method also returned."""
    hits = total = 0
    for got, want in zip(found, exact, strict=True):
        want = set(want[want >= 0].tolist())
        hits += len(want & set(got[got >= 0].tolist()))
        total += len(want)
    return hits / max(total, 1)


def bench_corpus(name: str, articles: list[dict], args: argparse.Namespace, work: Path) -> list[dict]:
    from recommender.corpus import parse_article
    from recommender.vectorize import ArticleVectorizer

    data_dir = work / name
    data_dir.mkdir()
    started = time.perf_counter()
    vectors = ArticleVectorizer().fit_transform([parse_article(a) for a in articles])
    vectorize_seconds = time.perf_counter() - started
    sp.save_npz(data_dir / "tfidf.npz", vectors.tfidf, compressed=False)
    np.save(data_dir / "lsa.npy", vectors.lsa)
    rows = [{"corpus": name, "n": len(articles), "method": "vectorize (TF-IDF + LSA)", "seconds": vectorize_seconds,
             "nnz_per_row": vectors.tfidf.nnz / len(articles)}]
    for method in args.methods:
        if method == "naive-dense" and len(articles) > NAIVE_MAX_ROWS:
            rows.append({"corpus": name, "n": len(articles), "method": method, "skipped": "N² does not fit"})
            continue
        child = subprocess.run(
            [sys.executable, __file__, "--child", method, str(data_dir), str(args.k), str(args.jobs)],
            capture_output=True, text=True,
        )
        if child.returncode != 0:
            rows.append({"corpus": name, "n": len(articles), "method": method, "skipped": child.stderr[-200:]})
            continue
        rows.append({"corpus": name, "n": len(articles), "method": method, **json.loads(child.stdout)})
    if not (data_dir / "relatedly.npy").exists():
        print_rows(rows)
        return rows
    exact = np.load(data_dir / "relatedly.npy")
    for row in rows:
        path = data_dir / f"{row['method']}.npy"
        if row["method"] in METHODS and path.exists() and row["method"] != "relatedly-blend":
            row["recall"] = recall(np.load(path), exact)
    print_rows(rows)
    return rows


def print_rows(rows: list[dict]) -> None:
    reference = next((r for r in rows if r["method"] == "sparse_dot_topn" and "seconds" in r), None)
    for r in rows:
        if "skipped" in r:
            print(f"{r['corpus']:<14}{r['n']:>8}  {r['method']:<26} skipped: {r['skipped']}")
            continue
        ratio = f"{reference['seconds'] / r['seconds']:>6.2f}x" if reference and r["method"] in METHODS else "       "
        rss = f"{r['peak_rss_mb']:>8.0f} MB" if "peak_rss_mb" in r else " " * 11
        rec = f"recall {r['recall']:.4f}" if "recall" in r else ""
        extra = f"nnz/row {r['nnz_per_row']:.0f}" if "nnz_per_row" in r else ""
        print(f"{r['corpus']:<14}{r['n']:>8}  {r['method']:<26}{r['seconds']:>8.1f} s {ratio}{rss}  {rec}{extra}",
              flush=True)


def run_train_method(method: str, corpus: Path, k: int, jobs: int, models_dir: Path) -> dict:
    """Child process: one whole pipeline on the corpus file, its time (and stages) and peak memory."""
    with PeakMemory() as memory:
        result = _timed_train_method(method, corpus, k, jobs, models_dir)
    if "stages" in result:
        result["stage_peak_mb"] = memory.stage_peaks_mb(result.pop("started"), result["stages"])
    return {**result, "peak_rss_mb": memory.peak_bytes / 2**20}


def _timed_train_method(method: str, corpus: Path, k: int, jobs: int, models_dir: Path) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from recommender.corpus import load_corpus

    if method == "relatedly train":
        from publishing.train import train_and_publish

        started = time.perf_counter()
        summary = train_and_publish(corpus, models_dir, top_k=k, jobs=jobs)
        stages = summary.stage_seconds
        return {"seconds": time.perf_counter() - started, "stages": stages, "started": started,
                "vectorise_seconds": stages["count"] + stages["rows"], "vocabulary": summary.vocabulary_size}
    started = time.perf_counter()
    articles = load_corpus(corpus).articles
    texts = ["\n".join((a.title, " ".join(a.tags), a.body)) for a in articles]
    if method == "sklearn-bigram":
        started = time.perf_counter()  # fit_transform alone
        matrix = TfidfVectorizer(ngram_range=(1, 2), stop_words="english", min_df=2, max_df=0.5,
                                 sublinear_tf=True).fit_transform(texts)
        return {"seconds": time.perf_counter() - started, "vocabulary": matrix.shape[1]}
    from sparse_dot_topn import sp_matmul_topn

    matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True, dtype=np.float32).fit_transform(texts)
    sp_matmul_topn(matrix, matrix.T.tocsr(), top_n=k + 1, n_threads=2, sort=True)
    return {"seconds": time.perf_counter() - started, "vocabulary": matrix.shape[1]}


def bench_train(name: str, corpus: Path, n: int, args: argparse.Namespace, models_dir: Path) -> list[dict]:
    """The whole train and the two baselines on one corpus file, each in its own process."""
    rows = []
    for method in TRAIN_METHODS:
        if method != "relatedly train" and n > args.baseline_max_articles:
            rows.append({"corpus": name, "n": n, "method": method, "skipped": "above --baseline-max-articles"})
            continue
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = subprocess.run(
            [sys.executable, __file__, "--train-child", method, str(corpus), str(args.k), str(args.jobs),
             str(models_dir)], capture_output=True, text=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if child.returncode != 0:
            rows.append({"corpus": name, "n": n, "method": method, "skipped": child.stderr.strip()[-300:]})
            continue
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime  # the process and its workers
        rows.append({"corpus": name, "n": n, "method": method, "cpu_seconds": cpu,
                     **json.loads(child.stdout.splitlines()[-1])})
    print_train_rows(rows)
    return rows


def print_train_rows(rows: list[dict]) -> None:
    by_method = {r["method"]: r for r in rows if "seconds" in r}
    ours = by_method.get("relatedly train")
    for r in rows:
        if "skipped" in r:
            print(f"{r['corpus']:<14}{r['n']:>8}  {r['method']:<22} skipped: {r['skipped']}", flush=True)
            continue
        ratio = ""
        if ours and r is not ours:
            mine = ours["vectorise_seconds"] if r["method"] == "sklearn-bigram" else ours["seconds"]
            what = "vectorise" if r["method"] == "sklearn-bigram" else "train"
            ratio = f"  {what} / this = {mine / r['seconds']:.2f}x"
            if r["method"] != "sklearn-bigram":
                ratio += f" (CPU {ours['cpu_seconds'] / r['cpu_seconds']:.2f}x)"
        peaks = r.get("stage_peak_mb", {})
        stages = ", ".join(f"{stage} {sec:.1f}" + (f" ({peaks[stage]:.0f} MB)" if stage in peaks else "")
                           for stage, sec in r.get("stages", {}).items())
        print(f"{r['corpus']:<14}{r['n']:>8}  {r['method']:<22}{r['seconds']:>8.1f} s (CPU {r['cpu_seconds']:>6.1f} s)"
              f" {r['peak_rss_mb']:>8.0f} MB"
              f"  vocabulary {r['vocabulary']}{ratio}" + (f"\n{'':<24}stages (s, peak): {stages}" if stages else ""),
              flush=True)


def write_corpus(articles: Iterable[dict], path: Path) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for article in articles:
            out.write(json.dumps(article) + "\n")
            n += 1
    return n


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        method, data_dir, k, jobs = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(run_method(method, data_dir, k, jobs)))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--train-child":
        method, corpus, k, jobs, models_dir = sys.argv[2], Path(sys.argv[3]), *map(int, sys.argv[4:6]), sys.argv[6]
        print(json.dumps(run_train_method(method, corpus, k, jobs, Path(models_dir))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30_000, 100_000, 300_000])
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--newsgroups", default=str(DEFAULT_NEWSGROUPS))
    parser.add_argument("--no-newsgroups", action="store_true")
    parser.add_argument("--baseline-max-articles", type=int, default=100_000)
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the largest synthetic corpus (full.jsonl) and its models dir here "
                             "(for benchmarks/update_bench.py)")
    parser.add_argument("--neighbour-methods", action="store_true", help="time the all-pairs step alone")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="with --neighbour-methods")
    args = parser.parse_args()
    print(f"K = {args.k}, Relatedly with {args.jobs} workers, sparse_dot_topn with 2 threads", flush=True)
    with tempfile.TemporaryDirectory(prefix="relatedly-train-bench-") as tmp:
        work = Path(tmp)
        if args.neighbour_methods:
            neighbour_methods(args, work)
            return
        if Path(args.newsgroups).exists() and not args.no_newsgroups:
            with open(args.newsgroups, encoding="utf-8") as lines:
                n = sum(1 for line in lines if line.strip())
            bench_train("20newsgroups", Path(args.newsgroups), n, args, work / "models-20newsgroups")
        for size in args.sizes:
            keep = Path(args.keep) if args.keep and size == max(args.sizes) else work / f"synthetic-{size}"
            keep.mkdir(parents=True, exist_ok=True)
            corpus = keep / "full.jsonl"
            n = write_corpus(synthetic_corpus(size), corpus)
            bench_train(f"synthetic-{size // 1000}k", corpus, n, args, keep / "models")


def neighbour_methods(args: argparse.Namespace, work: Path) -> None:
    """The all-pairs step alone, per method, on Relatedly's vectors of each corpus."""
    if Path(args.newsgroups).exists() and not args.no_newsgroups:
        with open(args.newsgroups, encoding="utf-8") as lines:
            newsgroups = [json.loads(line) for line in lines if line.strip()]
        bench_corpus("20newsgroups", newsgroups, args, work)
    for size in args.sizes:
        bench_corpus(f"synthetic-{size // 1000}k", list(synthetic_corpus(size)), args, work)


if __name__ == "__main__":
    main()
