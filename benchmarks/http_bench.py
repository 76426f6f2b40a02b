"""HTTP benchmark: `relatedly serve` (granian) on loopback, driven by wrk, against a bare WSGI app under the
same server with the same settings (granian's WSGI interface).

    python benchmarks/http_bench.py [--corpus ../shared/data/20newsgroups/articles.jsonl]
                                    [--duration 10] [--concurrency 16 64] [--workers 2] [--redis-url URL]

Trains a model on the corpus (about 19k articles for 20 Newsgroups; --models-dir reuses one). Every
figure is printed with its ratio to the ceiling measured in the same run: `bare_wsgi.py`, a WSGI callable
returning a fixed list-shaped JSON body, under granian's WSGI interface with the product's server settings
(service/server/config.py; the product itself runs behind granian's RSGI interface, service/server/rsgi.py).
gunicorn sync workers serving the same bare app are the second reference, when gunicorn is installed (it
is not a project dependency: `pip install gunicorn`). The service logs its JSON line per request as in
production (to /dev/null here). Redis is --redis-url, or a throwaway redis-server on a free port.

Unless --no-uniform (issue 22's targets): GET related with default options, ids drawn uniformly (with
replacement) from the whole catalogue, right after the served version changes, with the in-process cache
and with Redis. A fresh service serving version A, idle, is switched to B; once every worker answers with
B, wrk starts at once (no warm-up): "uniform after publish". Then A is published again (a rollback), idle,
and measured the same way: "uniform after rollback". Then, with wrk already driving the service, B is
published as the next wrk run starts: "uniform, publish under load" (its p99 covers the 10 s after the
publish; a poller says when the new version answered). Targets: >= 0.5x the bare app under granian,
p99 <= 4 ms after a change, p99 <= 10 ms under load after a publish.

Unless --no-slow: slow clients. 128 connections that trickle a request's headers one byte a second
("headers"), or send `Content-Length: 100` and one byte of body and stall ("body"), are held open (a
connection the server closes is opened again) while wrk measures uniform default GETs; for the product,
the bare app under granian and under gunicorn. Prints GET p99 and failures, whether any worker was
replaced (worker PIDs before and after), and what the server did with the slow connections. Targets:
p99 <= 50 ms, no failure, no worker killed.

Unless --no-scenarios, for each concurrency:
  cached GET       GET related with default options, ids cycling over 200 articles
  uncached GET     GET related with default options over all ids, cache disabled
  filtered GET     GET related with exclude + half_life_days + category=prefer + diversity, cache disabled
  POST text        POST /v1/related with a corpus title + opening as a draft, cache disabled
Default GETs are answered from the version's rendered default lists (service/api/default_lists.py), so
"cached" and "uncached" GET measure that path; "filtered" and "text" the computed one (Flask, the cache).

--soak-minutes N: one service with Redis under wrk -c16 (uniform default GETs, one in five with
`limit`, which goes through Flask and the cache) for N one-minute runs; prints each minute's req/s,
p99 and errors, and every worker's RSS (growth after the first minute is what the soak checks).

Then, unless --no-events: reader events (`POST /v1/events`, text/plain beacons of valid impressions
and clicks, SQLite store, rate limit off): the write path alone as fast as wrk can drive it; cached
GETs saturated by wrk, alone and beside --events-rate events/s; cached GETs at a fixed rate below
saturation (--events-get-rate), alone and beside the events: p50/p99 of each stream, the rows
stored, and the workers' and each client's CPU per request. Fixed rates are sent by
benchmarks/paced_load.py, a new connection per request as a proxy would.

Then, unless --no-publish: a model switch under load. The service runs with Redis (cache and
publish announcements); while wrk drives cached GETs at the first concurrency, a poller asks for one
article every 10 ms and `relatedly models publish` switches to a new version (one added article,
prepared with `relatedly update` beforehand). It prints how long after the publish the first and then
every response carried the new `model_version`, and the non-2xx count of wrk and the poller.

Note: this adds versions to the models dir. Needs `wrk` (Debian package) on PATH. Not part of the test
suite. Run it under `flock /work/coord/cpu.lock` where the cores are shared; it prints the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import selectors
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
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from throwaway_redis import redis_server

from recommender import artifacts
from recommender.artifacts import read_current

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "20newsgroups" / "articles.jsonl"
BIN = Path(sys.executable).parent
BARE_APP = Path(__file__).with_name("bare_wsgi.py")

# scenario → (label, whether the response cache is on)
SCENARIOS = {
    "cached": ("cached GET related", True),
    "uncached": ("uncached GET related", False),
    "filtered": ("filtered GET related", False),
    "text": ("POST /v1/related text", False),
}

# What answers: the product, and the bare app under the product's server and under gunicorn's sync workers.
APP, BARE, GUNICORN = "relatedly serve", "bare app, granian", "bare app, gunicorn sync"

SLOW_CONNECTIONS = 128
SLOW_KINDS = ("headers", "body")

# Targets of issue 22 (2 cores, same run).
TARGET_RATIO, TARGET_P99_MS, TARGET_PUBLISH_P99_MS, TARGET_SLOW_P99_MS = 0.5, 4.0, 10.0, 50.0

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
    parser.add_argument("--redis-url", help="default: a throwaway redis-server on a free port")
    parser.add_argument("--no-uniform", action="store_true", help="skip the uniform-ids-after-a-change runs")
    parser.add_argument("--no-slow", action="store_true", help="skip the slow-client runs")
    parser.add_argument("--no-scenarios", action="store_true", help="skip the per-scenario table")
    parser.add_argument("--no-publish", action="store_true", help="skip the publish-under-load switch run")
    parser.add_argument("--no-events", action="store_true", help="skip the POST /v1/events runs")
    parser.add_argument("--events-rate", type=int, default=1000, help="paced events/s beside the GETs")
    parser.add_argument("--events-get-rate", type=int, default=1500, help="the fixed rate of the paced GET runs")
    parser.add_argument("--soak-minutes", type=int, default=0, help="only run the soak, this many minutes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    if _gunicorn() is None:
        print("gunicorn is not installed (pip install gunicorn): the gunicorn sync reference is skipped")

    work = Path(tempfile.mkdtemp(prefix="relatedly-bench-"))
    models_dir = Path(args.models_dir) if args.models_dir else work / "models"
    _note_load("start")
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

    with contextlib.ExitStack() as stack:
        if args.redis_url is None:
            args.redis_url = stack.enter_context(redis_server()).url
        if args.soak_minutes:
            _soak(work, models_dir, scripts["mixed"], args)
        else:
            _all_runs(work, models_dir, articles, ids, rng, scripts, args)
    _note_load("end")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _all_runs(work: Path, models_dir: Path, articles: list[dict], ids: list[str], rng: random.Random,
              scripts: dict[str, Path], args: argparse.Namespace) -> None:
    if not args.no_uniform:
        _print_table("uniform default GETs right after a version change", _uniform_after_change(
            work, models_dir, articles[0], scripts, args), args)
        _note_load("after the uniform runs")
    if not args.no_slow:
        _slow_client_runs(work, models_dir, scripts, args)
        _note_load("after the slow-client runs")
    if not args.no_scenarios:
        rows = []
        app_env = {"RELATEDLY_MODELS_DIR": str(models_dir)}
        for concurrency in args.concurrency:
            ceiling = _wrk_run(work, BARE, args.workers, {}, scripts["bare"], concurrency, args.duration)
            rows.append((BARE, concurrency, ceiling, ceiling))
            for name in args.scenarios:
                label, cached = SCENARIOS[name]
                env = app_env if cached else {**app_env, "RELATEDLY_MEMORY_CACHE_SIZE": "0"}
                result = _wrk_run(work, APP, args.workers, env, scripts[name], concurrency, args.duration)
                rows.append((label, concurrency, result, ceiling))
        _print_table("scenarios (after a 2 s warm-up)", rows, args)
        _note_load("after the scenarios")
    if not args.no_events:
        _events_runs(work, models_dir, ids, rng, args)
    if not args.no_publish:
        _publish_under_load(work, models_dir, articles[0], scripts["cached"], args)


def _note_load(when: str) -> None:
    one, five, fifteen = os.getloadavg()
    print(f"[load average {when}: {one:.2f} {five:.2f} {fifteen:.2f}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}]",
          flush=True)


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
              for a in rng.sample(articles, min(2000, len(articles)))]
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


# --- servers ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    """A running server: its base URL and main process (whose children are its workers)."""

    base: str
    pid: int

    def workers(self) -> set[int]:
        """The worker processes' PIDs now."""
        return set(_children(self.pid))


