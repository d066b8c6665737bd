"""VICReg: Variance-Invariance-Covariance Regularization (Bardes, Ponce & LeCun, ICLR 2022).

    L = λ MSE(Z, Z') + μ [v(Z) + v(Z')] + ν [c(Z) + c(Z')],   λ = μ = 25, ν = 1

with the variance hinge ``v(Z) = mean_j max(0, γ - sqrt(Var z_j + ε))`` (γ = 1, ε = 1e-4) and the
covariance term ``c(Z) = (1/d) sum_{i != j} Cov(Z)_ij^2`` (:class:`~disentkit.losses.VICRegLoss`);
no predictor, no momentum target, no negatives. The paper's projector is 3 layers of 8192.

>>> model = VICReg((1, 64, 64), VICRegConfig(projector_hidden=512, projector_out=512), seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from disentkit.losses import VICRegLoss
from disentkit.validation import check_number
from disentkit.methods.ssl import SelfSupervisedMethod, SSLConfig


@dataclass(kw_only=True)
class VICRegConfig(SSLConfig):
    """VICReg's hyperparameters: :class:`~disentkit.methods.ssl.SSLConfig` with the paper's
    3-layer 8192 projector, plus the weights ``sim_weight`` λ (25), ``var_weight`` μ (25) and
    ``cov_weight`` ν (1)."""

    projector_hidden: int = 8192
    projector_out: int = 8192
    projector_layers: int = 3
    sim_weight: float = 25.0
    var_weight: float = 25.0
    cov_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("sim_weight", "var_weight", "cov_weight"):
            setattr(self, name, check_number(name, getattr(self, name), 0.0))


class VICReg(SelfSupervisedMethod):
    """VICReg (see the module docstring): projector + variance/invariance/covariance loss."""

    name: ClassVar[str] = "vicreg"
    config_class: ClassVar[type] = VICRegConfig

    def __init__(self, observation_shape: tuple[int, int, int], config: Any = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        cfg = self.config
        self.loss_fn = VICRegLoss(cfg.sim_weight, cfg.var_weight, cfg.cov_weight)

    def view_terms(self, first: torch.Tensor, second: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """``loss = λ MSE + μ (v(Z) + v(Z')) + ν (c(Z) + c(Z'))``, with the three unweighted terms."""
        z1, z2 = self.project(first), self.project(second)
        terms = self.loss_fn.terms(z1.float(), z2.float())
        return {**terms, "embedding_std": self.embedding_std(z1)}
