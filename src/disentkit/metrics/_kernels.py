"""Compiled counting kernels of the metrics (numba), with NumPy fallbacks.

The information-theoretic metrics spend their time counting: the pairwise mutual information of
the unsupervised score needs ``N * D * (D - 1) / 2`` increments (2.1e10 for 2048-D codes and
N = 10,000), the (code, factor) MI matrix ``N * D * F``. These kernels do the counting in compiled
loops (numba, ``cache=True``; the pairwise one ``parallel=True`` over code pairs, using the cores
numba is allowed — ``numba.set_num_threads``). When numba is not installed, :data:`HAVE_NUMBA` is
False and the callers keep their NumPy paths (a warning says so, once per calling location).

Every kernel returns the same numbers as the NumPy path: counts are exact integers and the
``n log n`` terms come from one table of ``c * log(c)`` (float64), so only the order of the final
sums differs (rounding ~1e-15).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

try:  # pragma: no cover - exercised by whichever branch the environment has
    import numba

    HAVE_NUMBA = True
    # The study runner forks worker processes. numba's default GNU-OpenMP layer cannot be used in a
    # process forked after it started its threads (the worker aborts), so the parallel kernels use a
    # fork-safe layer (numba's own work queue) unless the user chose one with NUMBA_THREADING_LAYER.
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "forksafe"
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False

__all__ = [
    "HAVE_NUMBA",
    "warn_no_numba",
    "xlogx_table",
    "digitize_columns",
    "PAIRWISE_MAX_WIDTH",
    "pairwise_joint_terms",
    "code_factor_joint_terms",
    "line_accuracy",
]

def warn_no_numba(what: str) -> None:
    """Warn that ``what`` runs on the slower NumPy path (numba is missing).

    No flag of its own: Python's warning registry shows it once per calling location (the default
    filter), so the module keeps no mutable state.
    """
    warnings.warn(
        f"numba is not installed: {what} uses the slower NumPy path "
        "(pip install numba for compiled counting kernels)",
        RuntimeWarning,
        stacklevel=3,
    )


def xlogx_table(n: int) -> np.ndarray:
    """``t[c] = c log c`` for ``c = 0..n`` (``t[0] = 0``), float64."""
    c = np.arange(n + 1, dtype=np.float64)
    out = np.zeros(n + 1)
    out[1:] = c[1:] * np.log(c[1:])
    return out


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _digitize_kernel(codes, lo, hi, edges, num_bins, out):  # pragma: no cover - compiled
        n, d = codes.shape
        for r in range(n):
            for c in range(d):
                x = codes[r, c]
                g = np.floor((x - lo[c]) / (hi[c] - lo[c]) * num_bins)
                if not (g >= 0.0):  # also NaN
                    idx = 0
                elif g > num_bins - 1:
                    idx = num_bins - 1
                else:
                    idx = int(g)
                while idx > 0 and x < edges[c, idx]:
                    idx -= 1
                while idx < num_bins - 1 and x >= edges[c, idx + 1]:
                    idx += 1
                out[r, c] = idx + 1

    @numba.njit(cache=True, nogil=True)
    def _pairwise_block(cols, i, width, table, big, pair, m_ik, m_jk, out):  # pragma: no cover
        # Columns i and j = i + 1 as one "super label" s = (a, b); for every later column k the
        # (s, c) table (width^3 cells, L1-sized) is counted once and marginalised into the joint
        # tables of (i, k) and (j, k): one increment per row serves two pairs.
        d, n = cols.shape
        w2 = width * width
        j = i + 1
        pair[:] = 0
        for r in range(n):
            pair[np.int64(cols[i, r]) * width + cols[j, r]] += 1
        s = 0.0
        for e in range(w2):
            s += table[pair[e]]
        out[i, j] = s
        for k in range(j + 1, d):
            big[:] = 0
            c = cols[k]
            a = cols[i]
            b = cols[j]
            for r in range(n):
                big[(np.int64(a[r]) * width + b[r]) * width + c[r]] += 1
            m_ik[:] = 0
            m_jk[:] = 0
            for x in range(width):
                for y in range(width):
                    base = (x * width + y) * width
                    for z in range(width):
                        v = np.int32(big[base + z])
                        m_ik[x * width + z] += v
                        m_jk[y * width + z] += v
            s1 = 0.0
            s2 = 0.0
            for e in range(w2):
                s1 += table[m_ik[e]]
                s2 += table[m_jk[e]]
            out[i, k] = s1
            out[j, k] = s2

    @numba.njit(cache=True, parallel=True, nogil=True)
    def _pairwise_kernel(cols, width, table, order, proto, out):  # pragma: no cover - compiled
        # cols: (D, N) labels 0..width-1, D even. ``order`` lists the even block starts with long
        # and short blocks interleaved (0, D-2, 2, D-4, ...) so that numba's contiguous chunks of
        # it carry equal work.
        w2 = width * width
        for t in numba.prange(order.size):
            big = proto.copy()  # uint16 counts, uint32 from 65,536 samples on
            pair = np.zeros(w2, dtype=np.int32)
            m_ik = np.zeros(w2, dtype=np.int32)
            m_jk = np.zeros(w2, dtype=np.int32)
            _pairwise_block(cols, order[t], width, table, big, pair, m_ik, m_jk, out)

    @numba.njit(cache=True, parallel=True, nogil=True)
    def _code_factor_kernel(cols, width, facs, ks, table, out, marg):  # pragma: no cover
        # cols: (D, N) labels 0..width-1; facs: (F, N) labels 0..ks[j]-1;
        # out[i, j] = sum_ab n_ab log n_ab of code i against factor j; marg[i] = sum_a n_a log n_a
        d, n = cols.shape
        for i in numba.prange(d):
            c = cols[i]
            single = np.zeros(width, dtype=np.int32)
            for r in range(n):
                single[c[r]] += 1
            m = 0.0
            for e in range(width):
                m += table[single[e]]
            marg[i] = m
            for j in range(facs.shape[0]):
                k = ks[j]
                fac = facs[j]
                counts = np.zeros(width * k, dtype=np.int32)
                for r in range(n):
                    counts[np.int64(c[r]) * k + fac[r]] += 1
                s = 0.0
                for e in range(width * k):
                    s += table[counts[e]]
                out[i, j] = s


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _line_accuracy_kernel(x_test, w, b, y_test, out):  # pragma: no cover - compiled
        c, nt = x_test.shape
        k = w.shape[1]
        for i in range(c):
            hits = 0
            for r in range(nt):
                v = x_test[i, r]
                best = w[i, 0] * v + b[i, 0]
                arg = 0
                for q in range(1, k):
                    dec = w[i, q] * v + b[i, q]
                    if dec > best:
                        best = dec
                        arg = q
                if arg == y_test[r]:
                    hits += 1
            out[i] = hits / nt


def line_accuracy(x_test: np.ndarray, w: np.ndarray, b: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """Accuracy per row i of ``argmax_k (w[i, k] x + b[i, k])`` (first maximum) against ``y_test``.

    ``x_test`` (c, Nt) holds one feature per row, ``w`` and ``b`` are (c, K). Requires numba.
    """
    out = np.empty(x_test.shape[0])
    _line_accuracy_kernel(
        np.ascontiguousarray(x_test, dtype=np.float64), np.ascontiguousarray(w, dtype=np.float64),
        np.ascontiguousarray(b, dtype=np.float64), np.ascontiguousarray(y_test, dtype=np.int64), out,
    )
    return out


def digitize_columns(
    codes: np.ndarray, lo: np.ndarray, hi: np.ndarray, edges: np.ndarray, num_bins: int
) -> np.ndarray:
    """1-based bin of every entry of ``codes`` (N, D) against the lower edges ``edges[:, :-1]``.

    The bin is estimated as ``floor((x - lo) / (hi - lo) * num_bins)`` and corrected against the
    exact edges, so the result is ``np.digitize(codes[:, c], edges[c, :-1])`` per column.
    Requires numba (:data:`HAVE_NUMBA`).
    """
    out = np.empty(codes.shape, dtype=np.int64)
    _digitize_kernel(
        np.ascontiguousarray(codes, dtype=np.float64), lo, hi,
        np.ascontiguousarray(edges), int(num_bins), out,
    )
    return out


def _as_label_rows(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """(N, D) labels with values in ``0..width-1`` as contiguous (D, N) rows of a small dtype."""
    width = int(labels.max()) + 1 if labels.size else 1
    dtype = np.uint8 if width <= 256 else np.int32
    return np.ascontiguousarray(labels.T, dtype=dtype), width


#: The largest number of distinct labels :func:`pairwise_joint_terms` handles (its per-thread
#: table has ``width**3`` counts and must stay cache-sized).
PAIRWISE_MAX_WIDTH = 32


def pairwise_joint_terms(labels: np.ndarray) -> np.ndarray:
    """``T[i, k] = sum_ab n_ab log n_ab`` of the joint counts of columns ``i < k`` of ``labels``.

    ``labels`` (N, D) holds integer labels in ``0..PAIRWISE_MAX_WIDTH-1``. Only the strict upper
    triangle of the returned (D, D) float64 matrix is filled (zeros elsewhere). Requires numba;
    runs on numba's threads.
    """
    cols, width = _as_label_rows(labels)
    if width > PAIRWISE_MAX_WIDTH or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must lie in 0..{PAIRWISE_MAX_WIDTH - 1}")
    d, n = cols.shape
    if d % 2:  # blocks are column pairs: pad with a constant column, dropped below
        cols = np.vstack([cols, np.zeros((1, n), dtype=cols.dtype)])
    padded = cols.shape[0]
    out = np.zeros((padded, padded))
    if d > 1:
        starts = np.arange(0, padded, 2)
        order = np.empty(starts.size, dtype=np.int64)
        order[0::2] = starts[: (starts.size + 1) // 2]
        order[1::2] = starts[::-1][: starts.size // 2]
        proto = np.zeros(width**3, dtype=np.uint16 if n < 65536 else np.uint32)
        _pairwise_kernel(cols, width, xlogx_table(n), order, proto, out)
    return out[:d, :d]


def code_factor_joint_terms(
    labels: np.ndarray, factors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``T[i, j] = sum_ab n_ab log n_ab`` of the joint counts of code column i and factor j.

    ``labels`` (N, D) and ``factors`` (N, F) hold non-negative integer labels. Returns ``T``
    float64 (D, F) and the codes' own ``sum_a n_a log n_a`` (D,). Requires numba.
    """
    cols, width = _as_label_rows(labels)
    facs = np.ascontiguousarray(factors.T, dtype=np.int64)
    ks = facs.max(axis=1) + 1
    out = np.empty((cols.shape[0], facs.shape[0]))
    marg = np.empty(cols.shape[0])
    _code_factor_kernel(cols, width, facs, ks, xlogx_table(cols.shape[1]), out, marg)
    return out, marg
