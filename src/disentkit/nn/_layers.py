"""Private helpers shared by the backbones, heads and reference architectures.

TF ``padding="same"`` arithmetic, image-shape checks and TF's (H, W, C) flatten order; see
``architectures.py`` for why they reproduce disentanglement_lib exactly.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SIZE = 64


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``padding="same"`` for one spatial axis: ``(before, after)``.

    ``out = ceil(size / stride)``, ``total = max((out - 1) * stride + kernel - size, 0)``,
    ``before = total // 2`` and ``after = total - before`` (TF puts the extra pixel after).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_same(c_in: int, c_out: int, kernel: int, size: int) -> nn.Conv2d:
    """A stride-2 convolution with TF "same" padding for an even input ``size`` (symmetric)."""
    before, after = tf_same_padding(size, kernel, 2)
    assert before == after, "symmetric for even sizes and k in {2, 4}"
    return nn.Conv2d(c_in, c_out, kernel, stride=2, padding=before)


def check_images(x: torch.Tensor, channels: int, size: int | None) -> None:
    """Raise ``ValueError`` unless ``x`` is (B, channels, size, size) (any H, W if size is None)."""
    ok = x.dim() == 4 and x.shape[1] == channels
    if size is not None:
        ok = ok and x.shape[2] == size and x.shape[3] == size
    if not ok:
        want = f"(B, {channels}, {size}, {size})" if size is not None else f"(B, {channels}, H, W)"
        raise ValueError(f"expected images of shape {want}, got {tuple(x.shape)}")


def check_features(x: torch.Tensor, dim: int) -> None:
    """Raise ``ValueError`` unless ``x`` is a (B, dim) feature batch."""
    if x.dim() != 2 or x.shape[1] != dim:
        raise ValueError(f"expected features of shape (B, {dim}), got {tuple(x.shape)}")


def flatten_hwc(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W*C) in TF's NHWC order (a view for channels-last inputs)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
