"""Unsupervised scores of a representation: Gaussian total correlation, Wasserstein correlation and
the mean pairwise mutual information of the codes; disentanglement_lib
``evaluation/metrics/unsupervised_metrics.py``, spec §3.8.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from disentkit.metrics._checks import check_codes, varying_columns
from disentkit.metrics._information import histogram_discretize, xlogx
from disentkit.metrics._kernels import (
    HAVE_NUMBA,
    PAIRWISE_MAX_WIDTH,
    pairwise_joint_terms,
    warn_no_numba,
)


#: A correlation matrix whose smallest eigenvalue is below this many times D * eps (relative to
#: its largest) is singular: its log-determinant would be rounding noise.
_SINGULAR_EPS_FACTOR = 1e3


def gaussian_total_correlation(cov: Any) -> float:
    """``TC = 0.5 (sum_i log C_ii - log det C)``: KL(N(0, C) || N(0, diag C)), in nats.

    Dimensions with zero variance are independent of the rest and are left out (the reference
    returns NaN). A singular covariance of the remaining dimensions (linearly dependent
    dimensions, e.g. duplicates) gives ``inf``, the exact value: singular means that the smallest
    eigenvalue of the correlation matrix is at most ``1000 D eps`` times its largest, where
    ``log det`` is rounding noise (it would return a large, meaningless finite number).
    """
    cov = np.asarray(cov, dtype=np.float64)
    keep = np.diag(cov) > 0
    cov = cov[np.ix_(keep, keep)]
    if cov.shape[0] == 0:
        return 0.0
    if _is_singular(cov):
        return float("inf")
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet))


def _is_singular(cov: np.ndarray) -> bool:
    """Whether a covariance with a positive diagonal is numerically singular (see
    :func:`gaussian_total_correlation`)."""
    scale = np.sqrt(np.diag(cov))
    eig = np.linalg.eigvalsh(cov / scale[:, None] / scale[None, :])
    return bool(eig[0] <= eig[-1] * _SINGULAR_EPS_FACTOR * cov.shape[0] * np.finfo(np.float64).eps)


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

    Degenerate codes (:mod:`disentkit.metrics`): a constant dimension (all rows equal) has
    variance exactly 0 here and no MI with any other; constant codes score 0 on all four keys.
    With ``N <= D'`` samples for ``D'`` non-constant dimensions the sample covariance is singular
    by construction (rank at most ``N - 1``) and the total correlation cannot be estimated:
    ``ValueError`` (use more samples than code dimensions). With enough samples but linearly
    dependent dimensions (duplicates) the total correlation is infinite: it is reported as
    ``inf`` with a ``RuntimeWarning`` (and :func:`~disentkit.metrics.evaluate` records the
    metric as failed, since a result holds finite values only).
    """
    codes = check_codes(codes, name="unsupervised: codes")
    if factors is not None and np.asarray(factors).shape[:1] != (codes.shape[0],):
        raise ValueError(
            f"unsupervised: factors has {np.asarray(factors).shape[:1]} rows but codes has "
            f"{codes.shape[0]} (factors are not used; pass None)"
        )
    n, d = codes.shape
    varying = varying_columns(codes)
    active = int(varying.sum())
    if active and n <= active:
        raise ValueError(
            f"unsupervised: {n} samples for {active} non-constant code dimensions: with N <= D the "
            "covariance is singular and the Gaussian total correlation cannot be estimated; use "
            "more samples than code dimensions (num_train)"
        )
    cov = np.zeros((d, d))  # constant dimensions: exactly zero rows and columns
    if active:
        cov[np.ix_(varying, varying)] = np.atleast_2d(np.cov(codes[:, varying], rowvar=False))
    w2 = gaussian_wasserstein_correlation(cov)
    trace = float(np.trace(cov))
    tc = gaussian_total_correlation(cov)
    if not np.isfinite(tc):
        warnings.warn(
            f"unsupervised: the covariance of the {active} non-constant code dimensions is singular "
            "(some are linear combinations of others, e.g. duplicates): the Gaussian total "
            "correlation is infinite",
            RuntimeWarning,
            stacklevel=2,
        )
    if d > 1:
        mi = pairwise_mutual_information(histogram_discretize(codes, num_bins))
        np.fill_diagonal(mi, 0.0)
        mi_score = float(mi.sum() / (d * d - d))
    else:
        mi_score = 0.0
    return {
        "gaussian_total_correlation": tc,
        "gaussian_wasserstein_correlation": w2,
        "gaussian_wasserstein_correlation_norm": w2 / trace if trace > 0 else 0.0,
        "mutual_info_score": mi_score,
    }
