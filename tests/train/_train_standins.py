"""Stand-ins for the trainer tests: a tiny VAE method (with a NaN switch) and a registry with it."""

from __future__ import annotations

import types
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.methods.base import Capabilities, Method
from disentkit.validation import check_int

TINY = "tiny_vae"


@dataclass(kw_only=True)
class TinyConfig:
    latent_dim: int = 3
    lr: float = 1e-2
    nan_at: int = -1  # the step whose loss is made NaN (-1: never)

    def __post_init__(self) -> None:
        self.latent_dim = check_int("latent_dim", self.latent_dim, 1)


class TinyVAE(Method):
    """A linear Gaussian VAE; its noise comes from torch's global generator (so resume must restore it)."""

    name = TINY
    config_class = TinyConfig
    capabilities = Capabilities(decoder=True, gaussian_posterior=True)

    def __init__(self, observation_shape: tuple[int, int, int], **params: object) -> None:
        super().__init__(observation_shape, TinyConfig(**params), seed=0)
        self.shape = tuple(observation_shape)
        n, d = self.shape[0] * self.shape[1] * self.shape[2], self.config.latent_dim
        self.latent_dim = d
        self.enc = nn.Linear(n, 2 * d)
        self.dec = nn.Linear(d, n)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z).view(-1, *self.shape)

    @torch.no_grad()
    def represent(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode(images)[0]

    @property
    def code_size(self) -> int:
        return self.latent_dim

    def configure_optimizers(self, total_steps: int) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def forward(self, batch, step):
        batch = self.check_batch(batch).images
        mu, logvar = self.encode(batch)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = F.binary_cross_entropy_with_logits(self.decode(z), batch, reduction="sum") / batch.shape[0]
        kl_per_dim = 0.5 * (mu**2 + logvar.exp() - logvar - 1).mean(0)
        loss = recon + kl_per_dim.sum()
        if step == self.config.nan_at:
            loss = loss * float("nan")
        return {"loss": loss, "reconstruction": recon, "kl": kl_per_dim.sum(), "kl_per_dim": kl_per_dim}


def registry_with_tiny(real: types.ModuleType) -> types.SimpleNamespace:
    """A method registry (``names``, ``get``, ``config_for``): ``real``'s methods and ``tiny_vae``."""

    def names() -> list[str]:
        return [*real.names(), TINY]

    def get(name: str, observation_shape, *, seed=None, **params):
        if name == TINY:  # initialised from torch's global generator, which the trainer seeds
            return TinyVAE(observation_shape, **params)
        return real.get(name, observation_shape, seed=seed, **params)

    def config_for(name: str, params: dict):
        if name != TINY:
            return real.config_for(name, params)
        valid = [f.name for f in fields(TinyConfig)]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for method {TINY!r}; valid parameters: {valid}")
        return TinyConfig(**params)

    def method_class(name: str):
        return TinyVAE if name == TINY else real.method_class(name)

    return types.SimpleNamespace(names=names, get=get, config_for=config_for, method_class=method_class)


TINY_DATA = {"dataset": "dummy", "dataset_params": {"num_factors": 3, "size": 4, "image_size": 8}}


def crash_tiny_at(monkeypatch, crash_step: int):
    """Make ``TinyVAE.train_step`` raise KeyboardInterrupt at ``crash_step``; returns the undo."""
    real_step = TinyVAE.train_step

    def crashing(self, batch, step, optimizers):
        if step == crash_step:
            raise KeyboardInterrupt
        return real_step(self, batch, step, optimizers)

    monkeypatch.setattr(TinyVAE, "train_step", crashing)
    return lambda: monkeypatch.setattr(TinyVAE, "train_step", real_step)
