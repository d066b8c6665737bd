"""Unsupervised scores of a representation: Gaussian total correlation, Wasserstein correlation and
the mean pairwise mutual information of the codes; disentanglement_lib
``evaluation/metrics/unsupervised_metrics.py``, spec §3.8.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentkit.metrics._checks import check_codes
from disentkit.metrics._information import histogram_discretize, xlogx
from disentkit.metrics._kernels import (
    HAVE_NUMBA,
    PAIRWISE_MAX_WIDTH,
    pairwise_joint_terms,
    warn_no_numba,
)


def gaussian_total_correlation(cov: Any) -> float:
    """``TC = 0.5 (sum_i log C_ii - log det C)``: KL(N(0, C) || N(0, diag C)), in nats.

    Dimensions with zero variance are independent of the rest and are left out (the reference
    returns NaN). A singular covariance of the remaining dimensions gives ``inf``.
    """
    cov = np.asarray(cov, dtype=np.float64)
    keep = np.diag(cov) > 0
    cov = cov[np.ix_(keep, keep)]
    if cov.shape[0] == 0:
        return 0.0
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet))


def gaussian_wasserstein_correlation(cov: Any) -> float:
    """Squared 2-Wasserstein distance between N(0, C) and N(0, diag C).

    ``W2^2 = 2 tr C - 2 tr (S C)^(1/2)`` with ``S = diag C``. ``S C`` is similar to the symmetric
    ``S^(1/2) C S^(1/2)``, so the trace of its principal square root is the sum of the square roots
    of that matrix's eigenvalues (clipped at 0) — real and stable where ``scipy.linalg.sqrtm`` (the
    reference) can return complex rounding noise.
    """
    cov = np.asarray(cov, dtype=np.float64)
    s = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    eig = np.linalg.eigvalsh(cov * s[:, None] * s[None, :])
    return float(2.0 * np.trace(cov) - 2.0 * np.sum(np.sqrt(np.clip(eig, 0.0, None))))


def pairwise_mutual_information(codes_discrete: np.ndarray) -> np.ndarray:
    """Symmetric (D, D) matrix of ``I(c_i; c_k)`` in nats between integer-labelled code columns.

    ``I = (sum n_ab log n_ab - sum n_a log n_a - sum n_b log n_b) / N + log N``. Cost
    ``O(N D^2 / 2)`` counts: with numba (and at most 32 labels per column) the compiled
    :func:`~disentkit.metrics._kernels.pairwise_joint_terms` does them; otherwise the joint tables
    of column i against all later columns come from one ``np.bincount``. The diagonal holds the
    entropies.
    """
    codes = np.asarray(codes_discrete, dtype=np.int64)
    n, d = codes.shape
    codes = codes - codes.min(axis=0)
    width = int(codes.max()) + 1
    counts = np.bincount((codes + np.arange(d) * width).ravel(), minlength=d * width)
    marginal = xlogx(counts.reshape(d, width)).sum(axis=1)  # (D,) sum_a n_a log n_a
    if HAVE_NUMBA and width <= PAIRWISE_MAX_WIDTH:
        joint = pairwise_joint_terms(codes)
        out = np.triu((joint - marginal[:, None] - marginal[None, :]) / n + np.log(n), k=1)
        return _finish(out, marginal, n)
    if not HAVE_NUMBA:
        warn_no_numba("the pairwise mutual information")
    out = np.zeros((d, d))
    offsets = np.arange(d) * width * width  # column k's block of width*width joint cells
    shifted = codes + offsets[None, :]  # (N, D)
    for i in range(d - 1):
        block = shifted[:, i + 1 :] + (codes[:, i] * width)[:, None]
        joint = np.bincount(
            (block - offsets[i + 1]).ravel(), minlength=(d - i - 1) * width * width
        ).reshape(d - i - 1, -1)
        mi = (xlogx(joint).sum(axis=1) - marginal[i] - marginal[i + 1 :]) / n + np.log(n)
        out[i, i + 1 :] = mi
    return _finish(out, marginal, n)


def _finish(upper: np.ndarray, marginal: np.ndarray, n: int) -> np.ndarray:
    """Symmetrise an upper-triangular MI matrix, put the entropies on the diagonal, clip at 0."""
    out = upper + upper.T
    out[np.abs(out) < 1e-12] = 0.0
    np.fill_diagonal(out, np.log(n) - marginal / n)
    return np.clip(out, 0.0, None)


def unsupervised(
    codes: Any,
    factors: Any = None,
    *,
    codes_test: Any = None,
    factors_test: Any = None,
    num_bins: int = 20,
) -> dict[str, float]:
    """Unsupervised scores of codes (N, D); ``factors`` and the test split are ignored.

    With ``C = cov(codes)`` (ddof 1): ``gaussian_total_correlation``
    (:func:`gaussian_total_correlation`), ``gaussian_wasserstein_correlation``
    (:func:`gaussian_wasserstein_correlation`) and its ``_norm`` version divided by ``tr C``, and
    ``mutual_info_score``: the mean over ordered pairs i != k of ``I(c_i; c_k)`` between codes
    discretised into ``num_bins`` bins, ``sum_{i != k} I / (D^2 - D)``. With D = 1 there are no pairs
    and the score is 0; with ``tr C = 0`` the normalised W2 is 0.
    """
    codes = check_codes(codes, name="unsupervised: codes")
    if factors is not None and np.asarray(factors).shape[:1] != (codes.shape[0],):
        raise ValueError(
            f"unsupervised: factors has {np.asarray(factors).shape[:1]} rows but codes has "
            f"{codes.shape[0]} (factors are not used; pass None)"
        )
    d = codes.shape[1]
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    w2 = gaussian_wasserstein_correlation(cov)
    trace = float(np.trace(cov))
    if d > 1:
        mi = pairwise_mutual_information(histogram_discretize(codes, num_bins))
        np.fill_diagonal(mi, 0.0)
        mi_score = float(mi.sum() / (d * d - d))
    else:
        mi_score = 0.0
    return {
        "gaussian_total_correlation": gaussian_total_correlation(cov),
        "gaussian_wasserstein_correlation": w2,
        "gaussian_wasserstein_correlation_norm": w2 / trace if trace > 0 else 0.0,
        "mutual_info_score": mi_score,
    }