def _gunicorn() -> str | None:
    found = BIN / "gunicorn"
    return str(found) if found.exists() else shutil.which("gunicorn")


@contextlib.contextmanager
def _server(work: Path, kind: str, workers: int, env: dict[str, str]) -> Iterator[Server]:
    """Start `kind` (APP, BARE or GUNICORN) with `workers` workers; yield it once it answers."""
    port = _free_port()
    environment = {**os.environ, **env, "PORT": str(port), "RELATEDLY_HOST": "127.0.0.1",
                   "WEB_CONCURRENCY": str(workers), "PROMETHEUS_MULTIPROC_DIR": str(work / f"metrics-{port}")}
    if kind == APP:
        command = [str(BIN / "relatedly"), "serve"]
    elif kind == BARE:  # granian's WSGI interface, the product's server settings (bare_wsgi.bare_server)
        command = [sys.executable, str(BARE_APP)]
    else:
        command = [str(_gunicorn()), "--workers", str(workers), "--worker-class", "sync",
                   "--bind", f"127.0.0.1:{port}", "--chdir", str(BARE_APP.parent), "bare_wsgi:app"]
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/readyz" if kind == APP else f"{base}/", server)
        yield Server(base, server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _wait_ready(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and server.poll() is None:
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


def _children(pid: int) -> list[int]:
    """PIDs of the processes whose parent is `pid`."""
    children = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(proc.name))
    return children


# --- wrk -------------------------------------------------------------------------------------------------------
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
    with _server(work, kind, workers, env) as server:
        _wrk(script, concurrency, 2, server.base)  # warm-up
        if kind != APP:
            return _wrk(script, concurrency, duration, server.base)
        before = _counted_requests(server.base)
        result = _wrk(script, concurrency, duration, server.base)
        return {**result, "counted": _counted_requests(server.base) - before - 1}  # less the first scrape itself


def _print_table(title: str, rows: list[tuple[str, int, dict, dict]], args: argparse.Namespace) -> None:
    print(f"\n{title}: wrk -t2 -d{args.duration}s, {args.workers} workers, loopback, {os.cpu_count()} cores")
    print("(x bare: req/s and p99 as a ratio to the bare app under granian in the same run; counted: the rise of"
          " relatedly_http_requests_total in /metrics over the run, in-flight requests included)")
    print(f"{'scenario':<44}{'conc':>5}{'req/s':>9}{'x bare':>8}{'p50 ms':>8}{'p99 ms':>8}{'x bare':>8}"
          f"{'non-2xx':>8}{'requests':>10}{'counted':>9}")
    for name, concurrency, result, ceiling in rows:
        rps = result["requests"] / result["seconds"]
        ratio = rps / (ceiling["requests"] / ceiling["seconds"])
        print(f"{name:<44}{concurrency:>5}{rps:>9.0f}{ratio:>8.2f}{result['p50_us'] / 1000:>8.2f}"
              f"{result['p99_us'] / 1000:>8.2f}{result['p99_us'] / max(1, ceiling['p99_us']):>8.1f}"
              f"{result['errors']:>8d}{result['requests']:>10d}{result.get('counted', ''):>9}")
    _print_verdicts(rows)


def _print_verdicts(rows: list[tuple[str, int, dict, dict]]) -> None:
    """Issue 22's targets for the uniform rows, each said met or not."""
    for name, _, result, ceiling in rows:
        if not name.startswith("uniform"):
            continue
        ratio = (result["requests"] / result["seconds"]) / (ceiling["requests"] / ceiling["seconds"])
        p99_ms = result["p99_us"] / 1000
        if "under load" in name:
            met = p99_ms <= TARGET_PUBLISH_P99_MS and _all_answered(result)
            goal = f"p99 <= {TARGET_PUBLISH_P99_MS:g} ms in the 10 s after a publish"
        else:
            met = ratio >= TARGET_RATIO and p99_ms <= TARGET_P99_MS and _all_answered(result)
            goal = f">= {TARGET_RATIO}x bare, p99 <= {TARGET_P99_MS:g} ms"
        print(f"  {name}: {goal}, no error: {'met' if met else 'NOT met'}")


def _all_answered(result: dict) -> bool:
    """wrk got answers and every one was a 2xx (a server that answers nothing within the run fails too)."""
    return result["requests"] > 0 and not result["errors"]


# --- uniform ids right after a version change (issue 22) -------------------------------------------------------
def _uniform_after_change(work: Path, models_dir: Path, article: dict, scripts: dict[str, Path],
                          args: argparse.Namespace) -> list[tuple[str, int, dict, dict]]:
    """Uniform default GETs right after a publish and a rollback (idle, then no warm-up), and in the 10 s
    after a publish under load; in-process cache and Redis; the bare app's references first."""
    first = read_current(models_dir)
    second = _prepared_version(work, models_dir, article)
    concurrency, script = args.concurrency[0], scripts["uniform"]
    ceiling = _wrk_run(work, BARE, args.workers, {}, scripts["bare"], concurrency, args.duration)
    rows: list[tuple[str, int, dict, dict]] = [(BARE, concurrency, ceiling, ceiling)]
    if _gunicorn():
        gunicorn = _wrk_run(work, GUNICORN, args.workers, {}, scripts["bare"], concurrency, args.duration)
        rows.append((GUNICORN, concurrency, gunicorn, ceiling))
    for cache, extra in (("memory", {}), ("redis", {"RELATEDLY_REDIS_URL": args.redis_url})):
        env = {"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_CACHE_PREFIX": f"bench-{time.time_ns()}",
               **extra}
        with _server(work, APP, args.workers, env) as server:
            for change, version in (("publish", second), ("rollback", first)):
                _publish_and_wait(models_dir, server.base, version)
                after = _wrk(script, concurrency, args.duration, server.base)  # no warm-up
                rows.append((f"uniform after {change}, {cache}", concurrency, after, ceiling))
            _wrk(script, concurrency, 3, server.base)  # the service under load, then a publish as the next run starts
            under_load, switched = _publish_during(models_dir, server.base, second, script, concurrency)
            rows.append((f"uniform publish under load, {cache}", concurrency, under_load, ceiling))
            print(f"publish under load, {cache}: {switched}")
            _publish_and_wait(models_dir, server.base, first)
    return rows


def _publish_during(models_dir: Path, base: str, version: str, script: Path, concurrency: int) -> tuple[dict, str]:
    """A 10 s wrk run with `version` published 50 ms in; its report and when `/readyz` answered with it."""
    seen: list[tuple[float, str]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.02):
            with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
                seen.append((time.monotonic(), json.loads(r.read()).get("model_version", "")))

    load = subprocess.Popen(_wrk_command(script, concurrency, 10, base), stdout=subprocess.PIPE, text=True)
    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.05)
    artifacts.publish(models_dir, version)
    published = time.monotonic()
    report = _wrk_report(load.communicate()[0])
    stop.set()
    poller.join()
    after = [(t - published, v) for t, v in seen if t >= published]
    first_new = next((t for t, v in after if v == version), None)
    last_old = max((t for t, v in after if v != version), default=0.0)
    return report, (f"/readyz answered with the new version from {_ms(first_new)}, every time from"
                    f" {_ms(last_old)} on (polled every 20 ms)" if first_new is not None else
                    "the new version was NOT served within the run")


