"""NashAE (Yeats, Liu, Womble, Li, ECCV 2022, "NashAE: Disentangling Representations through
Adversarial Covariance Minimization", arXiv 2209.10677; spec ``methods_vae.md`` §4).

A deterministic autoencoder with bounded codes ``z = sigmoid(E(x)) ∈ [0, 1]^m`` (the bound stops
the encoder from shrinking a latent to hide it) plays a game against an ensemble of m regressors:
``ρ_i`` sees ``z`` with element i zeroed (a one-cold mask) and predicts ``ẑ_i``. Each training step

1. encodes the batch (no gradients) and takes ``predictor_steps`` (5) Adam steps (lr 0.01) of the
   ensemble on ``L_ρ = ½ MSE(ρ(z), z)`` (mean over batch and latents);
2. takes one Adam step (lr 1e-3) of the encoder and decoder on
   ``L_AE = (1 − λ) ½ MSE(x̂, x) + λ Σ_i Cov_batch(sg(z_i), ẑ_i)``, ``ẑ = ρ(z)`` with the updated
   ensemble; the gradient reaches the encoder through the predictors, whose weights this step
   leaves unchanged. ``ρ_i ≈ E[z_i | z_{-i}]`` makes the covariance ``Var(E[z_i | z_{-i}])``: it is
   zero when no latent is predictable from the others.

λ = 0 is the plain autoencoder baseline. Latents the game switches off stay nearly constant;
:func:`disentkit.metrics.active_latents` counts the others (max − min over encodings > 0.2; the
``learned_features`` metric of :func:`disentkit.metrics.evaluate`), which the paper compares with
the true number of factors.

Reconstruction: the decoder returns logits and ``x̂ = sigmoid(logits)`` (images in [0, 1], like
the rest of disentkit); with ``input_mean``/``input_std`` given, the squared error is measured in
standardised units, ``½ mean(((x̂ − x) / std)²)``, which equals the reference's
``½ MSE(G(z), (x − mean) / std)`` for a decoder whose output is ``(x̂ − mean) / std``.
The default (no standardisation) is the reference's dSprites setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.data.batch import Batch
from disentkit.losses import AdversarialCovarianceLoss
from disentkit.methods.base import Capabilities, Method
from disentkit.methods.vae import check_observation_shape, loss_precision
from disentkit.metrics import active_latents
from disentkit.nn import ConvDecoder, FCDecoder, build_backbone, glorot_init_
from disentkit.nn.init import GeneratorLike, make_generator
from disentkit.validation import check_choice, check_int, check_number

ARCHITECTURES = ("conv", "fc", "mlp")

__all__ = ["NashAE", "NashAEConfig", "RegressionEnsemble", "active_latents"]


@dataclass(kw_only=True)
class NashAEConfig:
    """NashAE hyperparameters (defaults: the reference's dSprites notebook, spec §4.3).

    latent_dim: m, the number of bounded latents (10).
    architecture: ``"conv"`` (the reference 64x64 conv trunk + a dense code layer, the conv
        decoder), ``"fc"`` (disentanglement_lib's fc trunk and decoder, square images) or ``"mlp"``
        (the reference's Beamsynthesis network for inputs of any shape: flatten -> ``hidden_dims``
        -> m with SELU, and the mirror image back).
    hidden_dims: the ``"mlp"`` widths ((200, 80, 40): 1000 -> 200 -> 80 -> 40 -> m).
    adversarial_weight: λ in [0, 1] (0.2; 0 = plain autoencoder).
    lr, adam_beta1, adam_beta2, adam_eps: the autoencoder's Adam (1e-3, 0.9, 0.999, 1e-8).
    predictor_hidden: the ensemble's hidden width (40; each ρ_i is m -> 40 -> 40 -> 1, SELU).
    predictor_lr: the ensemble's Adam learning rate (0.01).
    predictor_steps: ensemble steps per training step (5).
    input_mean, input_std: per-channel standardisation of the reconstruction error (None: none).
    """

    latent_dim: int = 10
    architecture: str = "conv"
    hidden_dims: Sequence[int] = (200, 80, 40)
    adversarial_weight: float = 0.2
    lr: float = 1e-3
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    predictor_hidden: int = 40
    predictor_lr: float = 0.01
    predictor_steps: int = 5
    input_mean: Sequence[float] | None = None
    input_std: Sequence[float] | None = None

    def __post_init__(self) -> None:
        self.latent_dim = check_int("latent_dim", self.latent_dim, 2)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        if isinstance(self.hidden_dims, (str, bytes)) or not isinstance(self.hidden_dims, Sequence) \
                or len(self.hidden_dims) == 0:
            raise ValueError(f"hidden_dims must be a non-empty list of widths, got {self.hidden_dims!r}")
        self.hidden_dims = [check_int(f"hidden_dims[{i}]", w, 1) for i, w in enumerate(self.hidden_dims)]
        self.adversarial_weight = check_number("adversarial_weight", self.adversarial_weight, 0.0, 1.0)
        self.lr = check_number("lr", self.lr, 0.0, strict_min=True, finite=True)
        self.adam_beta1 = check_number("adam_beta1", self.adam_beta1, 0.0, 1.0, strict_max=True)
        self.adam_beta2 = check_number("adam_beta2", self.adam_beta2, 0.0, 1.0, strict_max=True)
        self.adam_eps = check_number("adam_eps", self.adam_eps, 0.0, strict_min=True, finite=True)
        self.predictor_hidden = check_int("predictor_hidden", self.predictor_hidden, 1)
        self.predictor_lr = check_number("predictor_lr", self.predictor_lr, 0.0, strict_min=True, finite=True)
        self.predictor_steps = check_int("predictor_steps", self.predictor_steps, 1)
        self.input_mean = _channel_values("input_mean", self.input_mean)
        self.input_std = _channel_values("input_std", self.input_std, positive=True)


def _channel_values(name: str, values: Any, positive: bool = False) -> list[float] | None:
    """``None`` or a non-empty list of finite floats (> 0 when ``positive``), one per channel."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(f"{name} must be None or a list of per-channel numbers, got {values!r}")
    return [check_number(f"{name}[{i}]", v, 0.0 if positive else None, strict_min=positive, finite=True)
            for i, v in enumerate(values)]


def _selu_mlp(widths: Sequence[int], *, flatten: bool = False,
              unflatten: tuple[int, int, int] | None = None) -> nn.Sequential:
    """Dense layers ``widths[0] -> ... -> widths[-1]`` with SELU between them (after the last too
    when it feeds a code layer, i.e. with ``flatten``); built without drawing from the global RNG
    (the caller initialises it)."""
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    with torch.random.fork_rng(devices=[]):
        for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if flatten or k < len(widths) - 2:
                layers.append(nn.SELU())
    if unflatten is not None:
        layers.append(nn.Unflatten(1, unflatten))
    return nn.Sequential(*layers)


class RegressionEnsemble(nn.Module):
    """m regressors, ``ẑ_i = ρ_i(z ⊙ (1 − e_i))``: each an MLP m -> h -> h -> 1 with SELU.

    The m networks are stored stacked (``w1`` (m, m, h), ``w2`` (m, h, h), ``w3`` (m, h) and their
    biases) and evaluated together with batched matrix products. Weights are Kaiming-normal for a
    linear layer, ``N(0, 1 / fan_in)``, drawn from ``rng``; biases are zero.

    >>> ens = RegressionEnsemble(4, hidden=8, rng=0)
    >>> ens(torch.rand(16, 4)).shape
    torch.Size([16, 4])
    """

    def __init__(self, num_latents: int, hidden: int = 40, *, rng: GeneratorLike = 0) -> None:
        super().__init__()
        m = check_int("num_latents", num_latents, 2)
        h = check_int("hidden", hidden, 1)
        gen = make_generator(rng)

        def normal(*shape: int) -> nn.Parameter:
            fan_in = shape[-2]
            return nn.Parameter(torch.randn(*shape, generator=gen) / math.sqrt(fan_in))

        self.w1 = normal(m, m, h)
        self.b1 = nn.Parameter(torch.zeros(m, 1, h))
        self.w2 = normal(m, h, h)
        self.b2 = nn.Parameter(torch.zeros(m, 1, h))
        self.w3 = normal(m, h, 1)
        self.b3 = nn.Parameter(torch.zeros(m, 1, 1))
        self.register_buffer("one_cold", 1.0 - torch.eye(m).unsqueeze(1), persistent=False)  # (m, 1, m)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, m) -> predictions (B, m), column i from ``z`` with column i zeroed."""
        x = z.unsqueeze(0) * self.one_cold  # (m, B, m): copy i without latent i
        h = F.selu(torch.baddbmm(self.b1, x, self.w1))
        h = F.selu(torch.baddbmm(self.b2, h, self.w2))
        return torch.baddbmm(self.b3, h, self.w3).squeeze(-1).T


class NashAE(Method):
    """The NashAE autoencoder and its regression ensemble (see the module docstring).

    Optimisers: ``"autoencoder"`` (encoder, code layer, decoder) and ``"predictors"`` (the
    ensemble). Terms: ``loss`` (L_AE), ``reconstruction``, ``covariance`` (Σ_i Cov) and
    ``predictor_loss`` (L_ρ of the updated ensemble on this batch).
    """

    name: ClassVar[str] = "nashae"
    config_class: ClassVar[type] = NashAEConfig
    capabilities: ClassVar[Capabilities] = Capabilities(decoder=True)

    def __init__(self, observation_shape: tuple[int, int, int], config: NashAEConfig | None = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        cfg = self.config
        c, h, w = self.observation_shape
        m = cfg.latent_dim
        for name in ("input_mean", "input_std"):
            values = getattr(cfg, name)
            if values is not None and len(values) != c:
                raise ValueError(f"{name} has {len(values)} values for {c}-channel images")
        if cfg.architecture == "mlp":
            self.backbone, feature_dim = _selu_mlp((c * h * w, *cfg.hidden_dims), flatten=True), cfg.hidden_dims[-1]
        else:
            check_observation_shape(self.observation_shape, cfg.architecture)
            extra = {"image_size": h} if cfg.architecture == "fc" else {}
            self.backbone = build_backbone(cfg.architecture, c, rng=self.generator, **extra)
            feature_dim = self.backbone.feature_dim
        with torch.random.fork_rng(devices=[]):
            self.code_layer = nn.Linear(feature_dim, m)
        glorot_init_(self.code_layer, self.generator)
        if cfg.architecture == "mlp":
            glorot_init_(self.backbone, self.generator)
            self.decoder = _selu_mlp((m, *reversed(cfg.hidden_dims), c * h * w), unflatten=(c, h, w))
            glorot_init_(self.decoder, self.generator)
        elif cfg.architecture == "conv":
            self.decoder = ConvDecoder(m, c, rng=self.generator)
        else:
            self.decoder = FCDecoder(m, c, h, rng=self.generator)
        self.predictors = RegressionEnsemble(m, cfg.predictor_hidden, rng=self.generator)
        self.covariance = AdversarialCovarianceLoss()
        mean = torch.tensor(cfg.input_mean or [0.0] * c).view(1, c, 1, 1)
        std = torch.tensor(cfg.input_std or [1.0] * c).view(1, c, 1, 1)
        self.register_buffer("input_mean", mean, persistent=False)
        self.register_buffer("input_std", std, persistent=False)

    # -- networks -------------------------------------------------------------------------------
    @property
    def code_size(self) -> int:
        """m, the number of latents."""
        return self.config.latent_dim

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        """The encoder's, code layer's and decoder's parameters (the ``"autoencoder"`` optimiser's)."""
        return [*self.backbone.parameters(), *self.code_layer.parameters(), *self.decoder.parameters()]

    def code(self, images: torch.Tensor) -> torch.Tensor:
        """``sigmoid(E(x))``: images (B, C, H, W) -> codes (B, m) in [0, 1] (with gradients)."""
        return torch.sigmoid(loss_precision(self.code_layer(self.backbone(images))))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, m) -> logits (B, C, H, W) (``sigmoid`` gives images)."""
        return loss_precision(self.decoder(z))

    @torch.no_grad()
    def represent(self, images: torch.Tensor) -> torch.Tensor:
        """The bounded code of each image, (B, C, H, W) -> (B, m)."""
        return self.code(images)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """``sigmoid(decode(code(x)))``, images in [0, 1]."""
        return torch.sigmoid(self.decode(self.code(images)))

    # -- losses ---------------------------------------------------------------------------------
    def reconstruction_loss(self, logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """``½ mean(((sigmoid(logits) − x) / std)²)`` over batch, channels and pixels."""
        return 0.5 * ((torch.sigmoid(logits) - images) / self.input_std).pow(2).mean()

    def predictor_loss(self, z: torch.Tensor) -> torch.Tensor:
        """``L_ρ = ½ MSE(ρ(z), z)`` on codes ``z`` (B, m) (pass detached codes to train the ensemble)."""
        return 0.5 * F.mse_loss(self.predictors(z), z)

    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """The autoencoder's terms: ``loss = (1 − λ) reconstruction + λ covariance``."""
        images = self.check_batch(batch).views[0]
        lam = self.config.adversarial_weight
        z = self.code(images)
        recon = self.reconstruction_loss(self.decode(z), images)
        z_hat = self.predictors(z)
        cov = self.covariance(z, z_hat)
        return {"loss": (1.0 - lam) * recon + lam * cov, "reconstruction": recon, "covariance": cov,
                "predictor_loss": 0.5 * F.mse_loss(z_hat.detach(), z.detach())}

    # -- training -------------------------------------------------------------------------------
    def fit_predictors(self, images: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``predictor_steps`` Adam steps of the ensemble on ``L_ρ`` of the current (detached) codes."""
        with torch.no_grad():
            z = self.code(images)
        for _ in range(self.config.predictor_steps):
            optimizer.zero_grad(set_to_none=True)
            self.predictor_loss(z).backward()
            optimizer.step()

    def gradient_routes(self) -> tuple[tuple[str, list[nn.Parameter] | None], ...]:
        """``loss`` trains the autoencoder only; the ensemble is trained by :meth:`fit_predictors`."""
        return (("loss", self.autoencoder_parameters()),)

    def train_step(self, batch: Batch, step: int,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        """The ensemble's steps (:meth:`fit_predictors`), then the autoencoder's step (the base's
        ``train_step`` on ``"autoencoder"``)."""
        images = self.check_batch(batch).views[0]
        self.fit_predictors(images, optimizers["predictors"])
        return super().train_step(batch, step, {"autoencoder": optimizers["autoencoder"]})

    def configure_optimizers(self, total_steps: int) -> dict[str, torch.optim.Optimizer]:
        """``{"autoencoder": Adam(lr, betas, eps), "predictors": Adam(predictor_lr)}`` (no schedule)."""
        cfg = self.config
        return {
            "autoencoder": torch.optim.Adam(self.autoencoder_parameters(), lr=cfg.lr,
                                            betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps),
            "predictors": torch.optim.Adam(self.predictors.parameters(), lr=cfg.predictor_lr),
        }
