"""Heads: small networks on top of a backbone's features (B, feature_dim).

- :class:`MLPHead`: ``[Linear -> BN -> ReLU] x (num_layers - 1) -> Linear [-> BN without affine]``,
  the projector/predictor shape of BYOL (Grill et al., NeurIPS 2020), SimSiam (Chen & He, CVPR
  2021) and Barlow Twins (Zbontar et al., ICML 2021); :class:`ProjectionHead` and
  :class:`PredictionHead` are the same module with BYOL's defaults (4096 hidden, 256 out).
- :class:`GaussianHead`: a backbone plus two Linear layers giving a diagonal Gaussian posterior
  ``(mu, logvar)`` (Kingma & Welling, ICLR 2014), the VAE encoder.

The self-supervised configurations of ``spec/methods_ssl_causal.md``:

=====================  =============================================================
BYOL projector          ``ProjectionHead(feature_dim)`` (feature_dim -> 4096 -> 256)
BYOL predictor          ``PredictionHead()`` (256 -> 4096 -> 256)
SimSiam projector       ``MLPHead(feature_dim, 2048, 2048, num_layers=3, last_batch_norm=True)``
SimSiam predictor       ``MLPHead(2048, 512, 2048)`` (the bottleneck)
Barlow Twins projector  ``MLPHead(feature_dim, 8192, 8192, num_layers=3)``
=====================  =============================================================
"""

from __future__ import annotations

import torch
from torch import nn

from disentkit.nn._layers import check_features
from disentkit.nn.init import GeneratorLike, glorot_init_, make_generator, torch_default_init_
from disentkit.validation import check_int


