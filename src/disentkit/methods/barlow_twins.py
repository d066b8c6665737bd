"""Barlow Twins: Self-Supervised Learning via Redundancy Reduction (Zbontar et al., ICML 2021).

The cross-correlation matrix C of the batch-standardised projections of two views is pushed to
the identity:

    L = sum_i (1 - C_ii)^2 + λ sum_i sum_{j != i} C_ij^2,   λ = 5.1e-3

(:class:`~disentkit.losses.BarlowTwinsLoss`); no predictor, no momentum target, no negatives. The
paper's projector is 3 layers of 8192; on a CPU a narrower one (``projector_hidden`` and
``projector_out`` 1024-2048) trains in reasonable time.

>>> model = BarlowTwins((1, 64, 64), BarlowTwinsConfig(projector_hidden=512, projector_out=512), seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from disentkit.losses import BarlowTwinsLoss
from disentkit.validation import check_number
from disentkit.methods.ssl import SelfSupervisedMethod, SSLConfig


@dataclass(kw_only=True)
class BarlowTwinsConfig(SSLConfig):
    """Barlow Twins' hyperparameters: :class:`~disentkit.methods.ssl.SSLConfig` with the paper's
    3-layer 8192 projector, plus ``lambda_offdiag`` (λ, 5.1e-3)."""

    projector_hidden: int = 8192
    projector_out: int = 8192
    projector_layers: int = 3
    lambda_offdiag: float = 5.1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        self.lambda_offdiag = check_number("lambda_offdiag", self.lambda_offdiag, 0.0)


class BarlowTwins(SelfSupervisedMethod):
    """Barlow Twins (see the module docstring): projector + cross-correlation loss."""

    name: ClassVar[str] = "barlow_twins"
    config_class: ClassVar[type] = BarlowTwinsConfig

    def __init__(self, observation_shape: tuple[int, int, int], config: Any = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        self.loss_fn = BarlowTwinsLoss(lambda_offdiag=self.config.lambda_offdiag)

    def view_terms(self, first: torch.Tensor, second: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """``loss = sum_i (1 - C_ii)^2 + λ sum_{i != j} C_ij^2``."""
        z1, z2 = self.project(first), self.project(second)
        loss = self.loss_fn(z1.float(), z2.float())
        return {"loss": loss, "embedding_std": self.embedding_std(z1)}
