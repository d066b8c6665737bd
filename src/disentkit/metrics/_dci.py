"""DCI: disentanglement, completeness and informativeness from a tree-ensemble importance matrix.

Reference: Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled
Representations" (ICLR 2018); disentanglement_lib ``evaluation/metrics/dci.py``, spec §3.5.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from disentkit.metrics._checks import check_inputs, check_mi_matrix
from disentkit.metrics._gbt import make_gbt_classifier
from disentkit.metrics._information import discrete_mi_matrix
from disentkit.validation import check_int

#: Default of ``dci(screen=...)``: the fast estimator sees at most this many codes.
SCREEN_DEFAULT = 128
#: The fast estimator on more than WIDE_DIM codes uses WIDE_MAX_BIN histogram bins (not 4095).
WIDE_DIM = 64
WIDE_MAX_BIN = 15
#: Histogram bins of the mutual information that :func:`screened_codes` ranks codes by.
SCREEN_NUM_BINS = 20

# disentanglement_lib adds this to every importance before normalising a row or column.
_ENTROPY_EPS = 1e-11


def _normalised_entropy(importance: np.ndarray, axis: int) -> np.ndarray:
    """Entropy of ``importance + 1e-11`` normalised along ``axis``, in log base (its length).

    As ``scipy.stats.entropy(x + 1e-11, base=len)`` in the reference. A length-1 axis (one factor
    or one code) has entropy 0 by convention (the reference divides by log 1 = 0).
    """
    size = importance.shape[axis]
    if size == 1:
        return np.zeros(importance.shape[1 - axis])
    p = importance + _ENTROPY_EPS
    p = p / p.sum(axis=axis, keepdims=True)
    return -(p * np.log(p)).sum(axis=axis) / np.log(size)


def _check_importance(importance: Any) -> np.ndarray:
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2 or r.size == 0:
        raise ValueError(f"importance must be a non-empty (D, F) matrix, got shape {r.shape}")
    if not np.isfinite(r).all() or (r < 0).any():
        raise ValueError("importance must hold finite, non-negative values")
    return r


def dci_disentanglement_per_code(importance: Any) -> np.ndarray:
    """``d_i = 1 - H_F(R_i. / sum R_i.)`` for each code (D,), log base F (1 when F = 1)."""
    return 1.0 - _normalised_entropy(_check_importance(importance), axis=1)


def dci_disentanglement(importance: Any) -> float:
    """DCI disentanglement ``sum_i rho_i (1 - H_F(R_i. / sum R_i.))`` of an importance matrix (D, F).

    ``rho_i = sum_j R_ij / sum R``; the entropy has log base F and 1e-11 is added to every entry
    first, as in disentanglement_lib. With F = 1 every code is trivially disentangled (score 1;
    the reference divides by log 1). An all-zero R (no code is used for any factor: constant
    codes) scores 0, also with F = 1 (the reference's uniform weights give 0 for F > 1). The
    result is clipped to [0, 1] (rounding leaves about -2e-16 for a uniform R).
    """
    r = _check_importance(importance)
    if not r.sum() > 0:
        return 0.0
    per_code = 1.0 - _normalised_entropy(r, axis=1)
    rho = r.sum(axis=1) / r.sum()
    return float(np.clip(np.sum(per_code * rho), 0.0, 1.0))


def dci_completeness(importance: Any) -> float:
    """DCI completeness ``sum_j rho_j (1 - H_D(R_.j / sum R_.j))`` of an importance matrix (D, F).

    ``rho_j = sum_i R_ij / sum R``, log base D, 1e-11 added first, as in disentanglement_lib. With
    D = 1 every factor is trivially complete (score 1). An all-zero R scores 0; the result is
    clipped to [0, 1], as :func:`dci_disentanglement`.
    """
    r = _check_importance(importance)
    if not r.sum() > 0:
        return 0.0
    per_factor = 1.0 - _normalised_entropy(r, axis=0)
    rho = r.sum(axis=0) / r.sum()
    return float(np.clip(np.sum(per_factor * rho), 0.0, 1.0))


def gbt_importance_matrix(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    *,
    estimator: Literal["fast", "reference"] = "fast",
    seed: int = 0,
    screen: int | None = None,
    n_jobs: int = 1,
    mi_matrix: np.ndarray | None = None,
) -> tuple[np.ndarray, float, float]:
    """DCI's importance matrix: one gradient-boosting classifier per factor; ``(R, train_acc, test_acc)``.

    ``R`` is (D, F): ``R[i, j]`` is the impurity-based importance of code i in the classifier of
    factor j (the total split gain of code i, normalised so that each column sums to 1; Eastwood &
    Williams 2018, disentanglement_lib ``dci.compute_importance_gbt``). The accuracies are averaged
    over factors. ``estimator``: ``"reference"`` (sklearn's ``GradientBoostingClassifier``) or
    ``"fast"`` (LightGBM, see :func:`dci`).
    ``screen=k`` (with D > k): the classifiers see only the k codes :func:`screened_codes` picks
    (from ``mi_matrix`` when given); the other codes get importance 0. The fast estimator on more than :data:`WIDE_DIM` codes bins
    them into :data:`WIDE_MAX_BIN` bins instead of 4095 (LightGBM's 4-bit histograms).
    ``n_jobs`` fits that many factors' classifiers at once in threads (each classifier stays on one
    thread, so the result does not depend on ``n_jobs``).
    """
    d = codes.shape[1]
    cols = slice(None)
    if screen is not None and d > screen:
        cols = screened_codes(codes, factors, screen, mi_matrix=mi_matrix)
    x, xt = codes[:, cols], codes_test[:, cols]
    params = {}
    if estimator == "fast" and x.shape[1] > WIDE_DIM:
        params["max_bin"] = WIDE_MAX_BIN
    def fit_factor(j: int) -> tuple[np.ndarray, float, float]:
        model = make_gbt_classifier(estimator, seed=seed, **params)
        model.fit(x, factors[:, j])
        return (np.abs(model.feature_importances_), float(np.mean(model.predict(x) == factors[:, j])),
                float(np.mean(model.predict(xt) == factors_test[:, j])))

    n_jobs = check_int("n_jobs", n_jobs, 1)
    num_factors = factors.shape[1]
    order = np.argsort(-np.asarray([len(np.unique(factors[:, j])) for j in range(num_factors)]), kind="stable")
    if n_jobs == 1:
        fits = {j: fit_factor(j) for j in order}
    else:  # LightGBM and sklearn release the GIL while fitting; largest factors first
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(n_jobs, num_factors)) as pool:
            fits = dict(zip(order, pool.map(fit_factor, order)))
    importance = np.zeros((d, num_factors))
    for j in range(num_factors):
        importance[cols, j] = fits[j][0]
    train_acc = [fits[j][1] for j in range(num_factors)]
    test_acc = [fits[j][2] for j in range(num_factors)]
    return importance, float(np.mean(train_acc)), float(np.mean(test_acc))


def screened_codes(
    codes: np.ndarray,
    factors: np.ndarray,
    budget: int,
    num_bins: int = SCREEN_NUM_BINS,
    *,
    mi_matrix: np.ndarray | None = None,
) -> np.ndarray:
    """Sorted indices of at most ``budget`` codes: the best few for every factor, by mutual info.

    Each factor ranks the codes by ``I(c_i; v_j)`` (MIG's estimate: ``num_bins`` equal-width bins;
    ties to the lower index); the factors' rankings are then merged round-robin (every factor's
    best code, then every factor's second best, ...) until ``budget`` distinct codes are chosen.
    ``mi_matrix``: ``discrete_mi_matrix(codes, factors, num_bins)`` if already computed.
    """
    if mi_matrix is None:
        mi = discrete_mi_matrix(codes, factors, num_bins)
    else:
        mi = check_mi_matrix(mi_matrix, codes.shape[1], factors.shape[1], metric="dci")
    ranked = np.argsort(-mi, axis=0, kind="stable").ravel()  # rank-major: all factors' rank 0 ...
    _, first = np.unique(ranked, return_index=True)
    return np.sort(ranked[np.sort(first)][:budget])


def uses_mi_matrix(num_codes: int, *, estimator: str = "fast", screen: int | None = SCREEN_DEFAULT) -> bool:
    """Whether :func:`dci` with these settings reads the mutual-information matrix (it screens the
    codes: the fast estimator on more than ``screen`` codes)."""
    return estimator == "fast" and screen is not None and num_codes > screen


def dci(
    codes: Any,
    factors: Any,
    *,
    codes_test: Any = None,
    factors_test: Any = None,
    estimator: Literal["fast", "reference"] = "fast",
    seed: int = 0,
    screen: int | None = SCREEN_DEFAULT,
    n_jobs: int = 1,
    mi_matrix: Any = None,
) -> dict[str, float]:
    """DCI scores of codes (N, D) against integer factors (N, F); needs a test split.

    Returns ``disentanglement``, ``completeness`` (:func:`dci_disentanglement`,
    :func:`dci_completeness` of the importance matrix) and ``informativeness_train`` /
    ``informativeness_test``: mean classification **accuracies** over factors (the reference's
    keys; its code calls them errors).

    ``estimator="reference"`` fits sklearn's ``GradientBoostingClassifier`` with its defaults, as
    disentanglement_lib does, but seeded with ``seed``. ``estimator="fast"`` (default) grows the
    same trees with LightGBM (squared-error gains on the softmax gradients, sklearn's Newton leaf
    values, near-exact thresholds; 40 rounds at learning rate 0.25, see
    :class:`~disentkit.metrics._gbt.FastGBTClassifier`); its agreement with the reference and its
    speed are measured by ``benchmarks/metrics_speed.py``. Record which one you used.

    ``screen=k`` (default :data:`SCREEN_DEFAULT`; ``None`` switches it off) applies to the fast
    estimator on codes with more than k dimensions only: the classifiers see the k codes
    :func:`screened_codes` picks (each factor's most informative codes by MIG's mutual information,
    merged round-robin) and the other codes get importance 0; above :data:`WIDE_DIM` codes they
    use :data:`WIDE_MAX_BIN` histogram bins. A multiclass GBT costs D times the number of classes
    per round, which is what screening saves on wide codes. It is an approximation (importance is
    spread over fewer codes, which moves disentanglement and completeness; see
    ``benchmarks/metrics_speed.py --check-wide``). The setting is recorded. ``mi_matrix``: the
    screening's ``discrete_mi_matrix(codes, factors, SCREEN_NUM_BINS)`` if already computed (used
    only when screening happens, see :func:`uses_mi_matrix`).

    ``n_jobs`` fits that many factors at once (threads); the values do not depend on it.

    Degenerate codes (:mod:`disentkit.metrics`): a constant code dimension is never split on, so
    its importance is 0. Constant codes (every dimension constant, e.g. a collapsed encoder) give
    the all-zero importance matrix: ``disentanglement = completeness = 0``, and each classifier
    is its prior, so ``informativeness_train`` / ``_test`` are the mean accuracies of answering the
    most frequent train class of each factor (the smallest such label on a tie).
    """
    codes, factors, codes_test, factors_test = check_inputs(
        codes, factors, codes_test, factors_test, metric="dci", require_test=True
    )
    if screen is not None:
        screen = check_int("screen", screen, 1)
    importance, train_acc, test_acc = gbt_importance_matrix(
        codes, factors, codes_test, factors_test, estimator=estimator, seed=seed,
        screen=screen if estimator == "fast" else None, n_jobs=n_jobs, mi_matrix=mi_matrix,
    )
    return {
        "informativeness_train": train_acc,
        "informativeness_test": test_acc,
        "disentanglement": dci_disentanglement(importance),
        "completeness": dci_completeness(importance),
    }
