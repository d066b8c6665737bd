"""Linear probe per factor on frozen features: the standard read-out of a self-supervised
representation.

For each factor a multinomial logistic regression is fitted on the train codes standardised with
their own mean and std (scikit-learn's ``LogisticRegression`` objective, L2 penalty ``1 / C``),
and scored by accuracy on both splits; the **trivial baseline** beside it is the accuracy of always
answering the most frequent class of the test split, so the gain of the probe over chance is
visible per factor. Factors are discrete class indices (the ground-truth factors of the disentkit
datasets); a continuous factor must be binned first (a regression probe would score it directly,
and is not what this metric computes).

Reference: the linear evaluation protocol of self-supervised learning (Zhang, Isola & Efros,
"Colorful Image Colorization", ECCV 2016; Chen et al., "A Simple Framework for Contrastive
Learning", ICML 2020; Grill et al., BYOL, NeurIPS 2020), applied per ground-truth factor as in
Cao et al., "An Empirical Study on Disentanglement of Negative-free Contrastive Learning"
(NeurIPS 2022). The fit is the one of MED's informativeness and of the explicitness score
(:mod:`~disentkit.metrics._logistic`), so with the default settings the three can share it.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np

from disentkit.metrics._checks import check_factor_names, check_inputs
from disentkit.metrics._logistic import (
    LogisticModel,
    check_logistic_fits,
    resolve_solver,
    standardize,
)

__all__ = ["linear_probe", "majority_baseline"]


def majority_baseline(labels: np.ndarray) -> float:
    """``max_c n_c / n``: the accuracy of always answering the most frequent class of ``labels``."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return float(counts.max() / counts.sum())


def linear_probe(
    codes: Any,
    factors: Any,
    codes_test: Any,
    factors_test: Any,
    *,
    C: float = 1.0,
    max_iter: int = 100,
    solver: Literal["auto", "sklearn", "torch"] = "auto",
    factor_names: Sequence[str] | None = None,
    logistic_fits: Sequence[LogisticModel] | None = None,
) -> dict[str, float]:
    """Per-factor accuracy of a linear classifier on frozen codes (N, D), against integer factors.

    For factor j, with codes standardised by the train mean and std (ddof 0; a constant code is
    divided by 1), the probe minimises ``mean_n logloss_n + ||W||^2 / (2 C N)`` (softmax over the
    classes of the train split; binomial for two; intercept unpenalised), solved by
    :func:`~disentkit.metrics._logistic.fit_logistic` with ``solver`` (``"auto"``: scikit-learn's
    lbfgs up to 64 dimensions, the equivalent torch L-BFGS above, which handles 2048-D codes in
    seconds) for at most ``max_iter`` iterations (scikit-learn's defaults: C = 1, 100 iterations).

    Parameters
    ----------
    codes, factors: the train split, (N, D) codes and (N, F) integer class indices (discrete
        factors only; a factor with a single value in the train split raises ``ValueError``).
    codes_test, factors_test: the held-out split; a test class never seen in training counts as
        an error.
    C, max_iter, solver: the fit (above).
    factor_names: labels of the factor columns in the keys (default ``"0"``, ``"1"``, ...).
    logistic_fits: the fitted models if already computed,
        :func:`~disentkit.metrics._logistic.logistic_fits` on these train codes and factors with
        these settings (checked), e.g. shared with MED's informativeness.

    Returns
    -------
    ``train_accuracy``, ``test_accuracy``, ``baseline_accuracy``: means over factors; and
    ``train_accuracy:<factor>``, ``test_accuracy:<factor>``, ``baseline_accuracy:<factor>`` per
    factor. The baseline is :func:`majority_baseline` of the test split, an upper bound on what any
    constant answer scores there.

    Example
    -------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).integers(0, 3, size=(400, 2))
    >>> scores = linear_probe(y + 0.1, y, y[:100], y[:100], factor_names=["a", "b"])
    >>> scores["test_accuracy:a"], scores["test_accuracy"]
    (1.0, 1.0)
    """
    codes, factors, codes_test, factors_test = check_inputs(
        codes, factors, codes_test, factors_test, metric="linear_probe", require_test=True
    )
    resolve_solver(solver, codes.shape[1])
    names = check_factor_names(factor_names, factors.shape[1], metric="linear_probe")
    models = check_logistic_fits(logistic_fits, codes, factors, metric="linear_probe",
                                 solver=solver, C=C, max_iter=max_iter)
    x_train, x_test = standardize(codes, codes_test)
    per_factor: dict[str, dict[str, float]] = {"train_accuracy": {}, "test_accuracy": {},
                                                "baseline_accuracy": {}}
    for j, (name, model) in enumerate(zip(names, models)):
        per_factor["train_accuracy"][name] = float(np.mean(model.predict(x_train) == factors[:, j]))
        per_factor["test_accuracy"][name] = float(np.mean(model.predict(x_test) == factors_test[:, j]))
        per_factor["baseline_accuracy"][name] = majority_baseline(factors_test[:, j])
    scores = {key: float(np.mean(list(values.values()))) for key, values in per_factor.items()}
    for key, values in per_factor.items():
        scores.update({f"{key}:{name}": value for name, value in values.items()})
    return scores
