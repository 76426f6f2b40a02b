"""Learning benchmark: simulated readers against a live service, `relatedly learn`, and the cost of a learn run.

    flock /work/coord/cpu.lock python benchmarks/learning_bench.py [--views 100000] [--seed 0]
    flock /work/coord/cpu.lock python benchmarks/learning_bench.py --cost-articles 100000 --cost-events 10000000

Simulation (the default): the sample corpus is trained into a temporary directory and served by
`relatedly serve` on a free loopback port. Every (article, story) pair of each article's candidate pool
(the model's top 20) gets a known true attractiveness α (lognormal around a level that falls with the
model's rank, so the model is right on average and wrong per pair), and a few articles get a *standout*:
the story at model position 8 is made 3× as attractive as the best of their top 3. Readers view lists
of uniformly drawn articles; each view GETs nothing (the served lists are fetched once per learn round
over HTTP) but POSTs its impression to `/v1/events` in today's widget format, then a click on position
k with probability θ_k · α, θ_k = k^-0.8 (the known examination curve). `relatedly learn --once` runs
every `--learn-every` views (more often at first). Reported, against the model-only lists in the same run:
  - CTR lift: expected clicks per view of the lists served at that point vs the model's lists (α and θ
    known, so no sampling noise), and the realised CTR of the views so far;
  - Kendall's tau between each list (learned where evidence changed it) and its stories' true order,
    with the debiasing (what the service serves) and without it (the same events and code with every
    position examined alike), and the model's own lists for reference;
  - the examination curve fitted from the events, and Kendall's tau of the evidence alone (no model score)
    against the true order, debiased and raw, over stories with 200+ impressions;
  - stories with under 20 impressions that moved up, and by how much at most;
  - views of a standout's article until the standout was in its top 3.

Cost (`--cost-articles N`): trains a synthetic corpus of N articles (or reuses the one in `--keep DIR`
with `--reuse-model`), writes `--cost-events` event rows straight into a fresh SQLite database
(impressions of uniformly drawn articles' model lists of 10, clicks with the examination curve above
and a fixed attractiveness per pair, so lists change), then times `relatedly learn --once` in a
process of its own: wall time and peak RSS (the targets: 60 s and 1 GB at 100k articles and 10M events).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.train_bench import synthetic_corpus, write_corpus  # noqa: E402
from publishing.learned import learn_lists, pool_size, read_learned, weigh_evidence  # noqa: E402
from recommender import artifacts  # noqa: E402
from recommender.default_lists import article_lists  # noqa: E402
from recommender.reader_evidence import ClickTable, LearningOptions, examination_curve, pair_evidence  # noqa: E402
from storage import Database, default_database_url  # noqa: E402
from storage.events import EventRow, append_events, pair_position_counts  # noqa: E402
from tests.conftest import free_port  # noqa: E402

RELATEDLY = str(Path(sys.executable).parent / "relatedly")
SAMPLE = ROOT / "data" / "sample" / "articles.jsonl"
LIMIT = 10
CHECKPOINTS = (1_000, 10_000, 100_000)


def examination(position: int) -> float:
    return position ** -0.8


class Service:
    """`relatedly serve` on a free loopback port, with one keep-alive connection."""

    def __init__(self, models_dir: Path, log: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_HOST": "127.0.0.1",
               "PORT": str(self.port), "RELATEDLY_EVENTS_PER_MINUTE": "0", "RELATEDLY_LOG_LEVEL": "WARNING",
               "WEB_CONCURRENCY": "1"}
        self.process = subprocess.Popen([RELATEDLY, "serve"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.get("/readyz")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"relatedly serve did not start; see {log}") from None
                time.sleep(0.2)

    def get(self, path: str) -> dict:
        status, body = self._request("GET", path)
        if status != 200:
            raise OSError(f"GET {path}: {status}")
        return json.loads(body)

    def post_event(self, event: dict) -> None:
        status, _ = self._request("POST", "/v1/events", json.dumps(event))
        if status != 204:
            raise SystemExit(f"POST /v1/events: {status}")

    def _request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        """One request on the kept-alive connection, again on a new one if the server closed it while idle."""
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers={"Content-Type": "text/plain"})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def simulate(args: argparse.Namespace, work: Path) -> dict:
    models_dir = work / "models"
    if models_dir.exists():  # a --keep directory of an earlier run: start again from no events
        shutil.rmtree(models_dir)
        Path(default_database_url(models_dir).removeprefix("sqlite:///")).unlink(missing_ok=True)
    subprocess.run([RELATEDLY, "train", "--corpus", str(SAMPLE), "--models-dir", str(models_dir)], check=True,
                   stdout=subprocess.DEVNULL)
    version = artifacts.read_current(models_dir)
    model, _ = artifacts.load_version(models_dir, version)
    pools = {a: ids for a, ids, _ in article_lists(model, None, pool_size(LIMIT, model.top_k)).all_lists()}
    model_lists = {a: ids[:LIMIT] for a, ids in pools.items() if len(ids) >= LIMIT}
    articles = sorted(model_lists)
    rng = np.random.default_rng(args.seed)
    truth: dict[tuple[str, str], float] = {}
    for a in articles:
        for rank, story in enumerate(pools[a]):
            truth[(a, story)] = float(min(0.95, 0.12 * (1.0 - rank / 40) * rng.lognormal(0.0, 0.5)))
    standouts = {}
    for a in rng.choice(articles, size=min(20, len(articles)), replace=False).tolist():
        story = pools[a][7]
        truth[(a, story)] = min(0.95, 3 * max(truth[(a, s)] for s in pools[a][:3]))
        standouts[a] = story

    def expected_clicks(lists: dict[str, list[str]]) -> float:
        """Expected clicks per view of a uniformly drawn article's list."""
        return float(np.mean([sum(examination(k) * truth[(a, s)] for k, s in enumerate(lists[a], start=1))
                              for a in articles]))

    model_ctr = expected_clicks(model_lists)
    service = Service(models_dir, work / "serve.log")
    picker = random.Random(args.seed)
    served = dict(model_lists)
    article_views = dict.fromkeys(articles, 0)
    reached: dict[str, int] = {}
    clicks = 0
    learn_at = sorted({*range(500, 10_000, 500), *range(10_000, args.views + 1, args.learn_every)})
    rows: list[dict] = []
    options = LearningOptions()
    started = time.perf_counter()
    learn_seconds: list[float] = []
    try:
        for view in range(1, args.views + 1):
            a = articles[picker.randrange(len(articles))]
            article_views[a] += 1
            ids = served[a]
            list_id = f"v{view}"
            service.post_event({"type": "impression", "list_id": list_id, "article_id": a, "model_version": version,
                                "items": ids})
            for k, story in enumerate(ids, start=1):
                if picker.random() < examination(k) * truth[(a, story)]:
                    clicks += 1
                    service.post_event({"type": "click", "list_id": list_id, "article_id": a,
                                        "model_version": version, "target": story, "position": k})
            if view in learn_at:
                time.sleep(0.2)  # the service's writer flushes every 50 ms
                begun = time.perf_counter()
                subprocess.run([RELATEDLY, "learn", "--once", "--models-dir", str(models_dir)], check=True,
                               stdout=subprocess.DEVNULL)
                learn_seconds.append(time.perf_counter() - begun)
                time.sleep(1.5)  # the service's poller: every second
                served = {x: [s["id"] for s in service.get(f"/v1/articles/{x}/related")["related"]]
                          for x in articles}
                for x, story in standouts.items():
                    if x not in reached and story in served[x][:3]:
                        reached[x] = article_views[x]
            if view in CHECKPOINTS or view == args.views:
                rows.append(checkpoint(view, models_dir, version, model, pools, served, model_lists, truth, articles,
                                       options, expected_clicks(served) / model_ctr - 1, clicks, standouts, reached,
                                       article_views))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        service.stop()
    return {"model_expected_ctr_per_view": round(model_ctr, 4), "checkpoints": rows,
            "simulation_seconds": round(time.perf_counter() - started, 1),
            "learn_run_seconds_median": round(float(np.median(learn_seconds)), 2) if learn_seconds else None}


