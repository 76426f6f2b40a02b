"""Relevance on human judgements: re-rank CSFCube's judged pools (graded 0–3) and report nDCG@10.

    python benchmarks/relevance_csfcube.py [--data ../shared/data/csfcube] [--components 0 50 100]

CSFCube is the only corpus in ../shared/data with expert document-to-document judgements, the
closest proxy for the held-out human benchmark. Each of the 34 query papers has a pool of ~125
judged candidates; every ranker orders the pool and is scored with linear-gain nDCG@10.
Rankers: tfidf-plain, bm25 and Relatedly with several LSA sizes (0 = TF-IDF only), in one run.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from recommender.baselines import Bm25Scorer
from recommender.corpus import load_corpus
from recommender.model import RelatedModel
from recommender.vectorize import VectorizerParams

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "csfcube"


def ndcg_at(ranked: list[str], gains: dict[str, int], k: int = 10) -> float:
    dcg = sum(gains[d] / np.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sum(g / np.log2(i + 2) for i, g in enumerate(sorted(gains.values(), reverse=True)[:k]))
    return dcg / ideal if ideal else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--components", type=int, nargs="+", default=[0, 50, 100, 200])
    args = parser.parse_args()
    articles = load_corpus(Path(args.data) / "articles.jsonl", skip_invalid=True).articles
    index = {a.id: i for i, a in enumerate(articles)}
    pools: dict[str, dict[str, int]] = collections.defaultdict(dict)
    with open(Path(args.data) / "qrels.jsonl", encoding="utf-8") as lines:
        for line in lines:
            judgement = json.loads(line)
            pools[judgement["query_id"]][judgement["doc_id"]] = judgement["relevance"]

    def evaluate(score) -> float:
        values = []
        for query, gains in pools.items():
            pool = [d for d in gains if d in index and d != query]
            scores = score(index[query], np.array([index[d] for d in pool]))
            order = np.lexsort((np.arange(len(pool)), -scores))
            values.append(ndcg_at([pool[i] for i in order], gains))
        return float(np.mean(values))

    plain = TfidfVectorizer().fit_transform(f"{a.title} {a.body}" for a in articles)
    bm25 = Bm25Scorer(articles)
    results = {
        "tfidf-plain": evaluate(lambda q, pool: (plain[pool] @ plain[q].T).toarray().ravel()),
        "bm25": evaluate(lambda q, pool: bm25.block(q, q + 1).ravel()[pool]),
    }
    for components in args.components:
        params = VectorizerParams(lsa_components=components) if components else VectorizerParams(lsa_weight=0.0)
        model = RelatedModel(params=params).fit(articles)
        space = model.space_
        results[f"relatedly lsa={components}"] = evaluate(
            lambda q, pool, space=space: space.to_candidates(space.row(q), pool)
        )
    print(f"CSFCube: {len(pools)} queries, judged pools re-ranked, nDCG@10 (linear gains)")
    base = results["tfidf-plain"]
    for name, value in results.items():
        print(f"{name:<22}{value:>8.4f}{value / base:>8.2f}x")


if __name__ == "__main__":
    main()
