"""Backbones: image trunks that map images (B, C, H, W) to features (B, feature_dim).

A backbone is one part; heads (:mod:`disentkit.nn.heads`) turn its features into a Gaussian
posterior, a projection or a prediction, and a method combines them (DESIGN.md, "Networks are
parts"). Every backbone declares

- ``in_channels``: the image channels it takes,
- ``feature_dim``: the size of ``forward(images)`` (B, feature_dim),
- ``feature_map_channels``: the channels C' of ``feature_map(images)``, the last spatial map
  (B, C', M, M) that Deep InfoMax's local critics read (``None`` when there is none).

Three backbones, by :func:`build_backbone` name:

- ``"conv"``: :class:`ConvTrunk`, disentanglement_lib's conv encoder without its heads (TF
  padding, Glorot init); feature_dim 256, feature map 64 x 4 x 4.
- ``"fc"``: :class:`MLPTrunk`, flatten (H, W, C) -> 1200 ReLU -> 1200 ReLU (disentanglement_lib's
  fc encoder); feature_dim 1200, no feature map.
- ``"resnet18"``: :class:`ResNet18`, a CIFAR-style ResNet-18 for 64x64 (3x3 stride-1 stem, no
  max-pool, Kaiming init); feature_dim 8 * width (512), feature map 8w x 8 x 8 (512 x 8 x 8).

Cost per 64x64 image (multiply-accumulates of the convolutions and dense layers, forward; a
FLOP count is twice this), counted with forward hooks: ConvTrunk 6.8 M (C = 3; 5.8 M for C = 1)
with 305,088 parameters; ResNet18 (width 64) 2.22 G with 11,168,832 parameters (C = 3), about
330x the trunk's work, so ResNet18 is for the GPU or for CPU smoke tests at small width/batch
(its CPU time: ``benchmarks/README.md``).

Weights are drawn from an explicit ``rng`` (an int seed or a ``torch.Generator``): layers are built
inside ``torch.random.fork_rng`` so PyTorch's own default initialisation does not advance the
global RNG, then re-initialised from ``rng``.

>>> trunk = build_backbone("resnet18", 3, rng=0)
>>> trunk(torch.rand(2, 3, 64, 64)).shape
torch.Size([2, 512])
>>> trunk.feature_map(torch.rand(2, 3, 64, 64)).shape
torch.Size([2, 512, 8, 8])
"""

from __future__ import annotations

import inspect
from typing import Sequence

import torch
from torch import nn

from disentkit.nn._layers import IMAGE_SIZE, check_images, conv_same, flatten_hwc
from disentkit.nn.init import GeneratorLike, glorot_init_, kaiming_init_
from disentkit.validation import check_int


class Backbone(nn.Module):
    """Base class of the image trunks: ``forward(images (B, C, H, W)) -> (B, feature_dim)``.

    Subclasses set ``in_channels``, ``feature_dim`` and ``feature_map_channels`` (``None`` when they
    have no spatial map) and implement ``forward``, ``reset_parameters(rng)`` and, when
    ``feature_map_channels`` is set, ``feature_map``.
    """

    in_channels: int
    feature_dim: int
    feature_map_channels: int | None = None

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Images (B, C, H, W) -> features (B, feature_dim)."""
        raise NotImplementedError

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> the last spatial map (B, feature_map_channels, M, M)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no spatial feature map (feature_map_channels is None); "
            f"use one of {[n for n, c in BACKBONES.items() if c.feature_map is not Backbone.feature_map]}"
        )

    def features_from_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """The last spatial map (B, feature_map_channels, M, M) -> features (B, feature_dim): the
        rest of ``forward`` after :meth:`feature_map` (backbones with a map implement it)."""
        raise NotImplementedError(f"{type(self).__name__} has no spatial feature map")

    def features_and_map(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(forward(images), feature_map(images))`` from one pass (Deep InfoMax reads both)."""
        fmap = self.feature_map(images)
        return self.features_from_map(fmap), fmap

    def reset_parameters(self, rng: GeneratorLike = 0) -> None:  # pragma: no cover - abstract
        """Re-draw every weight from ``rng`` (an int seed or a ``torch.Generator``)."""
        raise NotImplementedError


