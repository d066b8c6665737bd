"""The boosted-tree estimator of DCI, the downstream task and fairness.

:func:`make_gbt_classifier` builds either scikit-learn's ``GradientBoostingClassifier`` (the
reference, seeded) or :class:`FastGBTClassifier`, which grows the same kind of trees with LightGBM.
Both expose ``feature_importances_`` that sum to 1.

Reference: disentanglement_lib ``evaluation/metrics/utils.py`` (``gradient_boosting_classifier``);
Friedman, "Greedy Function Approximation: A Gradient Boosting Machine" (Ann. Stat. 2001) for the
multinomial leaf values.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

__all__ = [
    "GBT_ESTIMATORS",
    "FAST_GBT_PARAMS",
    "FastGBTClassifier",
    "make_gbt_classifier",
    "normalized_importances",
    "share_among_equivalent",
]

GBT_ESTIMATORS = ("fast", "reference")


def normalized_importances(raw: np.ndarray) -> np.ndarray:
    """``|raw| / sum |raw|`` (a zero vector stays zero): importances that sum to 1 per model."""
    raw = np.abs(np.asarray(raw, dtype=np.float64))
    total = raw.sum()
    return raw / total if total > 0 else raw


class FastGBTClassifier:
    """Histogram gradient boosting (LightGBM) standing in for sklearn's GradientBoostingClassifier.

    A scikit-learn-style classifier (``fit``, ``predict``, ``predict_proba``, ``score``,
    ``classes_``) whose ``feature_importances_`` sum to 1 and mean the same as the reference
    GBT's impurity-based importances. Like sklearn's GBT, every boosting round fits one regression
    tree per class to the softmax gradient ``p - onehot(y)`` by squared error: the multiclass
    softmax objective is given to LightGBM with a **unit hessian**, so a split's gain is the
    squared-error decrease of the gradients — sklearn's ``friedman_mse`` impurity decrease — and
    the total gain per feature (LightGBM ``importance_type="gain"``), normalised, is the
    reference's importance (LightGBM's own Newton gains ``G^2 / H`` would weight late,
    noise-fitting splits far more). The leaf
    values are then replaced by sklearn's: with ``leaf="newton"`` (default) a Newton step
    ``lr (K-1)/K sum(y - p) / sum(p (1 - p))`` over the leaf's training rows, as sklearn's
    multinomial ``_update_terminal_regions``; ``leaf="gradient"`` keeps LightGBM's gradient steps
    ``-lr mean(p - y)``. The class scores are kept here (``leaf_values_``, gathered by LightGBM's
    leaf indices), starting from the log class priors as sklearn's. Single-threaded and seeded, so
    results are bit-reproducible. Default settings: :data:`FAST_GBT_PARAMS` (how they were
    chosen, and how close they come to the reference: ``benchmarks/metrics_speed.py``).
    """

    def __init__(self, seed: int = 0, **params: Any) -> None:
        self.seed = seed
        self.params = dict(FAST_GBT_PARAMS)
        self.params.update(params)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "FastGBTClassifier":
        """Fit on features ``x`` (N, D) and integer labels ``y`` (N,)."""
        import lightgbm

        y = np.asarray(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        y_idx = y_idx.reshape(-1)
        k = int(self.classes_.size)
        if k < 2:
            raise ValueError("a classifier needs at least two classes in the training labels")
        n = y_idx.size
        onehot = np.zeros((n, k))
        onehot[np.arange(n), y_idx] = 1.0
        self.prior_ = np.log(onehot.mean(axis=0))
        x = np.ascontiguousarray(x, dtype=np.float64)
        params = dict(self.params)
        rounds = int(params.pop("n_estimators"))
        leaf_kind = params.pop("leaf")
        if leaf_kind not in ("newton", "gradient"):
            raise ValueError(f"leaf must be 'newton' or 'gradient', got {leaf_kind!r}")
        self.n_features_in_ = x.shape[1]
        if x.shape[0] == 0 or not (x.max(axis=0) > x.min(axis=0)).any():
            # every feature is constant: no split exists, so every tree is a single leaf, and its
            # Newton step sum(y - p) / ... is 0 at the prior (softmax of the log priors is the
            # priors). The model is the prior (the most frequent class), with zero importances, as
            # sklearn's GradientBoostingClassifier gives; LightGBM refuses a dataset without a
            # usable feature.
            self.booster_ = None
            self.leaf_values_ = np.zeros((0, k, 1))
            self.feature_importances_ = np.zeros(x.shape[1])
            return self
        newton = leaf_kind == "newton"
        lr = float(params["learning_rate"])
        params.update(
            objective="none", num_class=k, seed=int(self.seed), deterministic=True,
            verbosity=-1, boost_from_average=False,
        )
        # the Dataset gets every parameter: its feature pre-filter uses min_data_in_leaf
        data = lightgbm.Dataset(x, label=y_idx.astype(np.float64), params=dict(params))
        booster = lightgbm.Booster(params, data)
        score = np.tile(self.prior_, (n, 1))  # raw class scores of the training rows
        unit = np.ones((n, k))

        def softmax_unit_hessian(_preds: Any, _data: Any) -> tuple[np.ndarray, np.ndarray]:
            return _softmax(score) - onehot, unit

        # leaf values per (round, class, leaf): LightGBM's own (gradient steps, already scaled by
        # the learning rate) or sklearn's Newton steps; predictions gather them by leaf index
        self.leaf_values_ = np.zeros((rounds, k, 2 ** int(params.get("max_depth", 3))))
        for it in range(rounds):
            booster.update(fobj=softmax_unit_hessian)
            # (booster.predict between updates would make every later update slow)
            trees = booster.dump_model(start_iteration=it, num_iteration=1)["tree_info"]
            leaves = np.column_stack([_route(t["tree_structure"], x) for t in trees])
            width = self.leaf_values_.shape[2]
            if newton:  # sklearn's leaf: (K-1)/K sum(y - p) / sum(p (1 - p)), times lr
                prob = _softmax(score)
                keys = (leaves + np.arange(k) * width).ravel()
                num = np.bincount(keys, (onehot - prob).ravel(), minlength=k * width)
                den = np.bincount(keys, (prob * (1.0 - prob)).ravel(), minlength=k * width)
                safe = np.abs(den) >= 1e-150
                value = lr * (k - 1) / k * np.where(safe, num / np.where(safe, den, 1.0), 0.0)
                self.leaf_values_[it] = value.reshape(k, width)
            else:
                for c in range(k):
                    for leaf_id in range(int(leaves[:, c].max()) + 1):
                        self.leaf_values_[it, c, leaf_id] = booster.get_leaf_output(
                            it * k + c, leaf_id
                        )
            score += np.take_along_axis(self.leaf_values_[it].T, leaves, axis=0)
        self.booster_ = booster
        gains = booster.feature_importance(importance_type="gain")
        self.feature_importances_ = normalized_importances(share_among_equivalent(x, gains))
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Raw class scores (N, K): log priors plus the trees' leaf values."""
        if self.booster_ is None:  # fitted on constant features: the prior
            return np.tile(self.prior_, (np.asarray(x).shape[0], 1))
        leaves = self.booster_.predict(
            np.ascontiguousarray(x, dtype=np.float64), pred_leaf=True, num_threads=1
        )
        rounds, k, width = self.leaf_values_.shape
        leaves = np.asarray(leaves, dtype=np.int64).reshape(x.shape[0], rounds * k)
        flat = self.leaf_values_.reshape(rounds * k, width)
        values = flat[np.arange(rounds * k), leaves]  # (N, rounds * K)
        return values.reshape(x.shape[0], rounds, k).sum(axis=1) + self.prior_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K), columns in the order of ``classes_``."""
        z = self.decision_function(x)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Most probable class label per row."""
        return self.classes_[np.argmax(self.decision_function(x), axis=1)]

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of :meth:`predict` on ``(x, y)``."""
        return float(np.mean(self.predict(x) == np.asarray(y)))


def _route(node: dict, x: np.ndarray) -> np.ndarray:
    """Leaf index of every row of ``x`` in a LightGBM tree given as ``dump_model`` dict.

    Numerical splits only (``x[:, feature] <= threshold`` goes left; the codes are finite).
    """
    out = np.empty(x.shape[0], dtype=np.int64)
    stack = [(node, np.arange(x.shape[0]))]
    while stack:
        node, rows = stack.pop()
        if "leaf_index" in node or "split_feature" not in node:
            out[rows] = node.get("leaf_index", 0)
            continue
        left = x[rows, node["split_feature"]] <= node["threshold"]
        stack.append((node["left_child"], rows[left]))
        stack.append((node["right_child"], rows[~left]))
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) scores."""
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def share_among_equivalent(x: np.ndarray, importance: np.ndarray) -> np.ndarray:
    """Spread importance evenly over features that induce the same splits.

    Features that are strictly monotone transforms of each other (duplicates included) sort the
    samples in the same (or reversed) order, so every threshold split of one is a split of the
    other with the same gain. sklearn's trees break such ties at random (a random feature order
    per node), so in expectation the importance is shared equally; LightGBM always takes the first
    feature. This gives each feature of such a group the group's mean importance.

    Two features are equivalent when their dense ranks (ties sharing a rank) are equal or exactly
    reversed, so a feature with ties is never grouped with one that separates those tied samples,
    and a constant feature (never split, importance 0) is never grouped with a varying one.
    """
    x = np.asarray(x)
    importance = np.asarray(importance, dtype=np.float64).copy()
    if x.shape[1] < 2:
        return importance
    groups: dict[bytes, list[int]] = {}
    for i in range(x.shape[1]):
        _, rank = np.unique(x[:, i], return_inverse=True)
        rank = rank.reshape(-1).astype(np.int64)
        key = min(rank.tobytes(), (rank.max() - rank).tobytes())
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        if len(members) > 1:
            importance[members] = importance[members].mean()
    return importance


