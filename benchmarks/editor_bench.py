"""What the editorial overrides cost the request path, and how fast the editor's title search is at 100k.

    python benchmarks/editor_bench.py [--articles 100000] [--queries 200]

1. Title search over `--articles` synthetic titles (words drawn from a 5,000-word vocabulary with a
   Zipf-like skew): `service.search.TitleIndex` against the obvious baseline, a Python loop over the
   case-folded titles testing every word as a substring, in the same run. Prints ms per query and the ratio.
2. The per-request overrides check (`OverrideStore.current()`: one `stat` of the doorbell file)
   against reading a plain attribute, in microseconds per call — what every GET related pays —
   and its share of a whole cached default `GET …/related` through the WSGI fast path, in process
   (the sample corpus, no HTTP), measured in the same run.
Figures on a shared machine are noisy; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
from pathlib import Path

from publishing.train import train_and_publish
from service import create_app
from service.config import Settings
from service.models.overrides import OverrideStore
from service.pages.search import TitleIndex
from storage import Database

SAMPLE_CORPUS = Path(__file__).resolve().parent.parent / "data" / "sample" / "articles.jsonl"


def _titles(n: int, rng: random.Random) -> list[str]:
    vocabulary = [f"{rng.choice('bcdfghklmnprstvz')}{rng.choice('aeiou')}{rng.choice('nrstl')}"
                  f"{rng.choice('aeiouy')}{i}" for i in range(5000)]
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    return [" ".join(rng.choices(vocabulary, weights, k=rng.randint(5, 12))).capitalize() for _ in range(n)]


def _naive(folded: list[str], query: str, limit: int) -> list[int]:
    words = query.casefold().split()
    return [i for i, title in enumerate(folded) if all(w in title for w in words)][:limit]


def _per_call(fn, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(0)
    titles = _titles(args.articles, rng)
    started = time.perf_counter()
    index = TitleIndex([f"id-{i}" for i in range(len(titles))], titles)
    print(f"title index of {len(titles):,} titles built in {(time.perf_counter() - started) * 1000:.0f} ms")
    queries = []
    for _ in range(args.queries):
        words = rng.choice(titles).split()
        queries.append(" ".join(rng.sample(words, k=min(len(words), rng.choice((1, 2, 2, 3))))))
    fast = _per_call(lambda: [index.search(q, 20) for q in queries], 1) / len(queries)
    folded = [t.casefold() for t in titles]
    slow = _per_call(lambda: [_naive(folded, q, 20) for q in queries], 1) / len(queries)
    print(f"title search: TitleIndex {fast * 1000:.2f} ms/query, Python loop {slow * 1000:.2f} ms/query "
          f"({slow / fast:.1f}x faster)")

    with tempfile.TemporaryDirectory() as tmp:
        database = Database.from_url(f"sqlite:///{Path(tmp) / 'relatedly.db'}")
        database.upgrade()
        store = OverrideStore(database, tmp)
        store.current()
        check = _per_call(store.current, 200_000)
        snapshot = store._snapshot
        holder = type("Holder", (), {"value": snapshot})()
        plain = _per_call(lambda: holder.value, 200_000)
        print(f"overrides check per request: {check * 1e6:.2f} µs (a plain attribute read through the same "
              f"call: {plain * 1e6:.2f} µs)")
        database.dispose()
        request = _fast_path_request(Path(tmp) / "models")
        print(f"a cached default GET related through the fast path: {request * 1e6:.1f} µs, of which the overrides "
              f"check is {100 * check / request:.1f} %")


def _fast_path_request(models_dir: Path) -> float:
    """Seconds per cached default-options GET related answered by the WSGI fast path (in process)."""
    train_and_publish(SAMPLE_CORPUS, models_dir, top_k=50)
    app = create_app(Settings(models_dir=str(models_dir), log_level="WARNING"), watch=False)
    article_id = app.extensions["relatedly"].store.current().model.catalog_.id_at(0)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/v1/articles/{article_id}/related", "QUERY_STRING": "",
               "SERVER_NAME": "bench", "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO()}
    statuses: list[str] = []

    def start_response(status: str, headers: list, exc_info=None) -> None:
        statuses.append(status)

    def call() -> None:
        b"".join(app.wsgi_app(dict(environ), start_response))

    call()  # a miss: computed and cached
    per_request = _per_call(call, 20_000)
    assert statuses[-1].startswith("200"), statuses[-1]
    return per_request


if __name__ == "__main__":
    main()
