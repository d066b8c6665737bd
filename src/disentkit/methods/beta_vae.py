"""β-VAE (Higgins et al., ICLR 2017): ``loss = reconstruction + β KL(q(z|x) || N(0, I))``.

disentanglement_lib gin name ``vae`` (``disentanglement_lib.md`` §2.2); its study sweeps
β ∈ {1, 2, 4, 6, 8, 16}.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from disentkit.methods.config import VAEConfig, check_number
from disentkit.methods.vae import GaussianVAE


@dataclass(kw_only=True)
class BetaVAEConfig(VAEConfig):
    """β-VAE hyperparameters: ``beta`` >= 0 (default 1, the first value of the study's sweep)."""

    beta: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.beta = check_number("beta", self.beta, 0.0)


class BetaVAE(GaussianVAE):
    """β-VAE: the regulariser is ``β KL`` (KL summed over latents, batch mean).

    >>> model = BetaVAE((1, 64, 64), BetaVAEConfig(beta=4.0), seed=0)
    >>> opts = model.configure_optimizers()
    >>> terms = model.train_step(torch.rand(8, 1, 64, 64), 0, opts)
    """

    name = "beta_vae"
    config_class = BetaVAEConfig

    def regularizer(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
                    kl: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``β KL``."""
        return self.config.beta * kl, {}
