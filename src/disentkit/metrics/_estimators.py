"""scikit-learn estimators with the reference's settings, and a quiet ``fit``.

Reference: disentanglement_lib ``evaluation/metrics/utils.py`` (``logistic_regression_cv``) and
the scikit-learn ``LogisticRegression()`` defaults the explicitness score and MED use.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from disentkit.validation import check_int

__all__ = ["make_logistic_regression", "quiet_fit"]


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
    cv_folds = check_int("cv_folds", cv_folds, 2)
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
