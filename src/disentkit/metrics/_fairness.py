"""Fairness of downstream predictions (Locatello et al., NeurIPS 2019, "On the Fairness of
Disentangled Representations"), as implemented by disentanglement_lib's ``fairness.py``.

A classifier is trained to predict each target factor ``i`` from the codes. For each sensitive
factor ``j != i``, a set of factor vectors is drawn once; for every value ``c`` of factor ``j``
the whole set is re-rendered with ``v_j = c`` and the predictions of factor ``i`` are counted:
``counts[pred, c]``. With ``p(pred | c)`` the column-normalised counts and ``p(pred)`` the
pooled distribution, ``TV_c = 0.5 sum_pred |p(pred | c) - p(pred)|``; the unfairness of (i, j) is
the count-weighted mean of ``TV_c`` (``mean_fairness``) and its maximum (``max_fairness``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.metrics._gbt import GBT_ESTIMATORS, make_gbt_classifier
from disentkit.metrics._downstream import fit_classifier, predict_labels
from disentkit.metrics._representation import as_representation, encode_groups, sample_codes
from disentkit.validation import check_int

__all__ = ["fairness", "inter_group_fairness", "fairness_scores"]


def inter_group_fairness(counts: np.ndarray) -> tuple[float, float]:
    """Mean and max total-variation unfairness of a prediction table ``counts[pred, group]``.

    ``TV_c = 0.5 * sum_p |counts[p, c] / n_c - n_p / n|`` with ``n_c`` the group sizes and ``n_p``
    the pooled prediction counts; returns ``(sum_c n_c TV_c / n, max_c TV_c)``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    per_group = counts.sum(axis=0)
    overall = counts.sum(axis=1) / counts.sum()
    tv = 0.5 * np.abs(counts / per_group[None, :] - overall[:, None]).sum(axis=0)
    return float(np.sum(tv * per_group) / per_group.sum()), float(tv.max())


def fairness_scores(matrix: np.ndarray, prefix: str) -> dict[str, float]:
    """The reference's keys for an (F, F) unfairness matrix ``matrix[pred, sens]`` (diagonal unused).

    ``{prefix}:pred{i}:sens{j}`` for ``i != j``; per predicted factor ``{prefix}:pred{i}:mean_sens``
    and ``:max_sens`` (over ``j != i``); per sensitive factor ``{prefix}:sens{j}:mean_pred`` and
    ``:max_pred``; and the aggregates ``{prefix}:{a}_sens:{b}_pred`` (``a`` over the sensitive
    factors of ``b`` over the predicted ones) and ``{prefix}:{a}_pred:{b}_sens``, a, b in {mean, max}.
    """
    num = matrix.shape[0]
    off = ~np.eye(num, dtype=bool)
    scores: dict[str, float] = {}
    for i in range(num):
        for j in range(num):
            if i != j:
                scores[f"{prefix}:pred{i}:sens{j}"] = float(matrix[i, j])
    rows = [matrix[i, off[i]] for i in range(num)]  # per predicted factor, over sensitive ones
    cols = [matrix[off[:, j], j] for j in range(num)]  # per sensitive factor, over predicted ones
    row_mean = np.array([r.mean() for r in rows])
    row_max = np.array([r.max() for r in rows])
    col_mean = np.array([c.mean() for c in cols])
    col_max = np.array([c.max() for c in cols])
    for i in range(num):
        scores[f"{prefix}:pred{i}:mean_sens"] = float(row_mean[i])
        scores[f"{prefix}:pred{i}:max_sens"] = float(row_max[i])
    for j in range(num):
        scores[f"{prefix}:sens{j}:mean_pred"] = float(col_mean[j])
        scores[f"{prefix}:sens{j}:max_pred"] = float(col_max[j])
    scores[f"{prefix}:mean_sens:mean_pred"] = float(col_mean.mean())
    scores[f"{prefix}:mean_sens:max_pred"] = float(col_max.mean())
    scores[f"{prefix}:max_sens:mean_pred"] = float(col_mean.max())
    scores[f"{prefix}:max_sens:max_pred"] = float(col_max.max())
    scores[f"{prefix}:mean_pred:mean_sens"] = float(row_mean.mean())
    scores[f"{prefix}:mean_pred:max_sens"] = float(row_max.mean())
    scores[f"{prefix}:max_pred:mean_sens"] = float(row_mean.max())
    scores[f"{prefix}:max_pred:max_sens"] = float(row_max.max())
    return scores


