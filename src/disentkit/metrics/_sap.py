"""SAP: Separated Attribute Predictability (Kumar et al., "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations", ICLR 2018); disentanglement_lib ``sap_score.py``,
spec §3.4.

The discrete score fits, for every (code i, factor j), a linear SVM on the single feature c_i:
scikit-learn's ``LinearSVC(C=0.01, class_weight="balanced")`` — squared hinge loss, L2 penalty on
the weight *and* the intercept (liblinear appends a constant feature), one-vs-rest over classes.
For one feature each one-vs-rest problem has two unknowns ``(w, b)``::

    min 0.5 (w^2 + b^2) + sum_n c_n max(0, 1 - y_n (w x_n + b))^2

with ``c_n = C * n / (K n_k)`` for the positive class k, and ``c_n = C`` for the rest (liblinear's
one-vs-rest weighting; with two classes each class gets its own balanced weight). The default
``solver="fast"`` solves all ``D x K`` problems of a factor at once by Newton's method with exact
line search terms computed from prefix sums over sorted codes (``O(N log N)`` per code instead of a
liblinear run per pair); it reaches the optimum, where liblinear stops at its tolerance (1e-4), so
scores agree with ``solver="reference"`` (the sklearn loop) to about 1e-3.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from disentkit.metrics._checks import check_inputs, varying_columns
from disentkit.metrics._kernels import HAVE_NUMBA, line_accuracy
from disentkit.validation import check_int

SOLVERS = ("fast", "reference")
_CHUNK_ENTRIES = 2_000_000  # codes x samples handled at once by the fast solver


def top_two_gap(scores: np.ndarray) -> float:
    """``mean_j (S_(1)j - S_(2)j)``: the gap between the two largest entries of each column of a
    (D, F) score matrix. With one code (D = 1) the second is taken as 0 (the reference fails)."""
    top = -np.sort(-np.asarray(scores, dtype=np.float64), axis=0)
    second = top[1] if top.shape[0] > 1 else np.zeros(top.shape[1])
    return float(np.mean(top[0] - second))


def continuous_score_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``S[i, j] = cov(c_i, v_j)^2 / (var c_i var v_j)`` (ddof 1), 0 where ``var c_i <= 1e-12``."""
    n = codes.shape[0]
    xc = codes - codes.mean(axis=0)
    yc = factors - factors.mean(axis=0)
    cov = xc.T @ yc / (n - 1)
    var_x = (xc**2).sum(axis=0) / (n - 1)
    var_y = (yc**2).sum(axis=0) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = cov**2 / (var_x[:, None] * var_y[None, :])
    return np.where(var_x[:, None] > 1e-12, s, 0.0)


def _reference_accuracy(x, y, x_test, y_test, c):
    from sklearn.svm import LinearSVC

    from disentkit.metrics._estimators import quiet_fit

    clf = quiet_fit(LinearSVC(C=c, class_weight="balanced"), x[:, None], y)
    return float(np.mean(clf.predict(x_test[:, None]) == y_test))


def _segment_search(arr, lo, hi, rows, t, strict):
    """Vectorised binary search: first index in ``arr[rows, lo:hi]`` (sorted) whose value is
    ``>= t`` (``strict=False``) or ``> t`` (``strict=True``)."""
    lo = lo.copy()
    hi = hi.copy()
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        v = arr[rows, np.minimum(mid, arr.shape[1] - 1)]
        go_right = active & ((v <= t) if strict else (v < t))
        lo = np.where(go_right, mid + 1, lo)
        hi = np.where(active & ~go_right, mid, hi)