# --- slow clients (issue 22) -----------------------------------------------------------------------------------
@dataclass
class SlowTally:
    """What the slow connections saw."""

    opened: int = 0
    closed_by_server: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # status line → count
    held_seconds: list[float] = field(default_factory=list)  # how long each closed connection was held


class SlowClients:
    """`count` connections held open, each sending its request slowly.

    "headers": a request line and headers, one byte a second, never finished. "body": complete headers of a
    `POST /v1/related` with `Content-Length: 100`, one byte of body, then nothing. A connection the server
    closes is opened again at the next second's tick.
    """

    def __init__(self, port: int, kind: str, count: int = SLOW_CONNECTIONS) -> None:
        self.port, self.kind, self.count = port, kind, count
        self.tally = SlowTally()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        head = f"POST /v1/related HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        self._body_request = (head + "Content-Length: 100\r\n\r\n{").encode()
        trickle = f"GET /v1/articles/x/related HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Trickle: "
        self._header_bytes = trickle.encode() + b"a" * 100_000

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _open(self, selector: selectors.BaseSelector) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        if self.kind == "body":
            sock.sendall(self._body_request)
        selector.register(sock, selectors.EVENT_READ, [time.monotonic(), 0])  # opened at, header bytes sent
        self.tally.opened += 1

    def _run(self) -> None:
        """Each second: open connections in place of those the server closed, and send the tricklers' byte."""
        selector = selectors.DefaultSelector()
        next_tick = time.monotonic()
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.1):
                self._read(selector, key)
            if time.monotonic() < next_tick:
                continue
            next_tick += 1.0
            for _ in range(self.count - len(selector.get_map())):
                self._open(selector)
            if self.kind == "headers":
                for key in list(selector.get_map().values()):
                    state = key.data
                    with contextlib.suppress(OSError):
                        key.fileobj.send(self._header_bytes[state[1] : state[1] + 1])
                        state[1] += 1
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()

    def _read(self, selector: selectors.BaseSelector, key: selectors.SelectorKey) -> None:
        sock = key.fileobj
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if data.startswith(b"HTTP/"):
            status = data.split(b"\r\n", 1)[0].decode(errors="replace")
            self.tally.answers[status] = self.tally.answers.get(status, 0) + 1
        if not data:  # closed by the server: another one is opened in its place at the next tick
            self.tally.closed_by_server += 1
            self.tally.held_seconds.append(time.monotonic() - key.data[0])
            selector.unregister(sock)
            sock.close()


