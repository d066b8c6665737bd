"""The standard networks of disentanglement_lib (``methods/shared/architectures.py``), in PyTorch.

Spec: ``spec/disentanglement_lib.md`` §2.1. Images are (B, C, 64, 64) in [0, 1]; the encoders
return ``(mu, logvar)`` (the log-variance, not log sigma), the decoders return **logits** (apply a
sigmoid for images). Kernels are Glorot-uniform and biases zero, as TensorFlow's defaults.

TensorFlow ``padding="same"`` is reproduced exactly: a k x k, stride s convolution on an even size
n pads ``max((ceil(n/s) - 1)*s + k - n, 0)`` in total, the smaller half first. For the encoder
(n even, s = 2) that is 2 for k = 4 (1 on each side: PyTorch ``padding=1``) and 0 for k = 2. A TF
``conv2d_transpose`` with "same" padding and stride 2 doubles the size; for k = 4 it is the
transpose of a convolution padded 1 on each side, i.e. PyTorch ``ConvTranspose2d(k=4, s=2,
padding=1)`` (output ``(n-1)*2 - 2 + 4 = 2n``), so no asymmetric cropping is needed.

The flatten between the last convolution and the dense layer uses TF's (H, W, C) order (and the
decoder's reshape to 4 x 4 x 64 too), so weights exported from disentanglement_lib map one to one.
With ``channels_last`` inputs this flatten is a view (no copy); the decoder's transposed
convolutions then run in channels-last format.

The encoders are parts: ``ConvEncoder`` is ``GaussianHead(ConvTrunk(C))`` and ``FCEncoder`` is
``GaussianHead(MLPTrunk(C))`` (:mod:`disentkit.nn.backbones`, :mod:`disentkit.nn.heads`), with
the same weights, draw for draw, as the single-module versions they replaced.

Parameter counts (C channels, D latents), each layer ``k*k*c_in*c_out + c_out``:

=====================  ===========================================================
``ConvEncoder``        16*C*32+32, 16*32*32+32, 4*32*64+64, 4*64*64+64, 1024*256+256,
                       2*(256*D+D)   (309,204 for C = 1, D = 10)
``ConvDecoder``        D*256+256, 256*1024+1024, 16*64*64+64, 16*64*32+32, 16*32*32+32,
                       16*32*C+C     (381,313 for C = 1, D = 10)
``FCEncoder``          4096*C*1200+1200, 1200*1200+1200, 2*(1200*D+D)
``FCDecoder``          D*1200+1200, 2*(1200*1200+1200), 1200*4096*C+4096*C
``FactorDiscriminator`` D*1000+1000, 5*(1000*1000+1000), 1000*2+2   (5,018,002 for D = 10)
=====================  ===========================================================
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from disentkit.nn._layers import IMAGE_SIZE, tf_same_padding
from disentkit.nn._layers import flatten_hwc as _flatten_hwc  # noqa: F401  (importable from here)
from disentkit.nn.backbones import ConvTrunk, MLPTrunk
from disentkit.nn.heads import GaussianHead
from disentkit.nn.init import GeneratorLike, glorot_init_, make_generator
from disentkit.validation import check_int

__all__ = [
    "IMAGE_SIZE", "ConvDecoder", "ConvEncoder", "FCDecoder", "FCEncoder", "FactorDiscriminator",
    "tf_same_padding",
]


def _rename_legacy_keys(
    renames: tuple[tuple[str, str], ...], module: nn.Module, state_dict: dict, prefix: str, *args: object
) -> None:
    """Load-state-dict pre-hook: map the keys of the pre-backbone encoders to the new ones in place."""
    for old, new in renames:
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + new + key[len(prefix) + len(old):]] = state_dict.pop(key)


class _Initialised(nn.Module):
    """Mixin: build layers without touching the global RNG, then Glorot-initialise from ``rng``."""

    def reset_parameters(self, rng: GeneratorLike = 0) -> None:
        """Glorot-uniform weights and zero biases drawn from ``rng`` (seed or torch.Generator)."""
        glorot_init_(self, rng)


class ConvEncoder(GaussianHead):
    """disentanglement_lib ``conv_encoder``: :class:`~disentkit.nn.backbones.ConvTrunk` + Gaussian head.

    Conv 32 k4 s2 ReLU (32x32) -> Conv 32 k4 s2 ReLU (16x16) -> Conv 64 k2 s2 ReLU (8x8) ->
    Conv 64 k2 s2 ReLU (4x4) -> flatten (H, W, C) -> Dense 256 ReLU -> Dense D (mu) and Dense D
    (logvar). Input (B, in_channels, 64, 64); ``forward`` returns ``(mu, logvar)``, each (B, D).
    ``GaussianHead(ConvTrunk(in_channels, rng=g), latent_dim, rng=g)`` with one generator ``g``,
    so the weights are drawn in the reference order (convs, dense, mean head, logvar head).
    ``convs`` and ``dense`` name the trunk's layers; state dicts saved before the trunk was split
    out (keys ``convs.*``, ``dense.*``) still load.

    >>> enc = ConvEncoder(in_channels=3, latent_dim=10, rng=0)
    >>> mu, logvar = enc(torch.rand(2, 3, 64, 64))
    """

    def __init__(self, in_channels: int = 1, latent_dim: int = 10, *, rng: GeneratorLike = 0) -> None:
        check_int("in_channels", in_channels, 1)
        check_int("latent_dim", latent_dim, 1)
        gen = make_generator(rng)
        super().__init__(ConvTrunk(in_channels, rng=gen), latent_dim, rng=gen)
        self.in_channels = in_channels
        self.register_load_state_dict_pre_hook(functools.partial(
            _rename_legacy_keys, (("convs.", "backbone.convs."), ("dense.", "backbone.dense."))))

    @property
    def convs(self) -> nn.Sequential:
        """The trunk's four convolutions (and ReLUs)."""
        return self.backbone.convs

    @property
    def dense(self) -> nn.Linear:
        """The trunk's Dense 256 layer."""
        return self.backbone.dense


