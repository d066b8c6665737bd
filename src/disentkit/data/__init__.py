"""Ground-truth-factor datasets, samplers and torch adapters.

>>> import disentkit.data as dd
>>> data = dd.get("dsprites")
>>> factors, images = data.sample(16, rng=0)   # int64 (16, 5), float32 (16, 1, 64, 64)
"""

from disentkit.data.base import DummyData, FactorSubset, GroundTruthData
from disentkit.data.factors import FactorSpace
from disentkit.data.registry import DatasetEntry, entry, get, names, register

__all__ = [
    "DatasetEntry",
    "DummyData",
    "FactorSpace",
    "FactorSubset",
    "GroundTruthData",
    "entry",
    "get",
    "names",
    "register",
]