def _slow_client_runs(work: Path, models_dir: Path, scripts: dict[str, Path], args: argparse.Namespace) -> None:
    """Uniform default GETs by wrk while 128 slow connections are held open; each server, each kind."""
    concurrency = args.concurrency[0]
    kinds = [(APP, {"RELATEDLY_MODELS_DIR": str(models_dir)}), (BARE, {})]
    if _gunicorn():
        kinds.append((GUNICORN, {}))
    results: dict[tuple[str, str], tuple[dict, str, SlowTally]] = {}
    for kind, env in kinds:
        with _server(work, kind, args.workers, env) as server:
            target = scripts["uniform" if kind == APP else "bare"]
            _wrk(target, concurrency, 2, server.base)  # warm-up: the slow clients are the subject here
            for slow in SLOW_KINDS:
                before = server.workers()
                with SlowClients(int(server.base.rsplit(":", 1)[1]), slow) as clients:
                    time.sleep(2)  # every slow connection open and started before the measured GETs
                    result = _wrk(target, concurrency, args.duration, server.base)
                after = server.workers()
                replaced = ("none" if before == after else
                            f"{len(before - after)} of {len(before)} replaced ({sorted(before)} -> {sorted(after)})")
                results[(kind, slow)] = (result, replaced, clients.tally)
    print(f"\nslow clients: {SLOW_CONNECTIONS} connections held open (headers: one byte a second; body:"
          f" Content-Length 100, one byte sent) while wrk -t2 -c{concurrency} -d{args.duration}s sends uniform"
          f" default GETs (the bare app: GET /); {args.workers} workers")
    print(f"{'server':<26}{'slow':>8}{'requests':>9}{'req/s':>8}{'x bare':>7}{'p99 ms':>8}{'x bare':>7}{'failed':>7}"
          f"  workers replaced; slow connections: opened, closed by the server (after s, median), answers")
    for (kind, slow), (result, replaced, tally) in results.items():
        bare = results[(BARE, slow)][0]
        rps, bare_rps = result["requests"] / result["seconds"], bare["requests"] / bare["seconds"]
        held = sorted(tally.held_seconds)
        closed = f"{tally.closed_by_server} (after {held[len(held) // 2]:.1f} s)" if held else "0"
        print(f"{kind:<26}{slow:>8}{result['requests']:>9d}{rps:>8.0f}{rps / max(1, bare_rps):>7.2f}"
              f"{result['p99_us'] / 1000:>8.2f}{result['p99_us'] / max(1, bare['p99_us']):>7.1f}{result['errors']:>7d}"
              f"  {replaced}; {tally.opened},"
              f" {closed}, {tally.answers or 'none'}")
    for slow in SLOW_KINDS:
        result, replaced, _ = results[(APP, slow)]
        met = result["p99_us"] / 1000 <= TARGET_SLOW_P99_MS and _all_answered(result) and replaced == "none"
        print(f"  {APP}, {slow}: p99 <= {TARGET_SLOW_P99_MS:g} ms, none failed, no worker killed:"
              f" {'met' if met else 'NOT met'}")


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
    print(f"soak: wrk -t2 -c{concurrency}, {args.soak_minutes} x 60 s, {APP} (granian) {args.workers} workers, Redis")
    print(f"{'minute':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}  worker RSS MB")
    with _server(work, APP, args.workers, env) as server:
        first: dict[int, int] = {}
        for minute in range(1, args.soak_minutes + 1):
            result = _wrk(script, concurrency, 60, server.base)
            rss = _worker_rss(server)
            if minute == 1:
                first = rss
            growth = ", ".join(f"{rss[w] / 2**20:.1f} ({(rss[w] / first[w] - 1) * 100:+.1f}%)" if w in first
                               else f"{rss[w] / 2**20:.1f} (new)" for w in sorted(rss))
            print(f"{minute:>6}{result['requests'] / result['seconds']:>9.0f}{result['p50_us'] / 1000:>9.2f}"
                  f"{result['p99_us'] / 1000:>9.2f}{result['errors']:>8}  {growth}", flush=True)
    print("(RSS growth is against the first minute's; a worker respawned by granian shows as new)")


def _worker_rss(server: Server) -> dict[int, int]:
    """RSS in bytes of each of the server's workers."""
    rss = {}
    for pid in server.workers():
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            rss[pid] = int(fields["VmRSS"].split()[0]) * 1024
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
    with _server(work, APP, args.workers, env) as server:
        base = server.base
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


# --- reader events (issue 11) ----------------------------------------------------------------------------------
PACED_LOAD = Path(__file__).with_name("paced_load.py")


def _events_runs(work: Path, models_dir: Path, ids: list[str], rng: random.Random, args: argparse.Namespace) -> None:
    """Events alone, GETs alone and beside ~1,000 events/s, saturated (wrk) and at a fixed rate (paced_load.py).

    Every fixed-rate stream is paced_load.py's (see there),
    sent as a proxy would. Each run reports the workers' CPU per request and each client's own.
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
        with _server(work, APP, args.workers, env) as server:
            base, workers = server.base, list(server.workers())
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
    print(f"\nreader events: {APP} (granian) {args.workers} workers, SQLite store, rate limit off, {args.duration} s"
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
    """User+sys CPU seconds the processes (the workers, every thread) have used so far."""
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
