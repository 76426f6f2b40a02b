"""Import benchmark: relevance of HTML-wrapped exports against their plain text, and import speed and memory.

    python benchmarks/import_bench.py [--newsgroups ../shared/data/20newsgroups/articles.jsonl]
                                      [--sample 4000] [--import-posts 100000] [--skip-relevance] [--skip-import]

1. Relevance. A seeded 4,000-article sample of 20 Newsgroups is wrapped in WordPress-style markup made
   here (block comments with JSON attributes, a `[caption]` with an image, inline links, entities,
   `<br>` line breaks, share buttons, a tracking script) and written as a WXR export (with attachments,
   drafts and a page to skip), as REST API pages (`_embed`, 100 posts a page) and as JSON Lines with
   HTML fields, beside the plain-text JSON Lines. Each is trained with `relatedly train`'s pipeline and
   every article's list is asked of the API (Flask test client, default options, limit 10); nDCG@10
   by newsgroup label is printed for each, with its difference to the plain text of the same run.
   Target: every HTML variant within 0.01 of plain text. The same HTML JSON Lines read with
   `--body-format text` (no cleaning) shows what the cleaning is worth.
2. Import. A generated WXR of `--import-posts` posts (20 Newsgroups bodies cycled, same markup) and
   the same posts as plain JSON Lines are each read by `load_corpus` in a process of its own; posts/s
   and peak RSS (VmHWM) are printed, with the ratio to the plain JSON Lines read. Target: ≥ 2,000
   posts/s and ≤ 500 MB peak RSS on 2 cores. Generated files live in a temp directory, never committed.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publishing.train import train_and_publish  # noqa: E402
from recommender import artifacts  # noqa: E402
from recommender.evaluation import evaluate_lists, label_matrix  # noqa: E402
from service import create_app  # noqa: E402
from service.config import Settings  # noqa: E402

DEFAULT_NEWSGROUPS = ROOT.parent / "shared" / "data" / "20newsgroups" / "articles.jsonl"
WXR_HEAD = ('<?xml version="1.0" encoding="UTF-8" ?>\n<rss version="2.0"\n'
            ' xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"\n'
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"\n xmlns:wp="http://wordpress.org/export/1.2/">\n'
            "<channel>\n<title>Bench</title>\n<wp:wxr_version>1.2</wp:wxr_version>\n")
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SITE = "https://bench.example"
# VmHWM of the reading process, plus the largest cleaning worker's peak (ru_maxrss of reaped children)
MEMORY_PROBE = """
import re, resource, sys, time
from recommender.corpus import load_corpus
started = time.perf_counter()
corpus = load_corpus(sys.argv[2:], jobs=int(sys.argv[1]))
seconds = time.perf_counter() - started
children = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu_seconds = time.process_time() + children.ru_utime + children.ru_stime
with open("/proc/self/status") as status:
    peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
