"""NashAE's adversarial covariance (Yeats, Liu, Womble, Li, ECCV 2022, arXiv 2209.10677; spec
``methods_vae.md`` §4.2).

A regression ensemble predicts each latent from the others, ``ẑ_i = ρ_i(z_{-i})``. Since
``ρ_i ≈ E[z_i | z_{-i}]`` and ``Cov(z_i, E[z_i | z_{-i}]) = Var(E[z_i | z_{-i}])``, the batch
covariance between each latent and its prediction measures how much of ``z_i`` the other latents
explain; the autoencoder minimises it, with ``z_i`` held fixed (stop-gradient) so that the gradient
reaches the encoder through the predictors only.
"""

from __future__ import annotations

import torch
from torch import nn

from disentkit.losses._checks import check_pair

__all__ = ["AdversarialCovarianceLoss", "batch_covariance"]


def batch_covariance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-column covariance over the batch, ``mean(a b) − mean(a) mean(b)``: (B, D), (B, D) -> (D,)
    (the biased, 1/B estimator)."""
    check_pair("a", a, "b", b)
    return (a * b).mean(dim=0) - a.mean(dim=0) * b.mean(dim=0)


class AdversarialCovarianceLoss(nn.Module):
    """``Σ_i Cov_batch(sg(z_i), ẑ_i)``: the autoencoder's adversarial term of NashAE.

    ``z`` (B, D) are the codes, ``z_hat`` (B, D) the ensemble's predictions of each code from the
    other codes; ``z`` is detached, so only ``z_hat`` (and through it the encoder) gets gradients.

    >>> loss = AdversarialCovarianceLoss()(torch.rand(32, 4), torch.rand(32, 4))
    """

    def forward(self, z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
        return batch_covariance(z.detach(), z_hat).sum()