def checkpoint(view: int, models_dir: Path, version: str, model, pools: dict, served: dict, model_lists: dict,
               truth: dict, articles: list[str], options: LearningOptions, lift: float, clicks: int,
               standouts: dict, reached: dict, article_views: dict) -> dict:
    """The figures after `view` list views."""
    database = Database.from_url(default_database_url(models_dir))
    table = ClickTable.from_rows(pair_position_counts(database, datetime.now(UTC) - timedelta(days=1)))
    database.dispose()
    candidate_pools = article_lists(model, None, pool_size(LIMIT, model.top_k))
    shown = dict(zip(table.pairs, np.bincount(table.pair, table.impressions, len(table.pairs)), strict=True))
    taus: dict[str, list[float]] = {"debiased": [], "raw_ctr": [], "model": []}
    rises = []
    for name, debias in (("debiased", True), ("raw_ctr", False)):
        learned = learn_lists(version, candidate_pools, *weigh_evidence(table, options, debias=debias), options,
                              LIMIT)
        for a in articles:  # every list: the learned order where evidence changed it, else the model's
            entry = learned.lists.get(a)
            order = list(entry.order[:LIMIT]) if entry is not None else model_lists[a]
            taus[name].append(_tau(order, a, truth))
            if name == "debiased":
                taus["model"].append(_tau(model_lists[a], a, truth))
                if entry is not None:
                    rises += [pools[a].index(story) - slot for slot, story in enumerate(order)
                              if shown.get((a, story), 0) < 20]
    stored = read_learned(models_dir, version)
    curve = examination_curve(table)
    return {
        "examination_curve": [round(float(x), 3) for x in curve[:LIMIT]],
        "evidence_only_tau": {name: _evidence_tau(table, examination, options, articles, pools, truth)
                              for name, examination in (("debiased", curve), ("raw_ctr", np.ones(len(curve))))},
        "views": view,
        "lists_changed": len(stored.lists) if stored else 0,
        "ctr_lift_of_served_lists": round(lift, 4),
        "realised_clicks_per_view": round(clicks / view, 4),
        "mean_tau": {k: round(float(np.mean(v)), 3) if v else None for k, v in taus.items()},
        "under_20_impressions": {"stories": len(rises), "moved_up": sum(r > 0 for r in rises),
                                 "max_rise": max(rises, default=0)},
        "standouts_in_top3": f"{len(reached)}/{len(standouts)}",
        "standout_views_to_top3_max": max(reached.values(), default=None),
        "standout_article_views_median": int(np.median([article_views[a] for a in standouts])),
    }


