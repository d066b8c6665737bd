"""Pixel-value (colour) batch augmentations: colour jitter, grayscale, solarize.

Luma is ITU-R BT.601: ``L = 0.299 R + 0.587 G + 0.114 B``. Hue shifts go through HSV with the
closed-form inverse ``c_n = V - V S clip(min(k, 4 - k), 0, 1)``, ``k = (n + 6 H) mod 6``,
``n = 5, 3, 1`` for R, G, B (the HSV-to-RGB "alternative" formula), so no per-sector gather is
needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from disentkit._random import RandomLike
from disentkit.data.augment import _kernels as K
from disentkit.data.augment._base import Augmentation, Params, apply_rows, as_tensor
from disentkit.validation import check_number

__all__ = ["ColorJitter", "Grayscale", "Solarize", "luma", "rgb_to_hsv", "hsv_to_rgb", "shift_hue", "shift_hue_"]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def luma(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of RGB images (n, 3, H, W) -> (n, 1, H, W); 1-channel images are their own luma."""
    if images.shape[1] == 1:
        return images
    y = images[:, 0:1] * LUMA_WEIGHTS[0]
    return y.add_(images[:, 1:2], alpha=LUMA_WEIGHTS[1]).add_(images[:, 2:3], alpha=LUMA_WEIGHTS[2])


def _mean_luma(images: torch.Tensor) -> torch.Tensor:
    """The mean luma of each image, (n, 1, 1, 1) (the luma of the channel means)."""
    means = images.mean(dim=(2, 3), keepdim=True)
    return luma(means)


def _is_max(channel: torch.Tensor, maxc: torch.Tensor) -> torch.Tensor:
    """1.0 where ``channel == maxc``, else 0.0 (``channel <= maxc``; exact: sign(a - b) is 0 iff a == b)."""
    return torch.sub(channel, maxc).sign_().add_(1.0)


