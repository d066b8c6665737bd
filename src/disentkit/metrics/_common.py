"""Shared pieces of the metrics: input checks, the histogram discretiser, mutual information and
the classifier factories.

Every array-level metric validates its inputs here once (:func:`check_inputs`), so a bad array is
reported with the same clear :class:`ValueError` everywhere, never as a crash inside numpy, scipy or
scikit-learn. The expensive shared piece, the (code bin, factor value) contingency table, is built
with one ``np.bincount`` per factor over all code columns at once (:func:`mutual_information_matrix`),
not with ``D * F`` calls to ``sklearn.metrics.mutual_info_score``.

Reference: disentanglement_lib ``evaluation/metrics/utils.py`` (``_histogram_discretize``,
``discrete_mutual_info``, ``discrete_entropy``, ``gradient_boosting_classifier``).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Literal

import numpy as np

from disentkit.metrics import _kernels

__all__ = [
    "check_codes",
    "check_factors",
    "check_inputs",
    "check_positive_int",
    "histogram_discretize",
    "mutual_information_matrix",
    "factor_entropies",
    "GBT_ESTIMATORS",
    "FAST_GBT_PARAMS",
    "FastGBTClassifier",
    "make_gbt_classifier",
    "make_logistic_regression",
    "normalized_importances",
    "quiet_fit",
    "share_among_equivalent",
]

GBT_ESTIMATORS = ("fast", "reference")

# Rows of the (N, D) code array handled by one bincount in mutual_information_matrix; bounds the
# temporary key array to about 8 M int64 entries (64 MB).
_MI_CHUNK_ENTRIES = 8_000_000


# ----------------------------------------------------------------------------------- validation
def check_codes(codes: Any, *, name: str = "codes", min_samples: int = 2) -> np.ndarray:
    """Return ``codes`` as a finite float64 array of shape (N, D), N >= ``min_samples``, D >= 1.

    Raises ``ValueError`` for a non-2-D array, an empty array, non-numeric values, NaN or infinite
    entries (naming the first offending row and column).
    """
    try:
        arr = np.asarray(codes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape (N, D): {exc}") from None
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (N, D) (rows are samples), got shape {arr.shape}; "
            "reshape a single code dimension with codes[:, None]"
        )
    n, d = arr.shape
    if d < 1:
        raise ValueError(f"{name} must have at least one code dimension, got shape {arr.shape}")
    if n < min_samples:
        raise ValueError(f"{name} must have at least {min_samples} samples (rows), got {n}")
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} contains {int((~finite).sum())} NaN or infinite values "
            f"(first at row {row}, column {col}); metrics need finite codes"
        )
    return arr


def check_factors(
    factors: Any,
    num_samples: int,
    *,
    name: str = "factors",
    allow_constant: bool = False,
) -> np.ndarray:
    """Return ``factors`` as an int64 array of shape (N, F) with ``N == num_samples``.

    Factors are class indices: integer dtype, or floats holding whole numbers. Unless
    ``allow_constant``, a factor that takes a single value raises ``ValueError`` (its entropy is 0,
    so MIG would divide by zero and no classifier can be trained on it).
    """
    arr = np.asarray(factors)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D integer array of shape (N, F), got shape {arr.shape}; "
            "reshape a single factor with factors[:, None]"
        )
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one factor column, got shape {arr.shape}")
    if arr.shape[0] != num_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} rows but the codes have {num_samples}; "
            "codes and factors must describe the same samples"
        )
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(arr) & (np.mod(arr, 1) == 0)
        if not ok.all():
            raise ValueError(
                f"{name} must hold integer class indices (discretise continuous factors first), "
                "got non-integer or non-finite values"
            )
    arr = arr.astype(np.int64, copy=False)
    if not allow_constant:
        constant = np.flatnonzero((arr == arr[:1]).all(axis=0))
        if constant.size:
            raise ValueError(
                f"{name} column(s) {constant.tolist()} take a single value in these {num_samples} "
                "samples; a constant factor has zero entropy and cannot be scored: drop it"
            )
    return arr


def check_inputs(
    codes: Any,
    factors: Any,
    codes_test: Any = None,
    factors_test: Any = None,
    *,
    metric: str,
    require_test: bool = False,
    allow_constant: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate a train split and an optional test split for the metric called ``metric``.

    Returns ``(codes, factors, codes_test, factors_test)`` as float64/int64 arrays (the test pair is
    ``None`` when not given). The test split must be given as a pair, with the same ``D`` and ``F``
    as the train split; ``require_test`` makes it mandatory. Constant factors are rejected in the
    train split only (a test split may well miss classes).
    """
    codes = check_codes(codes, name=f"{metric}: codes")
    factors = check_factors(
        factors, codes.shape[0], name=f"{metric}: factors", allow_constant=allow_constant
    )
    if (codes_test is None) != (factors_test is None):
        raise ValueError(f"{metric}: give codes_test and factors_test together, or neither")
    if codes_test is None:
        if require_test:
            raise ValueError(
                f"{metric} needs a held-out split: pass codes_test=... and factors_test=... "
                "(the reference uses 5,000 test samples)"
            )
        return codes, factors, None, None
    codes_test = check_codes(codes_test, name=f"{metric}: codes_test", min_samples=1)
    if codes_test.shape[1] != codes.shape[1]:
        raise ValueError(
            f"{metric}: codes_test has {codes_test.shape[1]} dimensions but codes has "
            f"{codes.shape[1]}"
        )
    factors_test = check_factors(
        factors_test, codes_test.shape[0], name=f"{metric}: factors_test", allow_constant=True
    )
    if factors_test.shape[1] != factors.shape[1]:
        raise ValueError(
            f"{metric}: factors_test has {factors_test.shape[1]} factors but factors has "
            f"{factors.shape[1]}"
        )
    return codes, factors, codes_test, factors_test


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int ``>= minimum`` or raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------ discretisation
def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Discretise each code column into ``num_bins`` equal-width bins over its own [min, max].

    Exactly disentanglement_lib's ``_histogram_discretize`` on the transposed array: per column,
    ``edges = np.histogram(column, num_bins)[1]`` and ``bins = np.digitize(column, edges[:-1])``.
    Bin ids run from 1 to ``num_bins``; the maximum falls in bin ``num_bins``. A constant column
    (NumPy widens its range to [v - 0.5, v + 0.5]) lands in one bin. Returns int64 (N, D) (the
    reference keeps the float dtype; the values are the same).

    The bin is first estimated arithmetically and then corrected against the exact NumPy edges, so
    the result equals ``np.digitize`` bit for bit (a compiled loop with numba, vectorised NumPy
    passes without).
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (N, D), got shape {codes.shape}")
    num_bins = check_positive_int(num_bins, "num_bins")
    lo = codes.min(axis=0)
    hi = codes.max(axis=0)
    same = lo == hi
    lo = np.where(same, lo - 0.5, lo)
    hi = np.where(same, hi + 0.5, hi)
    # np.histogram's edges are np.linspace(lo, hi, num_bins + 1); linspace with array endpoints
    # performs the same per-element arithmetic.
    edges = np.linspace(lo, hi, num_bins + 1, axis=1)  # (D, num_bins + 1)
    if _kernels.HAVE_NUMBA:
        return _kernels.digitize_columns(codes, lo, hi, edges, num_bins)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        guess = np.floor((codes - lo) / (hi - lo) * num_bins)
    guess = np.nan_to_num(guess, nan=0.0, posinf=num_bins - 1, neginf=0.0)
    idx = np.clip(guess, 0, num_bins - 1).astype(np.int64)  # 0-based bin: edges[idx] <= x
    lower = edges[:, :-1]  # (D, num_bins): the edges digitize compares against
    cols = np.broadcast_to(np.arange(codes.shape[1]), codes.shape)
    for _ in range(num_bins + 1):  # corrections move by one bin; a few passes at most
        down = (idx > 0) & (codes < lower[cols, idx])
        up = (idx < num_bins - 1) & (codes >= lower[cols, np.minimum(idx + 1, num_bins - 1)])
        if not (down.any() or up.any()):
            break
        idx = idx - down + up
    # np.digitize also returns 0 for values below edges[0]; impossible here since edges[0] = min.
    return idx + 1


