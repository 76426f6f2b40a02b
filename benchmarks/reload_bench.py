"""What a model switch costs the requests of one worker: default GETs while its store loads a version.

    python benchmarks/reload_bench.py --models-dir DIR [--switches 4] [--versions A B]

In one process, like one server worker (granian runs its GETs on one thread): the main thread answers
default-option related requests through the app's WSGI callable for random articles (each with six
GIL-releasing system calls around it, as a socket request has), while the store's `refresh()` loads the
other version in a thread of its own. For each switch it prints how long the load took and the p50 / p99
/ worst latency of the requests answered during it and in the second after it (the machine's own noise).
The two newest versions of the models dir are used unless --versions names two; `CURRENT` is switched
between them and left on the second. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from flask import Flask

from recommender import artifacts
from service import create_app
from service.config import Settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--versions", nargs=2, help="default: the two newest versions")
    parser.add_argument("--switches", type=int, default=4)
    args = parser.parse_args()
    first, second = args.versions or artifacts.list_versions(args.models_dir)[-2:]
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="relatedly-metrics-"))
    artifacts.publish(args.models_dir, first)
    report = sys.stdout
    with open(os.devnull, "w", encoding="utf-8") as nowhere, contextlib.redirect_stdout(nowhere):
        app = create_app(Settings(models_dir=args.models_dir), watch=False)  # its request log goes nowhere
        request = _requester(app)
        for _ in range(3000):
            request()
        for n in range(args.switches):
            took, latencies = _switch(app, request, args.models_dir, (second, first)[n % 2])
            during = sorted(d for t, d in latencies if t < took)
            after = sorted(d for t, d in latencies if t >= took)
            print(f"load {took * 1000:.0f} ms; during it: {_summary(during)}; the second after: {_summary(after)}",
                  file=report, flush=True)
    return 0


def _requester(app: Flask) -> Callable[[], None]:
    """One default GET for a random article through the WSGI app, between six GIL-releasing system calls."""
    ids = app.extensions["relatedly"].store.current().model.catalog_.to_columns()["ids"]
    paths = [f"/v1/articles/{quote(i, safe='')}/related" for i in ids]
    null = os.open(os.devnull, os.O_WRONLY)
    rng = random.Random(0)

    def request() -> None:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": rng.choice(paths), "QUERY_STRING": "", "HTTP_HOST": "x"}
        for _ in range(3):
            os.write(null, b"x")
        b"".join(app.wsgi_app(environ, lambda status, headers: None))
        for _ in range(3):
            os.write(null, b"x")

    return request


def _switch(app: Flask, request: Callable[[], None], models_dir: str, version: str) -> tuple[float, list]:
    """Publish `version`, load it in a thread while requests run; the load's seconds and (start, latency) pairs."""
    store = app.extensions["relatedly"].store
    artifacts.publish(models_dir, version)
    started, took = time.perf_counter(), []
    loader = threading.Thread(target=lambda: (store.refresh(), took.append(time.perf_counter() - started)))
    loader.start()
    latencies = []
    while not took or time.perf_counter() - started < took[0] + 1.0:
        begun = time.perf_counter()
        request()
        latencies.append((begun - started, time.perf_counter() - begun))
    loader.join()
    return took[0], latencies


def _summary(latencies: list[float]) -> str:
    if not latencies:
        return "no requests"
    at = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return f"{len(latencies)} requests, p50 {at(0.5):.2f} p99 {at(0.99):.2f} worst {latencies[-1] * 1000:.1f} ms"


if __name__ == "__main__":
    sys.exit(main())
