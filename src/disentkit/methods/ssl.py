"""``SelfSupervisedMethod``: the shared body of the self-supervised family (BYOL, SimSiam, ...).

A self-supervised method trains on ``"views"`` batches (two augmented views of each image, from
the ``views`` sampler and :mod:`disentkit.data.augment`), has neither a decoder nor a Gaussian
posterior, and represents an image by its **backbone feature** ``f(x)`` (256-D for the conv trunk,
512-D for the ResNet-18), or by the projection ``g(f(x))`` with ``representation="projector"``.

It is assembled from the shared parts: a backbone (:func:`disentkit.nn.build_backbone`), a
projection head (:class:`disentkit.nn.MLPHead`) and, per method, a predictor, a momentum target
(:mod:`disentkit.methods.momentum`) and a loss module from :mod:`disentkit.losses`. A subclass adds
only its heads and :meth:`SelfSupervisedMethod.view_terms`.

Optimisation: one optimiser ``"ssl"`` over every trainable parameter (weight decay on weights,
none on biases and BatchNorm parameters, as the LARS recipes of BYOL and Barlow Twins exclude
them), with a linear warm-up over ``warmup_fraction`` of the run and a cosine decay to 0
(:mod:`disentkit.methods.schedules`). The papers train with LARS or SGD at batch 256-4096 on
ImageNet; disentkit's default is Adam (lr 1e-3), which trains these methods stably at the small
batches of a CPU (``optimizer="sgd"`` gives SGD with momentum ``sgd_momentum``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from disentkit.methods.base import Batch, Capabilities, Method
from disentkit.validation import check_choice, check_int, check_number
from disentkit.methods.schedules import warmup_cosine_scheduler
from disentkit.nn import BACKBONES, Backbone, MLPHead, build_backbone
from disentkit.nn.architectures import IMAGE_SIZE

OPTIMIZERS = ("adam", "sgd")
REPRESENTATIONS = ("backbone", "projector")
_FUSED_DEVICES = ("cpu", "cuda")


@dataclass(kw_only=True)
class SSLConfig:
    """Hyperparameters shared by the self-supervised methods.

    Fields
    ------
    backbone: ``"conv"`` (the reference 64x64 conv trunk, 256-D), ``"fc"`` (1200-D MLP) or
        ``"resnet18"`` (64x64 ResNet-18, 8 x ``backbone_width``-D).
    backbone_width: the ResNet-18's first-stage width (64 gives a 512-D feature).
    projector_hidden, projector_out, projector_layers: the projection MLP
        ``(Linear -> BN -> ReLU) x (layers - 1) -> Linear``; ``projector_last_batch_norm`` adds an
        affine-free BN on the output (SimSiam).
    optimizer, lr, weight_decay, sgd_momentum: ``"adam"`` or ``"sgd"``; weight decay skips biases
        and BN parameters.
    warmup_fraction: the share of the run with a linear learning-rate warm-up, before the cosine.
    representation: ``"backbone"`` (the feature f(x), the default) or ``"projector"`` (g(f(x))).
    """

    backbone: str = "conv"
    backbone_width: int = 64
    projector_hidden: int = 4096
    projector_out: int = 256
    projector_layers: int = 2
    projector_last_batch_norm: bool = False
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 1e-6
    sgd_momentum: float = 0.9
    warmup_fraction: float = 0.1
    representation: str = "backbone"

    def __post_init__(self) -> None:
        check_choice("backbone", self.backbone, tuple(BACKBONES))
        self.backbone_width = check_int("backbone_width", self.backbone_width, 1)
        self.projector_hidden = check_int("projector_hidden", self.projector_hidden, 1)
        self.projector_out = check_int("projector_out", self.projector_out, 1)
        self.projector_layers = check_int("projector_layers", self.projector_layers, 1)
        if not isinstance(self.projector_last_batch_norm, bool):
            raise ValueError(f"projector_last_batch_norm must be true or false, got {self.projector_last_batch_norm!r}")
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        self.lr = check_number("lr", self.lr, 0.0, strict_min=True)
        self.weight_decay = check_number("weight_decay", self.weight_decay, 0.0)
        self.sgd_momentum = check_number("sgd_momentum", self.sgd_momentum, 0.0, 1.0, strict_max=True)
        self.warmup_fraction = check_number("warmup_fraction", self.warmup_fraction, 0.0, 1.0)
        check_choice("representation", self.representation, REPRESENTATIONS)


def build_image_backbone(name: str, observation_shape: tuple[int, int, int], in_channels: int | None = None,
                         *, width: int = 64, rng: torch.Generator) -> Backbone:
    """The backbone ``name`` for images of ``observation_shape`` (C, H, W), taking ``in_channels``
    (default C): ``ValueError`` when the shape does not suit it (the conv trunk needs 64x64, the fc
    trunk square images). ``width`` is the ResNet-18's first-stage width."""
    c, h, w = observation_shape
    if name == "conv" and (h, w) != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"the 'conv' backbone needs ({c}, 64, 64) images, got observation_shape {observation_shape}")
    if name == "fc" and h != w:
        raise ValueError(f"the 'fc' backbone needs square images, got observation_shape {observation_shape}")
    params: dict[str, Any] = {"resnet18": {"width": width}, "fc": {"image_size": h}}.get(name, {})
    return build_backbone(name, c if in_channels is None else in_channels, rng=rng, **params)