class ConvTrunk(Backbone):
    """disentanglement_lib's ``conv_encoder`` trunk: 4 strided convolutions and a dense layer.

    Conv 32 k4 s2 ReLU (32x32) -> Conv 32 k4 s2 ReLU (16x16) -> Conv 64 k2 s2 ReLU (8x8) ->
    Conv 64 k2 s2 ReLU (4x4) [``feature_map``, (B, 64, 4, 4)] -> flatten (H, W, C) -> Dense 256
    ReLU [``forward``, (B, 256)]. TF "same" padding, Glorot-uniform kernels and zero biases
    (``spec/disentanglement_lib.md`` §2.1). Input (B, in_channels, 64, 64). Parameters
    ``16*C*32+32 + 16*32*32+32 + 4*32*64+64 + 4*64*64+64 + 1024*256+256``.

    >>> trunk = ConvTrunk(1, rng=0)
    >>> trunk(torch.rand(2, 1, 64, 64)).shape
    torch.Size([2, 256])
    """

    feature_map_channels = 64

    def __init__(self, in_channels: int = 1, *, rng: GeneratorLike = 0) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.feature_dim = 256
        with torch.random.fork_rng(devices=[]):  # PyTorch's default init must not move the global RNG
            self.convs = nn.Sequential(
                conv_same(in_channels, 32, 4, 64), nn.ReLU(inplace=True),
                conv_same(32, 32, 4, 32), nn.ReLU(inplace=True),
                conv_same(32, 64, 2, 16), nn.ReLU(inplace=True),
                conv_same(64, 64, 2, 8), nn.ReLU(inplace=True),
            )
            self.dense = nn.Linear(4 * 4 * 64, 256)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: GeneratorLike = 0) -> None:
        """Glorot-uniform kernels and zero biases drawn from ``rng`` (convs first, then dense)."""
        glorot_init_(self, rng)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, 64, 64) -> the ReLU'd output of the 4th convolution, (B, 64, 4, 4)."""
        check_images(images, self.in_channels, IMAGE_SIZE)
        return self.convs(images)

    def features_from_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(B, 64, 4, 4) -> ``relu(dense(flatten_HWC(map)))``, (B, 256)."""
        return torch.relu(self.dense(flatten_hwc(feature_map)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, 64, 64) -> features (B, 256)."""
        return self.features_from_map(self.feature_map(images))


class MLPTrunk(Backbone):
    """disentanglement_lib's ``fc_encoder`` trunk: flatten (H, W, C) -> Dense 1200 ReLU -> Dense 1200 ReLU.

    Input (B, in_channels, image_size, image_size), flattened in TF's (H, W, C) order; output
    (B, hidden_dims[-1]). Glorot-uniform kernels, zero biases. No spatial feature map.

    >>> trunk = MLPTrunk(1, rng=0)
    >>> trunk(torch.rand(2, 1, 64, 64)).shape
    torch.Size([2, 1200])
    """

    def __init__(
        self, in_channels: int = 1, image_size: int = IMAGE_SIZE, hidden_dims: Sequence[int] = (1200, 1200),
        *, rng: GeneratorLike = 0,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.image_size = check_int("image_size", image_size, 1)
        dims = tuple(hidden_dims)
        if not dims:
            raise ValueError("hidden_dims must hold at least one layer size, got ()")
        for d in dims:
            check_int("hidden_dims entry", d, 1)
        self.feature_dim = dims[-1]
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):
            prev = in_channels * image_size * image_size
            for d in dims:
                layers += [nn.Linear(prev, d), nn.ReLU(inplace=True)]
                prev = d
            self.hidden = nn.Sequential(*layers)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: GeneratorLike = 0) -> None:
        """Glorot-uniform kernels and zero biases drawn from ``rng``, first layer first."""
        glorot_init_(self, rng)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> features (B, hidden_dims[-1])."""
        check_images(images, self.in_channels, self.image_size)
        return self.hidden(flatten_hwc(images))


def _conv3x3(c_in: int, c_out: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """ResNet basic block (He et al., CVPR 2016): ``relu(bn2(conv2(relu(bn1(conv1(x))))) + s(x))``.

    Two 3x3 convolutions (the first with ``stride``), BatchNorm after each, in-place ReLUs; the
    shortcut ``s`` is the identity, or a 1x1 convolution with ``stride`` and BatchNorm when the
    shape changes ("option B"). Convolutions have no bias (BatchNorm follows).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(out_channels, out_channels, 1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, c_in, H, W) -> (B, c_out, H / stride, W / stride)."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += shortcut  # a fresh tensor: safe in place
        return self.relu(out)


