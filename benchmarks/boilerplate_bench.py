"""Site boilerplate against relevance: a 20 Newsgroups sample as plain text and as site-like HTML pages.

    python benchmarks/boilerplate_bench.py [--newsgroups ../shared/data/20newsgroups/articles.jsonl]
                                           [--articles 4000] [--seed 0] [--keep DIR]

The HTML version wraps each post as a news site would: a figure with an image credit, a share box,
a newsletter box, an author bio, a fact box and "Read more:" teasers of the site's current stories.
Each kind of block comes in a few verbatim variants, so every variant recurs in roughly 2–40 % of
the articles, as on a real site; class names the HTML cleaner does not know, so all of it survives
cleaning as text. Both files are evaluated as `relatedly evaluate` does (labels = newsgroups, the
`relatedly` ranker with the default rules, every labelled article a query), with the boilerplate
rule on (the default) and off (`boilerplate_min_share=None`: what the vectors were before it).
The target: the HTML/plain gap ≤ 0.01 nDCG@10 with the rule on.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from recommender.vectorize import VectorizerParams
from training.evaluate import evaluate_corpus

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DEFAULT_NEWSGROUPS = DATA / "20newsgroups" / "articles.jsonl"
CREDITS = ["Image credits: NASA / JPL-Caltech", "Image credits: ESA", "Photo: Getty Images", "Photo: Reuters / File",
           "Image: Wikimedia Commons, CC BY-SA 4.0"]
SHARE = ["share Share", "Share this story: Facebook, Twitter, LinkedIn, Email", "Share on Facebook Share on X"]
NEWSLETTER = ["Sign up for our daily newsletter and get the best stories in your inbox every morning.",
              "Subscribe to our weekly briefing. You can unsubscribe at any time."]
BIOS = [f"{name} is a {role} at the Daily Relay. {name.split()[0]} has covered {beat} since {year}."
        for name, role, beat, year in [
            ("Alice Martin", "senior reporter", "science and space", 2012),
            ("Bob Ferreira", "technology editor", "computers and the internet", 2015),
            ("Chloe Novak", "staff writer", "politics and religion", 2018),
            ("David Okafor", "sports correspondent", "baseball and hockey", 2010),
            ("Eva Lindqvist", "features writer", "cars, motorcycles and travel", 2016),
        ]]
FACTS = ["Fact box: The Daily Relay checks every story with two independent sources before publication.",
         "Correction policy: we correct errors as soon as we learn of them."]


def site_page(record: dict, rng: np.random.Generator, teasers: list[str]) -> str:
    """The post's text as a site's HTML page around it (paragraphs from its blank-line blocks)."""
    paragraphs = [p for p in record["body"].split("\n\n") if p.strip()] or [record["body"]]
    parts = [f'<figure><img src="/img/{record["id"]}.jpg"><figcaption>{rng.choice(CREDITS)}</figcaption></figure>']
    parts += [f"<p>{html.escape(p)}</p>" for p in paragraphs]
    if rng.random() < 0.8:
        parts.append(f'<div class="share-box">{rng.choice(SHARE)}</div>')
    if rng.random() < 0.5:
        parts.append(f'<div class="newsletter-signup"><p>{rng.choice(NEWSLETTER)}</p></div>')
    if rng.random() < 0.7:
        parts.append(f'<p class="author-bio">{rng.choice(BIOS)}</p>')
    if rng.random() < 0.3:
        parts.append(f'<div class="fact-box">{rng.choice(FACTS)}</div>')
    for teaser in rng.choice(teasers, size=2, replace=False):
        parts.append(f'<p class="read-more">Read more: <a href="#">{html.escape(teaser)}</a></p>')
    return "<article>" + "".join(parts) + "</article>"


def write_corpora(newsgroups: Path, n: int, seed: int, directory: Path) -> tuple[Path, Path]:
    """A seeded sample of labelled posts as plain JSON Lines and as site-like HTML JSON Lines."""
    records = [r for r in map(json.loads, newsgroups.read_text(encoding="utf-8").splitlines()) if r.get("labels")]
    rng = np.random.default_rng(seed)
    sample = [records[i] for i in np.sort(rng.choice(len(records), size=min(n, len(records)), replace=False))]
    teasers = [records[i]["title"] for i in rng.choice(len(records), size=20, replace=False)]  # the site's front page
    plain, site = directory / "plain.jsonl", directory / "site.jsonl"
    with plain.open("w", encoding="utf-8") as p, site.open("w", encoding="utf-8") as s:
        for record in sample:
            p.write(json.dumps(record) + "\n")
            s.write(json.dumps({**record, "body": site_page(record, rng, teasers)}) + "\n")
    return plain, site


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--newsgroups", type=Path, default=DEFAULT_NEWSGROUPS)
    parser.add_argument("--articles", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write the two corpora here (default: a temporary directory)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        plain, site = write_corpora(args.newsgroups, args.articles, args.seed, directory)
        rules = {"rule off": VectorizerParams(boilerplate_min_share=None), "rule on": VectorizerParams()}
        print(f"20 Newsgroups sample of {args.articles} (seed {args.seed}), nDCG@10 of `relatedly`:")
        print("| boilerplate rule | plain text | site HTML | gap | fit seconds (plain, HTML) |")
        print("|---|---|---|---|---|")
        for name, params in rules.items():
            scores, seconds = [], []
            for path in (plain, site):
                report = evaluate_corpus(path, params=params)
                seconds.append(report.seconds["relatedly (fit)"])
                scores.append(report.rankers["relatedly"].ndcg_at_k)
            print(f"| {name} | {scores[0]:.4f} | {scores[1]:.4f} | {scores[0] - scores[1]:+.4f} | "
                  f"{seconds[0]:.1f}, {seconds[1]:.1f} |")


if __name__ == "__main__":
    main()