def fused_supported(params: list[nn.Parameter]) -> bool:
    """Whether ``torch.optim.Adam``/``SGD(fused=True)`` can take ``params``: every one a floating
    tensor on a CPU or CUDA device (the devices with fused kernels that disentkit trains on)."""
    return bool(params) and all(p.is_floating_point() and p.device.type in _FUSED_DEVICES for p in params)


class SelfSupervisedMethod(Method):
    """Base of the self-supervised methods: a backbone, a projector and a loss on two views.

    Subclasses set ``name`` and ``config_class`` (a subclass of :class:`SSLConfig`), build their
    extra heads after ``super().__init__`` (drawing from ``self.generator``) and implement
    :meth:`view_terms`; :meth:`build_encoders` builds the backbone and projector. :meth:`after_step`
    is where a momentum method updates its target; the run's length is ``self.total_steps`` once
    :meth:`configure_optimizers` has been called.
    """

    config_class: ClassVar[type] = SSLConfig
    batch_kind: ClassVar[str] = "views"
    num_views: ClassVar[int] = 2
    default_sampler: ClassVar[str] = "views"
    capabilities: ClassVar[Capabilities] = Capabilities(decoder=False, gaussian_posterior=False)
    schedules_depend_on_steps: ClassVar[bool] = True

    def __init__(self, observation_shape: tuple[int, int, int], config: Any = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        self.total_steps: int | None = None
        self.build_encoders()

    def build_encoders(self) -> None:
        """Build the encoder networks from ``self.generator``: one backbone ``self.backbone`` (for
        ``observation_shape``) and its projection head ``self.projector``.

        Called once by ``__init__``, before a subclass's own heads; a method with several
        encoders (CMC: one per view) overrides it to build them instead (with
        :meth:`code_size`, :meth:`project` and :meth:`represent` to match).
        """
        cfg = self.config
        self.backbone = build_image_backbone(cfg.backbone, self.observation_shape, width=cfg.backbone_width,
                                             rng=self.generator)
        self.projector = MLPHead(self.backbone.feature_dim, cfg.projector_hidden, cfg.projector_out,
                                 cfg.projector_layers, last_batch_norm=cfg.projector_last_batch_norm,
                                 rng=self.generator)

    @property
    def code_size(self) -> int:
        """The width of :meth:`represent`: the backbone's feature_dim, or ``projector_out``."""
        return self.backbone.feature_dim if self.config.representation == "backbone" else self.config.projector_out

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """``g(f(images))``: the projection (B, projector_out), with gradients."""
        return self.projector(self.backbone(images))

    @torch.no_grad()
    def represent(self, images: torch.Tensor) -> torch.Tensor:
        """The code of each image: ``f(x)`` (or ``g(f(x))`` with ``representation="projector"``), float32."""
        features = self.backbone(images)
        if self.config.representation == "projector":
            features = self.projector(features)
        return features.float()

    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """The loss terms of a two-view batch (see :meth:`view_terms`)."""
        first, second = self.check_batch(batch).views
        return self.view_terms(first, second, step)

    def view_terms(self, first: torch.Tensor, second: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Every loss term for views ``first`` and ``second`` (B, C, H, W): ``"loss"`` (the total)
        and ``"embedding_std"`` (:meth:`embedding_std` of the first view's projection)."""
        raise NotImplementedError

    @staticmethod
    def embedding_std(z: torch.Tensor) -> torch.Tensor:
        """The collapse monitor of SimSiam (Chen & He 2021, §4.1): the mean over dimensions of the
        batch std of the l2-normalised embedding, ``1/sqrt(D)`` for spread-out embeddings, 0 when
        collapsed (detached)."""
        z = nn.functional.normalize(z.detach().float(), dim=1)
        return z.std(0).mean()

    # -- optimisation -----------------------------------------------------------------------------
    def trainable_parameters(self) -> list[nn.Parameter]:
        """Every parameter that requires a gradient (a momentum target's do not)."""
        return [p for p in self.parameters() if p.requires_grad]

    def configure_optimizers(self, total_steps: int) -> dict[str, torch.optim.Optimizer]:
        """``{"ssl": Adam | SGD}`` over :meth:`trainable_parameters`; records ``total_steps``.

        The optimiser uses PyTorch's fused kernel (one pass over every parameter, the same update
        rule) when :func:`fused_supported` allows it, the per-parameter loop otherwise."""
        self.total_steps = check_int("total_steps", total_steps, 1)
        cfg = self.config
        params = self.trainable_parameters()
        groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
                  {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
        fused = fused_supported(params)
        if cfg.optimizer == "sgd":
            return {"ssl": torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.sgd_momentum, fused=fused)}
        return {"ssl": torch.optim.Adam(groups, lr=cfg.lr, fused=fused)}

    def configure_schedulers(self, optimizers: dict[str, torch.optim.Optimizer],
                             total_steps: int) -> dict[str, Any]:
        """A linear warm-up over ``warmup_fraction * total_steps`` steps, then a cosine to 0."""
        warmup = round(self.config.warmup_fraction * total_steps)
        return {name: warmup_cosine_scheduler(opt, warmup, total_steps) for name, opt in optimizers.items()}

    def run_length(self) -> int:
        """``total_steps`` as given to :meth:`configure_optimizers` (``RuntimeError`` before)."""
        if self.total_steps is None:
            raise RuntimeError(f"{self.name}: call configure_optimizers(total_steps) before training")
        return self.total_steps
