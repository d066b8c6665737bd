"""Geometric batch augmentations: random resized crop and horizontal flip."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from disentkit._random import RandomLike
from disentkit.data.augment import _kernels as K
from disentkit.data.augment._base import Augmentation, Params, apply_rows, as_tensor, check_range

__all__ = ["HorizontalFlip", "RandomResizedCrop"]


class RandomResizedCrop(Augmentation):
    """Crop a random box of each image and resize it back to H x W (bilinear).

    The box (Szegedy et al. 2015, "Going deeper with convolutions"; the torchvision/BYOL recipe):
    area fraction ``s ~ U(scale)`` and aspect ``r = w/h`` with ``log r ~ U(log ratio)``, so
    ``w = sqrt(s r H W)`` and ``h = sqrt(s H W / r)`` pixels. Up to :attr:`max_tries` candidate
    boxes are drawn per image (all in the same one random draw) and the first that fits in the
    image is kept; if none fits, the aspect is clipped to ``ratio`` nearest ``W/H`` and the area
    to the largest that fits at that aspect (so the box stays within ``scale`` and ``ratio``
    whenever such a box exists). The top-left corner is uniform over the positions where the box
    fits. Boxes are continuous (sub-pixel); the crop is one ``grid_sample``
    (bilinear, ``align_corners=False``, border padding) for the whole batch, so output pixel
    ``(i, j)`` samples the input at ``x = x0 W + (j + 1/2) w / W``, ``y = y0 H + (i + 1/2) h / H``
    (pixel centres at ``k + 1/2``).

    Parameters: ``scale`` (area fractions, within (0, 1]), ``ratio`` (aspects w/h, > 0), ``p``.
    :meth:`sample_params` returns ``"apply"`` (B,) and ``"box"`` (B, 4) = ``(x0, y0, w, h)`` as
    fractions of the image width and height (``(0, 0, 1, 1)`` where the op does not apply).
    Rows the op does not apply to are returned unchanged (bit for bit).

    >>> crop = RandomResizedCrop(scale=(0.5, 1.0))
    >>> views = crop(torch.rand(8, 3, 64, 64), np.random.default_rng(0))   # (8, 3, 64, 64)
    """

    name = "crop"
    max_tries = 10
    num_uniforms = 3 + 2 * max_tries

    def __init__(self, scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3), p: float = 1.0):
        super().__init__(p)
        self.scale = check_range(scale, "scale", 0.0, 1.0, low_open=True)
        self.ratio = check_range(ratio, "ratio", 0.0, math.inf, low_open=True)

    @property
    def perturbs(self) -> tuple[str, ...]:
        return ("position_x", "position_y", "scale")

    def get_params(self) -> dict[str, Any]:
        return {"scale": self.scale, "ratio": self.ratio, "p": self.p}

    def sample_params(self, batch: int, rng: RandomLike, size: tuple[int, int] | None = None) -> Params:
        u = self._uniforms(batch, rng)
        h_img, w_img = (1, 1) if size is None else (int(size[0]), int(size[1]))
        t = self.max_tries
        apply = u[:, 0] < self.p
        area = self.scale[0] + (self.scale[1] - self.scale[0]) * u[:, 1:1 + t]
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        r = np.exp(lo + (hi - lo) * u[:, 1 + t:1 + 2 * t])
        fw = np.sqrt(area * r * h_img / w_img)  # box width / image width
        fh = np.sqrt(area * w_img / (r * h_img))  # box height / image height
        fits = (fw <= 1.0) & (fh <= 1.0)
        first = fits.argmax(axis=1)
        rows = np.arange(u.shape[0])
        bw, bh = fw[rows, first], fh[rows, first]
        none = ~fits.any(axis=1)
        if none.any():
            r_fb = min(max(w_img / h_img, self.ratio[0]), self.ratio[1])
            s_max = min(w_img / (r_fb * h_img), r_fb * h_img / w_img)
            s_fb = np.minimum(area[none, 0], s_max)
            bw[none] = np.sqrt(s_fb * r_fb * h_img / w_img)
            bh[none] = np.sqrt(s_fb * w_img / (r_fb * h_img))
        bw, bh = np.minimum(bw, 1.0), np.minimum(bh, 1.0)
        x0 = u[:, -2] * (1.0 - bw)
        y0 = u[:, -1] * (1.0 - bh)
        box = np.stack([x0, y0, bw, bh], axis=1)
        box[~apply] = (0.0, 0.0, 1.0, 1.0)
        return {"apply": apply, "box": box}

    def absorb(self, params: Params, op: Augmentation, op_params: Params) -> bool:
        """A :class:`HorizontalFlip` right after the crop is done by the crop (``params["flip"]``)."""
        if isinstance(op, HorizontalFlip) and "flip" not in params:
            params["flip"] = op_params["apply"]
            return True
        return False

    def apply(self, images: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        flip = params.get("flip")
        if K.compiled_ok(images) and (params["apply"].any() or (flip is not None and flip.any())):
            return self._apply_compiled(images, params, flip)

        def crop(x: torch.Tensor, idx: Any) -> torch.Tensor:
            n, _, h, w = x.shape
            gx, gy = _grid_axes(as_tensor(params["box"][idx], x), h, w)
            grid = torch.stack([gx.expand(n, h, w), gy.expand(n, h, w)], dim=-1)
            out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
            return out.clamp_(0.0, 1.0)

        out = apply_rows(images, params["apply"], crop, inplace)
        if flip is not None:
            out = apply_rows(out, flip, lambda x, idx: x.flip(-1), inplace or out is not images)
        return out

    def _apply_compiled(self, images: torch.Tensor, params: Params, flip: np.ndarray | None) -> torch.Tensor:
        n = images.shape[0]
        flip = np.zeros(n, dtype=bool) if flip is None else np.asarray(flip, dtype=bool)
        out = torch.empty(images.shape, dtype=images.dtype)
        box = np.ascontiguousarray(params["box"], dtype=np.float64)
        K.crop_kernel(K.as_array(images), out.numpy(), np.asarray(params["apply"], dtype=bool), flip, box)
        return out


def _grid_axes(box: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The separable normalised sampling grid of boxes (n, 4) = (x0, y0, w, h): ``gx`` (n, 1, W) and
    ``gy`` (n, H, 1), the affine grid of theta = [[w, 0, 2 x0 + w - 1], [0, h, 2 y0 + h - 1]]."""
    n = box.shape[0]
    gx = _centres(w, box).view(1, 1, w) * box[:, 2].view(n, 1, 1) + (2.0 * box[:, 0] + box[:, 2] - 1.0).view(n, 1, 1)
    gy = _centres(h, box).view(1, h, 1) * box[:, 3].view(n, 1, 1) + (2.0 * box[:, 1] + box[:, 3] - 1.0).view(n, 1, 1)
    return gx, gy


def _centres(size: int, like: torch.Tensor) -> torch.Tensor:
    """Normalised pixel-centre coordinates ``(2 k + 1) / size - 1`` (``align_corners=False``)."""
    return (torch.arange(size, dtype=like.dtype, device=like.device) * 2.0 + 1.0) / size - 1.0


class HorizontalFlip(Augmentation):
    """Mirror each image left-right with probability ``p``: ``out[..., j] = x[..., W - 1 - j]``.

    :meth:`sample_params` returns ``"apply"`` (B,).

    >>> flipped = HorizontalFlip(p=1.0)(torch.rand(4, 1, 8, 8), np.random.default_rng(0))
    """

    name = "flip"

    def __init__(self, p: float = 0.5):
        super().__init__(p)

    @property
    def perturbs(self) -> tuple[str, ...]:
        return ("position_x", "orientation")

    def get_params(self) -> dict[str, Any]:
        return {"p": self.p}

    def sample_params(self, batch: int, rng: RandomLike, size: tuple[int, int] | None = None) -> Params:
        return {"apply": self._uniforms(batch, rng)[:, 0] < self.p}

    def apply(self, images: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return apply_rows(images, params["apply"], lambda x, idx: x.flip(-1), inplace)
