"""L2-regularised logistic regression on standardised codes: the explicitness score, MED's
informativeness and the linear probe.

All three fit scikit-learn's ``LogisticRegression()`` problem (lbfgs, C = 1, max_iter = 100, tol
1e-4 by default) per factor on codes standardised with the train statistics. :func:`fit_logistic`
offers two solvers of that same problem:

- ``"sklearn"``: scikit-learn itself (the reference).
- ``"torch"``: the same objective, minimised by L-BFGS with scikit-learn's settings (10 correction
  pairs, ``max_iter`` iterations, ``gtol=tol``, from zero; :func:`_lbfgs`; no ``ftol`` test) with
  the loss and gradient evaluated by float32 matrix products in torch (the two products ``X W``
  and ``X^T (P - Y)`` are the whole cost on wide codes). The objective is scikit-learn's
  ``mean_n logloss_n + ||W||^2 / (2 C N)`` with an unpenalised intercept: multinomial (softmax
  over K coefficient vectors) for K > 2 classes, binomial (one vector) for K = 2. The factors of
  one call are solved together, so the codes are read once per round for all of them. The line
  search (backtracking instead of Moré-Thuente) and float32 rounding move the path of the
  iterations slightly, so scores agree with ``"sklearn"`` to about 0.01, not bit for bit, and
  depend on torch's thread count.
- ``"auto"`` (default): ``"sklearn"`` up to :data:`AUTO_SKLEARN_MAX_DIM` code dimensions (the
  regime of the published numbers, so those are unchanged), ``"torch"`` above.

There is no hidden memo. The metrics that fit these models take them as an argument
(``logistic_fits=``, the list :func:`logistic_fits` returns), so a caller that runs several of them
on the same codes (:func:`~disentkit.metrics.evaluate`) fits once and passes the models to each.
"""

from __future__ import annotations

from typing import Any, Generator, Sequence

import numpy as np

from disentkit.metrics._estimators import make_logistic_regression, quiet_fit

__all__ = [
    "LOGISTIC_SOLVERS",
    "AUTO_SKLEARN_MAX_DIM",
    "LogisticModel",
    "fit_logistic",
    "fit_logistic_columns",
    "logistic_fits",
    "check_logistic_fits",
    "resolve_solver",
    "standardize",
]

LOGISTIC_SOLVERS = ("auto", "sklearn", "torch")
#: ``solver="auto"`` uses scikit-learn up to this many code dimensions and torch above.
AUTO_SKLEARN_MAX_DIM = 64


