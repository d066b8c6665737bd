"""Ground-truth-factor datasets, samplers and torch adapters.

>>> import disentkit.data as dd
>>> data = dd.get("dsprites")
>>> factors, images = data.sample(16, rng=0)   # int64 (16, 5), float32 (16, 1, 64, 64)

The torch-facing pieces (:class:`BatchStream`, :class:`StreamDataset`) are imported lazily so that
``import disentkit.data`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from disentkit.data.base import DummyData, FactorSubset, GroundTruthData, ResampledData
from disentkit.data.factors import CausalGraph, ContinuousFactorSpace, Factor, FactorSpace, make_factor_space
from disentkit.data.registry import DatasetEntry, check_params, entry, get, names, register
from disentkit.data.samplers import (
    CorrelatedSampler,
    DatasetSampler,
    UniformSampler,
    WeakPairSampler,
    named_correlations,
)

_LAZY = {
    "BatchStream": "disentkit.data.streams",
    "StreamDataset": "disentkit.data.streams",
    "CachedData": "disentkit.data.cache",
    "build_cache": "disentkit.data.cache",
}

__all__ = [
    "CausalGraph",
    "ContinuousFactorSpace",
    "CorrelatedSampler",
    "DatasetEntry",
    "DummyData",
    "Factor",
    "FactorSpace",
    "FactorSubset",
    "ResampledData",
    "GroundTruthData",
    "DatasetSampler",
    "UniformSampler",
    "WeakPairSampler",
    "check_params",
    "entry",
    "get",
    "make_factor_space",
    "named_correlations",
    "names",
    "register",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'disentkit.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
