"""Deep InfoMax (Hjelm et al., ICLR 2019; ``methods_ssl_causal.md`` §4).

An encoder maps an image x to a local feature map C(x) (M x M locations: the backbone's
``feature_map``, 64 x 4 x 4 for the conv trunk, 512 x 8 x 8 for the ResNet-18) and a global vector
Y = W f(x) + b (a linear head on the backbone feature f(x), 64-D). DIM maximises

    α Î(X; Y) + (β / M²) sum_l Î(C^(l)(X); Y)  -  γ (adversarial prior matching of Y)

- **local** (β): critic scores ``u[i, j, l] = <φ_L(C(x_j))_l, φ_G(Y_i)>`` (the encode-and-dot
  critic), both embeddings ``mi_units`` wide (2048), and an MI estimator on them
  (:func:`~disentkit.losses.local_global_scores`, :func:`~disentkit.losses.infomax_loss`:
  ``"jsd"``, default, ``"gan"``, ``"dv"``, ``"infonce"``); positives are an image's own locations;
- **global** (α): the same estimator on ``u[i, j] = <ψ_C(flatten C(x_j)), ψ_G(Y_i)>`` (one
  "location": the whole map);
- **prior** (γ): a discriminator D (MLP 1000-200, ReLU) tells prior samples (U[0, 1]^64 by
  default) from sigmoid(Y); it trains on the detached codes with its own optimiser, and the encoder
  gets the non-saturating loss ``γ · mean softplus(-D(sigmoid(Y)))``
  (:class:`~disentkit.losses.PriorMatchingLoss`, prior samples drawn from ``self.generator``).

Defaults are DIM(L): α = 0, β = 1, γ = 0.1 (DIM(G) is α = 1, β = 0, γ = 1); a critic whose weight is
0 is not built. Each critic embedding φ is a 1x1-conv block ``conv -> BN -> ReLU -> conv`` plus a
linear shortcut (initialised near the identity on the input channels), then LayerNorm over channels
(:class:`MIEmbedding`); a vector is embedded as a 1 x 1 map. Adam lr 1e-4 for the encoder and
critics (``"dim"``) and the discriminator (``"discriminator"``), as the official code.

DIM trains on single images (the ``uniform`` sampler) and represents an image by the backbone
feature f(x) (``representation="global"``: Y).

>>> model = DeepInfoMax((3, 64, 64), DIMConfig(mi_units=64), seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from disentkit.losses import (
    INFOMAX_ESTIMATORS,
    INFOMAX_PRIORS,
    PriorMatchingLoss,
    infomax_loss,
    local_global_scores,
)
from disentkit.methods.base import Batch, Capabilities, Method
from disentkit.validation import check_choice, check_int, check_number
from disentkit.methods.ssl import build_image_backbone
from disentkit.nn import torch_default_init_

DIM_BACKBONES = ("conv", "resnet18")  # the backbones with a spatial feature map
DIM_REPRESENTATIONS = ("backbone", "global")


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


@dataclass(kw_only=True)
class DIMConfig:
    """Deep InfoMax's hyperparameters.

    backbone: ``"conv"`` (64 x 4 x 4 local map, 256-D feature) or ``"resnet18"`` (8w x 8 x 8).
    backbone_width: the ResNet-18's first-stage width w (64).
    global_dim: the width of Y (64).
    mi_units: the critics' embedding width (2048).
    estimator: ``"jsd"`` (default), ``"gan"``, ``"dv"`` or ``"infonce"``.
    alpha, beta, gamma: the global, local and prior weights (DIM(L): 0, 1, 0.1).
    prior: ``"uniform"`` (sigmoid(Y) vs U[0, 1]^D) or ``"gaussian"`` (Y vs N(0, I)).
    disc_hidden: the prior discriminator's hidden widths ((1000, 200)).
    lr, disc_lr: Adam learning rates of the encoder + critics and of the discriminator (1e-4).
    reference_masking: the official InfoNCE masking (self pairs set to -10; ``"infonce"`` only).
    representation: ``"backbone"`` (f(x), default) or ``"global"`` (Y).
    """

    backbone: str = "conv"
    backbone_width: int = 64
    global_dim: int = 64
    mi_units: int = 2048
    estimator: str = "jsd"
    alpha: float = 0.0
    beta: float = 1.0
    gamma: float = 0.1
    prior: str = "uniform"
    disc_hidden: Any = (1000, 200)
    lr: float = 1e-4
    disc_lr: float = 1e-4
    reference_masking: bool = False
    representation: str = "backbone"

    def __post_init__(self) -> None:
        check_choice("backbone", self.backbone, DIM_BACKBONES)
        self.backbone_width = check_int("backbone_width", self.backbone_width, 1)
        self.global_dim = check_int("global_dim", self.global_dim, 1)
        self.mi_units = check_int("mi_units", self.mi_units, 1)
        check_choice("estimator", self.estimator, INFOMAX_ESTIMATORS)
        self.alpha = check_number("alpha", self.alpha, 0.0)
        self.beta = check_number("beta", self.beta, 0.0)
        self.gamma = check_number("gamma", self.gamma, 0.0)
        if self.alpha == 0.0 and self.beta == 0.0:
            raise ValueError("alpha (global) and beta (local) must not both be 0: DIM needs an MI term")
        check_choice("prior", self.prior, INFOMAX_PRIORS)
        hidden = self.disc_hidden
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (list, tuple)) or not hidden:
            raise ValueError(f"disc_hidden must be a non-empty list of layer widths >= 1, got {hidden!r}")
        self.disc_hidden = [check_int("disc_hidden entry", h, 1) for h in hidden]  # a list: JSON round-trips it
        self.lr = check_number("lr", self.lr, 0.0, strict_min=True)
        self.disc_lr = check_number("disc_lr", self.disc_lr, 0.0, strict_min=True)
        _check_bool("reference_masking", self.reference_masking)
        check_choice("representation", self.representation, DIM_REPRESENTATIONS)


class MIEmbedding(nn.Module):
    """A critic embedding φ of DIM: ``LayerNorm_C( conv2(relu(BN(conv1(x)))) + S x )``, 1x1 convolutions.

    Input (B, in_channels, H, W) -> (B, units, H, W); a (B, in_channels) vector is a 1 x 1 map and
    comes back as (B, units). The shortcut S (no bias) starts near the identity: weights
    U(-0.01, 0.01) with 1 on the diagonal of the first ``min(in_channels, units)`` channels, so the
    embedding starts near a copy of its input (DIM's critic networks). Weights are drawn from ``rng`` (PyTorch's default
    Linear/Conv bounds for the block).
    """

    def __init__(self, in_channels: int, units: int, *, rng: torch.Generator) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            self.block = nn.Sequential(nn.Conv2d(in_channels, units, 1, bias=False), nn.BatchNorm2d(units),
                                       nn.ReLU(inplace=True), nn.Conv2d(units, units, 1))
            self.shortcut = nn.Conv2d(in_channels, units, 1, bias=False)
            self.norm = nn.LayerNorm(units)
        torch_default_init_(self.block, rng)
        with torch.no_grad():
            weight = torch.rand(units, in_channels, generator=rng) * 0.02 - 0.01
            n = min(in_channels, units)
            weight[torch.arange(n), torch.arange(n)] = 1.0
            self.shortcut.weight.copy_(weight[:, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, units, H, W), or (B, C) -> (B, units)."""
        vector = x.dim() == 2
        if vector:
            x = x[:, :, None, None]
        h = self.block(x) + self.shortcut(x)
        h = self.norm(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return h[:, :, 0, 0] if vector else h


class DeepInfoMax(Method):
    """Deep InfoMax (see the module docstring): encoder, local/global critics, prior discriminator.

    Attributes: ``backbone``, ``global_head`` (f -> Y), ``local_critic`` / ``local_global`` (φ_L,
    φ_G; when β > 0), ``global_critic`` / ``global_global`` (ψ_C on the flattened map, ψ_G; when
    α > 0), ``discriminator``.
    """

    name: ClassVar[str] = "dim"
    config_class: ClassVar[type] = DIMConfig
    batch_kind: ClassVar[str] = "images"
    num_views: ClassVar[int] = 1
    default_sampler: ClassVar[str] = "uniform"
    capabilities: ClassVar[Capabilities] = Capabilities(decoder=False, gaussian_posterior=False)

    def __init__(self, observation_shape: tuple[int, int, int], config: DIMConfig | None = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        cfg = self.config
        gen = self.generator
        self.backbone = build_image_backbone(cfg.backbone, self.observation_shape, width=cfg.backbone_width, rng=gen)
        local_channels = self.backbone.feature_map_channels
        with torch.random.fork_rng(devices=[]):
            self.global_head = nn.Linear(self.backbone.feature_dim, cfg.global_dim)
        torch_default_init_(self.global_head, gen)
        if cfg.beta > 0:
            self.local_critic = MIEmbedding(local_channels, cfg.mi_units, rng=gen)
            self.local_global = MIEmbedding(cfg.global_dim, cfg.mi_units, rng=gen)
        if cfg.alpha > 0:
            side = -(-self.observation_shape[1] // 8) if cfg.backbone == "resnet18" else 4
            self.global_critic = MIEmbedding(local_channels * side * side, cfg.mi_units, rng=gen)
            self.global_global = MIEmbedding(cfg.global_dim, cfg.mi_units, rng=gen)
        layers: list[nn.Module] = []
        prev = cfg.global_dim
        with torch.random.fork_rng(devices=[]):
            for width in cfg.disc_hidden:
                layers += [nn.Linear(prev, width), nn.ReLU(inplace=True)]
                prev = width
            layers.append(nn.Linear(prev, 1))
        self.discriminator = nn.Sequential(*layers)
        torch_default_init_(self.discriminator, gen)
        self.prior_loss = PriorMatchingLoss(cfg.prior)

    @property
    def code_size(self) -> int:
        """The width of :meth:`represent`: the backbone's ``feature_dim`` (or ``global_dim``)."""
        return self.backbone.feature_dim if self.config.representation == "backbone" else self.config.global_dim

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(f(x), C(x), Y)``: the feature (B, feature_dim), the local map (B, C', M, M), Y (B, global_dim)."""
        feature, fmap = self.backbone.features_and_map(images)
        return feature, fmap, self.global_head(feature)

    @torch.no_grad()
    def represent(self, images: torch.Tensor) -> torch.Tensor:
        """f(x) (B, feature_dim), or Y with ``representation="global"``; float32."""
        feature = self.backbone(self.check_images(images))
        out = feature if self.config.representation == "backbone" else self.global_head(feature)
        return out.float()

    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """``loss = α global + β local + γ prior_generator`` (encoder and critics) and
        ``discriminator_loss`` (D only, on detached codes); each MI term is reported too."""
        cfg = self.config
        images = self.check_batch(batch).images
        if images.shape[0] < 2:
            raise ValueError(f"dim needs batches of at least 2 images (the negatives), got {images.shape[0]}")
        _, fmap, y = self.encode(images)
        fmap, y = fmap.float(), y.float()
        terms: dict[str, torch.Tensor] = {}
        loss = y.new_zeros(())
        if cfg.beta > 0:
            scores = local_global_scores(self.local_critic(fmap), self.local_global(y))
            terms["local"] = infomax_loss(scores, cfg.estimator, cfg.reference_masking)
            loss = loss + cfg.beta * terms["local"]
        if cfg.alpha > 0:
            flat = fmap.permute(0, 2, 3, 1).reshape(fmap.shape[0], -1)
            scores = local_global_scores(self.global_critic(flat)[:, None, :], self.global_global(y))
            terms["global"] = infomax_loss(scores, cfg.estimator, cfg.reference_masking)
            loss = loss + cfg.alpha * terms["global"]
        terms["prior_generator"] = self.prior_loss.generator_loss(self.discriminator, y)
        if cfg.gamma > 0:
            loss = loss + cfg.gamma * terms["prior_generator"]
        terms["discriminator_loss"] = self.prior_loss.discriminator_loss(self.discriminator, y, self.generator)
        return {"loss": loss, **terms}

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The encoder's and the critics' parameters (everything but the discriminator)."""
        disc = {id(p) for p in self.discriminator.parameters()}
        return [p for p in self.parameters() if id(p) not in disc]

    def configure_optimizers(self, total_steps: int) -> dict[str, torch.optim.Optimizer]:
        """``{"dim": Adam(encoder + critics, lr), "discriminator": Adam(D, disc_lr)}``."""
        check_int("total_steps", total_steps, 1)
        return {"dim": torch.optim.Adam(self.encoder_parameters(), lr=self.config.lr),
                "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.disc_lr)}

    def gradient_routes(self) -> tuple[tuple[str, list[nn.Parameter]], ...]:
        """``loss`` -> encoder + critics only, ``discriminator_loss`` -> D only (the generator
        term also reaches D's weights)."""
        return (("loss", self.encoder_parameters()),
                ("discriminator_loss", list(self.discriminator.parameters())))