class ConvDecoder(_Initialised):
    """disentanglement_lib ``deconv_decoder``: two dense layers and 4 transposed convolutions.

    Dense 256 ReLU -> Dense 1024 ReLU -> reshape (4, 4, 64) (TF NHWC order) -> ConvT 64 k4 s2
    ReLU (8x8) -> ConvT 32 k4 s2 ReLU (16x16) -> ConvT 32 k4 s2 ReLU (32x32) -> ConvT C k4 s2
    (64x64, linear). ``forward`` maps codes (B, D) to logits (B, C, 64, 64).
    """

    def __init__(self, latent_dim: int = 10, out_channels: int = 1, *, rng: GeneratorLike = 0) -> None:
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        with torch.random.fork_rng(devices=[]):
            self.dense = nn.Sequential(
                nn.Linear(latent_dim, 256), nn.ReLU(inplace=True), nn.Linear(256, 1024), nn.ReLU(inplace=True)
            )
            self.deconvs = nn.Sequential(
                nn.ConvTranspose2d(64, 64, 4, stride=2, padding=1), nn.ReLU(inplace=True),
                nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(inplace=True),
                nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.ReLU(inplace=True),
                nn.ConvTranspose2d(32, out_channels, 4, stride=2, padding=1),
            )
        self.reset_parameters(rng)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, D) -> logits (B, C, 64, 64)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        h = self.dense(z).view(z.shape[0], 4, 4, 64).permute(0, 3, 1, 2)  # NHWC -> NCHW view
        return self.deconvs(h)


class FCEncoder(GaussianHead):
    """disentanglement_lib ``fc_encoder``: :class:`~disentkit.nn.backbones.MLPTrunk` + Gaussian head.

    Flatten (TF's (H, W, C) order) -> Dense 1200 ReLU -> Dense 1200 ReLU -> Dense D (mu) and
    Dense D (logvar). Input (B, in_channels, image_size, image_size); returns ``(mu, logvar)``,
    each (B, D). ``hidden`` names the trunk's layers; state dicts with the old ``hidden.*`` keys
    still load.
    """

    def __init__(
        self, in_channels: int = 1, latent_dim: int = 10, image_size: int = IMAGE_SIZE,
        *, rng: GeneratorLike = 0,
    ) -> None:
        check_int("in_channels", in_channels, 1)
        check_int("latent_dim", latent_dim, 1)
        check_int("image_size", image_size, 1)
        gen = make_generator(rng)
        super().__init__(MLPTrunk(in_channels, image_size, rng=gen), latent_dim, rng=gen)
        self.in_channels = in_channels
        self.image_size = image_size
        self.register_load_state_dict_pre_hook(functools.partial(
            _rename_legacy_keys, (("hidden.", "backbone.hidden."),)))

    @property
    def hidden(self) -> nn.Sequential:
        """The trunk's two Dense 1200 ReLU layers."""
        return self.backbone.hidden


class FCDecoder(_Initialised):
    """disentanglement_lib ``fc_decoder``: 3 x (Dense 1200, tanh) -> Dense H*W*C logits.

    Maps codes (B, D) to logits (B, C, image_size, image_size) (the dense output is read in TF's
    (H, W, C) order).
    """

    def __init__(
        self, latent_dim: int = 10, out_channels: int = 1, image_size: int = IMAGE_SIZE,
        *, rng: GeneratorLike = 0,
    ) -> None:
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.image_size = check_int("image_size", image_size, 1)
        with torch.random.fork_rng(devices=[]):
            self.net = nn.Sequential(
                nn.Linear(latent_dim, 1200), nn.Tanh(),
                nn.Linear(1200, 1200), nn.Tanh(),
                nn.Linear(1200, 1200), nn.Tanh(),
                nn.Linear(1200, image_size * image_size * out_channels),
            )
        self.reset_parameters(rng)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, D) -> logits (B, C, H, W)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        s = self.image_size
        return self.net(z).view(z.shape[0], s, s, self.out_channels).permute(0, 3, 1, 2)


class FactorDiscriminator(_Initialised):
    """FactorVAE's total-correlation discriminator (disentanglement_lib ``fc_discriminator``).

    ``num_layers`` x [Dense ``hidden``, LeakyReLU(``negative_slope``)] -> Dense 2. ``forward``
    returns the two **logits** (B, 2): column 0 = "real" (a sample of q(z)), column 1 = "fake" (a
    sample of the product of the marginals, i.e. dimension-wise permuted codes).
    """

    def __init__(
        self, latent_dim: int = 10, hidden: int = 1000, num_layers: int = 6,
        negative_slope: float = 0.2, *, rng: GeneratorLike = 0,
    ) -> None:
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        check_int("hidden", hidden, 1)
        check_int("num_layers", num_layers, 1)
        if not isinstance(negative_slope, (int, float)) or negative_slope < 0:
            raise ValueError(f"negative_slope must be a number >= 0, got {negative_slope!r}")
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):
            for i in range(num_layers):
                layers += [nn.Linear(latent_dim if i == 0 else hidden, hidden),
                           nn.LeakyReLU(float(negative_slope))]
            layers.append(nn.Linear(hidden, 2))
            self.net = nn.Sequential(*layers)
        self.reset_parameters(rng)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, D) -> logits (B, 2) (column 0: real, column 1: permuted)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z)
