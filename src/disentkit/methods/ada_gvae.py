"""Ada-GVAE and Ada-ML-VAE (Locatello et al., ICML 2020, "Weakly-Supervised Disentanglement
Without Compromises"): VAEs trained on pairs ``(x1, x2)`` that differ in a few factors.

Per pair and latent d (``disentanglement_lib.md`` §2.4, disentanglement_lib ``weak_vae``):

1. ``δ_d = σ1²/σ2² + (μ2 − μ1)²/σ2² − 1 + log σ2² − log σ1²`` (twice KL(q1_d || q2_d); only its
   ranking matters).
2. Adaptive threshold: the midpoint ``τ = (min_d δ + max_d δ) / 2`` (two equal-width bins on
   [min δ, max δ]). Dims with ``δ_d < τ`` are **shared**; the others (upper bin, ``δ_d >= τ``)
   keep their own posteriors. If all δ are equal no dim is shared.
3. Shared dims of both posteriors are replaced by the aggregate:
   GVAE ``μ̄ = (μ1 + μ2)/2, σ̄² = (σ1² + σ2²)/2``; ML-VAE ``σ̄² = 2σ1²σ2²/(σ1² + σ2²),
   μ̄ = (μ1/σ1² + μ2/σ2²) σ̄²/2``.
4. ``loss = ½ (recon1 + recon2) + β ½ (KL(q̃1) + KL(q̃2))`` with z_k ~ q̃_k (independent noise).

The batch is a :class:`~disentkit.data.batch.Batch` of kind ``"pairs"`` (two views (B, C, H, W));
``represent`` takes single images.
With ``hfs_gamma > 0`` HFS is applied to the means of both views stacked (2B, D).
"""

from __future__ import annotations

from dataclasses import dataclass
import torch

from disentkit.methods.base import Batch
from disentkit.methods.config import VAEConfig, check_number
from disentkit.methods.losses import gaussian_kl
from disentkit.methods.vae import GaussianVAE

AGGREGATIONS = ("gvae", "mlvae")


def pair_divergence(mu1: torch.Tensor, logvar1: torch.Tensor,
                    mu2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """``δ = e^{lv1 − lv2} + (μ2 − μ1)² e^{−lv2} − 1 + lv2 − lv1``, elementwise (B, D)."""
    return (logvar1 - logvar2).exp() + (mu2 - mu1).pow(2) * (-logvar2).exp() - 1.0 + logvar2 - logvar1


def adaptive_shared_mask(delta: torch.Tensor) -> torch.Tensor:
    """True for the dims of each row below the midpoint of its δ range: ``δ_d < (min δ + max δ)/2``."""
    lo = delta.min(dim=1, keepdim=True).values
    hi = delta.max(dim=1, keepdim=True).values
    return delta < 0.5 * (lo + hi)


def aggregate_posterior(mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor,
                        logvar2: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The aggregate ``(μ̄, log σ̄²)`` of two posteriors: ``"gvae"`` (averages) or ``"mlvae"`` (product)."""
    var1, var2 = logvar1.exp(), logvar2.exp()
    if kind == "gvae":
        return 0.5 * (mu1 + mu2), (0.5 * (var1 + var2)).log()
    if kind == "mlvae":
        var = 2.0 * var1 * var2 / (var1 + var2)
        return (mu1 / var1 + mu2 / var2) * var * 0.5, var.log()
    raise ValueError(f"unknown aggregation {kind!r}; valid: {', '.join(AGGREGATIONS)}")


@dataclass(kw_only=True)
class AdaGVAEConfig(VAEConfig):
    """Ada-GVAE / Ada-ML-VAE hyperparameters: ``beta`` >= 0 (default 1, the first value of the
    weak study's sweep {1, 2, 4, 6, 8, 16})."""

    beta: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.beta = check_number("beta", self.beta, 0.0)


class AdaGVAE(GaussianVAE):
    """Ada-GVAE: adaptive shared dims, arithmetic-mean aggregation; reports ``shared_dims``
    (the mean number of shared latents per pair)."""

    name = "ada_gvae"
    config_class = AdaGVAEConfig
    batch_kind = "pairs"
    num_views = 2
    default_sampler = "weak_pairs"
    aggregation = "gvae"

    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Every loss term of a pair batch (see the module docstring)."""
        x1, x2 = self.check_batch(batch).views
        mu, logvar = self.encode(torch.cat([x1, x2]))
        b = x1.shape[0]
        mu1, mu2, lv1, lv2 = mu[:b], mu[b:], logvar[:b], logvar[b:]
        shared = adaptive_shared_mask(pair_divergence(mu1, lv1, mu2, lv2))
        mu_a, lv_a = aggregate_posterior(mu1, lv1, mu2, lv2, self.aggregation)
        mu_t = torch.cat([torch.where(shared, mu_a, mu1), torch.where(shared, mu_a, mu2)])
        lv_t = torch.cat([torch.where(shared, lv_a, lv1), torch.where(shared, lv_a, lv2)])
        z = self.sample_latent(mu_t, lv_t)
        # mean over the 2B images = ½ (recon1 + recon2) and ½ (KL1 + KL2) of the two batch means
        recon = self.reconstruction_loss(self.decode(z), torch.cat([x1, x2]))
        kl_per_dim = gaussian_kl(mu_t, lv_t).mean(0)
        reg = self.config.beta * kl_per_dim.sum()
        return self.total_terms(recon, kl_per_dim, reg, mu, {"shared_dims": shared.sum(1).float().mean()})


class AdaMLVAE(AdaGVAE):
    """Ada-ML-VAE: adaptive shared dims, product-of-experts (ML-VAE) aggregation."""

    name = "ada_ml_vae"
    aggregation = "mlvae"
