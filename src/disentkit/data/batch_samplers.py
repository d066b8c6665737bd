"""Batch samplers by name, from plain config data (what a train config or a study names).

=================  ===========  ==================================================================
name               batch kind   parameters
=================  ===========  ==================================================================
``uniform``        images       none: the dataset's factors (uniform over the grid; CelebA: its rows)
``correlated``     images       ``setting`` (a named HFS setting, e.g. ``dsprites_single_1_01``,
                                ``_inv`` for its inverse) or ``pairs`` (``[[i, j, sigma], ...]``)
                                and/or ``binary`` (``[[i, j, c], ...]``, two binary factors),
                                plus :class:`~disentkit.data.samplers.CorrelatedSampler`'s
                                ``inverse``, ``confounder``, ``method``
``weak_pairs``     pairs        :class:`~disentkit.data.samplers.WeakPairSampler`'s ``k``,
                                ``allow_same_value``, ``reference_k``; ``correlation``
``views``          views        ``augmentations`` (``"default"``: the dataset's default set, a
                                named set or an explicit list, see :mod:`disentkit.data.augment`);
                                ``correlation``
=================  ===========  ==================================================================

``correlation`` is a mapping of ``correlated``'s parameters: the factors of the pairs or of the
augmented images are then drawn correlated.

>>> check_sampler("views", {"augmentations": "default"}, dataset="dsprites", channels=1)
'views'
>>> batches = build_sampler("weak_pairs", {"k": 1}, dataset)      # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from disentkit.data.batch import BatchSampler, ImageBatches, PairBatches, ViewBatches
from disentkit.data.samplers import CorrelatedSampler, WeakPairSampler

__all__ = ["SAMPLERS", "SHIFT_TARGETS", "build_sampler", "check_sampler", "check_shift", "inverse_correlation",
           "sampler_kind", "shifted_data", "training_correlation"]

#: sampler name -> the batch kind it produces
SAMPLERS: dict[str, str] = {"uniform": "images", "correlated": "images", "weak_pairs": "pairs", "views": "views"}

_CORRELATION_KEYS = ("setting", "pairs", "binary", "inverse", "confounder", "method")
_PAIR_KEYS = tuple(p for p in inspect.signature(WeakPairSampler).parameters if p not in ("space", "base"))
_KEYS: dict[str, tuple[str, ...]] = {
    "uniform": (),
    "correlated": _CORRELATION_KEYS,
    "weak_pairs": (*_PAIR_KEYS, "correlation"),
    "views": ("augmentations", "correlation"),
}


def sampler_kind(name: str) -> str:
    """The batch kind that sampler ``name`` produces (``ValueError`` naming the samplers otherwise)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def _check_keys(what: str, params: Any, valid: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise ValueError(f"{what} parameters must be a mapping with string keys, got {params!r}")
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown {what} parameter(s) {unknown}; valid: {', '.join(valid) or 'none'}")
    return dict(params)


def _check_correlation(params: Any, dataset: str | None) -> dict[str, Any]:
    params = _check_keys("correlation", params, _CORRELATION_KEYS)
    if ("setting" in params) == ("pairs" in params or "confounder" in params or "binary" in params):
        raise ValueError("a correlation needs either setting (a named HFS setting) or pairs/confounder/binary")
    if "setting" in params:
        from disentkit.data.samplers import named_correlations

        setting = params["setting"]
        if not isinstance(setting, str):
            raise ValueError(f"correlation setting must be a name, got {setting!r}")
        if dataset is not None:
            table = named_correlations(dataset)  # ValueError for datasets without settings
            base = setting[:-4] if setting.endswith("_inv") else setting
            if base not in table:
                raise ValueError(f"unknown correlation setting {setting!r} for {dataset}; valid: "
                                 f"{', '.join(sorted(table))} (optionally + '_inv')")
    return params


def check_sampler(name: str, params: Mapping[str, Any] | None = None, *, dataset: str | None = None,
                  channels: int | None = None) -> str:
    """Validate a sampler name and its parameters without building anything; returns its batch kind.

    ``dataset`` (a registry name) checks named correlation settings; ``channels`` checks that the
    augmentations can take the dataset's images (colour ops need 3 channels). Raises
    ``ValueError`` naming the valid choices.
    """
    kind = sampler_kind(name)
    params = _check_keys(f"sampler {name!r}", params or {}, _KEYS[name])
    if name == "correlated":
        _check_correlation(params, dataset)
    if "correlation" in params:
        _check_correlation(params["correlation"], dataset)
    if name == "weak_pairs":
        for key in ("allow_same_value", "reference_k"):
            if key in params and not isinstance(params[key], bool):
                raise ValueError(f"weak_pairs {key} must be true or false, got {params[key]!r}")
    if name == "views" and channels is not None:
        _views(params.get("augmentations", "default"), dataset, channels)
    return kind


def _correlated(dataset: Any, params: Mapping[str, Any]) -> CorrelatedSampler:
    params = dict(params)
    setting = params.pop("setting", None)
    if setting is not None:
        return CorrelatedSampler.from_setting(dataset, setting, **params)
    return CorrelatedSampler(dataset, **params)


def _views(spec: Any, dataset_name: str | None, channels: int) -> Any:
    from disentkit.data import augment

    if spec == "default":
        if dataset_name is None:
            raise ValueError("augmentations='default' needs the dataset's name")
        return augment.default_views(dataset_name, channels)
    return augment.build_views(spec, channels)


def build_sampler(name: str, params: Mapping[str, Any] | None, dataset: Any,
                  dataset_name: str | None = None) -> BatchSampler:
    """The batch sampler ``name`` with ``params`` over ``dataset`` (``dataset_name``: its registry
    name, for default augmentations and named correlation settings)."""
    params = dict(params or {})
    check_sampler(name, params, dataset=dataset_name, channels=dataset.observation_shape[0])
    correlation = params.pop("correlation", None)
    factors = _correlated(dataset, correlation) if correlation is not None else None
    if name == "uniform":
        return ImageBatches(dataset)
    if name == "correlated":
        return ImageBatches(dataset, _correlated(dataset, params))
    if name == "weak_pairs":
        return PairBatches(dataset, WeakPairSampler(dataset, base=factors, **params))
    views = _views(params.get("augmentations", "default"), dataset_name, dataset.observation_shape[0])
    return ViewBatches(dataset, views, factors)


# -- correlation shift: the data a model is evaluated on -----------------------------------------

#: shift targets named relative to the training correlation
SHIFT_TARGETS = ("train", "inverse")


def training_correlation(sampler: str | None, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The correlation parameters a run trains under: ``correlated``'s parameters, the
    ``correlation`` of ``weak_pairs`` / ``views``, or None (uncorrelated)."""
    params = dict(params or {})
    if sampler == "correlated":
        return params
    return dict(params["correlation"]) if "correlation" in params else None


def inverse_correlation(params: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of a correlation (``correlated``'s parameters): a named setting gains or loses
    ``_inv``; every pair and the confounder flip their direction; a binary ``c`` becomes ``-c``."""
    params = dict(params)
    if "setting" in params:
        setting = params["setting"]
        params["setting"] = setting[:-4] if setting.endswith("_inv") else setting + "_inv"
        return params
    inverse = bool(params.get("inverse", False))
    if "pairs" in params:
        params["pairs"] = [[*p[:3], not (p[3] if len(p) == 4 else inverse)] for p in params["pairs"]]
    if "confounder" in params:
        params["inverse"] = not inverse
    if "binary" in params:
        params["binary"] = [[i, j, -c] for i, j, c in params["binary"]]
    return params


def check_shift(name: str, target: Any, *, sampler: str | None, sampler_params: Mapping[str, Any] | None,
                dataset: str | None = None) -> dict[str, Any]:
    """The correlation parameters of the evaluation shift ``name``: ``target`` is ``"train"`` (the
    run's training correlation), ``"inverse"`` (its inverse) or ``correlated``'s parameters (a
    mapping). ``ValueError`` naming the shift for a bad target, or for ``"train"`` / ``"inverse"``
    on a run that trains uncorrelated."""
    if isinstance(target, str):
        if target not in SHIFT_TARGETS:
            raise ValueError(f"evaluation shift {name!r}: {target!r} is not a target; give {' or '.join(SHIFT_TARGETS)} "
                             "or a correlation (setting, pairs, binary, ...)")
        trained = training_correlation(sampler, sampler_params)
        if trained is None:
            raise ValueError(f"evaluation shift {name!r}: {target!r} needs a run trained under a correlation "
                             f"(sampler {sampler or 'default'!r} is uncorrelated)")
        target = trained if target == "train" else inverse_correlation(trained)
    try:
        return _check_correlation(target, dataset)
    except ValueError as err:
        raise ValueError(f"evaluation shift {name!r}: {err}") from None


def shifted_data(dataset: Any, correlation: Mapping[str, Any], name: str = "") -> Any:
    """``dataset`` with its factors drawn under ``correlation`` (``correlated``'s parameters): a
    :class:`~disentkit.data.base.ResampledData` for evaluating under a correlation shift."""
    from disentkit.data.base import ResampledData

    return ResampledData(dataset, _correlated(dataset, correlation), name=name)
