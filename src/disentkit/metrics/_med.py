"""MED: Mutual-information-based Entropy Disentanglement, and its top-k variant.

Reference: Cao et al., "Towards Universal Disentanglement Metrics" / MED (NeurIPS 2022,
arXiv 2206.04756); ``evaluation/metrics/med.py`` of the disentanglement_lib_med fork, spec §5.
MED is DCI's disentanglement and completeness (:func:`~disentkit.metrics._dci.dci_disentanglement`)
on an importance matrix made of mutual informations instead of tree importances.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from disentkit.metrics._common import (
    check_inputs,
    check_positive_int,
    factor_entropies,
    histogram_discretize,
    mutual_information_matrix,
)
from disentkit.metrics._dci import (
    dci_completeness,
    dci_disentanglement,
    dci_disentanglement_per_code,
)
from disentkit.metrics._logistic import LOGISTIC_SOLVERS, fit_logistic_columns
from disentkit.metrics._modularity import standardize

NORMALIZATIONS = ("factor_sum", "factor_entropy")


def med_importance(
    mi: np.ndarray, entropies: np.ndarray | None = None, normalization: str = "factor_sum"
) -> np.ndarray:
    """MED's importance matrix (D, F) from the MI matrix ``m`` (D, F).

    ``"factor_sum"`` (the reference, used for the published numbers): ``P = m / m.sum(axis=0)``,
    so each factor's column sums to 1; a factor with zero total MI gets the uniform column 1/D
    (the reference gives NaN). ``"factor_entropy"``: ``P = m / H_j`` (normalised mutual
    information), so a factor the codes capture poorly keeps a small weight.
    """
    mi = np.asarray(mi, dtype=np.float64)
    if normalization == "factor_sum":
        total = mi.sum(axis=0)
        safe = np.where(total > 0, total, 1.0)
        return np.where(total > 0, mi / safe, 1.0 / mi.shape[0])
    if normalization == "factor_entropy":
        if entropies is None:
            raise ValueError("normalization='factor_entropy' needs the factor entropies")
        return mi / np.asarray(entropies, dtype=np.float64)
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


def topk_selection(importance: np.ndarray, k: int) -> np.ndarray:
    """Rows of the top-k MED: for every factor, its ``k`` most disentangled codes.

    Each code is assigned to its argmax factor; among the codes of one factor, the ``k`` with the
    largest per-code disentanglement ``1 - H_F(P_i.)`` are kept (ties broken by the lower code
    index). Returns the sorted union (at most ``k * F`` rows).
    """
    per_code = dci_disentanglement_per_code(importance)
    owner = np.argmax(importance, axis=1)
    order = np.lexsort((np.arange(per_code.size), -per_code, owner))  # by factor, then d desc
    owner_sorted = owner[order]
    first = np.searchsorted(owner_sorted, owner_sorted, side="left")
    rank_in_factor = np.arange(order.size) - first
    return np.sort(order[rank_in_factor < k])


def med(
    codes: Any,
    factors: Any,
    *,
    codes_test: Any = None,
    factors_test: Any = None,
    num_bins: int = 20,
    topk: int = 1,
    normalization: Literal["factor_sum", "factor_entropy"] = "factor_sum",
    seed: int = 0,
    solver: str = "auto",
) -> dict[str, float]:
    """MED and top-k MED of codes (N, D) against integer factors (N, F); needs a test split.

    1. ``m``: the MI matrix of the codes discretised into ``num_bins`` bins (train split).
    2. Importance :func:`med_importance` (``P = m / m.sum(axis=0)`` by default).
    3. ``disentanglement`` / ``completeness``: DCI's formulas on P.
    4. ``informativeness_train`` / ``_test``: mean accuracy over factors of a
       ``LogisticRegression()`` (sklearn defaults) on codes standardised with the train statistics,
       solved with ``solver`` (``"auto"``: scikit-learn up to 64 dimensions, the equivalent torch
       L-BFGS above; see :func:`~disentkit.metrics._logistic.fit_logistic`). The fits are the
       explicitness score's, and are shared with it when both run on the same codes.
    5. With ``topk = k > 0`` (the study's ``k = 1``; 0 switches it off):
       ``top{k}_disentanglement`` / ``top{k}_completeness`` on the rows :func:`topk_selection`,
       without renormalising (completeness then has log base ``|selection|``).
    """
    codes, factors, codes_test, factors_test = check_inputs(
        codes, factors, codes_test, factors_test, metric="med", require_test=True
    )
    topk = check_positive_int(topk, "topk", minimum=0)
    if solver not in LOGISTIC_SOLVERS:
        raise ValueError(f"solver must be one of {LOGISTIC_SOLVERS}, got {solver!r}")
    mi = mutual_information_matrix(histogram_discretize(codes, num_bins), factors)
    entropies = factor_entropies(factors) if normalization == "factor_entropy" else None
    importance = med_importance(mi, entropies, normalization)
    x_train, x_test = standardize(codes, codes_test)
    train_acc, test_acc = [], []
    models = fit_logistic_columns(x_train, factors, solver=solver, seed=seed)
    for j, clf in enumerate(models):
        train_acc.append(np.mean(clf.predict(x_train) == factors[:, j]))
        test_acc.append(np.mean(clf.predict(x_test) == factors_test[:, j]))
    scores = {
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
        "disentanglement": dci_disentanglement(importance),
        "completeness": dci_completeness(importance),
    }
    if topk > 0:
        selected = importance[topk_selection(importance, topk)]
        scores[f"top{topk}_disentanglement"] = dci_disentanglement(selected)
        scores[f"top{topk}_completeness"] = dci_completeness(selected)
    return scores
