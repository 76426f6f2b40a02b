"""The dense semantic spaces a model blends with its TF-IDF rows: a list, LSA first.

Each space maps articles to unit-length float32 rows (a text it cannot place: all zero) and has a
weight in the blend (`recommender.similarity`). A space knows how to fit itself at a full train and
how to map new texts with what it learned (an update, a text query: never a refit); its rows are
stored as `<name>.npy` and stacked like the TF-IDF rows by an update (`recommender.artifacts`,
`recommender.changes`), so the blend, the neighbour search and the updates treat every space alike.

LSA (a randomized truncated SVD of the TF-IDF rows, capped components, fixed seed) maps the TF-IDF
rows to a low-rank space where stories on one subject meet even without shared words.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import scipy.sparse as sp
from joblib import delayed

from recommender.lsa import fit_lsa
from recommender.term_counts import run_tasks

if TYPE_CHECKING:
    from recommender.vectorize import VectorizerParams

TERM_BATCH_ARTICLES = 2048  # rows projected in one product (their terms' rows of the components, not V × d)


class DenseSpace(Protocol):
    """One dense space of a model's list (see the module docstring)."""

    name: str  # its key in `Vectors.dense` and its rows' file, `<name>.npy`

    @property
    def weight(self) -> float:
        """The blend weight in effect (0: the space takes no part, e.g. the corpus was too small)."""
        ...

    def fit_transform(self, tfidf: sp.csr_matrix, *, n_jobs: int, block_bytes: int,
                      spill_dir: str | Path | None) -> np.ndarray:
        """Fit on the corpus's TF-IDF rows and return the corpus's rows in this space."""
        ...

    def transform(self, tfidf: sp.csr_matrix, n_jobs: int = 1) -> np.ndarray:
        """New texts' rows (given as their TF-IDF rows) with what the fit learned; never refits."""
        ...


class LsaSpace:
    """Latent semantic analysis of the TF-IDF rows (`recommender.lsa`); `svd_` is None when the
    weight is 0 or the corpus is too small for two components (the rows are then 0 wide)."""

    name = "lsa"

    def __init__(self, params: VectorizerParams) -> None:
        self.params = params

    @property
    def weight(self) -> float:
        return self.params.lsa_weight if getattr(self, "svd_", None) is not None else 0.0

    def fit_transform(self, tfidf: sp.csr_matrix, *, n_jobs: int, block_bytes: int,
                      spill_dir: str | Path | None) -> np.ndarray:
        """Randomized SVD with a capped rank (`recommender.lsa`): bounded time and memory, and
        reproducible through the fixed seed; sets `svd_` and returns the rows' LSA vectors (projected
        as the fit writes the components, the same bits as `transform`). With `lsa_sample_rows` the basis
        is fitted on a seeded sample of the rows; every row is projected on it."""
        p = self.params
        rows = tfidf
        if p.lsa_sample_rows is not None and p.lsa_sample_rows < tfidf.shape[0]:
            sample = np.random.default_rng(p.lsa_seed).choice(tfidf.shape[0], p.lsa_sample_rows, replace=False)
            rows = tfidf[np.sort(sample)]
        rank = min(p.lsa_components, rows.shape[0] - 1, rows.shape[1] - 1)
        self.svd_ = None
        if p.lsa_weight <= 0 or rank < 2:
            return self.transform(tfidf)
        self.svd_, projected = fit_lsa(rows, rank, n_iter=p.lsa_iterations, oversamples=p.lsa_oversamples,
                                       seed=p.lsa_seed, n_jobs=n_jobs, block_bytes=block_bytes, spill_dir=spill_dir)
        return normalised(projected) if rows is tfidf else self.transform(tfidf, n_jobs)

    def transform(self, tfidf: sp.csr_matrix, n_jobs: int = 1) -> np.ndarray:
        """`TruncatedSVD.transform` (X · componentsᵀ), L2-normalised, over the terms the rows use.

        SciPy's sparse × dense product needs the dense side C-contiguous; a transposed copy of the
        components would cost V × d floats per call. Gathering only the rows of the terms present (a
        draft has a few hundred; each term's row is contiguous in the V × d array behind
        `components_`) costs next to nothing, and the sums run in the same term order, so the vectors
        are the same bit for bit.
        """
        if getattr(self, "svd_", None) is None:
            return np.zeros((tfidf.shape[0], 0), dtype=np.float32)
        if tfidf.shape[0] > TERM_BATCH_ARTICLES:  # a batch's columns at a time, never V × d (rows are independent)
            calls = (delayed(self.transform)(tfidf[start : start + TERM_BATCH_ARTICLES])
                     for start in range(0, tfidf.shape[0], TERM_BATCH_ARTICLES))  # NumPy and SciPy release the GIL
            return np.concatenate(list(run_tasks(calls, n_jobs, prefer="threads", backend="threading")))
        used = np.unique(tfidf.indices)
        rows = sp.csr_matrix((tfidf.data, np.searchsorted(used, tfidf.indices), tfidf.indptr),
                             shape=(tfidf.shape[0], len(used)))
        components = np.ascontiguousarray(self.svd_.components_.T[used], dtype=np.float32)  # the terms' rows
        return normalised(np.asarray(rows @ components, dtype=np.float32))


def normalised(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; a text with nothing to place stays all zero."""
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    norms[norms == 0] = 1.0
    return rows / norms[:, None]
