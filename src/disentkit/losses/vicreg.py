"""VICReg: variance-invariance-covariance regularisation (Bardes, Ponce, LeCun; ICLR 2022)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.losses._checks import check_pair
from disentkit.validation import check_number


def variance_hinge(z: torch.Tensor, gamma: float, eps: float) -> torch.Tensor:
    """``v(Z) = mean_j max(0, γ - sqrt(Var(z_j) + ε))`` with the unbiased (N - 1) variance."""
    std = torch.sqrt(z.var(dim=0, unbiased=True) + eps)
    return F.relu(gamma - std).mean()


def covariance_penalty(z: torch.Tensor) -> torch.Tensor:
    """``c(Z) = (1/d) sum_{i != j} Cov(Z)_ij^2`` with ``Cov(Z) = (Z - mean)^T (Z - mean) / (N - 1)``."""
    centred = z - z.mean(0, keepdim=True)
    cov = centred.T @ centred / (z.shape[0] - 1)
    return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / z.shape[1]


class VICRegLoss(nn.Module):
    """``L = λ s(Z, Z') + μ [v(Z) + v(Z')] + ν [c(Z) + c(Z')]`` (VICReg, Eq. 6).

    - invariance ``s(Z, Z') = mean_{b, j} (z_bj - z'_bj)^2`` (``F.mse_loss``, mean over batch and dims);
    - variance ``v`` (:func:`variance_hinge`): ``mean_j max(0, γ - sqrt(Var z_j + ε))``, unbiased Var;
    - covariance ``c`` (:func:`covariance_penalty`): ``(1/d) sum_{i != j} Cov_ij^2``, unbiased Cov.

    Defaults are the paper's λ = ``sim_weight`` = 25, μ = ``var_weight`` = 25, ν = ``cov_weight``
    = 1, γ = 1, ε = 1e-4. The official ``main_vicreg.py`` halves the variance term (it averages the
    two branches, ``(v(Z) + v(Z'))/2``), so its μ = 25 weighs like μ = 12.5 in the paper's formula;
    ``average_variance=True`` reproduces that. :meth:`terms` reports the three unweighted terms
    (``variance`` and ``covariance`` already summed, or averaged, over the two branches).

    >>> loss_fn = VICRegLoss()
    >>> z_a, z_b = torch.randn(32, 64, requires_grad=True), torch.randn(32, 64)
    >>> loss_fn(z_a, z_b).backward()
    >>> sorted(loss_fn.terms(z_a, z_b))
    ['covariance', 'invariance', 'loss', 'variance']
    """

    def __init__(self, sim_weight: float = 25.0, var_weight: float = 25.0, cov_weight: float = 1.0,
                 gamma: float = 1.0, eps: float = 1e-4, average_variance: bool = False) -> None:
        super().__init__()
        self.sim_weight = check_number("sim_weight", sim_weight, 0.0, finite=True)
        self.var_weight = check_number("var_weight", var_weight, 0.0, finite=True)
        self.cov_weight = check_number("cov_weight", cov_weight, 0.0, finite=True)
        self.gamma = check_number("gamma", gamma, 0.0, finite=True)
        self.eps = check_number("eps", eps, 0.0, finite=True)
        if not isinstance(average_variance, bool):
            raise ValueError(f"average_variance must be True or False, got {average_variance!r}")
        self.average_variance = average_variance

    def terms(self, z_a: torch.Tensor, z_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"invariance": s, "variance": v(Z) + v(Z'), "covariance": c(Z) + c(Z'), "loss": L}``
        for two (N, D) embeddings, N >= 2."""
        check_pair("z_a", z_a, "z_b", z_b, min_batch=2)
        invariance = F.mse_loss(z_a, z_b)
        variance = variance_hinge(z_a, self.gamma, self.eps) + variance_hinge(z_b, self.gamma, self.eps)
        if self.average_variance:
            variance = 0.5 * variance
        covariance = covariance_penalty(z_a) + covariance_penalty(z_b)
        loss = self.sim_weight * invariance + self.var_weight * variance + self.cov_weight * covariance
        return {"invariance": invariance, "variance": variance, "covariance": covariance, "loss": loss}

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """The VICReg loss of two (N, D) embeddings (a scalar)."""
        return self.terms(z_a, z_b)["loss"]