def _ovr_svm(x: np.ndarray, y: np.ndarray, num_classes: int, c: float, iters: int = 60,
             order: np.ndarray | None = None):
    """Exact one-vs-rest L2-SVM (squared hinge, regularised intercept) on each row of ``x`` (c, N).

    ``order``: ``np.argsort(x, axis=1, kind="stable")`` if already known (it does not depend on
    the labels, so one sort serves every factor).

    Returns ``w, b`` of shape (c, P) with P = K problems (K > 2) or one problem (K = 2, positive
    class 1). Newton steps with backtracking on the exact piecewise-quadratic objective; the sums
    over the active sets come from prefix sums of (1, x, x^2) over sorted codes.
    """
    m, n = x.shape
    counts = np.bincount(y, minlength=num_classes)
    cw = n / (num_classes * counts)
    if num_classes == 2:
        pos_classes = np.array([1])
        p_weight = np.array([c * cw[1]])
        q_weight = np.array([c * cw[0]])
    else:
        pos_classes = np.arange(num_classes)
        p_weight = c * cw
        q_weight = np.full(num_classes, c)
    p = pos_classes.size
    # all samples sorted by x, and sorted by (class, x): (m, N) each, with prefix sums (m, N+1, 3)
    if order is None:
        order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, axis=1)
    # stable, so x stays sorted within each class; small integer keys take numpy's radix sort
    keys = y[order].astype(np.uint8 if num_classes <= 256 else np.int64)
    cls_order = np.argsort(keys, axis=1, kind="stable")
    xc = np.take_along_axis(xs, cls_order, axis=1)

    def prefix(a):
        out = np.zeros((m, n + 1, 3))
        out[:, 1:, 0] = np.arange(1, n + 1)
        np.cumsum(a, axis=1, out=out[:, 1:, 1])
        np.cumsum(a * a, axis=1, out=out[:, 1:, 2])
        return out

    cum_all, cum_cls = prefix(xs), prefix(xc)
    starts = np.concatenate([[0], np.cumsum(counts)])
    seg_lo = np.broadcast_to(starts[pos_classes], (m, p))
    seg_hi = np.broadcast_to(starts[pos_classes + 1], (m, p))
    rows = np.broadcast_to(np.arange(m)[:, None], (m, p))
    zeros = np.zeros((m, p), dtype=np.int64)
    full = np.full((m, p), n, dtype=np.int64)

    def region(cum, arr, lo, hi, t, below):
        """Sums of (1, x, x^2) over the segment entries with x < t (below) or x > t."""
        if below:
            cut = _segment_search(arr, lo, hi, rows, t, strict=False)
            return cum[rows, cut] - cum[rows, lo]
        cut = _segment_search(arr, lo, hi, rows, t, strict=True)
        return cum[rows, hi] - cum[rows, cut]

    def active_sums(w, b):
        """(P0, P1, P2) of the active positives and (M0, M1, M2) of the active negatives."""
        out_p = np.zeros((m, p, 3))
        out_m = np.zeros((m, p, 3))
        with np.errstate(divide="ignore", invalid="ignore"):
            t_pos = (1.0 - b) / w  # positives active where w x + b < 1
            t_neg = (-1.0 - b) / w  # negatives active where w x + b > -1
        for sign in (1.0, -1.0):
            sel = (w * sign > 0)[..., None]
            below = sign > 0
            pos = region(cum_cls, xc, seg_lo, seg_hi, t_pos, below)
            neg = region(cum_all, xs, zeros, full, t_neg, not below) - region(
                cum_cls, xc, seg_lo, seg_hi, t_neg, not below
            )
            out_p = np.where(sel, pos, out_p)
            out_m = np.where(sel, neg, out_m)
        flat = (w == 0)[..., None]  # every point has z = b
        tot_pos = cum_cls[rows, seg_hi] - cum_cls[rows, seg_lo]
        tot_neg = cum_all[rows, full] - tot_pos
        out_p = np.where(flat & (b < 1)[..., None], tot_pos, out_p)
        out_m = np.where(flat & (b > -1)[..., None], tot_neg, out_m)
        return out_p * p_weight[:, None], out_m * q_weight[:, None]

    def objective(w, b, sp, sm):
        s0, s1, s2 = sp[..., 0] + sm[..., 0], sp[..., 1] + sm[..., 1], sp[..., 2] + sm[..., 2]
        sy0, sy1 = sp[..., 0] - sm[..., 0], sp[..., 1] - sm[..., 1]
        # sum_a c (y - z)^2 = sum c - 2 (w sum c y x + b sum c y) + sum c z^2
        loss = s0 - 2 * (w * sy1 + b * sy0) + w * w * s2 + 2 * w * b * s1 + b * b * s0
        return 0.5 * (w * w + b * b) + loss, (s0, s1, s2, sy0, sy1)

    w = np.zeros((m, p))
    b = np.zeros((m, p))
    sp, sm = active_sums(w, b)
    f, sums = objective(w, b, sp, sm)
    for _ in range(iters):
        s0, s1, s2, sy0, sy1 = sums
        gw = w - 2 * (sy1 - w * s2 - b * s1)
        gb = b - 2 * (sy0 - w * s1 - b * s0)
        h11, h12, h22 = 1 + 2 * s2, 2 * s1, 1 + 2 * s0
        det = h11 * h22 - h12 * h12
        dw = (h22 * gw - h12 * gb) / det
        db = (h11 * gb - h12 * gw) / det
        step = np.ones((m, p))
        todo = np.abs(dw) + np.abs(db) > 1e-13 * (1 + np.abs(w) + np.abs(b))
        if not todo.any():
            break
        for _ in range(30):  # backtracking until the objective does not increase
            w_new = np.where(todo, w - step * dw, w)
            b_new = np.where(todo, b - step * db, b)
            sp, sm = active_sums(w_new, b_new)
            f_new, sums_new = objective(w_new, b_new, sp, sm)
            bad = todo & (f_new > f + 1e-12 * np.abs(f))
            if not bad.any():
                break
            step = np.where(bad, step * 0.5, step)
        w, b, f, sums = w_new, b_new, f_new, sums_new
    return w, b