print(len(corpus.articles), seconds, peak_kb, children.ru_maxrss, cpu_seconds)
"""


def read_sample(path: Path, n: int, seed: int) -> list[dict]:
    """A seeded sample of labelled articles with a non-empty title and body, in file order."""
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    rows = [r for r in rows if r.get("title", "").strip() and r.get("body", "").strip() and r.get("labels")]
    if n >= len(rows):
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=n, replace=False))
    return [rows[i] for i in keep]


def wrap(number: int, row: dict) -> tuple[str, str]:
    """The title and body as a WordPress block-editor post would hold them."""
    paragraphs = [p for p in re.split(r"\n\s*\n", row["body"]) if p.strip()]
    blocks = []
    for i, paragraph in enumerate(paragraphs):
        text = html.escape(paragraph.strip()).replace("\n", "<br>\n")
        words = [w for w in re.findall(r"[A-Za-z]{6,}", text) if w not in ("br",)]
        if words:
            word = words[(number + i) % len(words)]
            text = text.replace(word, f'<a href="{SITE}/tag/{word.lower()}/">{word}</a>', 1)
        blocks.append(f'<!-- wp:paragraph {{"className":"para-{i}","fontSize":"medium"}} -->\n<p>{text}</p>\n'
                      "<!-- /wp:paragraph -->")
        if i == 0:
            blocks.append(f'<!-- wp:shortcode -->\n[caption id="attachment_{number}" align="alignnone" width="640"]'
                          f'<img class="wp-image-{number}" src="{SITE}/wp-content/uploads/{number}.jpg" alt=""'
                          f' width="640" height="480" /> Photo: archive[/caption]\n<!-- /wp:shortcode -->')
    blocks.append('<div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">Share this:</h3><ul>'
                  f'<li><a href="https://twitter.com/share?url={SITE}/{number}/">Twitter</a></li>'
                  f'<li><a href="https://facebook.com/sharer.php?u={SITE}/{number}/">Facebook</a></li></ul></div>')
    blocks.append('<script type="text/javascript">var _paq = window._paq || []; _paq.push(["trackPageView"]);'
                  "</script>")
    title = html.escape(row["title"]).replace("'", "&#8217;")
    return XML_ILLEGAL.sub("", title), XML_ILLEGAL.sub("", "\n\n".join(blocks))


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def wxr_items(posts: Iterable[tuple[int, str, str]]) -> Iterable[str]:
    """`<item>`s of the posts, each followed by its featured image's attachment; every 50th a draft too."""
    for number, title, body in posts:
        yield (f"<item><title>{cdata(title)}</title><link>{SITE}/{number}/</link>"
               f'<guid isPermaLink="false">{SITE}/?p={number}</guid><content:encoded>{cdata(body)}</content:encoded>'
               f"<excerpt:encoded><![CDATA[]]></excerpt:encoded><wp:post_id>{number}</wp:post_id>"
               "<wp:post_date><![CDATA[2024-01-01 10:00:00]]></wp:post_date>"
               "<wp:post_date_gmt><![CDATA[2024-01-01 09:00:00]]></wp:post_date_gmt>"
               "<wp:status><![CDATA[publish]]></wp:status><wp:post_type><![CDATA[post]]></wp:post_type>"
               "<wp:post_password><![CDATA[]]></wp:post_password>"
               f"<wp:postmeta><wp:meta_key><![CDATA[_thumbnail_id]]></wp:meta_key><wp:meta_value>{cdata(str(-number))}"
               "</wp:meta_value></wp:postmeta></item>\n")
        yield (f"<item><title>image {number}</title><wp:post_id>{-number}</wp:post_id>"
               "<wp:status><![CDATA[inherit]]></wp:status><wp:post_type><![CDATA[attachment]]></wp:post_type>"
               f"<wp:attachment_url>{SITE}/wp-content/uploads/{number}.jpg</wp:attachment_url></item>\n")
        if number % 50 == 0:
            yield (f"<item><title>Draft {number}</title><wp:post_id>{number + 10_000_000}</wp:post_id>"
                   "<wp:post_date_gmt><![CDATA[0000-00-00 00:00:00]]></wp:post_date_gmt>"
                   "<wp:status><![CDATA[draft]]></wp:status><wp:post_type><![CDATA[post]]></wp:post_type></item>\n")


