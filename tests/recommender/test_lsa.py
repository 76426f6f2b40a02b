"""The blocked randomized SVD finds the top singular subspace, whatever the blocks and workers."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender import lsa
from recommender.lsa import fit_lsa


def low_rank_plus_noise(n_rows: int = 300, n_terms: int = 2000, rank: int = 8, seed: int = 0) -> sp.csr_matrix:
    """Sparse non-negative rows with a clear rank-`rank` structure (distinct singular values) plus noise."""
    rng = np.random.default_rng(seed)
    topics = rng.random((rank, n_terms)) * (rng.random((rank, n_terms)) < 0.05)
    weights = rng.random((n_rows, rank)) * np.geomspace(4.0, 1.0, rank)
    dense = weights @ topics + 0.05 * rng.random((n_rows, n_terms)) * (rng.random((n_rows, n_terms)) < 0.02)
    return sp.csr_matrix(dense.astype(np.float32))


def test_components_span_the_top_singular_vectors() -> None:
    x = low_rank_plus_noise()
    svd, _ = fit_lsa(x, 8, n_iter=5, oversamples=10, seed=0, n_jobs=1, block_bytes=64 * 2**20)
    _, singular, vt = np.linalg.svd(x.toarray().astype(np.float64), full_matrices=False)
    assert svd.components_.shape == (8, x.shape[1]) and svd.components_.dtype == np.float32
    np.testing.assert_allclose(svd.singular_values_, singular[:8], rtol=1e-3)
    np.testing.assert_allclose(svd.components_ @ svd.components_.T, np.eye(8), atol=1e-4)  # orthonormal rows
    overlap = np.linalg.svd(svd.components_.astype(np.float64) @ vt[:8].T, compute_uv=False)
    assert overlap.min() > 0.999  # the same subspace: every principal angle close to 0


def test_many_blocks_and_two_threads_give_the_same_basis_as_one_thread() -> None:
    x = low_rank_plus_noise(seed=1)
    small_blocks = 8 * 18 * 97 * 4  # ~97 columns per block: 21 blocks
    one, one_rows = fit_lsa(x, 8, n_iter=3, oversamples=10, seed=3, n_jobs=1, block_bytes=small_blocks)
    two, two_rows = fit_lsa(x, 8, n_iter=3, oversamples=10, seed=3, n_jobs=2, block_bytes=small_blocks)
    np.testing.assert_array_equal(one.components_, two.components_)  # partial products added in block order
    np.testing.assert_array_equal(one_rows, two_rows)
    _, singular, _ = np.linalg.svd(x.toarray().astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(one.singular_values_, singular[:8], rtol=1e-3)


def test_the_memory_budget_changes_the_blocks_but_not_the_basis(monkeypatch) -> None:
    """Ω is drawn per group of columns, so blocks of several groups, of one group or of parts of a
    group (smaller budgets) give the same basis but for the float32 rounding of their sums. Without
    power iterations and with few oversamples the basis depends on Ω, so another seed moves it."""
    x = low_rank_plus_noise(seed=2)
    width = 10
    monkeypatch.setattr(lsa, "OMEGA_GROUP_BYTES", 8 * width * 400)  # groups of 400 of the 2,000 columns
    fits = [fit_lsa(x, 8, n_iter=0, oversamples=2, seed=5, n_jobs=2, block_bytes=8 * width * columns)
            for columns in (2000, 800, 400, 150, 37)]
    fits = [svd for svd, _ in fits]
    for fit in fits[1:]:
        np.testing.assert_allclose(fit.components_, fits[0].components_, atol=2e-5)
        np.testing.assert_allclose(fit.singular_values_, fits[0].singular_values_, rtol=1e-5)
    other_seed, _ = fit_lsa(x, 8, n_iter=0, oversamples=2, seed=6, n_jobs=2, block_bytes=8 * width * 400)
    assert not np.allclose(other_seed.components_, fits[0].components_, atol=2e-5)  # the test can fail


def test_the_rows_are_projected_as_scipy_does_and_the_components_can_wait_on_disk(tmp_path) -> None:
    """The fit projects the rows block by block as it writes the components, each row's sum continued in
    term order: the same float32 bits as SciPy's product with the finished components (what a text query
    gets). Each term's row is contiguous (the components are the transposed view of a V × d array); with
    a spill directory that array is a read-only map of an unlinked file there, with the same values."""
    x = low_rank_plus_noise(seed=4)
    blocks = 8 * 18 * 97 * 4  # 21 blocks
    svd, rows = fit_lsa(x, 8, n_iter=2, oversamples=10, seed=1, n_jobs=2, block_bytes=blocks)
    np.testing.assert_array_equal(rows, np.asarray(x @ np.ascontiguousarray(svd.components_.T)))
    assert svd.components_.T.flags.c_contiguous
    spilled, spilled_rows = fit_lsa(x, 8, n_iter=2, oversamples=10, seed=1, n_jobs=2, block_bytes=blocks,
                                    spill_dir=tmp_path)
    assert isinstance(spilled.components_, np.memmap) and not spilled.components_.flags.writeable
    assert list(tmp_path.iterdir()) == []  # unlinked: nothing to clean up
    np.testing.assert_array_equal(spilled.components_, svd.components_)
    np.testing.assert_array_equal(spilled_rows, rows)


def test_each_components_sign_is_fixed_on_the_article_side() -> None:
    x = low_rank_plus_noise(seed=5)
    svd, rows = fit_lsa(x, 8, n_iter=3, oversamples=10, seed=2, n_jobs=1, block_bytes=64 * 2**20)
    left = rows[np.argmax(np.abs(rows), axis=0), np.arange(8)]  # X·V = U·S: the left vectors, scaled
    assert (left > 0).all()
