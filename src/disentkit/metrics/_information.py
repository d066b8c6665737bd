"""Discretisation and mutual information: the histogram discretiser, the (code, factor) mutual
information matrix and the factor entropies.

The expensive shared piece, the (code bin, factor value) contingency table, is built for all code
columns at once (a compiled counting loop, or one ``np.bincount`` per factor), not with ``D * F``
calls to ``sklearn.metrics.mutual_info_score``. Metrics that need the matrix take it as an argument
(``mi_matrix=``), as scikit-learn's clustering metrics take ``contingency``, so a caller that runs
several of them (:func:`~disentkit.metrics.evaluate`) computes it once.

Reference: disentanglement_lib ``evaluation/metrics/utils.py`` (``_histogram_discretize``,
``discrete_mutual_info``, ``discrete_entropy``).
"""

from __future__ import annotations

import numpy as np

from disentkit.metrics import _kernels
from disentkit.validation import check_int

__all__ = [
    "histogram_discretize",
    "mutual_information_matrix",
    "discrete_mi_matrix",
    "factor_entropies",
    "xlogx",
]

# Rows of the (N, D) code array handled by one bincount in mutual_information_matrix; bounds the
# temporary key array to about 8 M int64 entries (64 MB).
_MI_CHUNK_ENTRIES = 8_000_000


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Discretise each code column into ``num_bins`` equal-width bins over its own [min, max].

    Exactly disentanglement_lib's ``_histogram_discretize`` on the transposed array: per column,
    ``edges = np.histogram(column, num_bins)[1]`` and ``bins = np.digitize(column, edges[:-1])``.
    Bin ids run from 1 to ``num_bins``; the maximum falls in bin ``num_bins``. A constant column
    (NumPy widens its range to [v - 0.5, v + 0.5]) lands in one bin. Returns int64 (N, D) (the
    reference keeps the float dtype; the values are the same).

    The bin is first estimated arithmetically and then corrected against the exact NumPy edges, so
    the result equals ``np.digitize`` bit for bit (a compiled loop with numba, vectorised NumPy
    passes without).
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (N, D), got shape {codes.shape}")
    num_bins = check_int("num_bins", num_bins, 1)
    lo = codes.min(axis=0)
    hi = codes.max(axis=0)
    same = lo == hi
    lo = np.where(same, lo - 0.5, lo)
    hi = np.where(same, hi + 0.5, hi)
    # np.histogram's edges are np.linspace(lo, hi, num_bins + 1); linspace with array endpoints
    # performs the same per-element arithmetic.
    edges = np.linspace(lo, hi, num_bins + 1, axis=1)  # (D, num_bins + 1)
    if _kernels.HAVE_NUMBA:
        return _kernels.digitize_columns(codes, lo, hi, edges, num_bins)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        guess = np.floor((codes - lo) / (hi - lo) * num_bins)
    guess = np.nan_to_num(guess, nan=0.0, posinf=num_bins - 1, neginf=0.0)
    idx = np.clip(guess, 0, num_bins - 1).astype(np.int64)  # 0-based bin: edges[idx] <= x
    lower = edges[:, :-1]  # (D, num_bins): the edges digitize compares against
    cols = np.broadcast_to(np.arange(codes.shape[1]), codes.shape)
    for _ in range(num_bins + 1):  # corrections move by one bin; a few passes at most
        down = (idx > 0) & (codes < lower[cols, idx])
        up = (idx < num_bins - 1) & (codes >= lower[cols, np.minimum(idx + 1, num_bins - 1)])
        if not (down.any() or up.any()):
            break
        idx = idx - down + up
    # np.digitize also returns 0 for values below edges[0]; impossible here since edges[0] = min.
    return idx + 1