class LogisticModel:
    """A fitted logistic regression: ``classes_``, ``predict_proba`` and ``predict``.

    ``coef`` is (D, K) for K > 2 classes (softmax of ``x @ coef + intercept``) or (D, 1) for two
    classes (``P(classes_[1]) = sigmoid(x @ coef + intercept)``), as scikit-learn's.
    ``settings`` is ``(solver, C, max_iter, tol)`` (the solver resolved, never ``"auto"``) and
    ``num_samples`` the training rows, so a metric handed a fit can check it is the one it needs.
    """

    def __init__(self, classes: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 solver: str, n_iter: int, estimator: Any = None, *,
                 settings: tuple = (), num_samples: int = 0) -> None:
        self.classes_ = classes
        self.coef = coef
        self.intercept = intercept
        self.solver = solver
        self.n_iter = n_iter
        self.settings = settings
        self.num_samples = num_samples
        self._estimator = estimator

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K), columns in the order of ``classes_``."""
        if self._estimator is not None:
            return self._estimator.predict_proba(x)
        z = np.asarray(x, dtype=np.float64) @ self.coef + self.intercept
        if self.classes_.size == 2:
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Most probable class per row."""
        if self._estimator is not None:
            return self._estimator.predict(x)
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both splits with the train mean and std (ddof 0) per column.

    ``x' = (x - mean_train) / std_train`` (scikit-learn's ``StandardScaler`` fitted on train). A
    constant train column (all rows equal) is divided by 1 instead (the reference produces NaN
    and the classifier then fails); it is told by its values, not by a std that rounding can
    leave at ~1e-17, which would blow its test values up.
    """
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where((std > 0) & (train.max(axis=0) > train.min(axis=0)), std, 1.0)
    return (train - mean) / std, (test - mean) / std


def resolve_solver(solver: str, num_codes: int) -> str:
    """``solver`` checked against :data:`LOGISTIC_SOLVERS`, with ``"auto"`` resolved for
    ``num_codes`` dimensions (``"sklearn"`` up to :data:`AUTO_SKLEARN_MAX_DIM`, else ``"torch"``)."""
    if solver not in LOGISTIC_SOLVERS:
        raise ValueError(f"solver must be one of {LOGISTIC_SOLVERS}, got {solver!r}")
    if solver == "auto":
        return "sklearn" if num_codes <= AUTO_SKLEARN_MAX_DIM else "torch"
    return solver


_Run = Generator[np.ndarray, tuple[float, np.ndarray], tuple[np.ndarray, int]]


def _lbfgs(w: np.ndarray, max_iter: int, gtol: float, ftol: float, history: int = 10,
           max_ls: int = 50) -> _Run:
    """L-BFGS from ``w`` as a generator: it yields each point to evaluate and is sent back
    ``(value, gradient)`` there; it returns ``(w, iterations)`` (``StopIteration.value``).

    scipy's L-BFGS-B semantics without bounds: ``history`` correction pairs, the first step of
    length ``1 / ||g||``, unit steps afterwards; a step is accepted on sufficient decrease
    (Armijo, 1e-4) after at most ``max_ls`` halvings; pairs with ``s'y <= eps y'y`` are skipped.
    Stops after ``max_iter`` iterations, when ``max |g| <= gtol``, or when the relative decrease
    ``(f_old - f) / max(|f_old|, |f|, 1) <= ftol``. As a generator, several problems can be
    driven in lockstep and evaluated together (:func:`_fit_torch`).
    """
    f, g = yield w
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    it = 0
    while it < max_iter and np.max(np.abs(g)) > gtol:
        # two-loop recursion: d = -H g
        q = g.copy()
        alphas = []
        for s_i, y_i in zip(reversed(s_hist), reversed(y_hist)):
            a = (s_i @ q) / (y_i @ s_i)
            alphas.append(a)
            q -= a * y_i
        if y_hist:
            q *= (s_hist[-1] @ y_hist[-1]) / (y_hist[-1] @ y_hist[-1])
        for (s_i, y_i), a in zip(zip(s_hist, y_hist), reversed(alphas)):
            q += (a - (y_i @ q) / (y_i @ s_i)) * s_i
        d = -q
        slope = g @ d
        if slope >= 0:  # not a descent direction: restart from the gradient
            s_hist.clear(), y_hist.clear()
            d, slope = -g, -(g @ g)
        step = 1.0 / np.linalg.norm(d) if it == 0 else 1.0
        for _ in range(max_ls):
            w_new = w + step * d
            f_new, g_new = yield w_new
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break  # no acceptable step: stop where we are, as L-BFGS-B does
        s_vec, y_vec = w_new - w, g_new - g
        if s_vec @ y_vec > np.finfo(float).eps * (y_vec @ y_vec):
            s_hist.append(s_vec)
            y_hist.append(y_vec)
            if len(s_hist) > history:
                s_hist.pop(0), y_hist.pop(0)
        it += 1
        decrease = (f - f_new) / max(abs(f), abs(f_new), 1.0)
        w, f, g = w_new, f_new, g_new
        if decrease <= ftol:
            break
    return w, it


def _loss_terms(z: np.ndarray, target: np.ndarray, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample log loss (N,) and its gradient in the scores ``z`` (N, M)."""
    if binary:
        z = z[:, 0]
        loss = np.logaddexp(0.0, z) - target * z  # log(1 + e^z) - y z, stably
        return loss, (1.0 / (1.0 + np.exp(-z)) - target)[:, None]
    zmax = z.max(axis=1, keepdims=True)
    lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    return lse - (z * target).sum(axis=1), np.exp(z - lse[:, None]) - target


