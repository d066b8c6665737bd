"""FactorVAE (Kim & Mnih, ICML 2018): ``loss = reconstruction + KL + γ TC_est``.

The total correlation is estimated by the density-ratio trick with a discriminator D that tells
samples of q(z) ("real", logit column 0) from samples of ``prod_d q(z_d)`` ("fake", column 1),
obtained by permuting each latent dimension independently across a batch (``methods_vae.md`` §2.1,
``disentanglement_lib.md`` §2.2):

- ``TC_est = mean_i [logit_real(z_i) − logit_fake(z_i)]`` (gradients reach the encoder only);
- ``L_D = −½ [mean log p_real(z) + mean log p_fake(z_perm)]`` with softmax probabilities clipped
  to [1e-6, 1 − 1e-6] as disentanglement_lib does; z is detached for D.

One ``train_step`` computes both losses from the same forward pass and then steps both optimisers
("vae" on the encoder and decoder only, "discriminator" on D only): simultaneous updates, like
disentanglement_lib's grouped ``train_op``. (disentanglement_lib's two ``minimize`` calls both
advance ``global_step``, so its FactorVAE likely made only ~150k updates in a "300k step" run;
here one step is one update of each network.)

``permutation``:

- ``"same_batch"`` (reference, default): D sees the batch's z as real and its dimension-wise
  shuffle as fake.
- ``"two_batch"`` (the paper's independent second batch): the trainer passes one batch, which is
  split in halves: D sees the first half's z as real and the shuffled second half as fake (as the
  HFS and 1Konny code do); the VAE loss (and TC_est) still uses the whole batch. Needs an even
  batch of at least 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from disentkit.methods.config import VAEConfig, check_choice, check_int, check_number
from disentkit.methods.vae import GaussianVAE, loss_precision
from disentkit.nn import FactorDiscriminator
from disentkit.nn.init import GeneratorLike, make_generator

PERMUTATIONS = ("same_batch", "two_batch")
_CLIP = 1e-6


def permute_dims(z: torch.Tensor, rng: GeneratorLike) -> torch.Tensor:
    """Shuffle each column of z (B, D) across the batch with its own random permutation.

    ``z'[i, d] = z[pi_d(i), d]``, the permutations drawn (on the CPU) from ``rng`` (a
    ``torch.Generator``, advanced by the draw, or an int seed): a sample of ``prod_d q(z_d)``
    (Kim & Mnih, Algorithm 1).
    """
    order = torch.rand(z.shape, generator=make_generator(rng)).argsort(dim=0).to(z.device)
    return z.gather(0, order)


def factor_vae_tc(logits: torch.Tensor) -> torch.Tensor:
    """``mean_i [logits[i, 0] − logits[i, 1]]``: the density-ratio TC estimate (column 0 = real)."""
    return (logits[:, 0] - logits[:, 1]).mean()


def discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """``−½ [mean log p_0(real) + mean log p_1(fake)]``, softmax probabilities clipped to [1e-6, 1 − 1e-6].

    Low when D gives "real" (column 0) to true codes and "fake" (column 1) to permuted codes.
    """
    lo, hi = math.log(_CLIP), math.log1p(-_CLIP)
    log_p_real = F.log_softmax(logits_real, dim=1)[:, 0].clamp(lo, hi)
    log_p_fake = F.log_softmax(logits_fake, dim=1)[:, 1].clamp(lo, hi)
    return -0.5 * (log_p_real.mean() + log_p_fake.mean())


@dataclass(kw_only=True)
class FactorVAEConfig(VAEConfig):
    """FactorVAE hyperparameters.

    gamma: the TC weight γ >= 0 (default 10, the first value of the study's sweep
        {10, 20, 30, 40, 50, 100}).
    permutation: ``"same_batch"`` (disentanglement_lib) or ``"two_batch"`` (the paper; halves).
    disc_hidden, disc_layers, disc_negative_slope: the discriminator MLP (1000, 6, 0.2).
    disc_lr, disc_beta1, disc_beta2, disc_eps: its Adam optimiser (1e-4, 0.5, 0.9, 1e-8).
    """

    gamma: float = 10.0
    permutation: str = "same_batch"
    disc_hidden: int = 1000
    disc_layers: int = 6
    disc_negative_slope: float = 0.2
    disc_lr: float = 1e-4
    disc_beta1: float = 0.5
    disc_beta2: float = 0.9
    disc_eps: float = 1e-8

    def __post_init__(self) -> None:
        super().__post_init__()
        self.gamma = check_number("gamma", self.gamma, 0.0)
        check_choice("permutation", self.permutation, PERMUTATIONS)
        self.disc_hidden = check_int("disc_hidden", self.disc_hidden, 1)
        self.disc_layers = check_int("disc_layers", self.disc_layers, 1)
        self.disc_negative_slope = check_number("disc_negative_slope", self.disc_negative_slope, 0.0)
        self.disc_lr = check_number("disc_lr", self.disc_lr, 0.0, strict_min=True)
        self.disc_beta1 = check_number("disc_beta1", self.disc_beta1, 0.0, 1.0, strict_max=True)
        self.disc_beta2 = check_number("disc_beta2", self.disc_beta2, 0.0, 1.0, strict_max=True)
        self.disc_eps = check_number("disc_eps", self.disc_eps, 0.0, strict_min=True)


class FactorVAE(GaussianVAE):
    """FactorVAE with its discriminator; reports ``tc`` and ``discriminator_loss``."""

    name = "factor_vae"
    config_class = FactorVAEConfig

    def __init__(self, observation_shape: tuple[int, int, int], config: FactorVAEConfig | None = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        cfg = self.config
        self.discriminator = FactorDiscriminator(
            cfg.latent_dim, cfg.disc_hidden, cfg.disc_layers, cfg.disc_negative_slope, rng=self.generator
        )

    def regularizer(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
                    kl: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``KL + γ TC_est``; also returns the discriminator's loss (on detached codes)."""
        logits = loss_precision(self.discriminator(z))  # used with gradients for TC_est (encoder only) and for L_D
        tc = factor_vae_tc(logits)
        if self.config.permutation == "same_batch":
            logits_real, fake_source = logits, z
        else:
            b = z.shape[0]
            if b < 4 or b % 2:
                raise ValueError(f"permutation='two_batch' needs an even batch of at least 4, got {b}")
            logits_real, fake_source = logits[: b // 2], z[b // 2:]
        logits_fake = loss_precision(self.discriminator(permute_dims(fake_source.detach(), self.generator)))
        d_loss = discriminator_loss(logits_real, logits_fake)
        return kl + self.config.gamma * tc, {"tc": tc, "discriminator_loss": d_loss}

    def configure_optimizers(self, total_steps: int) -> dict[str, torch.optim.Optimizer]:
        """``{"vae": Adam(encoder + decoder), "discriminator": Adam(D, betas (0.5, 0.9))}``."""
        cfg = self.config
        opts = super().configure_optimizers(total_steps)
        opts["discriminator"] = torch.optim.Adam(
            self.discriminator.parameters(), lr=cfg.disc_lr,
            betas=(cfg.disc_beta1, cfg.disc_beta2), eps=cfg.disc_eps,
        )
        return opts

    def gradient_routes(self) -> tuple[tuple[str, list[torch.nn.Parameter]], ...]:
        """Both losses from one forward: the VAE loss -> VAE parameters, the D loss -> D parameters
        (the real-code logits feed both)."""
        return (("loss", self.vae_parameters()),
                ("discriminator_loss", list(self.discriminator.parameters())))