def fairness(
    dataset: Any,
    representation: Any,
    *,
    rng: RandomLike = 0,
    num_train: int = 10_000,
    num_test_points_per_class: int = 100,
    estimator: str = "fast",
) -> dict[str, float]:
    """Demographic-parity unfairness of per-factor classifiers under interventions on other factors.

    Parameters
    ----------
    dataset: a :class:`~disentkit.data.GroundTruthData` with at least two factors.
    representation: a callable images -> codes or an ``nn.Module`` with ``represent``.
    rng: an int seed or a numpy Generator for every draw and of the classifiers.
    num_train: training samples for the classifiers (10,000 in the study).
    num_test_points_per_class: factor vectors re-rendered for each value of a sensitive factor
        (100).
    estimator: the gradient-boosting classifier, ``"fast"`` (LightGBM, default, as for DCI) or
        ``"reference"`` (scikit-learn's GradientBoostingClassifier, seeded); see
        ``_gbt.make_gbt_classifier``.

    Returns
    -------
    The reference's keys (``fairness_scores``) for the prefixes ``mean_fairness`` and
    ``max_fairness``; the paper's score is ``"mean_fairness:mean_pred:mean_sens"`` (0 is fair).

    Notes
    -----
    The reference draws a fresh set of factor vectors for every (target, sensitive) pair and
    re-encodes it for every target; here one set is drawn per sensitive factor, rendered and
    encoded once, and scored by all F - 1 target classifiers (F - 1 times fewer images; each
    entry has the same distribution). Draw order: the training set, then one set per sensitive
    factor in column order, each rendered value by value.
    """
    num_train = check_int("num_train", num_train, 1)
    per_class = check_int("num_test_points_per_class", num_test_points_per_class, 1)
    if estimator not in GBT_ESTIMATORS:
        raise ValueError(f"estimator must be one of {GBT_ESTIMATORS}, got {estimator!r}")
    num_factors = dataset.num_factors
    if num_factors < 2:
        raise ValueError(f"fairness needs at least two factors, the dataset has {num_factors}")
    sizes = dataset.factor_sizes
    rep = as_representation(representation)
    gen = check_random_state(rng)
    codes, factors = sample_codes(dataset, rep, num_train, gen)
    model_seed = int(gen.integers(2**31 - 1))
    models = [
        fit_classifier(lambda: make_gbt_classifier(estimator, model_seed), codes, factors[:, i])
        for i in range(num_factors)
    ]
    mean_fair = np.zeros((num_factors, num_factors))
    max_fair = np.zeros((num_factors, num_factors))
    for j in range(num_factors):
        original = dataset.sample_factors(per_class, gen)
        intervened = np.repeat(original[None], sizes[j], axis=0)  # (|V_j|, P, F)
        intervened[:, :, j] = np.arange(sizes[j])[:, None]
        group_codes = encode_groups(dataset, rep, intervened, gen, lambda z: z)  # (|V_j|, P, D)
        flat = group_codes.reshape(sizes[j] * per_class, -1)
        for i in range(num_factors):
            if i == j:
                continue
            predicted = predict_labels(models[i], flat).astype(np.int64).reshape(sizes[j], per_class)
            keys = predicted * sizes[j] + np.arange(sizes[j])[:, None]
            counts = np.bincount(keys.ravel(), minlength=sizes[i] * sizes[j]).reshape(sizes[i], sizes[j])
            mean_fair[i, j], max_fair[i, j] = inter_group_fairness(counts)
    return {**fairness_scores(mean_fair, "mean_fairness"), **fairness_scores(max_fair, "max_fairness")}
