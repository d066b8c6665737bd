"""disentkit: datasets, methods, metrics and studies for disentangled representation learning.

Subpackages are imported lazily so that ``import disentkit`` stays cheap:

- :mod:`disentkit.data`: ground-truth-factor datasets, samplers and torch adapters.
- :mod:`disentkit.nn`: standard architectures.
- :mod:`disentkit.methods`: the VAE family and friends.
- :mod:`disentkit.train`: the training loop and checkpoints.
- :mod:`disentkit.metrics`: disentanglement metrics and :func:`disentkit.metrics.evaluate`.
- :mod:`disentkit.study`: declarative studies, executors, results store and report.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = ("data", "nn", "methods", "train", "metrics", "study", "viz")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"disentkit.{name}")
    raise AttributeError(f"module 'disentkit' has no attribute {name!r}")
