"""LSA choices against relevance: nDCG@10 of the default model under each randomized-SVD setting.

    python benchmarks/lsa_choices.py [--data ../shared/data] [--corpora 20newsgroups bbc_news …] [--choices …]

Each corpus is evaluated as in docs/relevance.md (`relatedly evaluate --max-articles 4000`, seed 0,
the `relatedly` ranker with the default rules); only the LSA parameters change between rows.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from recommender.vectorize import VectorizerParams
from training.evaluate import evaluate_corpus

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CHOICES = {
    "5 power iterations, 10 oversamples": VectorizerParams(lsa_iterations=5, lsa_oversamples=10),
    "3 power iterations, 20 oversamples": VectorizerParams(lsa_iterations=3, lsa_oversamples=20),
    "2 power iterations, 20 oversamples": VectorizerParams(lsa_iterations=2, lsa_oversamples=20),
    "1 power iteration, 30 oversamples": VectorizerParams(lsa_iterations=1, lsa_oversamples=30),
    "5 power iterations, 10 oversamples, basis on 2,000 of the 4,000 rows": VectorizerParams(lsa_sample_rows=2000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+",
                        default=["20newsgroups", "bbc_news", "reuters21578", "ag_news_test", "huffpost_subset"])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared corpora (../shared/data)")
    parser.add_argument("--choices", nargs="+", choices=list(CHOICES), default=list(CHOICES))
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print("| LSA choice | " + " | ".join(args.corpora) + " | fit seconds (sum) |")
    print("|---|" + "---|" * (len(args.corpora) + 1))
    for name in args.choices:
        scores, seconds = [], 0.0
        for corpus in args.corpora:
            started = time.perf_counter()
            report = evaluate_corpus(args.data / corpus / "articles.jsonl", max_articles=4000, params=CHOICES[name])
            seconds += time.perf_counter() - started
            scores.append(f"{report.rankers['relatedly'].ndcg_at_k:.3f}")
        print(f"| {name} | " + " | ".join(scores) + f" | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
