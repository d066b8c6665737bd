"""The downstream-task scores of disentanglement_lib's ``downstream_task.py`` (Locatello et al.,
ICML 2019, "Challenging Common Assumptions in the Unsupervised Learning of Disentangled
Representations", section on statistical efficiency).

For each training size ``n``: draw ``n`` training samples, then ``num_test`` fresh test samples
(re-drawn for every ``n``); for each factor fit one classifier on the raw codes and record its
training and test accuracy. The paper's "statistical efficiency" is the mean test accuracy at
``n = 100`` divided by the one at ``n = 10,000``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.metrics._estimators import make_logistic_regression, quiet_fit
from disentkit.metrics._gbt import GBT_ESTIMATORS, make_gbt_classifier
from disentkit.metrics._representation import as_representation, sample_codes
from disentkit.validation import check_int

__all__ = ["downstream_task", "PREDICTORS", "fit_classifier", "predict_labels"]

PREDICTORS = ("logistic_regression_cv", "gradient_boosting")


def _make_predictor(predictor: str, estimator: str, seed: int) -> Any:
    if predictor == "logistic_regression_cv":
        return make_logistic_regression(seed, cv_folds=5)
    return make_gbt_classifier(estimator, seed)


def fit_classifier(make_model: Callable[[], Any], codes: np.ndarray, labels: np.ndarray) -> Any:
    """``make_model()`` fitted on ``(codes, labels)``; labels of a single value give that value as
    an int (a constant predictor: no classifier can be fitted on one class)."""
    if np.unique(labels).size < 2:
        return int(labels[0])
    return quiet_fit(make_model(), codes, labels)


def predict_labels(model: Any, codes: np.ndarray) -> np.ndarray:
    """The labels ``model`` (from :func:`fit_classifier`) predicts for ``codes`` (n,)."""
    if isinstance(model, int):
        return np.full(codes.shape[0], model, dtype=np.int64)
    return np.asarray(model.predict(codes))


def _check_sizes(num_train: int | Sequence[int]) -> tuple[int, ...]:
    sizes = (num_train,) if isinstance(num_train, (int, np.integer)) else tuple(num_train)
    if not sizes:
        raise ValueError("num_train must be a positive int or a non-empty sequence of them")
    return tuple(check_int("num_train", n, 1) for n in sizes)


def downstream_task(
    dataset: Any,
    representation: Any,
    *,
    rng: RandomLike = 0,
    num_train: int | Sequence[int] = (10, 100, 1000, 10000),
    num_test: int = 5_000,
    predictor: str = "logistic_regression_cv",
    estimator: str = "fast",
) -> dict[str, float]:
    """Accuracy of predicting each factor from the codes, at several training-set sizes.

    Parameters
    ----------
    dataset: a :class:`~disentkit.data.GroundTruthData`.
    representation: a callable images -> codes or an ``nn.Module`` with ``represent``.
    rng: an int seed or a numpy Generator for every draw and of the classifiers.
    num_train: the training sizes (an int is one size); (10, 100, 1000, 10000) in the study.
    num_test: test samples, drawn afresh for each training size (5,000).
    predictor: ``"logistic_regression_cv"`` (``LogisticRegressionCV(Cs=10, cv=KFold(5))``, the
        reference's ``logistic_regression_cv``) or ``"gradient_boosting"`` (the reference's
        ``gradient_boosting_classifier``, built by ``_gbt.make_gbt_classifier``).
    estimator: for ``"gradient_boosting"``: ``"fast"`` (LightGBM, the default, as for DCI) or
        ``"reference"`` (scikit-learn's GradientBoostingClassifier with its defaults, seeded).

    Returns
    -------
    For each size ``n`` (the reference's keys): ``"{n}:mean_train_accuracy"``,
    ``"{n}:mean_test_accuracy"``, ``"{n}:min_train_accuracy"``, ``"{n}:min_test_accuracy"``,
    ``"{n}:train_accuracy_factor_{i}"`` and ``"{n}:test_accuracy_factor_{i}"`` for factor column
    ``i`` (0-based).
    """
    sizes = _check_sizes(num_train)
    num_test = check_int("num_test", num_test, 1)
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {PREDICTORS}, got {predictor!r}")
    if estimator not in GBT_ESTIMATORS:
        raise ValueError(f"estimator must be one of {GBT_ESTIMATORS}, got {estimator!r}")
    rep = as_representation(representation)
    gen = check_random_state(rng)
    scores: dict[str, float] = {}
    for n in sizes:
        codes, factors = sample_codes(dataset, rep, n, gen)
        codes_test, factors_test = sample_codes(dataset, rep, num_test, gen)
        model_seed = int(gen.integers(2**31 - 1))
        train = np.empty(factors.shape[1])
        test = np.empty(factors.shape[1])
        for j in range(factors.shape[1]):
            model = fit_classifier(
                lambda: _make_predictor(predictor, estimator, model_seed), codes, factors[:, j]
            )
            train[j] = np.mean(predict_labels(model, codes) == factors[:, j])
            test[j] = np.mean(predict_labels(model, codes_test) == factors_test[:, j])
        scores[f"{n}:mean_train_accuracy"] = float(train.mean())
        scores[f"{n}:mean_test_accuracy"] = float(test.mean())
        scores[f"{n}:min_train_accuracy"] = float(train.min())
        scores[f"{n}:min_test_accuracy"] = float(test.min())
        for i in range(train.size):
            scores[f"{n}:train_accuracy_factor_{i}"] = float(train[i])
            scores[f"{n}:test_accuracy_factor_{i}"] = float(test[i])
    return scores
