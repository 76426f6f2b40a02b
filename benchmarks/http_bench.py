"""HTTP benchmark: the API under gunicorn on loopback, driven by wrk, against a bare-WSGI ceiling.

    python benchmarks/http_bench.py [--corpus ../shared/data/20newsgroups/articles.jsonl]
                                    [--duration 10] [--concurrency 16 64] [--workers 2]

Trains a model on the corpus (about 19k articles for 20 Newsgroups), then for each concurrency runs:
  bare-wsgi        a minimal WSGI callable returning fixed JSON bytes (the ceiling, same gunicorn settings)
  cached GET       GET related with default options, ids cycling over 200 articles (in-process cache hits)
  uncached GET     GET related with default options over all ids, cache disabled
  filtered GET     GET related with exclude + half_life_days + category=prefer + diversity, cache disabled
  POST text        POST /v1/related with a corpus title + opening as a draft, cache disabled
and prints requests/s, p50/p99 latency, non-2xx responses and the ratio to the ceiling measured in
the same run. The service logs its JSON line per request as in production (to /dev/null here).
Default GETs are answered from the version's precomputed default lists (service/api/default_lists.py), so
"cached" and "uncached" GET measure that path; "filtered" and "text" the computed one.

Then, unless --no-uniform: GET related with default options, ids drawn uniformly (with replacement)
from the whole catalogue, right after the served version changes, for the in-process cache and for
Redis (--redis-url). A fresh service serving version A, idle, is switched to B; once every worker
answers with B, wrk starts at once (no warm-up): "uniform after publish". Then, with wrk already
driving the service, A is published again as the next wrk run starts: "uniform, publish under load"
(its p99 covers the 10 s after the publish). Targets of issue 14: >= 0.6x the ceiling, p99 <= 4 ms;
p99 <= 10 ms under load after a publish. The same runs with RELATEDLY_DEFAULT_LIMIT=9, which the
lists were not made for ("lists off"), are the baseline: default requests then go through the cache.

--soak-minutes N: one service with Redis under wrk -c16 (uniform default GETs, one in five with
`limit`, which goes through Flask and the cache) for N one-minute runs; prints each minute's req/s,
p99 and errors, and every worker's RSS (growth after the first minute is what the soak checks).

Then, unless --no-events: reader events (`POST /v1/events`, text/plain beacons of valid impressions
and clicks, SQLite store, rate limit off): the write path alone as fast as wrk can drive it; cached
GETs saturated by wrk, alone and beside --events-rate events/s; cached GETs at a fixed rate below
saturation (--events-get-rate), alone and beside the events: p50/p99 of each stream, the rows
stored, and the workers' and each client's CPU per request. Fixed rates are sent by
benchmarks/paced_load.py, a new connection per request as a proxy would (wrk's delay() holds sync
workers idle on an open connection).

Then, unless --no-publish: a model switch under load. The service runs with Redis (cache and
publish announcements, --redis-url); while wrk drives cached GETs at the first concurrency, a poller
asks for one article every 10 ms and `relatedly models publish` switches to a new version (one
added article, prepared with `relatedly update` beforehand).
It prints how long after the publish the first and then every response carried the new
`model_version`, and the non-2xx count of wrk and the poller. Note: this adds a version to the models
dir. Needs `wrk` (Debian package) on PATH. Not part of the test suite.
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
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from recommender import artifacts
from recommender.artifacts import read_current

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "20newsgroups" / "articles.jsonl"
BIN = Path(sys.executable).parent

# scenario → (label, whether the response cache is on)
SCENARIOS = {
    "cached": ("cached GET related", True),
    "uncached": ("uncached GET related", False),
    "filtered": ("filtered GET related", False),
    "text": ("POST /v1/related text", False),
}

WRK_REPORT = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format('{"requests": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99), errors))
end
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models-dir", help="reuse a trained models dir instead of training")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="for the publish-under-load run")
    parser.add_argument("--no-publish", action="store_true", help="skip the publish-under-load run")
    parser.add_argument("--no-events", action="store_true", help="skip the POST /v1/events runs")
    parser.add_argument("--events-rate", type=int, default=1000, help="paced events/s beside the GETs")
    parser.add_argument("--events-get-rate", type=int, default=1500, help="the fixed rate of the paced GET runs")
    parser.add_argument("--no-uniform", action="store_true", help="skip the uniform-ids-after-publish runs")
    parser.add_argument("--soak-minutes", type=int, default=0, help="only run the soak, this many minutes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="relatedly-bench-"))
    models_dir = Path(args.models_dir) if args.models_dir else work / "models"
    if not args.models_dir:
        started = time.perf_counter()
        subprocess.run([BIN / "relatedly", "train", "--corpus", args.corpus, "--models-dir", models_dir],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"trained on {args.corpus} in {time.perf_counter() - started:.1f} s")
    with open(args.corpus, encoding="utf-8") as lines:
        articles = [json.loads(line) for line in lines if line.strip()]
    ids = [a["id"] for a in articles]
    rng = random.Random(0)
    scripts = _write_scripts(work, ids, articles, rng)

    if args.soak_minutes:
        _soak(work, models_dir, scripts["mixed"], args)
        shutil.rmtree(work, ignore_errors=True)
        return 0
    rows = []
    app_env = {"RELATEDLY_MODELS_DIR": str(models_dir)}
    if not args.no_uniform:
        rows += _uniform_after_publish(work, models_dir, articles[0], scripts, args)
    for concurrency in args.concurrency:
        ceiling = _wrk_run(work, "bare", args.workers, {}, scripts["bare"], concurrency, args.duration)
        rows.append(("bare-wsgi", concurrency, ceiling, ceiling))
        for name in args.scenarios:
            label, cached = SCENARIOS[name]
            env = app_env if cached else {**app_env, "RELATEDLY_MEMORY_CACHE_SIZE": "0"}
            result = _wrk_run(work, "app", args.workers, env, scripts[name], concurrency, args.duration)
            rows.append((label, concurrency, result, ceiling))
    _print_table(rows, args)
    if not args.no_events:
        _events_runs(work, models_dir, ids, rng, args)
    if not args.no_publish:
        _publish_under_load(work, models_dir, articles[0], scripts["cached"], args)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _write_scripts(work: Path, ids: list[str], articles: list[dict], rng: random.Random) -> dict[str, Path]:
    def lua_list(values: list[str]) -> str:
        return "{" + ",".join(json.dumps(v) for v in values) + "}"

    def related_paths(sample: list[str], query: str) -> list[str]:
        return [f"/v1/articles/{urllib.request.quote(i, safe='')}/related{query}" for i in sample]

    get_template = """