class MLPHead(nn.Module):
    """A multilayer perceptron head: ``(Linear -> BN -> ReLU) x (num_layers - 1) -> Linear``.

    ``h_0 = x``, ``h_i = relu(BN(W_i h_{i-1}))`` for ``i < num_layers``, output
    ``W_L h_{L-1} + b_L``; with ``last_batch_norm`` the output is ``BN(W_L h_{L-1})`` with a
    BatchNorm that has no affine parameters (SimSiam's projector). A Linear directly followed by a
    BatchNorm has no bias (the BN's mean subtraction would cancel it); with ``batch_norm=False``
    the hidden layers are ``relu(W_i h + b_i)``. ``num_layers=1`` is a single Linear
    ``in_dim -> out_dim`` (``hidden_dim`` unused). Weights and biases get PyTorch's default
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, drawn from ``rng``; BN scale 1, shift 0.

    Input (B, in_dim), output (B, out_dim). Layers are in ``self.net`` (an ``nn.Sequential``).

    >>> head = MLPHead(512, 2048, 2048, num_layers=3, last_batch_norm=True, rng=0)  # SimSiam projector
    >>> head(torch.rand(4, 512)).shape
    torch.Size([4, 2048])
    """

    def __init__(
        self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2,
        batch_norm: bool = True, last_batch_norm: bool = False, *, rng: GeneratorLike = 0,
    ) -> None:
        super().__init__()
        self.in_dim = check_int("in_dim", in_dim, 1)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, 1)
        self.out_dim = check_int("out_dim", out_dim, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        for name, flag in (("batch_norm", batch_norm), ("last_batch_norm", last_batch_norm)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        self.batch_norm = batch_norm
        self.last_batch_norm = last_batch_norm
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):
            prev = in_dim
            for _ in range(num_layers - 1):
                layers.append(nn.Linear(prev, hidden_dim, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm1d(hidden_dim))
                layers.append(nn.ReLU(inplace=True))
                prev = hidden_dim
            layers.append(nn.Linear(prev, out_dim, bias=not last_batch_norm))
            if last_batch_norm:
                layers.append(nn.BatchNorm1d(out_dim, affine=False))
            self.net = nn.Sequential(*layers)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: GeneratorLike = 0) -> None:
        """PyTorch-default Linear weights and biases drawn from ``rng``; BN reset to identity."""
        torch_default_init_(self, rng)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, in_dim) -> (B, out_dim)."""
        check_features(x, self.in_dim)
        return self.net(x)


class ProjectionHead(MLPHead):
    """BYOL's projector g: ``Linear(in_dim, 4096) -> BN -> ReLU -> Linear(4096, 256)`` by default.

    An :class:`MLPHead` with BYOL's defaults (Grill et al., NeurIPS 2020, §3.3); every size is a
    parameter.

    >>> proj = ProjectionHead(512, rng=0)
    >>> proj(torch.rand(4, 512)).shape
    torch.Size([4, 256])
    """

    def __init__(
        self, in_dim: int, hidden_dim: int = 4096, out_dim: int = 256, num_layers: int = 2,
        batch_norm: bool = True, last_batch_norm: bool = False, *, rng: GeneratorLike = 0,
    ) -> None:
        super().__init__(in_dim, hidden_dim, out_dim, num_layers, batch_norm, last_batch_norm, rng=rng)


class PredictionHead(MLPHead):
    """BYOL's predictor q: ``Linear(256, 4096) -> BN -> ReLU -> Linear(4096, 256)`` by default.

    The same shape as the projector, on the projection (Grill et al., NeurIPS 2020, §3.3).

    >>> pred = PredictionHead(rng=0)
    >>> pred(torch.rand(4, 256)).shape
    torch.Size([4, 256])
    """

    def __init__(
        self, in_dim: int = 256, hidden_dim: int = 4096, out_dim: int = 256, num_layers: int = 2,
        batch_norm: bool = True, last_batch_norm: bool = False, *, rng: GeneratorLike = 0,
    ) -> None:
        super().__init__(in_dim, hidden_dim, out_dim, num_layers, batch_norm, last_batch_norm, rng=rng)


class GaussianHead(nn.Module):
    """A diagonal Gaussian encoder: ``q(z|x) = N(mu(x), diag(exp(logvar(x))))`` on a backbone.

    ``h = backbone(x)`` (B, feature_dim), ``mu = W_mu h + b_mu``, ``logvar = W_lv h + b_lv``
    (the log-variance, not log sigma), each (B, latent_dim); the heads are Glorot-uniform with zero
    biases (TF's default, as disentanglement_lib), ``mean_head`` drawn before ``logvar_head`` from
    ``rng``. Construction initialises only the two heads (the backbone keeps the weights it was
    built with); :meth:`reset_parameters` re-draws the backbone and then the heads from one
    generator. ``backbone`` is any module with an int ``feature_dim`` (a
    :class:`~disentkit.nn.backbones.Backbone`).

    >>> from disentkit.nn.backbones import ResNet18
    >>> enc = GaussianHead(ResNet18(3, rng=0), latent_dim=10, rng=1)
    >>> mu, logvar = enc(torch.rand(2, 3, 64, 64))
    """

    def __init__(self, backbone: nn.Module, latent_dim: int, *, rng: GeneratorLike = 0) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise ValueError(f"backbone must be an nn.Module (a Backbone), got {type(backbone).__name__}")
        feature_dim = getattr(backbone, "feature_dim", None)
        check_int("backbone.feature_dim", feature_dim, 1)
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        self.backbone = backbone
        with torch.random.fork_rng(devices=[]):
            self.mean_head = nn.Linear(feature_dim, latent_dim)
            self.logvar_head = nn.Linear(feature_dim, latent_dim)
        self._init_heads(rng)

    @property
    def feature_dim(self) -> int:
        """The backbone's feature size."""
        return self.backbone.feature_dim

    def _init_heads(self, rng: GeneratorLike) -> None:
        gen = make_generator(rng)
        glorot_init_(self.mean_head, gen)
        glorot_init_(self.logvar_head, gen)

    def reset_parameters(self, rng: GeneratorLike = 0) -> None:
        """Re-draw the backbone (its own scheme) and then the two heads, from one generator."""
        gen = make_generator(rng)
        self.backbone.reset_parameters(gen)
        self._init_heads(gen)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images -> ``(mu, logvar)``, each (B, latent_dim)."""
        h = self.backbone(x)
        return self.mean_head(h), self.logvar_head(h)


__all__ = ["GaussianHead", "MLPHead", "PredictionHead", "ProjectionHead"]
