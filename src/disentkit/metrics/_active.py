"""NashAE's learned-feature count (Yeats et al., ECCV 2022; spec ``methods_vae.md`` §4.5): a latent
is *active* when its range over the encoded data, ``max − min``, exceeds ``threshold`` (0.2, for
codes in [0, 1] such as NashAE's sigmoid codes); the paper compares the count with the true
number of factors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentkit.metrics._checks import check_codes
from disentkit.validation import check_number

__all__ = ["active_latents", "learned_features"]


def active_latents(codes: Any, threshold: float = 0.2) -> np.ndarray:
    """The active latents of codes (N, D): ``max − min > threshold``, a boolean mask (D,)."""
    codes = check_codes(codes, name="active_latents: codes", min_samples=1)
    check_number("threshold", threshold, 0.0, finite=True)
    return (codes.max(axis=0) - codes.min(axis=0)) > threshold


def learned_features(codes: Any, factors: Any = None, *, threshold: float = 0.2) -> dict[str, float]:
    """``num_active``: the number of :func:`active_latents`; ``num_factors``: the factor columns
    given (for the comparison; the factors' values are not read)."""
    out = {"num_active": float(active_latents(codes, threshold).sum())}
    if factors is not None:
        factors = np.asarray(factors)
        if factors.ndim != 2:
            raise ValueError(f"learned_features: factors must have shape (N, F), got shape {factors.shape}")
        out["num_factors"] = float(factors.shape[1])
    return out
