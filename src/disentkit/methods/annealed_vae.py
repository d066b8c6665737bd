"""AnnealedVAE (Burgess et al., arXiv 1804.03599): ``loss = reconstruction + γ |KL − C(t)|``.

The capacity rises linearly and then stays: ``C(t) = min(c_max, c_max · t / iteration_threshold)``
with t the global step (disentanglement_lib ``annealed_vae``; ``methods_vae.md`` §10.2). The KL is
summed over latents and averaged over the batch, so C is in nats for the whole latent vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from disentkit.methods.config import VAEConfig, check_int, check_number
from disentkit.methods.vae import GaussianVAE


def annealed_capacity(step: int, c_max: float, iteration_threshold: int) -> float:
    """``C(t) = min(c_max, c_max · t / iteration_threshold)`` (0 at t = 0, c_max from the threshold on)."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return min(c_max, c_max * step / iteration_threshold)


@dataclass(kw_only=True)
class AnnealedVAEConfig(VAEConfig):
    """AnnealedVAE hyperparameters (disentanglement_lib study: γ = 1000, threshold 100,000,
    c_max ∈ {5, 10, 25, 50, 75, 100}; default c_max = 5, the sweep's first value)."""

    gamma: float = 1000.0
    c_max: float = 5.0
    iteration_threshold: int = 100_000

    def __post_init__(self) -> None:
        super().__post_init__()
        self.gamma = check_number("gamma", self.gamma, 0.0)
        self.c_max = check_number("c_max", self.c_max, 0.0)
        self.iteration_threshold = check_int("iteration_threshold", self.iteration_threshold, 1)


class AnnealedVAE(GaussianVAE):
    """AnnealedVAE: the regulariser is ``γ |KL − C(step)|``; reports ``capacity``."""

    name = "annealed_vae"
    config_class = AnnealedVAEConfig

    def regularizer(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
                    kl: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``γ |KL − C(step)|``."""
        cfg = self.config
        capacity = annealed_capacity(step, cfg.c_max, cfg.iteration_threshold)
        reg = cfg.gamma * (kl - capacity).abs()
        return reg, {"capacity": torch.tensor(capacity, device=kl.device)}
