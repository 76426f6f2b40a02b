"""One tokenisation of the corpus, counted as integers: the vocabulary, IDF and rows of `TfidfVectorizer`.

scikit-learn's `TfidfVectorizer.fit` keeps every unpruned word pair of the corpus as a Python string
(most of them occur once and are pruned by `min_df`), and our field weighting tokenised the corpus a
second time. Here each chunk of articles is tokenised once, on a thread or a cluster's worker (map):
words become the chunk's own integer ids (`recommender.word_tokens`) and every term a 64-bit key
(`recommender.count_kernels`), with its document frequency in the chunk. The calling thread remaps
the chunk's ids to global ones and merges the frequencies (reduce), prunes exactly as
`TfidfVectorizer` does (`min_df`, `max_df`, `max_features`) and builds strings only for the terms
kept. Each article field's counts then come from the kept token ids
(map again), never from the text. The analyser is `TfidfVectorizer`'s own (its preprocessor and
stop words, and a compiled scan equal to its default token pattern), so the vocabulary, IDF and rows
are the ones it would give.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, count
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfVectorizer

from recommender.count_kernels import (
    SECOND_MASK,
    chunk_frequencies,
    field_term_counts,
    merge_frequencies,
    pair_columns,
)
from recommender.heap import trim_heap
from recommender.term_index import TermIndex
from recommender.word_tokens import TOKEN_PATTERN, word_ids

# An article's fields in the order of the whole text scikit-learn's fit was given (title, tags, body):
# the pairs that straddle two fields count towards the vocabulary and IDF, as they did there.
WHOLE_TEXT_FIELDS = ("title", "tags", "body")
Fields = tuple[str, str, str]  # title, tags joined by spaces, body


@dataclass(frozen=True)
class ChunkCounts:
    """One chunk's tokens (stop words removed) as ids into `words`, and its term frequencies."""

    words: list[str]
    tokens: np.ndarray  # int32 ids, the articles' fields one after the other
    field_lengths: np.ndarray  # (articles, 3) tokens per field, in WHOLE_TEXT_FIELDS order
    keys: np.ndarray  # sorted int64 term keys (see count_kernels)
    df: np.ndarray
    tf: np.ndarray  # total counts, only with `max_features` (else empty)


def count_chunk(texts: Sequence[Fields], analyzer: TfidfVectorizer) -> ChunkCounts:
    """Map step: tokenise a chunk of articles once and count its terms (runs on a worker)."""
    if analyzer.token_pattern != TOKEN_PATTERN or analyzer.tokenizer is not None:
        raise ValueError(f"the compiled tokenizer reproduces only the token pattern {TOKEN_PATTERN!r}")
    preprocess = analyzer.build_preprocessor()
    words, raw, lengths = word_ids([preprocess(text) for fields in texts for text in fields])
    stop_words = analyzer.get_stop_words() or frozenset()
    stop = np.fromiter((word in stop_words for word in words), dtype=np.bool_, count=len(words))
    # Stop words are dropped, as `_word_ngrams` drops them; the other words keep their order.
    kept_ids = (np.cumsum(~stop) - 1).astype(np.int32)
    kept = ~stop[raw]
    ends = np.concatenate([[0], np.cumsum(kept)])[np.cumsum(lengths)]
    field_lengths = np.diff(ends, prepend=0).reshape(len(texts), 3).astype(np.int32)
    tokens = kept_ids[raw[kept]]
    doc_starts = np.concatenate([[0], np.cumsum(field_lengths.sum(axis=1))]).astype(np.int64)
    keys, df, tf = chunk_frequencies(tokens, doc_starts, analyzer.ngram_range[1] > 1,
                                     analyzer.max_features is not None)
    return ChunkCounts(list(compress(words, ~stop)), tokens, field_lengths, keys, df, tf)


@dataclass(frozen=True)
class TermLookup:
    """Column of a kept term by word id (words) and by (first, second) word id (pairs): arrays only,
    so a rows task ships them and not the term strings."""

    n_terms: int
    word_columns: np.ndarray  # int32 column of each global word id, -1 when pruned
    pair_codes: np.ndarray  # kept pairs as first × (words + 1) + second + 1, sorted (`count_kernels.pair_columns`)
    pair_columns: np.ndarray


@dataclass(frozen=True)
class Vocabulary:
    """The kept terms in column order (strings for the stored vectorizer), their IDF and lookup."""

    terms: TermIndex
    idf: np.ndarray
    lookup: TermLookup


