"""DIP-VAE-I and DIP-VAE-II (Kumar, Sattigeri, Balakrishnan, ICLR 2018).

``loss = reconstruction + KL + λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii − 1)²`` with

- DIP-VAE-I: ``C = Cov[μ]``, λ_d = 10 λ_od;
- DIP-VAE-II: ``C = Cov[μ] + E[diag exp(logvar)]``, λ_d = λ_od,

Cov the biased batch covariance ``E[μμᵀ] − E[μ]E[μ]ᵀ`` (disentanglement_lib ``dip_vae``,
``disentanglement_lib.md`` §2.2; study sweep λ_od ∈ {1, 2, 5, 10, 20, 50}, default 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from disentkit.methods.config import VAEConfig, check_number
from disentkit.methods.losses import dip_covariance, dip_penalty
from disentkit.methods.vae import GaussianVAE


@dataclass(kw_only=True)
class DIPVAEIConfig(VAEConfig):
    """DIP-VAE-I hyperparameters: λ_od (default 1) and λ_d = ``lambda_d_factor`` · λ_od (factor 10)."""

    lambda_od: float = 1.0
    lambda_d_factor: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.lambda_od = check_number("lambda_od", self.lambda_od, 0.0)
        self.lambda_d_factor = check_number("lambda_d_factor", self.lambda_d_factor, 0.0)


@dataclass(kw_only=True)
class DIPVAEIIConfig(DIPVAEIConfig):
    """DIP-VAE-II hyperparameters: λ_od (default 1) and λ_d = ``lambda_d_factor`` · λ_od (factor 1)."""

    lambda_d_factor: float = 1.0


class DIPVAEI(GaussianVAE):
    """DIP-VAE-I: the regulariser is ``KL + DIP penalty on Cov[μ]``; reports ``dip_penalty``."""

    name = "dip_vae_i"
    config_class = DIPVAEIConfig
    dip_type = "i"

    def regularizer(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
                    kl: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``KL + λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii − 1)²``."""
        cfg = self.config
        cov = dip_covariance(mu, logvar, self.dip_type)
        penalty = dip_penalty(cov, cfg.lambda_od, cfg.lambda_d_factor * cfg.lambda_od)
        return kl + penalty, {"dip_penalty": penalty}


class DIPVAEII(DIPVAEI):
    """DIP-VAE-II: the penalty is on ``Cov[μ] + E[diag exp(logvar)]``."""

    name = "dip_vae_ii"
    config_class = DIPVAEIIConfig
    dip_type = "ii"
