"""The accuracy of a model's own predictions of the factors it was trained to predict.

A model that predicts ground-truth factors (the supervised CMI model of Funke et al., CoLLAs 2022,
predicts its two binary attributes) declares ``capabilities.predicts_factors`` and has

- ``predict_factors(images) -> int64 (n, k)``: one predicted class per factor;
- ``predicted_factors``: the k factors, by name (or column index).

:func:`attribute_accuracy` draws ``num_test`` factor vectors with the dataset's sampler (a
correlated or anti-correlated :class:`~disentkit.data.ResampledData` gives the correlation-shift
test of the paper), renders them and scores::

    accuracy_<name> = (1/n) Σ_i [ŷ_i(name) = y_i(name)],     mean = the mean over the k factors

:func:`prediction_accuracy` is the same on arrays.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.metrics._checks import check_factor_names
from disentkit.metrics._representation import _inference, _is_module, _module_device, _source, images_per_chunk
from disentkit.validation import check_int

__all__ = ["attribute_accuracy", "prediction_accuracy", "missing_predictor", "predicted_columns"]


def missing_predictor(obj: Any) -> str | None:
    """Why ``obj`` cannot predict factors, in one line; ``None`` when it can.

    An object with ``capabilities`` (a :class:`disentkit.methods.Method`) is trusted: its
    ``predicts_factors`` flag decides (absent: False). Without ``capabilities``, a callable
    ``predict_factors`` and a ``predicted_factors`` attribute are needed. A
    :class:`~disentkit.metrics.Representation` is judged by the object it was built from.
    """
    obj = _source(obj)
    capabilities = getattr(obj, "capabilities", None)
    if capabilities is not None:
        flag = getattr(capabilities, "predicts_factors", False)
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{type(obj).__name__}.capabilities.predicts_factors must be a boolean, got {flag!r}")
        return None if flag else f"{type(obj).__name__} declares capabilities.predicts_factors = False"
    if callable(getattr(obj, "predict_factors", None)) and getattr(obj, "predicted_factors", None) is not None:
        return None
    return f"{type(obj).__name__} has no predict_factors(images) method"


def prediction_accuracy(predictions: Any, targets: Any, *,
                        factor_names: Sequence[str] | None = None) -> dict[str, float]:
    """``accuracy_<name>`` per column of ``predictions`` vs ``targets`` (both (n, k) integers), and ``mean``."""
    pred = np.asarray(predictions)
    true = np.asarray(targets)
    if pred.ndim != 2 or pred.shape != true.shape or pred.shape[0] == 0:
        raise ValueError(f"attribute_accuracy: predictions and targets must be non-empty (n, k) arrays of the "
                         f"same shape, got {pred.shape} and {true.shape}")
    names = check_factor_names(factor_names, pred.shape[1], metric="attribute_accuracy")
    hits = (pred == true).mean(axis=0)
    return {**{f"accuracy_{name}": float(h) for name, h in zip(names, hits)}, "mean": float(hits.mean())}


def predicted_columns(model: Any, dataset: Any) -> list[int]:
    """The dataset columns of ``model.predicted_factors`` (names looked up in the dataset's factors)."""
    factors = getattr(model, "predicted_factors", None)
    if factors is None or isinstance(factors, str) or len(factors) == 0:
        raise ValueError(f"{type(model).__name__}.predicted_factors must name the predicted factors, got {factors!r}")
    names = list(dataset.factor_names)
    columns = []
    for f in factors:
        if isinstance(f, str):
            if f not in names:
                raise ValueError(f"attribute_accuracy: the model predicts {f!r}, which is not a factor of the "
                                 f"dataset; factors: {names}")
            columns.append(names.index(f))
        else:
            columns.append(check_int("predicted factor index", f, 0, maximum=len(names) - 1))
    return columns


def _predictor(model: Any, batch_size: int, device: Any) -> Any:
    """A function numpy images -> int64 predictions (n, k), in batches, in eval mode without gradients."""
    import torch

    if _is_module(model):
        target = torch.device(device) if device is not None else _module_device(model)

        def call(images: np.ndarray) -> np.ndarray:
            with _inference(model):
                parts = [model.predict_factors(torch.from_numpy(images[s:s + batch_size]).to(target)).cpu().numpy()
                         for s in range(0, images.shape[0], batch_size)]
            return np.concatenate(parts)
        return call

    def plain(images: np.ndarray) -> np.ndarray:
        parts = [np.asarray(model.predict_factors(images[s:s + batch_size]))
                 for s in range(0, images.shape[0], batch_size)]
        return np.concatenate(parts)
    return plain


def attribute_accuracy(
    dataset: Any,
    representation: Any,
    *,
    rng: RandomLike = 0,
    num_test: int = 5_000,
    batch_size: int = 256,
    device: Any = None,
) -> dict[str, float]:
    """The accuracy of ``representation.predict_factors`` on ``num_test`` samples of ``dataset``.

    ``representation`` (or the object a :class:`~disentkit.metrics.Representation` wraps) must
    predict factors (:func:`missing_predictor`). Factors are drawn with ``dataset.sample_factors``
    from ``rng``, then rendered with the same generator. Keys: ``accuracy_<factor name>`` for each
    predicted factor and ``mean``.
    """
    model = _source(representation)
    reason = missing_predictor(model)
    if reason is not None:
        raise ValueError(f"attribute_accuracy needs a model that predicts factors (predict_factors); {reason}")
    num_test = check_int("num_test", num_test, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    columns = predicted_columns(model, dataset)
    gen = check_random_state(rng)
    factors = np.asarray(dataset.sample_factors(num_test, gen))
    predict = _predictor(model, batch_size, device)
    chunk = images_per_chunk(dataset.observation_shape)
    parts = []
    for start in range(0, num_test, chunk):
        images = np.ascontiguousarray(dataset.observations(factors[start:start + chunk], gen), dtype=np.float32)
        out = np.asarray(predict(images))
        if out.ndim != 2 or out.shape != (images.shape[0], len(columns)):
            raise ValueError(f"{type(model).__name__}.predict_factors returned shape {out.shape} for "
                             f"{images.shape[0]} images and {len(columns)} predicted factors")
        parts.append(out)
    predictions = np.concatenate(parts)
    names = [dataset.factor_names[c] for c in columns]
    return prediction_accuracy(predictions, factors[:, columns], factor_names=names)
