"""TAD, the targeted AUROC difference (Yeats et al., ECCV 2022, NashAE; spec ``methods_vae.md`` §4.5).

For binary attributes (CelebA's 40, or any factor with two values): for each attribute ``a`` and
each *active* latent ``d`` (``max − min`` of the codes above ``active_threshold``), the AUROC of
predicting ``a`` by thresholding ``z_d`` in the better of its two directions,
``max(AUC, 1 − AUC)`` (inactive latents get 0.5). An attribute is *captured* by its best latent;
``diff_a = AUROC_best − AUROC_second``. Only attributes that are learnable and not co-determined
count: best AUROC ``>= min_auroc`` (0.75) and entropy-reduction proportion
``max_{b != a} I(a; b) / H(a) <= max_entropy_reduction`` (0.2). ``tad = sum_kept diff_a``;
``num_attributes`` is the number kept.

The AUROC here is exact (the Mann-Whitney statistic with ties counted one half, as
``sklearn.metrics.roc_auc_score``); the reference approximates the same curve with 101
thresholds, so its values can differ from these by the step of that grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from disentkit.metrics._checks import check_inputs
from disentkit.metrics._information import factor_entropies, mutual_information_matrix
from disentkit.validation import check_number

__all__ = ["auroc_matrix", "tad"]


def auroc_matrix(codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``A[d, a]``: the AUROC of code column ``d`` (N, D) as a score for binary label column ``a``
    (N, A) of 0/1 values: ``(R_1 − n_1 (n_1 + 1) / 2) / (n_1 n_0)`` with ``R_1`` the sum of the
    (tie-averaged) ranks of the positives. A label column with one class gives 0.5."""
    ranks = rankdata(codes, axis=0)  # (N, D), ties get their average rank
    pos = labels.astype(np.float64)
    n1 = pos.sum(axis=0)  # (A,)
    n0 = labels.shape[0] - n1
    rank_sums = ranks.T @ pos  # (D, A)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sums - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), auc, 0.5)


def tad(
    codes: Any,
    factors: Any,
    *,
    active_threshold: float = 0.2,
    min_auroc: float = 0.75,
    max_entropy_reduction: float = 0.2,
) -> dict[str, float]:
    """TAD of codes (N, D) against binary factors (N, A) (see the module docstring).

    Returns ``tad``, ``num_attributes`` (kept) and ``num_active`` (active latents). Every factor
    must have at most two values (they are read as 0 = the smaller, 1 = the larger).
    """
    codes, factors, _, _ = check_inputs(codes, factors, metric="tad", allow_constant=True)
    check_number("active_threshold", active_threshold, 0.0, finite=True)
    check_number("min_auroc", min_auroc, 0.5, 1.0)
    check_number("max_entropy_reduction", max_entropy_reduction, 0.0, 1.0)
    labels = np.empty(factors.shape, dtype=np.int64)
    for j in range(factors.shape[1]):
        values = np.unique(factors[:, j])
        if len(values) > 2:
            raise ValueError(f"tad needs binary attributes; factor {j} has {len(values)} values")
        labels[:, j] = factors[:, j] == values[-1] if len(values) == 2 else 0
    active = (codes.max(axis=0) - codes.min(axis=0)) > active_threshold
    scores = np.full((codes.shape[1], labels.shape[1]), 0.5)
    if active.any():
        auc = auroc_matrix(codes[:, active], labels)
        scores[active] = np.maximum(auc, 1.0 - auc)
    ordered = np.sort(scores, axis=0)[::-1]  # per attribute, best first
    best = ordered[0]
    second = ordered[1] if codes.shape[1] > 1 else np.full_like(best, 0.5)
    entropy = factor_entropies(labels)
    mi = mutual_information_matrix(labels, labels)  # (A, A)
    np.fill_diagonal(mi, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        reduction = np.where(entropy > 0, mi.max(axis=0) / entropy, np.inf) if labels.shape[1] > 1 \
            else np.where(entropy > 0, 0.0, np.inf)
    kept = (best >= min_auroc) & (reduction <= max_entropy_reduction)
    return {"tad": float((best - second)[kept].sum()), "num_attributes": float(kept.sum()),
            "num_active": float(active.sum())}