local paths = __ITEMS__
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
""" + WRK_REPORT
    hot = rng.sample(ids, min(200, len(ids)))
    shuffled = rng.sample(ids, len(ids))
    filtered = [
        f"/v1/articles/{urllib.request.quote(i, safe='')}/related?exclude={urllib.request.quote(rng.choice(ids))}"
        f"&half_life_days=365&category=prefer&diversity=0.3" for i in shuffled[:5000]
    ]
    drafts = [json.dumps({"title": a["title"], "body": " ".join(a["body"].split()[:120])})
              for a in rng.sample(articles, 2000)]
    text_template = """
local bodies = __ITEMS__
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/related", {["Content-Type"] = "application/json"}, bodies[(n % #bodies) + 1])
end
""" + WRK_REPORT
    uniform_template = """
local paths = __ITEMS__
init = function(args) math.randomseed(tonumber(tostring({}):sub(8)) or os.time()) end
request = function()
  local path = paths[math.random(#paths)]
  if __WITH_LIMIT__ and math.random(5) == 1 then path = path .. "?limit=" .. math.random(10) end
  return wrk.format("GET", path)
end
""" + WRK_REPORT
    uniform = uniform_template.replace("__ITEMS__", lua_list(related_paths(ids, "")))
    scripts = {
        "uniform": uniform.replace("__WITH_LIMIT__", "false"),
        "mixed": uniform.replace("__WITH_LIMIT__", "true"),
        "bare": "request = function() return wrk.format('GET', '/') end\n" + WRK_REPORT,
        "cached": get_template.replace("__ITEMS__", lua_list(related_paths(hot, ""))),
        "uncached": get_template.replace("__ITEMS__", lua_list(related_paths(shuffled, ""))),
        "filtered": get_template.replace("__ITEMS__", lua_list(filtered)),
        "text": text_template.replace("__ITEMS__", lua_list(drafts)),
    }
    paths = {}
    for name, text in scripts.items():
        paths[name] = work / f"{name}.lua"
        paths[name].write_text(text, encoding="utf-8")
    return paths


@contextlib.contextmanager
def _server(work: Path, kind: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    """Start the service (or the bare WSGI ceiling) under gunicorn; yield its base URL once ready."""
    port = _free_port()
    environment = {**os.environ, **env, "PORT": str(port), "RELATEDLY_HOST": "127.0.0.1",
                   "WEB_CONCURRENCY": str(workers), "PROMETHEUS_MULTIPROC_DIR": str(work / f"metrics-{port}")}
    if kind == "bare":
        command = [str(BIN / "gunicorn"), "--config", "python:service.gunicorn_conf",
                   "--chdir", str(Path(__file__).parent), "bare_wsgi:app"]
    else:
        command = [str(BIN / "relatedly"), "serve"]
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/" if kind == "bare" else f"{base}/readyz")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _wrk(script: Path, concurrency: int, seconds: int, base: str) -> dict:
    return _wrk_report(subprocess.run(_wrk_command(script, concurrency, seconds, base), capture_output=True,
                                      text=True, check=True).stdout)


def _wrk_command(script: Path, concurrency: int, seconds: int, base: str) -> list[str]:
    return ["wrk", "-t2", "-c", str(concurrency), "-d", f"{seconds}s", "-s", str(script), base]


def _wrk_report(output: str) -> dict:
    """The JSON line the `WRK_REPORT` hook prints last."""
    return json.loads(output.strip().splitlines()[-1])


def _wrk_run(work: Path, kind: str, workers: int, env: dict[str, str], script: Path, concurrency: int,
             duration: int) -> dict:
    with _server(work, kind, workers, env) as base:
        _wrk(script, concurrency, 2, base)  # warm-up
        if kind == "bare":
            return _wrk(script, concurrency, duration, base)
        before = _counted_requests(base)
        result = _wrk(script, concurrency, duration, base)
        return {**result, "counted": _counted_requests(base) - before - 1}  # less the first scrape itself


def _uniform_after_publish(work: Path, models_dir: Path, article: dict, scripts: dict[str, Path],
                           args: argparse.Namespace) -> list[tuple[str, int, dict, dict]]:
    """Uniform default GETs right after a version switch, idle then under load, in-process cache and Redis.

    'after publish': wrk starts with no warm-up once every worker serves the new version; 'publish under
    load': the 10 s wrk run during which the version changes.
    """
    first = read_current(models_dir)
    second = _prepared_version(work, models_dir, article)
    concurrency, script = args.concurrency[0], scripts["uniform"]
    ceiling = _wrk_run(work, "bare", args.workers, {}, scripts["bare"], concurrency, args.duration)
    rows: list[tuple[str, int, dict, dict]] = [("bare-wsgi", concurrency, ceiling, ceiling)]
    # The baseline in the same run: a default limit the lists were not made for turns them off (cache only).
    configurations = (("memory", {}), ("redis", {"RELATEDLY_REDIS_URL": args.redis_url}),
                      ("memory, lists off", {"RELATEDLY_DEFAULT_LIMIT": "9"}),
                      ("redis, lists off", {"RELATEDLY_REDIS_URL": args.redis_url, "RELATEDLY_DEFAULT_LIMIT": "9"}))
    for cache, extra in configurations:
        env = {"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_CACHE_PREFIX": f"bench-{time.time_ns()}",
               **extra}
        with _server(work, "app", args.workers, env) as base:
            _publish_and_wait(models_dir, base, second)
            after = _wrk(script, concurrency, args.duration, base)  # no warm-up
            rows.append((f"uniform after publish, {cache}", concurrency, after, ceiling))
            _wrk(script, concurrency, 3, base)  # the service under load, then a publish as the next run starts
            load = subprocess.Popen(_wrk_command(script, concurrency, 10, base), stdout=subprocess.PIPE, text=True)
            time.sleep(0.05)
            artifacts.publish(models_dir, first)
            under_load = _wrk_report(load.communicate()[0])
            rows.append((f"uniform publish under load, {cache}", concurrency, under_load, ceiling))
            _publish_and_wait(models_dir, base, first)
    return rows


def _prepared_version(work: Path, models_dir: Path, article: dict) -> str:
    """A second version (one added article, by `relatedly update`), prepared with the first left current."""
    first = read_current(models_dir)
    change = work / f"change-{time.time_ns()}.jsonl"
    change.write_text(json.dumps({**article, "id": f"bench-added-{time.time_ns()}"}) + "\n", encoding="utf-8")
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run([BIN / "relatedly", "update", "--corpus", change, "--models-dir", models_dir,
                    "--keep-versions", "1000"], **quiet)  # the update must not prune the first version
    second = read_current(models_dir)
    artifacts.publish(models_dir, first)
    return second


def _publish_and_wait(models_dir: Path, base: str, version: str) -> None:
    """Publish `version` and return once 50 requests in a row (both workers, surely) answer with it."""
    artifacts.publish(models_dir, version)
    in_a_row, deadline = 0, time.monotonic() + 60
    while in_a_row < 50:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service never switched to {version}")
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            in_a_row = in_a_row + 1 if json.loads(response.read()).get("model_version") == version else 0


def _soak(work: Path, models_dir: Path, script: Path, args: argparse.Namespace) -> None:
    """N one-minute wrk runs against one service with Redis: req/s, p99 and errors per minute, workers' RSS."""
    env = {"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_REDIS_URL": args.redis_url,
           "RELATEDLY_CACHE_PREFIX": f"soak-{time.time_ns()}"}
    concurrency = args.concurrency[0]
    print(f"soak: wrk -t2 -c{concurrency}, {args.soak_minutes} x 60 s, gunicorn {args.workers} workers, Redis")
    print(f"{'minute':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}  worker RSS MB")
    with _server(work, "app", args.workers, env) as base:
        pid = _listener_pid(base)
        first: dict[int, int] = {}
        for minute in range(1, args.soak_minutes + 1):
            result = _wrk(script, concurrency, 60, base)
            rss = _worker_rss(pid)
            if minute == 1:
                first = rss
            growth = ", ".join(f"{rss[w] / 2**20:.1f} ({(rss[w] / first[w] - 1) * 100:+.1f}%)" if w in first
                               else f"{rss[w] / 2**20:.1f} (new)" for w in sorted(rss))
            print(f"{minute:>6}{result['requests'] / result['seconds']:>9.0f}{result['p50_us'] / 1000:>9.2f}"
                  f"{result['p99_us'] / 1000:>9.2f}{result['errors']:>8}  {growth}", flush=True)
    print("(RSS growth is against the first minute's; a worker restarted by gunicorn shows as new)")


def _listener_pid(base: str) -> int:
    """The gunicorn master's pid: the process listening on the service's port."""
    port = int(base.rsplit(":", 1)[1])
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and _cmdline(proc).find("gunicorn") >= 0 and _listens(proc, port):
            return int(proc.name)
    raise RuntimeError(f"no gunicorn process listening on port {port}")


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _listens(proc: Path, port: int) -> bool:
    """Whether the process is the master (its parent is not gunicorn) of a gunicorn serving `port`."""
    try:
        ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        environ = (proc / "environ").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return False
    return f"PORT={port}".encode() in environ and "gunicorn" not in _cmdline(Path(f"/proc/{ppid}"))


def _worker_rss(master: int) -> dict[int, int]:
    """RSS in bytes of each child of the gunicorn master."""
    rss = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip()) == master:
            rss[int(proc.name)] = int(fields["VmRSS"].split()[0]) * 1024
    return rss


def _counted_requests(base: str) -> int:
    """All requests `/metrics` has counted so far, over every worker."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    return round(sum(sample.value for family in text_string_to_metric_families(text)
                     for sample in family.samples if sample.name == "relatedly_http_requests_total"))


def _publish_under_load(work: Path, models_dir: Path, article: dict, script: Path, args: argparse.Namespace) -> None:
    """Publish a new version while wrk drives cached GETs; report when responses switch and any failures.

    The new version (one added article, made with `relatedly update`) is prepared before the load
    starts and the old one made current again, so the run measures the switch itself.
    """
    env = {"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_REDIS_URL": args.redis_url,
           "RELATEDLY_CACHE_PREFIX": f"bench-{os.getpid()}-{time.time_ns()}"}
    change = work / "change.jsonl"
    change.write_text(json.dumps({**article, "id": f"bench-added-{time.time_ns()}"}) + "\n", encoding="utf-8")
    url_path = f"/v1/articles/{urllib.request.quote(article['id'], safe='')}/related"
    polls: list[tuple[float, int, str]] = []  # (monotonic time, status, model version)
    concurrency = args.concurrency[0]
    relatedly = [str(BIN / "relatedly")]
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run([*relatedly, "update", "--corpus", change, "--models-dir", models_dir], **quiet)
    new_version = read_current(models_dir)
    subprocess.run([*relatedly, "models", "--models-dir", models_dir, "rollback"], **quiet)  # serve the old one
    with _server(work, "app", args.workers, env) as base:
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.01):
                try:
                    with urllib.request.urlopen(base + url_path, timeout=5) as response:
                        polls.append((time.monotonic(), response.status, response.headers["X-Model-Version"]))
                except urllib.error.HTTPError as exc:
                    polls.append((time.monotonic(), exc.code, ""))

        poller = threading.Thread(target=poll)
        load = subprocess.Popen(_wrk_command(script, concurrency, 2 * args.duration, base),  # room for the CLI
                                stdout=subprocess.PIPE, text=True)
        poller.start()
        time.sleep(args.duration / 3)
        publish = subprocess.Popen([*relatedly, "models", "--models-dir", models_dir, "--redis-url", args.redis_url,
                                    "publish", new_version], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while read_current(models_dir) != new_version:  # the switch itself, not the CLI's start-up
            time.sleep(0.001)
        published_at = time.monotonic()
        publish.wait(timeout=60)
        wrk_result = _wrk_report(load.communicate()[0])
        stop.set()
        poller.join()
    after = [(t - published_at, status, version) for t, status, version in polls if t >= published_at]
    first_new = next((t for t, _, version in after if version == new_version), None)
    last_old = max((t for t, _, version in after if version != new_version), default=0.0)
    failures = sum(1 for _, status, _ in polls if status >= 300)
    print(f"\npublish under load (wrk -c{concurrency}, Redis cache + announcements): new version {new_version}")
    print(f"  first response with it {_ms(first_new)} after the publish; every response from {_ms(last_old)} on")
    print(f"  wrk: {wrk_result['requests']} requests, {wrk_result['errors']} non-2xx; poller: {len(polls)} "
          f"requests, {failures} non-2xx")


def _ms(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds * 1000:.0f} ms"


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _print_table(rows: list[tuple[str, int, dict, dict]], args: argparse.Namespace) -> None:
    print(f"\nwrk -t2 -d{args.duration}s, gunicorn {args.workers} workers, loopback, {os.cpu_count()} cores")
    print("(requests: wrk's count; counted: the rise of relatedly_http_requests_total in /metrics over the run,"
          " which also counts requests still in flight when wrk stopped)")
    print(f"{'scenario':<46}{'conc':>5}{'req/s':>10}{'vs bare':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
          f"{'requests':>10}{'counted':>10}")
    for name, concurrency, result, ceiling in rows:
        rps = result["requests"] / result["seconds"]
        ratio = rps / (ceiling["requests"] / ceiling["seconds"])
        print(f"{name:<46}{concurrency:>5}{rps:>10.0f}{ratio:>8.0%} {result['p50_us'] / 1000:>8.2f}"
              f"{result['p99_us'] / 1000:>9.2f}{result['errors']:>9d}{result['requests']:>10d}"
              f"{result.get('counted', ''):>10}")


# --- reader events (issue 11) ----------------------------------------------------------------------------------
PACED_LOAD = Path(__file__).with_name("paced_load.py")


def _events_runs(work: Path, models_dir: Path, ids: list[str], rng: random.Random, args: argparse.Namespace) -> None:
    """Events alone, GETs alone and beside ~1,000 events/s, saturated (wrk) and at a fixed rate (paced_load.py).

    wrk cannot pace against sync workers (see paced_load.py), so every fixed-rate stream is paced_load.py's,
    sent as a proxy would. Each run reports the gunicorn workers' CPU per request and each client's own.
    """
    version = read_current(models_dir)
    hot = rng.sample(ids, min(200, len(ids)))
    gets = [{"method": "GET", "path": f"/v1/articles/{urllib.request.quote(i, safe='')}/related"} for i in hot]
    posts, rows_per_body = [], []
    for n in range(2000):
        article, *items = rng.sample(ids, 6)
        event = ({"type": "impression", "items": items} if n % 4 else
                 {"type": "click", "target": items[0], "position": 1})
        body = json.dumps({**event, "list_id": f"bench{n}", "article_id": article, "model_version": version})
        posts.append({"method": "POST", "path": "/v1/events", "content_type": "text/plain;charset=UTF-8", "body": body})
        rows_per_body.append(len(items) if n % 4 else 1)
    streams = {name: _request_files(work, f"events-{name}", specs) for name, specs in (("get", gets), ("post", posts))}
    streams["+get"] = streams["get"]  # the control: as many more GETs as there are events
    get_rate, event_rate = args.events_get_rate, args.events_rate
    runs = (  # label → streams: (what, wrk connections or None for paced_load, its rate)
        ("POST /v1/events alone, saturated", [("post", args.concurrency[0], None)]),
        ("cached GET alone, saturated", [("get", args.concurrency[0], None)]),
        ("cached GET saturated + events paced", [("get", args.concurrency[0], None), ("post", None, event_rate)]),
        (f"cached GET at {get_rate}/s alone", [("get", None, get_rate)]),
        (f"cached GET at {get_rate}/s + events paced", [("get", None, get_rate), ("post", None, event_rate)]),
        (f"cached GET at {get_rate}/s + more GETs paced", [("get", None, get_rate), ("+get", None, event_rate)]),
    )
    table, summary = [], {}
    for number, (label, plan) in enumerate(runs):
        database = work / f"events-{number}.db"
        env = {"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_EVENTS_PER_MINUTE": "0",
               "RELATEDLY_DATABASE_URL": f"sqlite:///{database}"}
        with _server(work, "app", args.workers, env) as base:
            workers = list(_worker_rss(_listener_pid(base)))
            for what, connections, rate in plan:  # warm-up, one stream at a time
                _wait_client(_start_client(streams[what], connections, rate, 2, base))
            cpu_before, started = _cpu_seconds(workers), time.monotonic()
            clients = [_start_client(streams[what], connections, rate, args.duration, base)
                       for what, connections, rate in plan]
            results = [_wait_client(client) for client in clients]
            server_cores = (_cpu_seconds(workers) - cpu_before) / (time.monotonic() - started)
        stored = _stored_event_rows(database)  # the server has stopped: its writers flushed at exit
        answered = sum(result["requests"] / result["seconds"] for result, _ in results)
        summary[number] = (server_cores, {what: result for (what, *_), (result, _) in zip(plan, results, strict=True)})
        for (what, connections, rate), (result, client_cpu) in zip(plan, results, strict=True):
            client = f"wrk c{connections}" if rate is None else f"paced {rate}/s"
            table.append((label, what, client, result, client_cpu, server_cores, server_cores / answered,
                          stored if what == "post" else None))
            label = ""
    mean_rows = sum(rows_per_body) / len(rows_per_body)
    print(f"\nreader events: gunicorn {args.workers} workers, SQLite store, rate limit off, {args.duration} s"
          f" per run, {os.cpu_count()} cores shared by server and clients")
    print(f"(server: the workers' user+sys CPU, in cores and per request answered in the run by all streams; client:"
          f" that client's own CPU per request; late: how far behind schedule a paced client sent its 99th"
          f" percentile request; rows stored include the warm-up's, ~{mean_rows:.2f} per event)")
    print(f"{'run':<38}{'stream':>7}{'client':>14}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'late':>6}{'non-2xx':>8}"
          f"{'cores':>6}{'server us':>10}{'client us':>10}{'rows':>8}")
    for label, what, client, result, client_cpu, cores, server_per_request, stored in table:
        late = f"{result['late_p99_us'] / 1000:.1f}" if "late_p99_us" in result else ""
        server = (f"{cores:.2f}", f"{server_per_request * 1e6:.0f}") if label else ("", "")
        print(f"{label:<38}{what:>7}{client:>14}{result['requests'] / result['seconds']:>7.0f}"
              f"{result['p50_us'] / 1000:>8.2f}{result['p99_us'] / 1000:>8.2f}{late:>6}{result['errors']:>8d}"
              f"{server[0]:>6}{server[1]:>10}"
              f"{client_cpu / max(1, result['requests']) * 1e6:>10.0f}{'' if stored is None else stored:>8}")
    _events_summary(summary, event_rate, get_rate)


def _events_summary(summary: dict[int, tuple[float, dict[str, dict]]], event_rate: int, get_rate: int) -> None:
    """The issue's targets from the runs above, each said met or not."""
    def rate(run: int, what: str) -> float:
        return summary[run][1][what]["requests"] / summary[run][1][what]["seconds"]

    def ms(run: int, what: str) -> str:
        result = summary[run][1][what]
        return f"p50 {result['p50_us'] / 1000:.2f} / p99 {result['p99_us'] / 1000:.2f} ms"

    events = summary[4][1]["post"]  # beside GETs at a fixed rate below saturation
    met = events["requests"] / events["seconds"] >= 0.99 * event_rate and events["p99_us"] <= 10_000
    print(f"events: {rate(0, 'post'):.0f}/s alone (saturated, {ms(0, 'post')}); {event_rate}/s beside GETs at"
          f" {get_rate}/s: {ms(4, 'post')}; beside saturated GETs: {ms(2, 'post')} (queued behind wrk's)")
    print(f"  >= 1,000 events/s with p99 <= 10 ms beside GET related at {get_rate}/s: {'met' if met else 'NOT met'}")
    per_event = (summary[4][0] - summary[3][0]) / rate(4, "post")
    per_get = (summary[5][0] - summary[3][0]) / rate(5, "+get")
    verdict = "no more than" if per_event <= per_get else "more than"
    print(f"GET at {get_rate}/s: {ms(3, 'get')} alone, {ms(4, 'get')} beside {event_rate} events/s,"
          f" {ms(5, 'get')} beside {event_rate} more GETs/s")
    print(f"  server CPU added by {event_rate} events/s: {per_event * 1e6:.0f} us per event; by {event_rate} more"
          f" GETs/s: {per_get * 1e6:.0f} us per GET (an event costs {verdict} a cached GET)")
    print(f"saturated GET: {rate(1, 'get'):.0f} req/s alone, {rate(2, 'get'):.0f} beside {rate(2, 'post'):.0f}"
          f" events/s ({(rate(1, 'get') - rate(2, 'get')) / rate(2, 'post'):.2f} GETs given up per event,"
          f" client CPU included: the machine's cores serve both the clients and the server)")


def _request_files(work: Path, name: str, specs: list[dict]) -> tuple[Path, Path]:
    """The same requests as a wrk Lua script and as paced_load.py's JSON lines."""
    lua, lines = work / f"{name}.lua", work / f"{name}.jsonl"
    lines.write_text("".join(json.dumps(spec) + "\n" for spec in specs), encoding="utf-8")
    lua.write_text("local requests = {" + ",".join(
        "{" + ",".join(f"{json.dumps(spec.get(key, ''))}" for key in ("method", "path", "content_type", "body")) + "}"
        for spec in specs) + """}
local n = 0
request = function()
  n = n + 1
  local r = requests[(n % #requests) + 1]
  if r[1] == "GET" then return wrk.format("GET", r[2]) end
  return wrk.format(r[1], r[2], {["Content-Type"] = r[3]}, r[4])
end
""" + WRK_REPORT, encoding="utf-8")
    return lua, lines


def _start_client(files: tuple[Path, Path], connections: int | None, rate: int | None, seconds: int,
                  base: str) -> subprocess.Popen:
    """wrk with `connections` (as fast as the server answers), or paced_load.py at `rate` requests/s."""
    lua, lines = files
    command = (_wrk_command(lua, connections, seconds, base) if rate is None else
               [sys.executable, str(PACED_LOAD), base, str(lines), "--rate", str(rate), "--seconds", str(seconds)])
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def _wait_client(client: subprocess.Popen) -> tuple[dict, float]:
    """The client's report and the CPU seconds (user+sys) it used."""
    assert client.stdout is not None
    output = client.stdout.read()
    _, status, usage = os.wait4(client.pid, 0)
    client.returncode = os.waitstatus_to_exitcode(status)
    if client.returncode:
        raise RuntimeError(f"{client.args[0]} failed with exit code {client.returncode}")
    return _wrk_report(output), usage.ru_utime + usage.ru_stime


def _cpu_seconds(pids: list[int]) -> float:
    """User+sys CPU seconds the processes (gunicorn workers, every thread) have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _stored_event_rows(database: Path) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(database)) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())