def _fit_torch(x: np.ndarray, problems: list[tuple[np.ndarray, int]], c: float, max_iter: int,
               tol: float) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Solve several problems ``(labels 0..K-1, K)`` on the same ``x`` in lockstep.

    Each problem runs its own :func:`_lbfgs`; every round, the points all unfinished problems ask
    for are evaluated with one pair of float32 products ``W^T X^T`` and ``R^T X`` (torch), which
    reads ``x`` once for all of them. Returns ``(coef (D, M), intercept (M,), iterations)`` each.
    """
    import torch

    n, d = x.shape
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    rows = torch.from_numpy(x32)  # (N, D)
    cols = torch.from_numpy(np.ascontiguousarray(x32.T))  # (D, N): both products row-major
    l2 = 1.0 / (c * n)
    widths = [1 if k == 2 else k for _, k in problems]
    targets = [lab.astype(np.float64) if k == 2 else np.eye(k)[lab] for lab, k in problems]
    # No relative-decrease stop (scipy's ftol = 64 eps): float32 products make the loss noisier
    # than that, so the test would end runs early at random.
    runs = [_lbfgs(np.zeros((d + 1) * m), max_iter, tol, 0.0) for m in widths]
    points = {j: next(run) for j, run in enumerate(runs)}
    results: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
    while points:
        active = sorted(points)
        ws = [points[j].reshape(d + 1, widths[j]) for j in active]
        coef = np.hstack([w[:d] for w in ws]).T  # (sum M, D)
        coef_t = torch.from_numpy(np.ascontiguousarray(coef, dtype=np.float32))
        z_all = (coef_t @ cols).double().numpy().T  # (N, sum M)
        bounds = np.cumsum([0] + [widths[j] for j in active])
        losses, resids = [], []
        for pos, j in enumerate(active):
            z = z_all[:, bounds[pos] : bounds[pos + 1]] + ws[pos][d]
            loss, resid = _loss_terms(z, targets[j], problems[j][1] == 2)
            losses.append(loss.sum() / n)
            resids.append(resid)
        resid_t = torch.from_numpy(np.ascontiguousarray(np.hstack(resids).T / n, dtype=np.float32))
        grad_all = (resid_t @ rows).double().numpy().T  # (D, sum M)
        for pos, j in enumerate(active):
            w = ws[pos]
            grad = np.empty_like(w)
            grad[:d] = grad_all[:, bounds[pos] : bounds[pos + 1]] + l2 * w[:d]
            grad[d] = resids[pos].sum(axis=0) / n
            value = losses[pos] + 0.5 * l2 * float(np.sum(w[:d] * w[:d]))
            try:
                points[j] = runs[j].send((value, grad.ravel()))
            except StopIteration as done:
                w_final, n_iter = done.value
                w_final = w_final.reshape(d + 1, widths[j])
                results[j] = (w_final[:d], w_final[d], n_iter)
                del points[j]
    return [results[j] for j in range(len(problems))]


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    solver: str = "auto",
    seed: int = 0,
    C: float = 1.0,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> LogisticModel:
    """Fit scikit-learn's default ``LogisticRegression`` problem on ``x`` (N, D), labels ``y`` (N,).

    Minimises ``mean_n logloss_n + ||W||^2 / (2 C N)`` (intercept unpenalised); ``solver``: one of
    :data:`LOGISTIC_SOLVERS` (module docstring). ``seed`` is scikit-learn's ``random_state`` (lbfgs
    does not use it, so neither solver's result depends on it). See :func:`fit_logistic_columns`.
    """
    return fit_logistic_columns(
        x, np.asarray(y)[:, None], solver=solver, seed=seed, C=C, max_iter=max_iter, tol=tol
    )[0]


def fit_logistic_columns(
    x: np.ndarray,
    labels: np.ndarray,
    *,
    solver: str = "auto",
    seed: int = 0,
    C: float = 1.0,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> list[LogisticModel]:
    """:func:`fit_logistic` for every column of ``labels`` (N, F) on the same ``x``; one model each.

    With the torch solver the F problems are solved together (:func:`_fit_torch`).
    """
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    solver = resolve_solver(solver, x.shape[1])
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    settings = (solver, float(C), int(max_iter), float(tol))
    encoded = []
    for j in range(labels.shape[1]):
        classes, inverse = np.unique(labels[:, j], return_inverse=True)
        if classes.size < 2:
            raise ValueError("logistic regression needs at least two classes in the labels")
        encoded.append((classes, inverse.reshape(-1)))
    n = x.shape[0]
    if solver == "sklearn":
        models = []
        for j in range(labels.shape[1]):
            est = quiet_fit(
                make_logistic_regression(seed, C=C, max_iter=max_iter, tol=tol), x, labels[:, j]
            )
            models.append(LogisticModel(encoded[j][0], est.coef_.T, est.intercept_, solver,
                                        int(est.n_iter_[0]), estimator=est, settings=settings,
                                        num_samples=n))
        return models
    fits = _fit_torch(x, [(inverse, classes.size) for classes, inverse in encoded], C, max_iter, tol)
    return [
        LogisticModel(classes, coef, intercept, solver, n_iter, settings=settings, num_samples=n)
        for (classes, _), (coef, intercept, n_iter) in zip(encoded, fits)
    ]


def logistic_fits(
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    solver: str = "auto",
    C: float = 1.0,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> list[LogisticModel]:
    """One logistic regression per factor column on the **standardised** train codes.

    ``fit_logistic_columns(standardize(codes, codes)[0], factors, ...)``: what the explicitness
    score, MED and the linear probe fit. Pass the list to them as ``logistic_fits=`` to share
    one set of fits (the default settings are the same for all three).
    """
    x_train, _ = standardize(codes, codes[:1])
    return fit_logistic_columns(x_train, factors, solver=solver, C=C, max_iter=max_iter, tol=tol)


def check_logistic_fits(
    fits: Sequence[LogisticModel] | None,
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    metric: str,
    solver: str = "auto",
    C: float = 1.0,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> list[LogisticModel]:
    """The fits a metric uses: ``fits`` after checking, or new ones from :func:`logistic_fits`.

    Given fits must be one :class:`LogisticModel` per factor column, fitted on as many rows and
    code dimensions, with the classes of that column and the metric's ``(solver, C, max_iter,
    tol)``; anything else raises ``ValueError`` (the rows themselves cannot be checked: pass fits
    made on these very codes).
    """
    if fits is None:
        return logistic_fits(codes, factors, solver=solver, C=C, max_iter=max_iter, tol=tol)
    expected = (resolve_solver(solver, codes.shape[1]), float(C), int(max_iter), float(tol))
    fits = list(fits)
    if len(fits) != factors.shape[1]:
        raise ValueError(
            f"{metric}: logistic_fits has {len(fits)} models but there are {factors.shape[1]} factors"
        )
    for j, model in enumerate(fits):
        if not isinstance(model, LogisticModel):
            raise ValueError(f"{metric}: logistic_fits[{j}] is a {type(model).__name__}, not a LogisticModel")
        if model.settings != expected:
            raise ValueError(
                f"{metric}: logistic_fits[{j}] was fitted with (solver, C, max_iter, tol) = "
                f"{model.settings}, but this metric needs {expected}"
            )
        if model.num_samples != codes.shape[0] or model.coef.shape[0] != codes.shape[1]:
            raise ValueError(
                f"{metric}: logistic_fits[{j}] was fitted on {model.num_samples} rows of "
                f"{model.coef.shape[0]} codes, not on these {codes.shape[0]} x {codes.shape[1]}"
            )
        if not np.array_equal(model.classes_, np.unique(factors[:, j])):
            raise ValueError(
                f"{metric}: logistic_fits[{j}] has classes {model.classes_.tolist()}, which are not "
                f"those of factor column {j}"
            )
    return fits