def _fast_accuracy(x, y, x_test, y_test, num_classes, c, order=None):
    """Test accuracies (chunk of codes) of the exact OvR SVMs, codes given as (c, N) rows."""
    w, b = _ovr_svm(x, y, num_classes, c, order=order)
    if num_classes == 2:
        pred = (x_test * w[:, :1] + b[:, :1] > 0).astype(np.int64)  # (c, Nt)
    elif HAVE_NUMBA:
        return line_accuracy(x_test, w, b, y_test)
    else:  # argmax over the K decision lines, one class at a time (first maximum wins)
        best = x_test * w[:, :1] + b[:, :1]
        pred = np.zeros(x_test.shape, dtype=np.int64)
        for k in range(1, num_classes):
            dec = x_test * w[:, k : k + 1] + b[:, k : k + 1]
            better = dec > best
            best = np.where(better, dec, best)
            pred[better] = k
    return (pred == y_test[None, :]).mean(axis=1)


def discrete_score_matrix(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    *,
    c: float = 0.01,
    solver: Literal["fast", "reference"] = "fast",
    n_jobs: int = 1,
) -> np.ndarray:
    """``S[i, j]``: test accuracy of a balanced linear SVM predicting factor j from code i alone.

    ``n_jobs`` solves that many factors at once in threads (NumPy releases the GIL); the values do
    not depend on it. A code that is constant on the train split can only give a constant answer;
    its ``S[i, j]`` is the test accuracy of the most frequent train class of factor j (the
    smallest such label on a tie), what the SVM's optimum answers for more than two classes (for
    two, the balanced weights make both answers optimal and the solvers' rounding would pick one
    at random). So constant codes have equal scores and add no gap.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    scores = _svm_score_matrix(codes, factors, codes_test, factors_test, c=c, solver=solver,
                               n_jobs=n_jobs)
    constant = ~varying_columns(codes)
    if constant.any():
        scores[constant] = _majority_accuracy(factors, factors_test)[None, :]
    return scores


def _majority_accuracy(factors: np.ndarray, factors_test: np.ndarray) -> np.ndarray:
    """Test accuracy (F,) of answering each factor's most frequent train class."""
    out = np.empty(factors.shape[1])
    for j in range(factors.shape[1]):
        classes, counts = np.unique(factors[:, j], return_counts=True)
        out[j] = np.mean(factors_test[:, j] == classes[np.argmax(counts)])
    return out


