"""Interventional Robustness Score (Suter et al., "Robustly Disentangled Causal Mechanisms",
ICML 2019); disentanglement_lib ``evaluation/metrics/irs.py``, spec §3.7.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentkit.metrics._checks import check_inputs, varying_columns
from disentkit.metrics._information import histogram_discretize


def irs_matrix(
    factors: np.ndarray, codes: np.ndarray, diff_quantile: float = 0.99
) -> tuple[np.ndarray, np.ndarray]:
    """IRS matrix (D, F) and the per-dimension normaliser ``max_dev`` (D,).

    For factor j and each of its values k: ``e = mean(z | v_j = k)``, and per dimension the
    ``diff_quantile`` quantile (linear interpolation) of ``|z - e|`` over that group; averaged over
    the values k this gives ``cum_dev[:, j]``. ``max_dev_l = max_n |z_nl - mean z_l|`` and
    ``IRS[l, j] = 1 - cum_dev[l, j] / max_dev_l``. Codes must have non-zero variance.
    """
    max_dev = np.max(np.abs(codes - codes.mean(axis=0)), axis=0)
    cum_dev = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(factors.shape[1]):
        values, groups = np.unique(factors[:, j], return_inverse=True)
        order = np.argsort(groups, kind="stable")
        bounds = np.searchsorted(groups[order], np.arange(values.size + 1))
        sorted_codes = codes[order]
        for k in range(values.size):
            block = sorted_codes[bounds[k] : bounds[k + 1]]
            diffs = np.abs(block - block.mean(axis=0))
            cum_dev[:, j] += np.percentile(diffs, q=diff_quantile * 100, axis=0)
        cum_dev[:, j] /= values.size
    return 1.0 - cum_dev / max_dev[:, None], max_dev


def irs(
    codes: Any,
    factors: Any,
    *,
    codes_test: Any = None,
    factors_test: Any = None,
    diff_quantile: float = 0.99,
    discretize_factors: bool = True,
    num_bins: int = 20,
) -> dict[str, float]:
    """IRS of codes (N, D) against integer factors (N, F): ``{"IRS", "num_active_dims"}``.

    Constant code dimensions (all rows equal) are dropped; ``IRS = sum_l w_l max_j IRS[l, j] / sum_l w_l``
    with ``w_l = max_dev_l`` (:func:`irs_matrix`), or 0 when no dimension is active.
    ``num_active_dims`` is the **number** of non-constant dimensions (the reference reports the sum
    of their code values, a bug).

    ``discretize_factors=True`` (the reference and its published numbers) first bins every factor
    into ``num_bins`` equal-width bins, which merges values of factors with more than ``num_bins``
    values (dSprites' 32 positions, 40 orientations); ``False`` uses the factor values as they are,
    as in the paper. ``diff_quantile=1.0`` is the paper's maximum deviation.
    """
    codes, factors, _, _ = check_inputs(codes, factors, codes_test, factors_test, metric="irs")
    if not 0.0 <= diff_quantile <= 1.0:
        raise ValueError(f"diff_quantile must lie in [0, 1], got {diff_quantile}")
    if discretize_factors:
        factors = histogram_discretize(factors.astype(np.float64), num_bins)
    active = varying_columns(codes)  # not var > 0: rounding leaves ~1e-33 on equal rows
    num_active = int(active.sum())
    if num_active == 0:
        return {"IRS": 0.0, "num_active_dims": 0.0}
    matrix, max_dev = irs_matrix(factors, codes[:, active], diff_quantile)
    per_dim = matrix.max(axis=1)
    return {"IRS": float(np.average(per_dim, weights=max_dev)), "num_active_dims": float(num_active)}
