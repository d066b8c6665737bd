"""Mutual Information Gap, the 20-bin histogram version of disentanglement_lib.

Reference: Chen et al., "Isolating Sources of Disentanglement in VAEs" (NeurIPS 2018);
disentanglement_lib ``evaluation/metrics/mig.py`` (``_compute_mig``), spec §3.3.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentkit.metrics._checks import check_inputs, check_mi_matrix
from disentkit.metrics._information import discrete_mi_matrix, factor_entropies


def mig_from_mi(mi: np.ndarray, entropies: np.ndarray) -> float:
    """``MIG = mean_j (m_(1)j - m_(2)j) / H_j`` from an MI matrix (D, F) and entropies (F,).

    ``m_(1)j >= m_(2)j`` are the two largest entries of column j. With a single code dimension
    (D = 1) the second-largest MI is taken as 0 (the reference fails there).
    """
    mi = np.asarray(mi, dtype=np.float64)
    top = -np.sort(-mi, axis=0)
    second = top[1] if mi.shape[0] > 1 else np.zeros(mi.shape[1])
    return float(np.mean((top[0] - second) / entropies))


def mig(
    codes: Any,
    factors: Any,
    *,
    codes_test: Any = None,
    factors_test: Any = None,
    num_bins: int = 20,
    mi_matrix: Any = None,
) -> dict[str, float]:
    """Discrete MIG of codes (N, D) against integer factors (N, F): ``{"discrete_mig": ...}``.

    Each code column is discretised into ``num_bins`` equal-width bins over its own range
    (:func:`~disentkit.metrics._information.histogram_discretize`), the mutual information
    ``m_ij = I(c_i; v_j)`` and the factor entropies ``H_j`` are computed on the train split, and
    ``MIG = (1/F) sum_j (m_(1)j - m_(2)j) / H_j`` with ``m_(1)j, m_(2)j`` the two largest MIs of
    factor j. The test split is not used (accepted for a uniform signature). ``num_bins=20``
    is the setting of the published disentanglement_lib numbers. ``mi_matrix``: the (D, F) matrix
    ``discrete_mi_matrix(codes, factors, num_bins)`` if already computed (then not recomputed;
    ``num_bins`` is not used), as scikit-learn's clustering metrics take ``contingency``.

    Example
    -------
    >>> import numpy as np
    >>> f = np.random.default_rng(0).integers(0, 4, size=(1000, 2))
    >>> round(mig(f.astype(float), f)["discrete_mig"], 6)
    1.0
    """
    codes, factors, _, _ = check_inputs(codes, factors, codes_test, factors_test, metric="mig")
    if mi_matrix is None:
        mi = discrete_mi_matrix(codes, factors, num_bins)
    else:
        mi = check_mi_matrix(mi_matrix, codes.shape[1], factors.shape[1], metric="mig")
    return {"discrete_mig": mig_from_mi(mi, factor_entropies(factors))}