def _svm_score_matrix(codes, factors, codes_test, factors_test, *, c, solver, n_jobs):
    """:func:`discrete_score_matrix` before the constant codes are set (every code fitted)."""
    d, f = codes.shape[1], factors.shape[1]
    scores = np.zeros((d, f))
    if solver == "reference":
        for j in range(f):
            for i in range(d):
                scores[i, j] = _reference_accuracy(
                    codes[:, i], factors[:, j], codes_test[:, i], factors_test[:, j], c
                )
        return scores
    labels = []
    for j in range(f):
        classes, y = np.unique(factors[:, j], return_inverse=True)
        # test labels unseen in training can never be predicted: map them to -1
        pos = np.minimum(np.searchsorted(classes, factors_test[:, j]), classes.size - 1)
        y_test = np.where(classes[pos] == factors_test[:, j], pos, -1)
        labels.append((y.reshape(-1), y_test, classes.size))
    chunk = max(1, _CHUNK_ENTRIES // (codes.shape[0] + codes_test.shape[0]))
    pool = None
    if n_jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=min(n_jobs, f))
    try:
        for start in range(0, d, chunk):
            sl = slice(start, start + chunk)
            x = np.ascontiguousarray(codes[:, sl].T)
            x_test = np.ascontiguousarray(codes_test[:, sl].T)
            order = np.argsort(x, axis=1, kind="stable")  # shared by all factors

            def solve(j: int, x=x, x_test=x_test, order=order) -> np.ndarray:
                y, y_test, k = labels[j]
                return _fast_accuracy(x, y, x_test, y_test, k, c, order=order)

            columns = pool.map(solve, range(f)) if pool is not None else map(solve, range(f))
            for j, column in enumerate(columns):
                scores[sl, j] = column
    finally:
        if pool is not None:
            pool.shutdown()
    return scores


def sap(
    codes: Any,
    factors: Any,
    *,
    codes_test: Any = None,
    factors_test: Any = None,
    continuous_factors: bool = False,
    C: float = 0.01,
    solver: Literal["fast", "reference"] = "fast",
    n_jobs: int = 1,
) -> dict[str, float]:
    """SAP score of codes (N, D) against integer factors (N, F): ``{"SAP_score": ...}``.

    ``SAP = mean_j (S_(1)j - S_(2)j)``, the gap between the two most predictive codes of each
    factor. Discrete mode (default, needs a test split): ``S[i, j]`` is the test accuracy of a
    linear SVM (``C``, balanced classes) fitted on code i alone (:func:`discrete_score_matrix`;
    ``solver`` as in the module docstring; ``n_jobs`` factors at once). ``continuous_factors=True``: ``S`` is the squared
    correlation on the train split (:func:`continuous_score_matrix`); no test split is needed.
    Constant codes get equal scores (a constant answer; 0 in continuous mode), so codes that are
    all constant score ``SAP = 0``.
    """
    codes, factors, codes_test, factors_test = check_inputs(
        codes, factors, codes_test, factors_test, metric="sap",
        require_test=not continuous_factors,
    )
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C}")
    if continuous_factors:
        scores = continuous_score_matrix(codes, factors.astype(np.float64))
    else:
        n_jobs = check_int("n_jobs", n_jobs, 1)
        scores = discrete_score_matrix(codes, factors, codes_test, factors_test, c=C, solver=solver,
                                       n_jobs=n_jobs)
    return {"SAP_score": top_two_gap(scores)}