def _hue6(images: torch.Tensor, maxc: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """6 x the HSV hue, in [-1, 5) (unwrapped), from the channel holding the maximum (R, then G, then B):
    ``(G - B)/d``, ``2 + (B - R)/d`` or ``4 + (R - G)/d``, with ``d = max - min`` (0 where d = 0)."""
    r, g, b = images[:, 0:1], images[:, 1:2], images[:, 2:3]
    is_r = _is_max(r, maxc)
    not_r = torch.rsub(is_r, 1.0)
    is_g = _is_max(g, maxc).mul_(not_r)
    is_b = not_r.sub_(is_g)
    num = (g - b).mul_(is_r).addcmul_(b - r, is_g).addcmul_(r - g, is_b)
    return num.div_(delta.clamp_min(1e-12)).add_(is_g, alpha=2.0).add_(is_b, alpha=4.0)


#: the channel offsets of :func:`_rgb_from_hue`, ``(n + 6) / 6`` for ``n = 5, 3, 1`` (R, G, B)
_OFFSETS = (11.0 / 6.0, 9.0 / 6.0, 7.0 / 6.0)


def _rgb_from_hue(hue: torch.Tensor, minc: torch.Tensor, delta: torch.Tensor,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """RGB from the hue in turns (any real > -7/6; taken mod 1), the minimum and ``d = max - min``:

    ``c_n = V - d clip(2 - |k_n - 2|, 0, 1)`` with ``k_n = (n + 6 H) mod 6``, ``n = 5, 3, 1`` (the
    HSV-to-RGB "alternative" formula), rewritten as ``c_n = min + 6 d clip(|v_n - 1/3| - 1/6, 0, 1/6)``
    with ``v_n = (H + n/6) mod 1`` (``1 - clip(y, 0, 1) = clip(1 - y, 0, 1)``). Written into ``out``
    (n, 3, H, W) if given.
    """
    offsets = torch.tensor(_OFFSETS, dtype=hue.dtype, device=hue.device).view(1, 3, 1, 1)
    v = torch.add(hue, offsets, out=out) if out is not None else hue + offsets  # > 0, so frac is the mod
    v.frac_().sub_(1.0 / 3.0).abs_().sub_(1.0 / 6.0).clamp_(0.0, 1.0 / 6.0)
    return v.mul_(delta.mul(6.0)).add_(minc)


def rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    """RGB (n, 3, H, W) in [0, 1] -> HSV (n, 3, H, W), hue in [0, 1) (``colorsys`` conventions).

    ``V = max``, ``S = (max - min) / max`` (0 where max = 0), and the hue from the channel that
    holds the maximum (R first, then G): ``H = ((G - B)/d, 2 + (B - R)/d, 4 + (R - G)/d) / 6 mod 1``
    with ``d = max - min`` (0 where d = 0).
    """
    maxc = images.amax(dim=1, keepdim=True)
    delta = maxc - images.amin(dim=1, keepdim=True)
    sat = delta / maxc.clamp_min(1e-12)
    hue = _hue6(images, maxc, delta).div_(6.0).add_(1.0).frac_()
    return torch.cat([hue, sat, maxc], dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """HSV (n, 3, H, W) -> RGB (n, 3, H, W) (the inverse of :func:`rgb_to_hsv`)."""
    h, s, v = hsv[:, 0:1], hsv[:, 1:2], hsv[:, 2:3]
    delta = v * s
    return _rgb_from_hue(h, v - delta, delta)


def _shift_hue_into(images: torch.Tensor, shift: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    minc = images.amin(dim=1, keepdim=True)
    maxc = images.amax(dim=1, keepdim=True)
    delta = maxc.sub(minc)
    hue = _hue6(images, maxc, delta).mul_(1.0 / 6.0).add_(shift.view(-1, 1, 1, 1))
    return _rgb_from_hue(hue, minc, delta, out=out)


def shift_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of RGB images (n, 3, H, W) by ``shift`` (n,) turns, ``|shift| <= 0.5``:
    ``H <- (H + shift) mod 1``, saturation and value unchanged (a new tensor)."""
    return _shift_hue_into(images, shift, None)


def shift_hue_(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """:func:`shift_hue` written over ``images`` (which must be contiguous); returns ``images``."""
    return _shift_hue_into(images, shift, images)


# The four jitter components, each in place on a batch it owns, with per-image factors f (n,).
def _brightness_(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return x.mul_(f.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)


def _contrast_(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    # f x + (1 - f) mean(L(x))
    f = f.view(-1, 1, 1, 1)
    m = _mean_luma(x).mul_(1.0 - f)
    return x.mul_(f).add_(m).clamp_(0.0, 1.0)


def _saturation_(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    # f x + (1 - f) L(x)
    f = f.view(-1, 1, 1, 1)
    lum = luma(x)
    lum = lum * (1.0 - f) if lum is x else lum.mul_(1.0 - f)  # 1-channel luma is x itself
    return x.mul_(f).add_(lum).clamp_(0.0, 1.0)


def _hue_(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return shift_hue_(x, f).clamp_(0.0, 1.0)


_COMPONENTS = ("brightness", "contrast", "saturation", "hue")
_FUNCS = (_brightness_, _contrast_, _saturation_, _hue_)


class ColorJitter(Augmentation):
    """Random brightness, contrast, saturation and hue changes (the SimCLR/BYOL colour distortion).

    Per image (factors drawn uniformly; Chen et al. 2020 "SimCLR", Grill et al. 2020 "BYOL"):

    * brightness ``b ~ U[max(0, 1 - brightness), 1 + brightness]``: ``x <- b x``;
    * contrast ``c ~ U[max(0, 1 - contrast), 1 + contrast]``: ``x <- c x + (1 - c) mean(L(x))``
      (the mean luma of the image);
    * saturation ``s ~ U[max(0, 1 - saturation), 1 + saturation]``: ``x <- s x + (1 - s) L(x)``
      (per-pixel luma);
    * hue ``h ~ U[-hue, hue]``: the HSV hue rotated by ``h`` turns.

    Each result is clipped to [0, 1]. With ``random_order`` (the default, like torchvision's
    ``ColorJitter``) every image applies the four in its own uniformly random order (a random
    permutation per image, drawn as the argsort of 4 uniforms); otherwise the order is brightness,
    contrast, saturation, hue. A component with strength 0 is skipped. Saturation and hue need
    RGB images; brightness and contrast alone also run on 1-channel images.

    :meth:`sample_params` returns ``"apply"`` (B,), ``"brightness"``, ``"contrast"``,
    ``"saturation"``, ``"hue"`` (B,) (neutral 1, 1, 1, 0 where a component is off) and ``"order"``
    (B, 4), the component indices in the order applied.

    >>> jitter = ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8)
    >>> out = jitter(torch.rand(8, 3, 32, 32), np.random.default_rng(0))
    """

    name = "color_jitter"
    colour_op = True
    num_uniforms = 9

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.2, hue: float = 0.1,
                 p: float = 0.8, random_order: bool = True):
        super().__init__(p)
        self.brightness = check_number("brightness", brightness, 0.0)
        self.contrast = check_number("contrast", contrast, 0.0)
        self.saturation = check_number("saturation", saturation, 0.0)
        self.hue = check_number("hue", hue, 0.0, 0.5)
        if not isinstance(random_order, bool):
            raise ValueError(f"random_order must be True or False, got {random_order!r}")
        self.random_order = random_order

    @property
    def strengths(self) -> tuple[float, float, float, float]:
        """(brightness, contrast, saturation, hue)."""
        return (self.brightness, self.contrast, self.saturation, self.hue)

    @property
    def perturbs(self) -> tuple[str, ...]:
        kinds = []
        if self.brightness > 0 or self.contrast > 0:
            kinds.append("brightness")
        if self.saturation > 0:
            kinds.append("saturation")
        if self.hue > 0:
            kinds.append("hue")
        return tuple(kinds)

    @property
    def required_channels(self) -> int | None:
        return 3 if (self.saturation > 0 or self.hue > 0) else None

    def get_params(self) -> dict[str, Any]:
        return {"brightness": self.brightness, "contrast": self.contrast, "saturation": self.saturation,
                "hue": self.hue, "p": self.p, "random_order": self.random_order}

    def sample_params(self, batch: int, rng: RandomLike, size: tuple[int, int] | None = None) -> Params:
        u = self._uniforms(batch, rng)
        out: Params = {"apply": u[:, 0] < self.p}
        for k, (comp, strength) in enumerate(zip(_COMPONENTS[:3], self.strengths[:3])):
            lo, hi = max(0.0, 1.0 - strength), 1.0 + strength
            out[comp] = lo + (hi - lo) * u[:, 1 + k]
        out["hue"] = self.hue * (2.0 * u[:, 4] - 1.0)
        if self.random_order:
            out["order"] = np.argsort(u[:, 5:9], axis=1, kind="stable")
        else:
            out["order"] = np.tile(np.arange(4), (u.shape[0], 1))
        return out

    def apply(self, images: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        active = np.array([s > 0 for s in self.strengths])
        apply = params["apply"]
        if not active.any() or not apply.any():
            return images
        if K.compiled_ok(images):  # one pass per component per image (data/augment/_kernels.py)
            x = K.owned_contiguous(images, inplace)
            dtype = K.as_array(x).dtype
            factors = np.stack([params[c] for c in _COMPONENTS], axis=1).astype(dtype).astype(np.float64)
            K.color_jitter_kernel(K.as_array(x), apply, np.ascontiguousarray(params["order"], dtype=np.int64),
                                  factors, active)
            return x
        x = images if inplace else images.clone()  # the components work in place
        # step t: each applied image does its component order[:, t]; a component runs once per step,
        # on the images whose turn it is (gathered, changed in place, scattered back)
        for step in range(4):
            comp = np.where(apply, params["order"][:, step], -1)
            for k in np.flatnonzero(active):
                rows = comp == k
                if not rows.any():
                    continue
                if rows.all():
                    _FUNCS[k](x, as_tensor(params[_COMPONENTS[k]], x))
                    continue
                idx = np.flatnonzero(rows)
                t = torch.as_tensor(idx, device=x.device)
                x.index_copy_(0, t, _FUNCS[k](x.index_select(0, t), as_tensor(params[_COMPONENTS[k]][idx], x)))
        return x


class Grayscale(Augmentation):
    """Replace each image by its ITU-R 601 luma in every channel, with probability ``p``.

    ``out_c = 0.299 R + 0.587 G + 0.114 B`` for all C = 3 channels. :meth:`sample_params` returns
    ``"apply"`` (B,).

    >>> gray = Grayscale(p=1.0)(torch.rand(4, 3, 8, 8), np.random.default_rng(0))
    """

    name = "grayscale"
    colour_op = True

    def __init__(self, p: float = 0.2):
        super().__init__(p)

    @property
    def perturbs(self) -> tuple[str, ...]:
        return ("hue", "saturation")

    @property
    def required_channels(self) -> int | None:
        return 3

    def get_params(self) -> dict[str, Any]:
        return {"p": self.p}

    def sample_params(self, batch: int, rng: RandomLike, size: tuple[int, int] | None = None) -> Params:
        return {"apply": self._uniforms(batch, rng)[:, 0] < self.p}

    def apply(self, images: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        if K.compiled_ok(images) and params["apply"].any():
            x = K.owned_contiguous(images, inplace)
            K.grayscale_kernel(K.as_array(x), params["apply"])
            return x

        def gray(x: torch.Tensor, idx: Any) -> torch.Tensor:
            return luma(x).clamp_(0.0, 1.0).expand(-1, x.shape[1], -1, -1).contiguous()

        return apply_rows(images, params["apply"], gray, inplace)


class Solarize(Augmentation):
    """Invert the pixels at or above ``threshold``, with probability ``p``: ``x >= t -> 1 - x``.

    (Grill et al. 2020, BYOL's second view, ``t = 0.5``.) :meth:`sample_params` returns
    ``"apply"`` (B,).

    >>> out = Solarize(threshold=0.5, p=1.0)(torch.rand(4, 3, 8, 8), np.random.default_rng(0))
    """

    name = "solarize"
    colour_op = True

    def __init__(self, threshold: float = 0.5, p: float = 0.2):
        super().__init__(p)
        self.threshold = check_number("threshold", threshold, 0.0, 1.0)

    @property
    def perturbs(self) -> tuple[str, ...]:
        return ("brightness", "hue", "saturation")

    def get_params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "p": self.p}

    def sample_params(self, batch: int, rng: RandomLike, size: tuple[int, int] | None = None) -> Params:
        return {"apply": self._uniforms(batch, rng)[:, 0] < self.p}

    def apply(self, images: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        t = self.threshold
        if K.compiled_ok(images) and params["apply"].any():
            x = K.owned_contiguous(images, inplace)
            arr = K.as_array(x)
            K.solarize_kernel(arr, params["apply"], arr.dtype.type(t))  # compared in the images' dtype
            return x

        def solarize(x: torch.Tensor, idx: Any) -> torch.Tensor:
            # x + m (1 - 2 x) with the {0, 1} mask m = ceil((sign(x - t) + 1) / 2), 1 exactly where
            # x >= t (sign(x - t) is 0 iff x == t); float arithmetic instead of a bool mask and where
            m = torch.sub(x, t).sign_().add_(1.0).mul_(0.5).ceil_()
            return torch.addcmul(x, m, x, value=-2.0).add_(m).clamp_(0.0, 1.0)

        return apply_rows(images, params["apply"], solarize, inplace)
