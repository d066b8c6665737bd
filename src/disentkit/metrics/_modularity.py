"""Modularity and explicitness (Ridgeway & Mozer, "Learning Deep Disentangled Embeddings with the
F-Statistic Loss", NeurIPS 2018); disentanglement_lib ``modularity_explicitness.py``, spec §3.6.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
from scipy.stats import rankdata

from disentkit.metrics._checks import check_inputs, check_mi_matrix
from disentkit.metrics._information import discrete_mi_matrix
from disentkit.metrics._logistic import (
    LogisticModel,
    check_logistic_fits,
    resolve_solver,
    standardize,
)


def modularity_from_mi(mi: Any) -> float:
    """Modularity of an MI matrix (D, F): ``mean_i (1 - delta_i)``.

    ``theta_i = max_j m_ij^2`` and ``delta_i = (sum_j m_ij^2 - theta_i) / (theta_i (F - 1))``; a code
    with ``theta_i = 0`` (no information about any factor) scores 0. With one factor (F = 1) every
    informative code is perfectly modular (``delta_i = 0``; the reference divides by zero).
    """
    m2 = np.square(np.asarray(mi, dtype=np.float64))
    if m2.ndim != 2 or m2.size == 0:
        raise ValueError(f"the MI matrix must be a non-empty (D, F) array, got shape {m2.shape}")
    theta = m2.max(axis=1)
    informative = theta > 0
    score = np.zeros(m2.shape[0])
    if m2.shape[1] > 1:
        rest = m2.sum(axis=1) - theta
        score[informative] = 1.0 - rest[informative] / (theta[informative] * (m2.shape[1] - 1))
    else:
        score[informative] = 1.0
    return float(score.mean())


def macro_roc_auc(labels: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC of class scores ``proba`` (N, K) for integer ``labels`` (N,).

    Column k is scored as the binary problem ``labels == classes[k]``; AUC is computed from
    mid-ranks (``(R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``), which equals scikit-learn's
    trapezoidal ``roc_auc_score`` including ties. Columns whose class is absent from ``labels`` (or
    is the only one present) have no defined AUC and are left out of the mean — the reference
    re-fits its label binariser on the test split and crashes there instead. NaN if no column
    is defined.
    """
    positive = labels[:, None] == classes[None, :]  # (N, K)
    n_pos = positive.sum(axis=0)
    n_neg = labels.shape[0] - n_pos
    defined = (n_pos > 0) & (n_neg > 0)
    if not defined.any():
        return float("nan")
    ranks = rankdata(proba[:, defined], axis=0)
    pos = positive[:, defined]
    npos = n_pos[defined].astype(np.float64)
    auc = ((ranks * pos).sum(axis=0) - npos * (npos + 1) / 2) / (npos * n_neg[defined])
    return float(auc.mean())


def explicitness_scores(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    *,
    seed: int = 0,
    solver: str = "auto",
    logistic_fits: Sequence[LogisticModel] | None = None,
) -> tuple[float, float]:
    """Mean over factors of the macro ROC AUC of a logistic regression on standardised codes.

    One ``LogisticRegression()`` problem (sklearn defaults) per factor, trained on the train split
    (:func:`~disentkit.metrics._logistic.logistic_fits` with ``solver``, or the given
    ``logistic_fits``); AUCs on both splits use the train classes (:func:`macro_roc_auc`).
    ``seed`` is unused by the lbfgs fits (kept for a uniform signature). A factor whose test AUC
    is undefined (no class both present and absent in the test split) is left out of the test
    mean; when no factor's is defined (a one-sample test split, or one where every factor takes a
    single value) the test score is undefined and ``ValueError`` says so (instead of NaN).
    """
    x_train, x_test = standardize(codes, codes_test)
    models = check_logistic_fits(logistic_fits, codes, factors, metric="modularity_explicitness",
                                 solver=solver)
    train_auc, test_auc = [], []
    for j, clf in enumerate(models):
        train_auc.append(macro_roc_auc(factors[:, j], clf.predict_proba(x_train), clf.classes_))
        test_auc.append(
            macro_roc_auc(factors_test[:, j], clf.predict_proba(x_test), clf.classes_)
        )
    test = np.asarray(test_auc)
    if not np.isfinite(test).any():
        raise ValueError(
            f"modularity_explicitness: explicitness_score_test is undefined: in the test split of "
            f"{codes_test.shape[0]} sample(s) no factor takes two values, and a ROC AUC needs both "
            "a positive and a negative sample; use a larger test split (num_test)"
        )
    return float(np.mean(train_auc)), float(np.nanmean(test))


def modularity_explicitness(
    codes: Any,
    factors: Any,
    *,
    codes_test: Any = None,
    factors_test: Any = None,
    num_bins: int = 20,
    seed: int = 0,
    solver: Literal["auto", "sklearn", "torch"] = "auto",
    mi_matrix: Any = None,
    logistic_fits: Sequence[LogisticModel] | None = None,
) -> dict[str, float]:
    """Modularity and explicitness of codes (N, D) against integer factors (N, F); needs a test split.

    ``modularity_score``: :func:`modularity_from_mi` of the train-split MI matrix (codes discretised
    into ``num_bins`` equal-width bins; or the given ``mi_matrix``, which must be
    ``discrete_mi_matrix(codes, factors, num_bins)``). ``explicitness_score_train`` / ``_test``:
    :func:`explicitness_scores` (macro one-vs-rest ROC AUC of a logistic regression per factor,
    averaged over factors; ``logistic_fits`` as :func:`~disentkit.metrics._logistic.logistic_fits`
    returns them for these codes, or ``None`` to fit here). ``solver``
    (:data:`~disentkit.metrics._logistic.LOGISTIC_SOLVERS`): ``"auto"`` fits with scikit-learn up
    to 64 code dimensions and with the equivalent torch L-BFGS above (AUCs within about 0.01).
    Differences from the reference, both where it fails: a constant code is standardised with std
    1, and a class missing from the test split is left out of that factor's test AUC (a test
    split that defines no factor's AUC, e.g. one sample, raises ``ValueError``).

    Constant codes (all dimensions constant): ``modularity_score = 0`` (no code has information,
    :func:`modularity_from_mi`) and ``explicitness_score_train = _test = 0.5`` (the classifier
    answers the same probabilities for every sample: the AUC of a constant score, all ties).
    """
    resolve_solver(solver, 1)
    codes, factors, codes_test, factors_test = check_inputs(
        codes, factors, codes_test, factors_test, metric="modularity_explicitness",
        require_test=True,
    )
    if mi_matrix is None:
        mi = discrete_mi_matrix(codes, factors, num_bins)
    else:
        mi = check_mi_matrix(mi_matrix, codes.shape[1], factors.shape[1], metric="modularity_explicitness")
    train, test = explicitness_scores(
        codes, factors, codes_test, factors_test, seed=seed, solver=solver,
        logistic_fits=logistic_fits,
    )
    return {
        "modularity_score": modularity_from_mi(mi),
        "explicitness_score_train": train,
        "explicitness_score_test": test,
    }