def _evidence_tau(table: ClickTable, examination: np.ndarray, options: LearningOptions, articles: list[str],
                  pools: dict, truth: dict, min_impressions: int = 200) -> float | None:
    """Mean Kendall's tau between the evidence alone (posterior mean ratio, no model score) and the true order,
    over each article's stories with at least `min_impressions` impressions."""
    evidence = pair_evidence(table, examination, options)
    index = evidence.index()
    taus = []
    for a in articles:
        rows = [index[(a, s)] for s in pools[a] if (a, s) in index and evidence.impressions[index[(a, s)]]
                >= min_impressions]
        if len(rows) >= 3:
            stories = [evidence.pairs[i][1] for i in rows]
            taus.append(kendalltau(-evidence.mean[rows], [-truth[(a, s)] for s in stories]).statistic)
    return round(float(np.nanmean(taus)), 3) if taus else None


def _tau(order: list[str], article_id: str, truth: dict) -> float:
    """Kendall's tau between a list's order and its stories' true order (1: the same)."""
    value = kendalltau(np.arange(len(order)), [-truth[(article_id, s)] for s in order]).statistic
    return float(value) if np.isfinite(value) else 0.0


def cost(args: argparse.Namespace, work: Path) -> dict:
    """A learn run's wall time and peak memory at `--cost-articles` articles and `--cost-events` event rows."""
    corpus, models_dir = work / "corpus.jsonl", work / "models"
    train_seconds = None
    if not (args.reuse_model and artifacts.read_current(models_dir)):
        write_corpus(synthetic_corpus(args.cost_articles, seed=args.seed), corpus)
        begun = time.perf_counter()
        subprocess.run([RELATEDLY, "train", "--corpus", str(corpus), "--models-dir", str(models_dir), "--jobs", "2"],
                       check=True, stdout=subprocess.DEVNULL)
        train_seconds = round(time.perf_counter() - begun, 1)
    for stale in models_dir.parent.glob("relatedly.db*"):  # the events are this run's own
        stale.unlink()
    version = artifacts.read_current(models_dir)
    ids = artifacts.read_article_ids(models_dir, version)
    model, _ = artifacts.load_version(models_dir, version)
    lists = [(a, s) for a, s, _ in article_lists(model, None, LIMIT).all_lists() if s]
    del model
    database = Database.from_url(default_database_url(models_dir))
    database.upgrade()
    rng = np.random.default_rng(args.seed)
    now = datetime.now(UTC)
    written, batch = 0, []
    begun = time.perf_counter()
    while written < args.cost_events:
        a, stories = lists[int(rng.integers(len(lists)))]
        list_id = f"l{written}"
        batch += [EventRow(now, "impression", list_id, a, s, k, version) for k, s in enumerate(stories, start=1)]
        for k, story in enumerate(stories, start=1):  # examination k^-0.8, attractiveness fixed per pair
            attractiveness = 0.02 + 0.2 * (hash((a, story)) % 1000) / 1000
            if rng.random() < examination(k) * attractiveness:
                batch.append(EventRow(now, "click", list_id, a, story, k, version))
        if len(batch) >= 200_000:
            written += append_events(database, batch)
            batch = []
    written += append_events(database, batch)
    insert_seconds = time.perf_counter() - begun
    database.dispose()
    begun = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _PEAK_OF_CHILD, RELATEDLY, "learn", "--once", "--models-dir",
                             str(models_dir)], check=True, capture_output=True, text=True)
    learn_seconds = time.perf_counter() - begun
    *output, peak_kb = result.stdout.strip().splitlines()
    return {"articles": len(ids), "event_rows": written, "train_seconds": train_seconds,
            "insert_seconds": round(insert_seconds, 1), "learn_seconds": round(learn_seconds, 1),
            "learn_peak_rss_mb": round(int(peak_kb) / 1024, 1), "learn_output": output[-1]}


# Runs its arguments as a command and prints the command's peak RSS (KB): this process's only child is it,
# so the train the benchmark ran before does not count.
_PEAK_OF_CHILD = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
                  "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=100_000)
    parser.add_argument("--learn-every", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cost-articles", type=int, help="time a learn run at this many synthetic articles instead")
    parser.add_argument("--cost-events", type=int, default=10_000_000)
    parser.add_argument("--reuse-model", action="store_true", help="--cost: keep the model trained in --keep DIR")
    parser.add_argument("--keep", metavar="DIR", help="work here and keep it (default: a temporary directory)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="learning-bench-") as temporary:
        work = Path(args.keep or temporary)
        work.mkdir(parents=True, exist_ok=True)
        figures = cost(args, work) if args.cost_articles else simulate(args, work)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