def _dense_labels(column: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel an integer column to 0..K-1 (sorted order); return the labels and K."""
    values, inverse = np.unique(column, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), int(values.size)


def _dense_columns(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel every integer column of (N, C) to a dense 0..K_c-1 range; return it and max K_c.

    Uses an offset when the values already lie in a small non-negative range (the discretiser's
    1..num_bins), and ``np.unique`` per column otherwise.
    """
    lo, hi = int(array.min()), int(array.max())
    if hi - lo < 4096:
        return array - lo, hi - lo + 1
    out = np.empty(array.shape, dtype=np.int64)
    width = 0
    for c in range(array.shape[1]):
        out[:, c], k = _dense_labels(array[:, c])
        width = max(width, k)
    return out, width


def xlogx(counts: np.ndarray) -> np.ndarray:
    """``counts * log(counts)`` elementwise, with 0 log 0 = 0 (float64, same shape)."""
    counts = counts.astype(np.float64, copy=False)
    out = np.zeros_like(counts)
    pos = counts > 0
    out[pos] = counts[pos] * np.log(counts[pos])
    return out


def mutual_information_matrix(codes_discrete: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Mutual information ``m[i, j] = I(c_i; v_j)`` in nats between discrete codes and factors.

    ``codes_discrete`` (N, D) and ``factors`` (N, F) hold integer labels. With counts ``n_ab`` of
    (code bin a, factor value b), marginals ``n_a``, ``n_b`` and ``N`` samples,
    ``I = sum_ab (n_ab / N) log(N n_ab / (n_a n_b))``, clipped at 0 — the value of
    ``sklearn.metrics.mutual_info_score(factors[:, j], codes_discrete[:, i])`` (disentanglement_lib's
    ``discrete_mutual_info``, transposed), up to floating-point rounding (~1e-15).

    The contingency tables of all D code columns against factor j are counted by a compiled loop
    (numba) or else by one ``np.bincount`` over the keys ``(i, a, b)``, in chunks of columns to bound
    memory. Computed as
    ``I = (sum n_ab log n_ab - sum n_a log n_a - sum n_b log n_b) / N + log N``.
    Returns float64 (D, F).
    """
    codes_discrete = np.asarray(codes_discrete)
    factors = np.asarray(factors)
    if codes_discrete.ndim != 2 or factors.ndim != 2:
        raise ValueError(
            "codes_discrete and factors must be 2-D, got shapes "
            f"{codes_discrete.shape} and {factors.shape}"
        )
    if codes_discrete.shape[0] != factors.shape[0]:
        raise ValueError(
            f"codes_discrete has {codes_discrete.shape[0]} rows but factors has {factors.shape[0]}"
        )
    for arr, name in ((codes_discrete, "codes_discrete"), (factors, "factors")):
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.mod(arr, 1) == 0):
                raise ValueError(f"{name} must hold integer labels")
    n, d = codes_discrete.shape
    num_factors = factors.shape[1]
    if n == 0:
        raise ValueError("mutual information needs at least one sample")
    dense_factors = [
        _dense_labels(factors[:, j].astype(np.int64, copy=False)) for j in range(num_factors)
    ]
    out = np.empty((d, num_factors), dtype=np.float64)
    lo, hi = int(codes_discrete.min()), int(codes_discrete.max())
    compiled = None
    if _kernels.HAVE_NUMBA and hi - lo < 256:
        compiled, code_terms = _kernels.code_factor_joint_terms(
            (codes_discrete - lo).astype(np.uint8),
            np.column_stack([fac for fac, _ in dense_factors]),
        )
    else:
        codes_dense, num_bins = _dense_columns(codes_discrete.astype(np.int64, copy=False))
        code_terms = xlogx(
            _column_counts(codes_dense, num_bins)
        ).sum(axis=1)  # (D,) sum_a n_a log n_a
    chunk = max(1, _MI_CHUNK_ENTRIES // max(n, 1))
    for j, (fac, k) in enumerate(dense_factors):
        fac_term = xlogx(np.bincount(fac, minlength=k)).sum()
        if compiled is not None:
            out[:, j] = (compiled[:, j] - code_terms - fac_term) / n + np.log(n)
            continue
        joint_terms = np.empty(d, dtype=np.float64)
        for start in range(0, d, chunk):
            block = codes_dense[:, start : start + chunk]  # (N, c)
            c = block.shape[1]
            keys = (np.arange(c) * num_bins + block) * k + fac[:, None]
            joint = np.bincount(keys.ravel(), minlength=c * num_bins * k).reshape(c, -1)
            joint_terms[start : start + c] = xlogx(joint).sum(axis=1)
        mi = (joint_terms - code_terms - fac_term) / n + np.log(n)
        out[:, j] = mi
    # Rounding leaves |mi| ~ 1e-15 where the true value is 0; clip like sklearn.
    out[np.abs(out) < 1e-12] = 0.0
    return np.clip(out, 0.0, None)


def _column_counts(dense: np.ndarray, width: int) -> np.ndarray:
    """Per-column value counts of a dense-labelled (N, C) array: (C, width)."""
    n, c = dense.shape
    keys = np.arange(c) * width + dense
    return np.bincount(keys.ravel(), minlength=c * width).reshape(c, width)


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """Empirical entropy ``H(v_j) = -sum_b p_b log p_b`` in nats of each factor column (F,).

    Equals disentanglement_lib's ``discrete_entropy`` (``mutual_info_score(y_j, y_j)``).
    """
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[0] == 0:
        raise ValueError(f"factors must be a non-empty 2-D array (N, F), got shape {factors.shape}")
    n = factors.shape[0]
    out = np.empty(factors.shape[1], dtype=np.float64)
    for j in range(factors.shape[1]):
        fac, k = _dense_labels(factors[:, j])
        out[j] = np.log(n) - xlogx(np.bincount(fac, minlength=k)).sum() / n
    out[np.abs(out) < 1e-12] = 0.0
    return out


def discrete_mi_matrix(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """``mutual_information_matrix(histogram_discretize(codes, num_bins), factors)``: the (D, F)
    matrix that MIG, modularity, MED and DCI's screening read (pass it to them as ``mi_matrix``)."""
    return mutual_information_matrix(histogram_discretize(codes, num_bins), factors)
