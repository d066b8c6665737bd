"""The BetaVAE score (Higgins et al., ICLR 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework"), as implemented by disentanglement_lib's ``beta_vae.py``.

One training point: draw a factor index ``k`` uniformly; draw two batches of ``B`` factor vectors
and copy column ``k`` of the first into the second; render and encode both. The feature is
``mean_b |r(x1_b) - r(x2_b)|`` (a D-vector), the label is ``k``. A logistic regression
(scikit-learn defaults, no feature scaling) is trained on ``num_train`` points; the score is its
accuracy on the training points and on ``num_eval`` fresh points.

NashAE's variant (Yeats et al. 2022; spec ``methods_vae.md`` §4.5) fixes only some factors and
averages more pairs: ``factors=["scale", "orientation", "posX", "posY"], batch_size=100,
num_eval=1000`` on dSprites; its classifier (a softmax layer trained by single-point Adagrad
updates) is replaced here by the same logistic regression.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.metrics._estimators import make_logistic_regression, quiet_fit
from disentkit.metrics._representation import as_representation, encode_groups
from disentkit.validation import check_int

__all__ = ["beta_vae_score"]


def _points(
    dataset: Any, representation: Any, batch_size: int, num_points: int, gen: np.random.Generator,
    columns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``num_points`` BetaVAE features (P, D) and labels (P,), all batches drawn at once; the
    fixed factor of a point is ``columns[label]``."""
    num_factors = dataset.num_factors
    labels = gen.integers(0, len(columns), size=num_points)
    fixed = columns[labels]
    first = dataset.sample_factors(num_points * batch_size, gen).reshape(num_points, batch_size, num_factors)
    second = dataset.sample_factors(num_points * batch_size, gen).reshape(num_points, batch_size, num_factors)
    rows = np.arange(num_points)[:, None]
    cols = np.arange(batch_size)[None, :]
    second[rows, cols, fixed[:, None]] = first[rows, cols, fixed[:, None]]
    # Each group holds batch 1 then batch 2, so the first is rendered first, as in the reference.
    groups = np.concatenate([first, second], axis=1)

    def feature(codes: np.ndarray) -> np.ndarray:  # (p, 2B, D) -> (p, D)
        return np.mean(np.abs(codes[:, :batch_size] - codes[:, batch_size:]), axis=1)

    return encode_groups(dataset, representation, groups, gen, feature), labels


def _factor_columns(dataset: Any, factors: Sequence[str] | None) -> np.ndarray:
    """The column indices of the factors a point may fix (all when ``factors`` is None)."""
    names = list(dataset.factor_names)
    if factors is None:
        return np.arange(len(names))
    if isinstance(factors, str) or len(set(factors)) != len(factors) or len(factors) < 2:
        raise ValueError(f"factors must be None or at least two distinct factor names, got {factors!r}")
    unknown = [f for f in factors if f not in names]
    if unknown:
        raise ValueError(f"unknown factor(s) {unknown}; the dataset's factors: {names}")
    return np.array([names.index(f) for f in factors])


def beta_vae_score(
    dataset: Any,
    representation: Any,
    *,
    rng: RandomLike = 0,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    factors: Sequence[str] | None = None,
) -> dict[str, float]:
    """The BetaVAE score: accuracy of predicting the fixed factor from mean code differences.

    Parameters
    ----------
    dataset: a :class:`~disentkit.data.GroundTruthData` with at least two factors.
    representation: a callable images -> codes or an ``nn.Module`` with ``represent`` (see
        :func:`~disentkit.metrics._representation.as_representation`).
    rng: an int seed or a numpy Generator for every draw: factor indices, factor batches, rendering
        noise, and the classifier's ``random_state``.
    batch_size: ``B``, the pairs of images averaged into one feature (64 in the study).
    num_train, num_eval: the training and evaluation points (10,000 and 5,000 in the study).
    factors: the names of the factors a point may fix (at least two; ``None``: every factor, the
        reference).

    Returns
    -------
    ``{"train_accuracy", "eval_accuracy"}``: the classifier's accuracy on the training points and on
    the fresh evaluation points (chance is ``1 / F``).

    Notes
    -----
    Draw order: train points, then eval points; within each, the factor indices, the first
    batches, the second batches, then the rendering. The classifier is scikit-learn's
    ``LogisticRegression()`` with its current defaults (lbfgs, multinomial), as the reference
    gets with scikit-learn >= 0.22.
    """
    batch_size = check_int("batch_size", batch_size, 1)
    num_train = check_int("num_train", num_train, 1)
    num_eval = check_int("num_eval", num_eval, 1)
    if dataset.num_factors < 2:
        raise ValueError(
            f"the BetaVAE score needs at least two factors, the dataset has {dataset.num_factors}"
        )
    columns = _factor_columns(dataset, factors)
    rep = as_representation(representation)
    gen = check_random_state(rng)
    x_train, y_train = _points(dataset, rep, batch_size, num_train, gen, columns)
    x_eval, y_eval = _points(dataset, rep, batch_size, num_eval, gen, columns)
    if np.unique(y_train).size < 2:
        raise ValueError(
            f"all {num_train} training points fixed the same factor; increase num_train"
        )
    model = make_logistic_regression(seed=int(gen.integers(2**31 - 1)))
    quiet_fit(model, x_train, y_train)
    return {
        "train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
        "eval_accuracy": float(np.mean(model.predict(x_eval) == y_eval)),
    }