def write_wxr(path: Path, posts: Iterable[tuple[int, str, str]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(WXR_HEAD)
        f.write('<item><title>About</title><wp:post_id>999999999</wp:post_id><wp:status>publish</wp:status>'
                "<wp:post_type>page</wp:post_type><content:encoded><![CDATA[<p>About us</p>]]></content:encoded>"
                "</item>\n")
        f.writelines(wxr_items(posts))
        f.write("</channel>\n</rss>\n")


def write_rest(directory: Path, posts: list[tuple[int, str, str]], per_page: int = 100) -> list[Path]:
    """REST API pages of `/wp/v2/posts?_embed`, as a site dump would save them."""
    pages = []
    for start in range(0, len(posts), per_page):
        page = [{
            "id": number, "date_gmt": "2024-01-01T09:00:00", "status": "publish", "type": "post",
            "link": f"{SITE}/{number}/", "title": {"rendered": title},
            "content": {"rendered": body, "protected": False}, "excerpt": {"rendered": "", "protected": False},
            "tags": [], "categories": [],
            "_embedded": {"wp:featuredmedia": [{"id": -number,
                                                "source_url": f"{SITE}/wp-content/uploads/{number}.jpg"}]},
        } for number, title, body in posts[start : start + per_page]]
        path = directory / f"posts-{start // per_page + 1:03d}.json"
        path.write_text(json.dumps(page, ensure_ascii=False, indent=1), encoding="utf-8")
        pages.append(path)
    return pages


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def ndcg_through_api(models_dir: Path, ids: list[str], labels: list[list[str]], k: int = 10) -> float:
    """Every article's default list from the API, scored by shared newsgroup labels."""
    client = create_app(Settings(models_dir=str(models_dir), log_level="WARNING"), watch=False).test_client()
    row_of = {article_id: i for i, article_id in enumerate(ids)}
    lists = np.full((len(ids), k), -1, dtype=np.int64)
    scores = np.zeros((len(ids), k))
    for i, article_id in enumerate(ids):
        related = client.get(f"/v1/articles/{article_id}/related?limit={k}").get_json()["related"]
        for j, item in enumerate(related):
            lists[i, j], scores[i, j] = row_of[item["id"]], item["score"]
    model, _ = artifacts.load_version(models_dir, artifacts.read_current(models_dir))
    metrics = evaluate_lists(lists, scores, np.arange(len(ids)), label_matrix(labels), model.vectors_.tfidf, k=k)
    return metrics.ndcg_at_k


def relevance(sample: list[dict], work: Path) -> None:
    numbers = list(range(1, len(sample) + 1))
    wrapped = [wrap(n, row) for n, row in zip(numbers, sample, strict=True)]
    posts = [(n, t, b) for n, (t, b) in zip(numbers, wrapped, strict=True)]
    labels = [row["labels"] for row in sample]
    ids = [str(n) for n in numbers]
    plain = work / "plain.jsonl"
    write_jsonl(plain, ({"id": str(n), "title": row["title"], "body": row["body"], "url": f"{SITE}/{n}/"}
                        for n, row in zip(numbers, sample, strict=True)))
    html_jsonl = work / "html.jsonl"
    write_jsonl(html_jsonl, ({"id": str(n), "title": t, "body": b, "url": f"{SITE}/{n}/"} for n, t, b in posts))
    wxr = work / "export.xml"
    write_wxr(wxr, posts)
    rest_dir = work / "rest"
    rest_dir.mkdir()
    variants = {"plain text (JSON Lines)": ([plain], "auto"), "WXR": ([wxr], "auto"),
                "REST pages": (write_rest(rest_dir, posts), "auto"), "JSON Lines with HTML": ([html_jsonl], "auto"),
                "JSON Lines with HTML, uncleaned": ([html_jsonl], "text")}
    print(f"relevance: {len(sample)} articles of 20 Newsgroups, nDCG@10 by newsgroup through the API")
    baseline = None
    for index, (name, (paths, body_format)) in enumerate(variants.items()):
        models = work / f"models-{index}"
        started = time.perf_counter()
        summary = train_and_publish(paths, models, top_k=50, jobs=1, body_format=body_format)
        ndcg = ndcg_through_api(models, ids, labels)
        baseline = ndcg if baseline is None else baseline
        left_out = f", left out {sum(summary.excluded.values())}" if summary.excluded else ""
        print(f"  {name:<32} nDCG@10 {ndcg:.4f}  diff {ndcg - baseline:+.4f}  "
              f"({summary.n_articles} articles{left_out}, {time.perf_counter() - started:.1f} s)")


def import_speed(rows: list[dict], n_posts: int, work: Path) -> None:
    def posts() -> Iterable[tuple[int, str, str]]:
        for number in range(1, n_posts + 1):
            yield (number, *wrap(number, rows[(number - 1) % len(rows)]))

    wxr, plain = work / "import-100k.xml", work / "import-100k.jsonl"
    started = time.perf_counter()
    write_wxr(wxr, posts())
    write_jsonl(plain, ({"id": str(n), "title": rows[(n - 1) % len(rows)]["title"],
                         "body": rows[(n - 1) % len(rows)]["body"]} for n in range(1, n_posts + 1)))
    print(f"import: {n_posts:,} posts generated in {time.perf_counter() - started:.0f} s"
          f" (WXR {wxr.stat().st_size / 2**20:.0f} MB with attachments and drafts,"
          f" JSON Lines {plain.stat().st_size / 2**20:.0f} MB)")
    results = {}
    runs = (("plain JSON Lines (baseline)", plain, 1), ("WXR with HTML, 1 process", wxr, 1),
            ("WXR with HTML, all cores", wxr, -1))
    for name, path, jobs in runs:
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(jobs), str(path)], capture_output=True,
                             text=True, cwd=ROOT, check=True).stdout.split()
        n, seconds, peak_kb, worker_kb, cpu = int(out[0]), float(out[1]), int(out[2]), int(out[3]), float(out[4])
        results[name] = (n / seconds, peak_kb / 1024)
        workers = f" + {worker_kb / 1024:.0f} MB per cleaning worker" if worker_kb else ""
        print(f"  {name:<28} {n:,} articles in {seconds:.1f} s = {n / seconds:,.0f} posts/s"
              f" ({cpu:.1f} CPU s, {n / cpu:,.0f} posts per CPU second), peak RSS {peak_kb / 1024:.0f} MB{workers}")
    (base_rate, base_rss), *variants = results.values()
    for name, (rate, rss) in zip(list(results)[1:], variants, strict=True):
        print(f"  {name} / plain: {rate / base_rate:.2f}x the speed, {rss / base_rss:.2f}x the peak RSS")
    print(f"  targets: >= 2,000 posts/s, <= 500 MB peak RSS on 2 cores (load average now {os.getloadavg()[0]:.1f}:"
          " on a shared machine wall time is noisy, CPU seconds less so)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--newsgroups", type=Path, default=DEFAULT_NEWSGROUPS)
    parser.add_argument("--sample", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--import-posts", type=int, default=100_000)
    parser.add_argument("--skip-relevance", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relatedly-import-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_relevance:
            relevance(read_sample(args.newsgroups, args.sample, args.seed), work)
        if not args.skip_import:
            import_speed(read_sample(args.newsgroups, 10**9, args.seed), args.import_posts, work)


if __name__ == "__main__":
    main()