class CorpusCounts:
    """Reduce step: the chunks' tokens in global word ids and the merged term frequencies."""

    def __init__(self) -> None:
        self._ids: defaultdict[str, int] = defaultdict(count().__next__)  # global id of each word, new ones next
        self.chunks: list[tuple[np.ndarray, np.ndarray]] = []  # (tokens, field_lengths) per chunk
        self.n_articles = 0
        # Merged frequency tables, each of `chunks` chunks, merged pairwise as in a binary counter so each
        # key is copied O(log chunks) times rather than once per chunk.
        self._tables: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, chunk: ChunkCounts) -> None:
        """Remap a chunk's word ids to global ones and merge its frequencies into the corpus's."""
        to_global = np.fromiter(map(self._ids.__getitem__, chunk.words), dtype=np.int64, count=len(chunk.words))
        self.chunks.append((to_global[chunk.tokens].astype(np.int32), chunk.field_lengths))
        self.n_articles += len(chunk.field_lengths)
        second = chunk.keys & SECOND_MASK
        keys = (to_global[chunk.keys >> 32] << 32) | np.where(second > 0, to_global[second - 1] + 1, 0)
        order = np.argsort(keys)  # keys are distinct: any sort gives the same order
        self._tables.append((1, keys[order], chunk.df[order], chunk.tf[order] if len(chunk.tf) else chunk.tf))
        while len(self._tables) > 1 and self._tables[-1][0] >= self._tables[-2][0]:
            self._merge_last_two()

    def _merge_last_two(self) -> None:
        (n_b, *b), (n_a, *a) = self._tables.pop(), self._tables.pop()
        self._tables.append((n_a + n_b, *merge_frequencies(*a, *b)))

    def _table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The corpus's merged (keys, df, tf)."""
        while len(self._tables) > 1:
            self._merge_last_two()
        if not self._tables:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
        return self._tables[0][1:]

    def vocabulary(self, analyzer: TfidfVectorizer) -> Vocabulary:
        """Prune and order the terms as `TfidfVectorizer.fit` does; `ValueError` when none is left."""
        table_keys, table_df, table_tf = self._table()
        if not len(table_keys):
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        n_doc = self.n_articles
        high = analyzer.max_df if isinstance(analyzer.max_df, Integral) else analyzer.max_df * n_doc
        low = analyzer.min_df if isinstance(analyzer.min_df, Integral) else analyzer.min_df * n_doc
        if high < low:
            raise ValueError("max_df corresponds to < documents than min_df")
        candidates = np.flatnonzero((table_df <= high) & (table_df >= low))
        # The terms' string order: a pair's string is its words joined by a space, which sorts below
        # every word character, so strings sort as (rank of first word, rank of second word + 1).
        words = list(self._ids)
        rank = np.empty(len(words), dtype=np.int64)
        rank[sorted(range(len(words)), key=words.__getitem__)] = np.arange(len(words))
        keys = table_keys[candidates]
        second = keys & SECOND_MASK
        kept = candidates[np.argsort((rank[keys >> 32] << 32) | np.where(second > 0, rank[second - 1] + 1, 0),
                                     kind="stable")]
        del keys, second
        limit = analyzer.max_features
        if limit is not None and len(kept) > limit:  # `_limit_features`: the same argsort on the same float32 sums
            best = (-table_tf[kept].astype(np.float32)).argsort()[:limit]
            kept = kept[np.sort(best)]
        if not len(kept):
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
        return self._lookup(words, table_keys[kept], table_df[kept], analyzer)

    def _lookup(self, words: list[str], keys: np.ndarray, df: np.ndarray, analyzer: TfidfVectorizer) -> Vocabulary:
        """The kept terms' keys (in global word ids) and document frequencies, in column order."""
        columns = np.arange(len(keys), dtype=np.int32)
        first, second = keys >> 32, keys & SECOND_MASK
        terms = TermIndex.from_word_pairs(words, first, second)
        word_columns = np.full(len(words), -1, dtype=np.int32)
        alone = second == 0
        word_columns[first[alone]] = columns[alone]
        pairs = keys[~alone]
        codes = (pairs >> 32).astype(np.uint64) * np.uint64(len(words) + 1) + (pairs & SECOND_MASK).astype(np.uint64)
        by_code = np.argsort(codes)  # codes are distinct: any sort gives the same order
        lookup = TermLookup(len(keys), word_columns, codes[by_code], columns[~alone][by_code])
        return Vocabulary(terms, self._idf(df, analyzer), lookup)

    def _idf(self, df: np.ndarray, analyzer: TfidfVectorizer) -> np.ndarray:
        """`TfidfTransformer.fit`'s smoothed IDF, with its float32 operations in its order."""
        df = df.astype(np.float32)
        df += float(analyzer.smooth_idf)
        idf = np.full_like(df, fill_value=self.n_articles + int(analyzer.smooth_idf), dtype=np.float32)
        idf /= df
        np.log(idf, out=idf)
        idf += 1.0
        return idf

    def release_frequencies(self) -> None:
        """Drop the merged frequencies once the vocabulary is built (the biggest table of the fit)."""
        self._tables.clear()


def field_counts(
    tokens: np.ndarray, field_lengths: np.ndarray, lookup: TermLookup
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each field's sorted (article × V + column, count) pairs for a chunk (see `field_term_counts`)."""
    starts = np.concatenate([[0], np.cumsum(field_lengths.ravel())]).astype(np.int64)
    pair_of = pair_columns(tokens, starts, len(lookup.word_columns), lookup.pair_codes, lookup.pair_columns)
    return {field: field_term_counts(tokens, starts, i, len(WHOLE_TEXT_FIELDS), lookup.word_columns, pair_of,
                                     lookup.n_terms)
            for i, field in enumerate(WHOLE_TEXT_FIELDS)}


def count_corpus(texts: Iterable[Sequence[Fields]], analyzer: TfidfVectorizer, n_jobs: int) -> CorpusCounts:
    """Tokenise and count every chunk on `n_jobs` threads (or the active joblib backend's workers: a
    Dask cluster), merging as they come. The scan and the counting are compiled kernels that release
    the GIL, so threads share the work without shipping texts or results between processes."""
    corpus = CorpusCounts()
    calls = (delayed(count_chunk)(chunk, analyzer) for chunk in texts)
    for chunk in run_tasks(calls, n_jobs, prefer="threads"):
        corpus.add(chunk)
        trim_heap()  # the threads' arenas keep the freed texts of every chunk otherwise (`recommender.heap`)
    return corpus


def run_tasks(calls: Iterable, n_jobs: int, *, prefer: str, backend: str | None = None) -> Iterator:
    """The calls' results in order: in this process for one job, else on `backend` (default: joblib's
    active backend, which `joblib.parallel_config(backend="dask")` makes a Dask cluster)."""
    if n_jobs == 1:
        return (function(*args, **kwargs) for function, args, kwargs in calls)
    return Parallel(n_jobs=n_jobs, prefer=prefer, backend=backend, return_as="generator")(calls)