# ---------------------------------------------------------------------------- information theory
def _dense_labels(column: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel an integer column to 0..K-1 (sorted order); return the labels and K."""
    values, inverse = np.unique(column, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), int(values.size)


def _dense_columns(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel every integer column of (N, C) to a dense 0..K_c-1 range; return it and max K_c.

    Uses an offset when the values already lie in a small non-negative range (the discretiser's
    1..num_bins), and ``np.unique`` per column otherwise.
    """
    lo, hi = int(array.min()), int(array.max())
    if hi - lo < 4096:
        return array - lo, hi - lo + 1
    out = np.empty(array.shape, dtype=np.int64)
    width = 0
    for c in range(array.shape[1]):
        out[:, c], k = _dense_labels(array[:, c])
        width = max(width, k)
    return out, width


def _xlogx_terms(counts: np.ndarray) -> np.ndarray:
    """``counts * log(counts)`` with 0 log 0 = 0 (float64, same shape)."""
    counts = counts.astype(np.float64, copy=False)
    out = np.zeros_like(counts)
    pos = counts > 0
    out[pos] = counts[pos] * np.log(counts[pos])
    return out


def mutual_information_matrix(codes_discrete: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Mutual information ``m[i, j] = I(c_i; v_j)`` in nats between discrete codes and factors.

    ``codes_discrete`` (N, D) and ``factors`` (N, F) hold integer labels. With counts ``n_ab`` of
    (code bin a, factor value b), marginals ``n_a``, ``n_b`` and ``N`` samples,
    ``I = sum_ab (n_ab / N) log(N n_ab / (n_a n_b))``, clipped at 0 — the value of
    ``sklearn.metrics.mutual_info_score(factors[:, j], codes_discrete[:, i])`` (disentanglement_lib's
    ``discrete_mutual_info``, transposed), up to floating-point rounding (~1e-15).

    The contingency tables of all D code columns against factor j are counted by a compiled loop
    (numba) or else by one ``np.bincount`` over the keys ``(i, a, b)``, in chunks of columns to bound
    memory. Computed as
    ``I = (sum n_ab log n_ab - sum n_a log n_a - sum n_b log n_b) / N + log N``.
    Returns float64 (D, F).
    """
    codes_discrete = np.asarray(codes_discrete)
    factors = np.asarray(factors)
    if codes_discrete.ndim != 2 or factors.ndim != 2:
        raise ValueError(
            "codes_discrete and factors must be 2-D, got shapes "
            f"{codes_discrete.shape} and {factors.shape}"
        )
    if codes_discrete.shape[0] != factors.shape[0]:
        raise ValueError(
            f"codes_discrete has {codes_discrete.shape[0]} rows but factors has {factors.shape[0]}"
        )
    for arr, name in ((codes_discrete, "codes_discrete"), (factors, "factors")):
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.mod(arr, 1) == 0):
                raise ValueError(f"{name} must hold integer labels")
    n, d = codes_discrete.shape
    num_factors = factors.shape[1]
    if n == 0:
        raise ValueError("mutual information needs at least one sample")
    dense_factors = [
        _dense_labels(factors[:, j].astype(np.int64, copy=False)) for j in range(num_factors)
    ]
    out = np.empty((d, num_factors), dtype=np.float64)
    lo, hi = int(codes_discrete.min()), int(codes_discrete.max())
    compiled = None
    if _kernels.HAVE_NUMBA and hi - lo < 256:
        compiled, code_terms = _kernels.code_factor_joint_terms(
            (codes_discrete - lo).astype(np.uint8),
            np.column_stack([fac for fac, _ in dense_factors]),
        )
    else:
        codes_dense, num_bins = _dense_columns(codes_discrete.astype(np.int64, copy=False))
        code_terms = _xlogx_terms(
            _column_counts(codes_dense, num_bins)
        ).sum(axis=1)  # (D,) sum_a n_a log n_a
    chunk = max(1, _MI_CHUNK_ENTRIES // max(n, 1))
    for j, (fac, k) in enumerate(dense_factors):
        fac_term = _xlogx_terms(np.bincount(fac, minlength=k)).sum()
        if compiled is not None:
            out[:, j] = (compiled[:, j] - code_terms - fac_term) / n + np.log(n)
            continue
        joint_terms = np.empty(d, dtype=np.float64)
        for start in range(0, d, chunk):
            block = codes_dense[:, start : start + chunk]  # (N, c)
            c = block.shape[1]
            keys = (np.arange(c) * num_bins + block) * k + fac[:, None]
            joint = np.bincount(keys.ravel(), minlength=c * num_bins * k).reshape(c, -1)
            joint_terms[start : start + c] = _xlogx_terms(joint).sum(axis=1)
        mi = (joint_terms - code_terms - fac_term) / n + np.log(n)
        out[:, j] = mi
    # Rounding leaves |mi| ~ 1e-15 where the true value is 0; clip like sklearn.
    out[np.abs(out) < 1e-12] = 0.0
    return np.clip(out, 0.0, None)


def _column_counts(dense: np.ndarray, width: int) -> np.ndarray:
    """Per-column value counts of a dense-labelled (N, C) array: (C, width)."""
    n, c = dense.shape
    keys = np.arange(c) * width + dense
    return np.bincount(keys.ravel(), minlength=c * width).reshape(c, width)


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """Empirical entropy ``H(v_j) = -sum_b p_b log p_b`` in nats of each factor column (F,).

    Equals disentanglement_lib's ``discrete_entropy`` (``mutual_info_score(y_j, y_j)``).
    """
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[0] == 0:
        raise ValueError(f"factors must be a non-empty 2-D array (N, F), got shape {factors.shape}")
    n = factors.shape[0]
    out = np.empty(factors.shape[1], dtype=np.float64)
    for j in range(factors.shape[1]):
        fac, k = _dense_labels(factors[:, j])
        out[j] = np.log(n) - _xlogx_terms(np.bincount(fac, minlength=k)).sum() / n
    out[np.abs(out) < 1e-12] = 0.0
    return out


# ---------------------------------------------------------------------------------- estimators
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
    reference's importance. (LightGBM's own Newton gains ``G^2 / H`` give late, noise-fitting splits
    far more weight, which lowered DCI disentanglement by ~0.06 in our measurements.) The leaf
    values are then replaced by sklearn's: with ``leaf="newton"`` (default) a Newton step
    ``lr (K-1)/K sum(y - p) / sum(p (1 - p))`` over the leaf's training rows, as sklearn's
    multinomial ``_update_terminal_regions``; ``leaf="gradient"`` keeps LightGBM's gradient steps
    ``-lr mean(p - y)``. The class scores are kept here (``leaf_values_``, gathered by LightGBM's
    leaf indices), starting from the log class priors as sklearn's. Single-threaded and seeded, so
    results are bit-reproducible. The default settings (:data:`FAST_GBT_PARAMS`) were chosen by
    measurement against the reference GBT.
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
        self.n_features_in_ = x.shape[1]
        gains = booster.feature_importance(importance_type="gain")
        self.feature_importances_ = normalized_importances(share_among_equivalent(x, gains))
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Raw class scores (N, K): log priors plus the trees' leaf values."""
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
    """
    x = np.asarray(x)
    importance = np.asarray(importance, dtype=np.float64).copy()
    if x.shape[1] < 2:
        return importance
    order = np.argsort(x, axis=0, kind="stable")
    groups: dict[bytes, list[int]] = {}
    for i in range(x.shape[1]):
        col = order[:, i]
        key = min(col.tobytes(), col[::-1].tobytes())
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        if len(members) > 1:
            importance[members] = importance[members].mean()
    return importance


# LightGBM settings of the fast estimator (see FastGBTClassifier), chosen by measurement against
# the seeded reference GBT on 27 small cases (N = 1000-2000; factors 3/6, 4/6, 3/6/10/8/8; noise
# 0.05-0.1; noisy identity, rotation, monotone transforms + duplicates + a constant code, and a
# tanh-mixed "trained-like" code): |delta| <= 0.012 for disentanglement, <= 0.008 for completeness
# and <= 0.014 for test informativeness. What mattered: sklearn's Newton leaf values (gradient-step
# leaves put D and C up to 0.09 off) and near-exact thresholds (max_bin 4095 with one sample per
# bin allowed; 255 bins left D and C up to 0.04 low at N = 1000). 40 rounds at learning rate 0.25
# stand in for sklearn's 100 at 0.1 (30 at 0.33 missed by 0.023).
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


def make_logistic_regression(seed: int = 0, *, cv_folds: int | None = None, **params: Any) -> Any:
    """A scikit-learn logistic regression with the reference's settings, seeded.

    ``cv_folds=None``: ``LogisticRegression()`` with sklearn defaults (lbfgs, C = 1, max_iter 100),
    as used by the explicitness score and MED's informativeness. ``cv_folds=k``:
    ``LogisticRegressionCV(Cs=10, cv=KFold(n_splits=k))`` without shuffling, as disentanglement_lib's
    ``logistic_regression_cv`` (k = 5 there). Convergence warnings are the caller's to silence
    (see :func:`quiet_fit`).
    """
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import KFold

    if cv_folds is None:
        return LogisticRegression(random_state=int(seed), **params)
    cv_folds = check_positive_int(cv_folds, "cv_folds", minimum=2)
    # pin what the reference relied on: accuracy picks C (scikit-learn 1.11 changes the default
    # scoring to the log-loss); newer versions' transition options are set to their future values
    accepted = inspect.signature(LogisticRegressionCV).parameters
    pinned: dict[str, Any] = {"scoring": "accuracy"}
    if "use_legacy_attributes" in accepted:
        pinned["use_legacy_attributes"] = False
    if "l1_ratios" in accepted:
        pinned["l1_ratios"] = (0.0,)
    return LogisticRegressionCV(
        Cs=10, cv=KFold(n_splits=cv_folds), random_state=int(seed), **{**pinned, **params}
    )


def quiet_fit(model: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """``model.fit(x, y)`` with scikit-learn's ConvergenceWarning silenced (the reference's
    iteration limits are kept on purpose, so the warning carries no news)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        return model.fit(x, y)
