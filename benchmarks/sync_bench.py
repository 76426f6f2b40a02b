"""`relatedly sync` benchmark: 10,000 changed posts from a local fake WordPress, against `relatedly update`.

    flock /work/coord/cpu.lock python benchmarks/sync_bench.py [--corpus ../shared/data/20newsgroups/articles.jsonl]
                                                               [--posts 10000]

The corpus's last `--posts` articles become WordPress posts (ids 1…n) served by `tests/fake_sites.py` in a
process of its own (REST API, pages of 100, `_embed`); the rest is trained as the published model. Then,
each from a fresh copy of that model, timed end to end as the CLI runs them:

  (a) baseline: `relatedly update --corpus posts.jsonl`, the posts as `relatedly import` wrote them from a
      REST dump of the site (the export-import-update workflow sync replaces);
  (b) `relatedly update --corpus page-*.json`, the same REST pages saved to files (sync's readers, no HTTP);
  (c) `relatedly sync URL --once`, which reads those pages over HTTP, checks them, updates and records state.

Prints posts/s of each and (c)/(a); the target is ≥ 200 posts/s for (c), close to (a).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publishing.train import train_and_publish  # noqa: E402
from recommender.corpus import load_corpus  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fake_sites import FakeSite  # noqa: E402

RELATEDLY = str(Path(sys.executable).parent / "relatedly")


def serve_site(records: list[dict], port: int) -> None:
    """The fake WordPress with the posts, until the parent terminates this process."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    site = FakeSite()
    for number, record in enumerate(records, start=1):
        site.publish(number, record["title"], record["body"], list(record.get("tags") or [])[:10])
    site.requests = _NoList()
    make_server("127.0.0.1", port, site.app, threaded=True).serve_forever()


class _NoList(list):
    """The benchmark keeps no request log."""

    def append(self, _item: object) -> None:
        return None


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "data" / "20newsgroups" / "articles.jsonl"))
    parser.add_argument("--posts", type=int, default=10_000)
    args = parser.parse_args()
    records = [json.loads(line) for line in Path(args.corpus).read_text(encoding="utf-8").splitlines() if line]
    base, posts = records[: -args.posts], records[-args.posts:]
    with tempfile.TemporaryDirectory(prefix="relatedly-sync-bench-") as tmp:
        work = Path(tmp)
        (work / "base.jsonl").write_text("".join(json.dumps(r) + "\n" for r in base), encoding="utf-8")
        print(f"training the base model on {len(base)} articles …", flush=True)
        train_and_publish(work / "base.jsonl", work / "base-models", top_k=50)

        port = free_port()
        server = multiprocessing.get_context("fork").Process(target=serve_site, args=(posts, port), daemon=True)
        server.start()
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url)
            pages = _dump_pages(url, work / "dump")
            assert len(load_corpus(pages).articles) == args.posts
            subprocess.run([RELATEDLY, "import", *map(str, pages), "--out", str(work / "posts.jsonl")], check=True,
                           capture_output=True)
            results = {}
            for name, command in (
                ("(a) update from JSON Lines", ["update", "--corpus", str(work / "posts.jsonl")]),
                ("(b) update from the REST pages", ["update", "--corpus", *map(str, pages)]),
                ("(c) sync over HTTP", ["sync", url, "--once"]),
            ):
                models = work / name[1]
                shutil.copytree(work / "base-models", models / "models")
                seconds, out = timed([RELATEDLY, *command, "--models-dir", str(models / "models")])
                results[name] = seconds
                summary = next((line for line in out.splitlines() if line.startswith(("published", "synced"))), "")
                stages = next((line.split(" seconds=")[-1] for line in out.splitlines() if "sync_poll " in line), "")
                print(f"{name:32} {seconds:6.1f} s  {args.posts / seconds:7.0f} posts/s   {summary[:150]} …"
                      f"{summary[-40:]}" + (f"\n{'':32} poll {stages}" if stages else ""), flush=True)
        finally:
            server.terminate()
            server.join()
    a, c = results["(a) update from JSON Lines"], results["(c) sync over HTTP"]
    print(f"sync: {args.posts / c:.0f} posts/s (target >= 200); sync / update-from-JSONL speed: {a / c:.2f}x "
          f"({datetime.now(UTC):%Y-%m-%d}, base model {len(base)} articles)")


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"the fake site at {url} never answered")
            time.sleep(0.2)


def _dump_pages(url: str, directory: Path) -> list[Path]:
    """The site's posts as REST dump pages, as a publisher would save them for `relatedly import`."""
    directory.mkdir()
    pages, page = [], 1
    while True:
        with urllib.request.urlopen(f"{url}/wp-json/wp/v2/posts?per_page=100&_embed=1&page={page}") as reply:
            path = directory / f"page-{page:03d}.json"
            path.write_bytes(reply.read())
            pages.append(path)
            if page >= int(reply.headers["X-WP-TotalPages"]):
                return pages
        page += 1


if __name__ == "__main__":
    main()
