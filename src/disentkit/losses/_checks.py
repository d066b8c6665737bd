"""Shared tensor checks of the self-supervised losses (one-line ``ValueError`` messages).

Scalar arguments (temperatures, weights, counts, choices) are checked with
:mod:`disentkit.validation`.
"""

from __future__ import annotations

import torch


def check_features(name: str, x: torch.Tensor, min_batch: int = 1) -> None:
    """``x`` must be a floating (B, D) tensor with B >= ``min_batch`` and D >= 1."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, D), got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (B, D), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    if x.shape[0] < min_batch or x.shape[1] < 1:
        raise ValueError(
            f"{name} needs a batch of at least {min_batch} and at least 1 dimension, got shape {tuple(x.shape)}")


def check_pair(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor, min_batch: int = 1) -> None:
    """Two (B, D) feature tensors of the same shape (see :func:`check_features`)."""
    check_features(name_a, a, min_batch)
    check_features(name_b, b, min_batch)
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