class ResNet18(Backbone):
    """ResNet-18 (He et al., CVPR 2016) adapted to 64x64 images, CIFAR style.

    Stem: Conv 3x3 stride 1 (``width`` channels, no bias) -> BN -> ReLU, **no max-pool**, so the
    stages see the full 64x64 image (the ImageNet stem, 7x7 stride 2 + max-pool, would leave 2x2
    at the end). Four stages of two :class:`BasicBlock` each, with ``width * (1, 2, 4, 8)`` channels
    and strides (1, 2, 2, 2): 64x64 -> 64 -> 32 -> 16 -> 8, so ``feature_map`` is
    (B, 8*width, 8, 8) for a 64x64 input, then a global average pool gives ``forward``'s
    (B, 8*width) (``feature_dim`` = 512 for width 64). No classifier layer. Any input size works
    (the map is ceil(H/8) x ceil(W/8)); 64x64 is the design point. This is the layout solo-learn
    and lightly use for CIFAR, with torchvision's layer names (``conv1, bn1, layer1..layer4``).

    Parameters (width w, C channels, convolutions without bias, BN 2 per channel):
    ``9*C*w + 2w`` (stem) + ``4*(9w^2 + 2w)`` (stage 1) + for s in (2w, 4w, 8w):
    ``9*(s/2)*s + 3*(9*s^2) + (s/2)*s + 5*2s`` -> 11,168,832 for w = 64, C = 3 (11,167,680 for
    C = 1). Forward cost at 64x64 and w = 64: 2.22 G multiply-accumulates (about 4x CIFAR's 32x32).

    Init: Kaiming-normal (fan_out) convolutions, BN scale 1 and shift 0, drawn from ``rng``
    (:func:`disentkit.nn.init.kaiming_init_`); ``zero_init_residual=True`` also zeroes each block's
    last BN scale (Goyal et al. 2017), so every block starts as the identity.

    >>> net = ResNet18(3, rng=0)
    >>> net(torch.rand(2, 3, 64, 64)).shape
    torch.Size([2, 512])
    """

    def __init__(
        self, in_channels: int = 3, *, rng: GeneratorLike = 0, width: int = 64,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.width = check_int("width", width, 1)
        if not isinstance(zero_init_residual, bool):
            raise ValueError(f"zero_init_residual must be True or False, got {zero_init_residual!r}")
        self.zero_init_residual = zero_init_residual
        self.feature_dim = 8 * width
        self.feature_map_channels = 8 * width
        with torch.random.fork_rng(devices=[]):
            self.conv1 = _conv3x3(in_channels, width, 1)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            stages = []
            prev = width
            for mult, stride in ((1, 1), (2, 2), (4, 2), (8, 2)):
                stages.append(nn.Sequential(BasicBlock(prev, mult * width, stride),
                                            BasicBlock(mult * width, mult * width, 1)))
                prev = mult * width
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.reset_parameters(rng)

    def reset_parameters(self, rng: GeneratorLike = 0) -> None:
        """Kaiming-normal (fan_out) convolutions and unit BatchNorm, drawn from ``rng``."""
        kaiming_init_(self, rng)
        if self.zero_init_residual:
            with torch.no_grad():
                for block in self.modules():
                    if isinstance(block, BasicBlock):
                        block.bn2.weight.zero_()

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> the output of stage 4, (B, 8*width, ceil(H/8), ceil(W/8))."""
        check_images(images, self.in_channels, None)
        h = self.relu(self.bn1(self.conv1(images)))
        return self.layer4(self.layer3(self.layer2(self.layer1(h))))

    def features_from_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(B, 8*width, M, M) -> the global average pool, (B, 8*width)."""
        return feature_map.mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> the globally average-pooled features (B, 8*width)."""
        return self.features_from_map(self.feature_map(images))


BACKBONES: dict[str, type[Backbone]] = {"conv": ConvTrunk, "fc": MLPTrunk, "resnet18": ResNet18}
"""The backbone names accepted by :func:`build_backbone`."""


def build_backbone(name: str, in_channels: int, *, rng: GeneratorLike = 0, **params: object) -> Backbone:
    """Build the backbone called ``name`` (``"conv"``, ``"fc"`` or ``"resnet18"``).

    ``params`` are the backbone's own keyword arguments (``image_size``/``hidden_dims`` for
    ``"fc"``, ``width``/``zero_init_residual`` for ``"resnet18"``). An unknown name or parameter
    raises ``ValueError`` naming the valid ones.

    >>> build_backbone("conv", 1, rng=0).feature_dim
    256
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; valid names: {sorted(BACKBONES)}")
    cls = BACKBONES[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters
                if p not in ("self", "in_channels", "rng")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for backbone {name!r}; valid: {accepted}")
    return cls(in_channels, rng=rng, **params)


__all__ = ["BACKBONES", "Backbone", "BasicBlock", "ConvTrunk", "MLPTrunk", "ResNet18", "build_backbone"]
