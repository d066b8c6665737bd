"""``GaussianVAE``: the shared body of every method of the VAE family.

One pattern covers them all (disentanglement_lib ``BaseVAE``, ``disentanglement_lib.md`` §2.2):
``loss = reconstruction + regularizer(mu, logvar, z, kl, step) [+ hfs_gamma * HFS(mu)]``; a method
subclasses :class:`GaussianVAE` and overrides :meth:`GaussianVAE.regularizer` (and, for FactorVAE,
:meth:`~disentkit.methods.base.Method.gradient_routes`, which trains its discriminator on its own
loss).

Randomness: the base class's generator (``self.generator``, :mod:`disentkit.methods.base`)
initialises the networks (Glorot uniform, zero biases) and then draws every training-time random
number (reparameterisation noise, FactorVAE's permutations, HFS pairs) on the CPU, so the draws are
the same on every device; the global torch RNG is neither used nor advanced.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from disentkit.methods.base import Batch, Capabilities, Method
from disentkit.methods.base import check_observation_shape as base_observation_shape
from disentkit.methods.config import VAEConfig
from disentkit.methods.losses import (
    gaussian_kl,
    hausdorff_factorized_support,
    reconstruction_loss,
    sample_latent_pairs,
)
from disentkit.nn import ConvDecoder, ConvEncoder, FCDecoder, FCEncoder
from disentkit.nn.architectures import IMAGE_SIZE
from disentkit.nn.init import GeneratorLike, make_generator


def check_observation_shape(shape: Any, architecture: str) -> tuple[int, int, int]:
    """``shape`` as ``(C, H, W)`` positive ints; the conv architecture needs H = W = 64."""
    c, h, w = shape = base_observation_shape(shape)
    if h != w or (architecture == "conv" and h != IMAGE_SIZE):
        need = f"({c}, 64, 64)" if architecture == "conv" else "square images (H = W)"
        raise ValueError(f"the {architecture!r} architecture needs {need}, got observation_shape {shape}")
    return shape


def loss_precision(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when it is float16/bfloat16 (mixed precision: networks in low precision,
    losses, log-densities and covariances in float32); other dtypes are returned as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class GaussianVAE(Method):
    """A VAE with a diagonal-Gaussian posterior ``q(z|x) = N(mu(x), diag exp(logvar(x)))``.

    Subclasses set ``name``, ``config_class`` and override :meth:`regularizer`. The plain class is a
    β = 1 VAE (``regularizer = KL``).

    Parameters
    ----------
    observation_shape: ``(C, H, W)`` of the images ((C, 64, 64) for the conv architecture).
    config: an instance of ``config_class`` (defaults when None).
    seed: seeds the method's generator (weights and all training noise); ``None`` draws a seed
        from the global torch RNG.
    """

    name: ClassVar[str] = "vae"
    config_class: ClassVar[type] = VAEConfig
    capabilities = Capabilities(decoder=True, gaussian_posterior=True)

    def __init__(self, observation_shape: tuple[int, int, int], config: Any = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        check_observation_shape(self.observation_shape, self.config.architecture)
        config = self.config
        c, h, _ = self.observation_shape
        d = config.latent_dim
        if config.architecture == "conv":
            self.encoder: nn.Module = ConvEncoder(c, d, rng=self.generator)
            self.decoder: nn.Module = ConvDecoder(d, c, rng=self.generator)
        else:
            self.encoder = FCEncoder(c, d, h, rng=self.generator)
            self.decoder = FCDecoder(d, c, h, rng=self.generator)

    # -- networks -------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        """The number of latents D."""
        return self.config.latent_dim

    @property
    def code_size(self) -> int:
        """The code width: the number of latents D."""
        return self.config.latent_dim

    def vae_parameters(self) -> list[nn.Parameter]:
        """The encoder's and decoder's parameters (what the ``"vae"`` optimiser updates)."""
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, H, W) -> ``(mu, logvar)``, each (B, D) (float32 under bf16 autocast)."""
        mu, logvar = self.encoder(x)
        return loss_precision(mu), loss_precision(logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, D) -> logits (B, C, H, W) (``sigmoid`` gives images; float32 under autocast)."""
        return loss_precision(self.decoder(z))

    def sample_latent(self, mu: torch.Tensor, logvar: torch.Tensor,
                      rng: GeneratorLike | None = None) -> torch.Tensor:
        """Reparameterised sample ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``.

        ``eps`` is drawn on the CPU from ``rng`` (a CPU ``torch.Generator`` or an int seed; default:
        the method's own generator) and moved to ``mu``'s device and dtype.
        """
        gen = self.generator if rng is None else make_generator(rng)
        eps = torch.randn(mu.shape, generator=gen, dtype=torch.float32)
        eps = eps.to(device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    @torch.no_grad()
    def represent(self, images: torch.Tensor) -> torch.Tensor:
        """The posterior mean code of each image, (B, C, H, W) -> (B, D)."""
        return self.encode(images)[0]

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Decode the posterior means: ``sigmoid(decode(mu(x)))``, images in [0, 1]."""
        return torch.sigmoid(self.decode(self.encode(images)[0]))

    # -- losses ---------------------------------------------------------------------------------
    def reconstruction_loss(self, logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The configured reconstruction loss (summed over pixels, batch mean)."""
        cfg = self.config
        return reconstruction_loss(logits, images, cfg.reconstruction, cfg.blur_radius, cfg.blur_weight)

    def regularizer(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
                    kl: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The term added to the reconstruction loss, and method-specific terms to report.

        ``kl`` is the batch-mean KL summed over latents. The base class returns ``kl`` (a VAE).
        """
        return kl, {}

    def hfs(self, mu: torch.Tensor) -> torch.Tensor:
        """HFS on the posterior means over ``hfs_pairs`` latent pairs drawn from the generator, with the
        config's ``hfs_matching``."""
        cfg = self.config
        pairs = sample_latent_pairs(mu.shape[1], cfg.hfs_pairs, self.generator)
        return hausdorff_factorized_support(mu, pairs, cfg.hfs_matching, cfg.hfs_temperatures)

    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Every loss term for one batch, with gradients (``"loss"`` is the VAE's total).

        ``loss = reconstruction + regularizer + hfs_gamma * hfs``; ``kl_per_dim`` is the batch
        mean KL of each latent (D,), ``kl`` its sum. ``batch`` is a :class:`Batch` of kind
        ``"images"`` (or a bare image tensor).
        """
        x = self.check_batch(batch).images
        mu, logvar = self.encode(x)
        z = self.sample_latent(mu, logvar)
        recon = self.reconstruction_loss(self.decode(z), x)
        kl_per_dim = gaussian_kl(mu, logvar).mean(0)
        kl = kl_per_dim.sum()
        reg, extra = self.regularizer(mu, logvar, z, kl, step)
        return self.total_terms(recon, kl_per_dim, reg, mu, extra)

    def total_terms(self, recon: torch.Tensor, kl_per_dim: torch.Tensor, reg: torch.Tensor, mu: torch.Tensor,
                    extra: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The terms dict: ``loss = recon + reg (+ hfs_gamma * HFS(mu))``, plus ``kl`` and ``kl_per_dim``."""
        terms = {"reconstruction": recon, "kl": kl_per_dim.sum(), "regularizer": reg, **extra}
        loss = recon + reg
        if self.config.hfs_gamma > 0:
            terms["hfs"] = self.hfs(mu)
            loss = loss + self.config.hfs_gamma * terms["hfs"]
        terms["loss"] = loss
        terms["kl_per_dim"] = kl_per_dim
        return terms

    # -- Method interface -----------------------------------------------------------------------
    def configure_optimizers(self, total_steps: int) -> dict[str, torch.optim.Optimizer]:
        """``{"vae": Adam(encoder + decoder)}`` with the config's lr, betas and eps (no schedule)."""
        cfg = self.config
        return {"vae": torch.optim.Adam(self.vae_parameters(), lr=cfg.lr,
                                        betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)}
