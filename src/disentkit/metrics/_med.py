"""MED: Mutual-information-based Entropy Disentanglement, and its top-k variant.

Reference: Cao et al., "Towards Universal Disentanglement Metrics" / MED (NeurIPS 2022,
arXiv 2206.04756); ``evaluation/metrics/med.py`` of the disentanglement_lib_med fork, spec §5.
MED is DCI's disentanglement and completeness (:func:`~disentkit.metrics._dci.dci_disentanglement`)
on an importance matrix made of mutual informations instead of tree importances.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np

from disentkit.metrics._checks import check_inputs, check_mi_matrix
from disentkit.metrics._dci import (
    dci_completeness,
    dci_disentanglement,
    dci_disentanglement_per_code,
)
from disentkit.metrics._information import discrete_mi_matrix, factor_entropies
from disentkit.metrics._logistic import (
    LogisticModel,
    check_logistic_fits,
    resolve_solver,
    standardize,
)
from disentkit.validation import check_int

NORMALIZATIONS = ("factor_sum", "factor_entropy")
#: Bins of the per-code disentanglement distribution that :func:`med` reports.
NUM_CODE_BINS = 10


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


def _checked_importance(codes: np.ndarray, factors: np.ndarray, mi_matrix: Any, num_bins: int,
                        normalization: str) -> np.ndarray:
    """:func:`med_importance` of checked ``codes`` and ``factors``: of ``mi_matrix`` when given
    (checked), else of ``discrete_mi_matrix(codes, factors, num_bins)``. All zero when the MI
    matrix is (no code informs any factor; see :func:`med`)."""
    if mi_matrix is None:
        mi = discrete_mi_matrix(codes, factors, num_bins)
    else:
        mi = check_mi_matrix(mi_matrix, codes.shape[1], factors.shape[1], metric="med")
    if not mi.any():
        return np.zeros_like(mi)
    entropies = factor_entropies(factors) if normalization == "factor_entropy" else None
    return med_importance(mi, entropies, normalization)


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


def code_weights(importance: np.ndarray) -> np.ndarray:
    """DCI's code weights ``rho_i = sum_j P_ij / sum P`` (D,); all 0 when P is all zero (no code
    informs any factor, and MED is 0: :func:`~disentkit.metrics._dci.dci_disentanglement`)."""
    importance = np.asarray(importance, dtype=np.float64)
    total = importance.sum()
    if total > 0:
        return importance.sum(axis=1) / total
    return np.zeros(importance.shape[0])


def code_disentanglement_shares(importance: np.ndarray) -> tuple[np.ndarray, int]:
    """How the per-code disentanglement ``D_i`` of the informative codes is spread over [0, 1].

    A code is informative when its importance ``rho_i`` (:func:`code_weights`, row sum of P) is
    nonzero. Returns the shares (:data:`NUM_CODE_BINS`,): entry b is the fraction of the
    informative codes with ``b / 10 <= D_i < (b + 1) / 10`` (the last bin also holds ``D_i = 1``;
    a ``D_i`` rounded a hair below 0 counts in bin 0), and their count. With no informative code
    every share is 0; otherwise the shares sum to 1. For a study report's histogram: a few
    disentangled codes among many entangled ones (Cao et al.'s finding for negative-free SSL) is
    mass in the top bin beside mass in the low ones.
    """
    importance = np.asarray(importance, dtype=np.float64)
    informative = importance.sum(axis=1) > 0
    count = int(informative.sum())
    shares = np.zeros(NUM_CODE_BINS)
    if count:
        per_code = dci_disentanglement_per_code(importance)[informative]
        inner_edges = np.arange(1, NUM_CODE_BINS) / NUM_CODE_BINS  # 0.1, ..., 0.9 (exact b / 10)
        bins = np.digitize(per_code, inner_edges)  # 0..9: edges[b-1] <= d < edges[b]
        shares = np.bincount(bins, minlength=NUM_CODE_BINS) / count
    return shares, count


def med_per_code(
    codes: Any,
    factors: Any,
    *,
    num_bins: int = 20,
    normalization: Literal["factor_sum", "factor_entropy"] = "factor_sum",
    mi_matrix: Any = None,
) -> dict[str, np.ndarray]:
    """MED per code dimension: the pieces whose weighted sum is MED's ``disentanglement``.

    Returns arrays of length D: ``"disentanglement"`` ``d_i = 1 - H_F(P_i.)``, ``"weight"``
    ``rho_i`` (:func:`code_weights`; ``sum_i rho_i d_i`` is MED) and ``"factor"`` (the argmax
    factor column of each code, which top-k MED groups by), on the importance
    :func:`med_importance` of the train split (or of ``mi_matrix``). For a report of how the
    disentanglement is spread over the dimensions (a few disentangled codes among many entangled
    ones is the pattern Cao et al. report for negative-free SSL).
    """
    codes, factors, _, _ = check_inputs(codes, factors, metric="med")
    importance = _checked_importance(codes, factors, mi_matrix, num_bins, normalization)
    return {
        "disentanglement": dci_disentanglement_per_code(importance),
        "weight": code_weights(importance),
        "factor": np.argmax(importance, axis=1),
    }


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
    solver: Literal["auto", "sklearn", "torch"] = "auto",
    mi_matrix: Any = None,
    logistic_fits: Sequence[LogisticModel] | None = None,
) -> dict[str, float]:
    """MED and top-k MED of codes (N, D) against integer factors (N, F); needs a test split.

    1. ``m``: the MI matrix of the codes discretised into ``num_bins`` bins (train split), or the
       given ``mi_matrix`` (``discrete_mi_matrix(codes, factors, num_bins)``, not recomputed).
    2. Importance :func:`med_importance` (``P = m / m.sum(axis=0)`` by default).
    3. ``disentanglement`` / ``completeness``: DCI's formulas on P.
    4. ``informativeness_train`` / ``_test``: mean accuracy over factors of a
       ``LogisticRegression()`` (sklearn defaults) on codes standardised with the train statistics,
       solved with ``solver`` (``"auto"``: scikit-learn up to 64 dimensions, the equivalent torch
       L-BFGS above; see :func:`~disentkit.metrics._logistic.fit_logistic`). The fits are the
       explicitness score's and the linear probe's: pass ``logistic_fits`` (from
       :func:`~disentkit.metrics._logistic.logistic_fits` on these codes) to share them.
       ``seed`` is unused by the lbfgs fits (kept for a uniform signature).
    5. With ``topk = k > 0`` (the study's ``k = 1``; 0 switches it off):
       ``top{k}_disentanglement`` / ``top{k}_completeness`` on the rows :func:`topk_selection`,
       without renormalising (completeness then has log base ``|selection|``).
    6. The per-code disentanglement distribution (:func:`code_disentanglement_shares`):
       ``code_disentanglement_bin_0`` ... ``code_disentanglement_bin_9``, the share of the
       informative codes (``rho_i > 0``) whose ``D_i = 1 - H_F(P_i.)`` lies in ``[b/10, (b+1)/10)``
       (bin 9 includes 1), and ``informative_codes``, their count (all shares 0 when it is 0).
       A factor with zero total MI gets the uniform column under ``"factor_sum"``
       (:func:`med_importance`), which makes every code informative.

    Degenerate codes (:mod:`disentkit.metrics`): when no code has any information about any
    factor (the MI matrix is all zero, e.g. constant codes), there is nothing to disentangle:
    ``disentanglement``, ``completeness``, the top-k scores, every ``code_disentanglement_bin_*``
    and ``informative_codes`` are 0 (the uniform columns would otherwise score D = 1 for a single
    factor and count every code as informative); the informativeness keys are the accuracies of
    the fitted classifiers (which answer a constant class on constant codes).
    """
    codes, factors, codes_test, factors_test = check_inputs(
        codes, factors, codes_test, factors_test, metric="med", require_test=True
    )
    topk = check_int("topk", topk, 0)
    resolve_solver(solver, codes.shape[1])
    importance = _checked_importance(codes, factors, mi_matrix, num_bins, normalization)
    x_train, x_test = standardize(codes, codes_test)
    models = check_logistic_fits(logistic_fits, codes, factors, metric="med", solver=solver)
    train_acc, test_acc = [], []
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
        selected = importance[topk_selection(importance, topk)] if importance.any() else importance
        scores[f"top{topk}_disentanglement"] = dci_disentanglement(selected)
        scores[f"top{topk}_completeness"] = dci_completeness(selected)
    shares, count = code_disentanglement_shares(importance)
    scores.update({f"code_disentanglement_bin_{b}": float(v) for b, v in enumerate(shares)})
    scores["informative_codes"] = float(count)
    return scores