# LightGBM settings of the fast estimator (see FastGBTClassifier): sklearn's Newton leaf values,
# near-exact thresholds (4095 bins, one sample per bin allowed), and 40 rounds at learning rate 0.25
# standing in for sklearn's 100 at 0.1. The measurements behind them: benchmarks/metrics_speed.py.
FAST_GBT_PARAMS: dict[str, Any] = {
    "n_estimators": 40,
    "learning_rate": 0.25,
    "num_leaves": 8,
    "max_depth": 3,
    "min_data_in_leaf": 1,
    "min_sum_hessian_in_leaf": 0.0,
    "lambda_l2": 0.0,
    "max_bin": 4095,
    "min_data_in_bin": 1,
    "num_threads": 1,
    "leaf": "newton",
}


def make_gbt_classifier(
    estimator: Literal["fast", "reference"] = "fast", seed: int = 0, **params: Any
) -> Any:
    """A seeded gradient-boosting classifier whose ``feature_importances_`` sum to 1.

    ``"reference"``: ``sklearn.ensemble.GradientBoostingClassifier`` with all of sklearn's defaults
    (100 stages, learning rate 0.1, depth 3), as disentanglement_lib's
    ``gradient_boosting_classifier`` — but with ``random_state=seed`` (the reference is unseeded and
    not reproducible run to run). ``"fast"``: :class:`FastGBTClassifier` (LightGBM, gain
    importances). Extra ``params`` override the estimator's settings.
    """
    if estimator not in GBT_ESTIMATORS:
        raise ValueError(f"estimator must be one of {GBT_ESTIMATORS}, got {estimator!r}")
    if estimator == "reference":
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(random_state=int(seed), **params)
    return FastGBTClassifier(seed=int(seed), **params)

