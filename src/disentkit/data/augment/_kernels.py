"""Compiled per-image kernels of the batch augmentations (numba), used for CPU tensors.

Each kernel loops over the images of a batch (skipping the ones whose ``apply`` flag is false), so
one image (48 KB for 3 x 64 x 64 float32) is read and written once per op while it sits in cache,
instead of once per elementwise torch call and temporary. They compute the formulas of the ops'
docstrings (the same as the torch paths in ``color.py``, ``blur.py`` and ``geometric.py``, which
run for other devices, for tensors that need grad, or when numba is missing); results agree with
the torch paths to float rounding (the tests check both paths against independent formulas).
Pixel arithmetic is done in the images' dtype where the torch path does (blur, crop) and in
float64 where it is a per-pixel chain (colour jitter, luma), rounded once on store.

``cache=True`` (compiled once per machine, like :mod:`disentkit.metrics._kernels`), ``nogil``,
no ``parallel``: augmentation runs on the data-loading thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

try:  # pragma: no cover - exercised by whichever branch the environment has
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "USE_COMPILED", "compiled_ok", "as_array"]

#: Use the compiled kernels where they apply (tests switch this off to check the torch paths).
USE_COMPILED = HAVE_NUMBA


def compiled_ok(images: torch.Tensor) -> bool:
    """Whether the compiled kernels can run on ``images``: a CPU float32/float64 tensor without grad."""
    return (USE_COMPILED and images.device.type == "cpu" and images.dtype in (torch.float32, torch.float64)
            and not images.requires_grad)


def as_array(images: torch.Tensor) -> np.ndarray:
    """The numpy view (shared memory) of a CPU tensor."""
    return images.detach().numpy()


def owned_contiguous(images: torch.Tensor, inplace: bool) -> torch.Tensor:
    """A standard-contiguous tensor the caller may overwrite: ``images`` itself when allowed."""
    if inplace and images.is_contiguous():
        return images
    return images.contiguous() if not images.is_contiguous() else images.clone()


if HAVE_NUMBA:
    _LR, _LG, _LB = 0.299, 0.587, 0.114
    _O_R, _O_G, _O_B = 11.0 / 6.0, 9.0 / 6.0, 7.0 / 6.0

    @numba.njit(cache=True, nogil=True, inline="always")
    def _clip01(v: float) -> float:
        return min(max(v, 0.0), 1.0)

    @numba.njit(cache=True, nogil=True, inline="always")
    def _from_hue(h: float, off: float, mn: float, d6: float) -> float:
        # c = min + 6 d clip(|frac(H + n/6 + 1) - 1/3| - 1/6, 0, 1/6)   (colour.py, _rgb_from_hue)
        v = h + off
        v = v - np.floor(v)
        v = min(max(abs(v - 1.0 / 3.0) - 1.0 / 6.0, 0.0), 1.0 / 6.0)
        return mn + d6 * v

    @numba.njit(cache=True, nogil=True)
    def _hue_image(x: Any, n: int, shift: float) -> None:
        _, _, height, width = x.shape
        for i in range(height):
            for j in range(width):
                r, g, b = float(x[n, 0, i, j]), float(x[n, 1, i, j]), float(x[n, 2, i, j])
                mx = max(r, max(g, b))
                mn = min(r, min(g, b))
                d = mx - mn
                if d <= 0.0:  # grey: no hue, the pixel is unchanged
                    continue
                if r == mx:
                    h6 = (g - b) / d
                elif g == mx:
                    h6 = 2.0 + (b - r) / d
                else:
                    h6 = 4.0 + (r - g) / d
                h = h6 / 6.0 + shift
                d6 = 6.0 * d
                x[n, 0, i, j] = _clip01(_from_hue(h, _O_R, mn, d6))
                x[n, 1, i, j] = _clip01(_from_hue(h, _O_G, mn, d6))
                x[n, 2, i, j] = _clip01(_from_hue(h, _O_B, mn, d6))

    @numba.njit(cache=True, nogil=True)
    def _mean_luma(x: Any, n: int) -> float:
        # the luma of the channel means; sums accumulated per column (float64), then over columns
        channels, height, width = x.shape[1], x.shape[2], x.shape[3]
        cols = np.zeros(width)
        means = np.zeros(channels)
        for c in range(channels):
            cols[:] = 0.0
            for i in range(height):
                src = x[n, c, i]
                for j in range(width):
                    cols[j] += src[j]
            means[c] = cols.sum() / (height * width)
        if channels == 1:
            return means[0]
        return _LR * means[0] + _LG * means[1] + _LB * means[2]

    @numba.njit(cache=True, nogil=True)
    def _saturate_image(x: Any, n: int, f: float) -> None:
        g = 1.0 - f
        for i in range(x.shape[2]):
            r, gr, b = x[n, 0, i], x[n, 1, i], x[n, 2, i]
            for j in range(x.shape[3]):
                lum = g * (_LR * r[j] + _LG * gr[j] + _LB * b[j])
                r[j] = min(max(r[j] * f + lum, 0.0), 1.0)
                gr[j] = min(max(gr[j] * f + lum, 0.0), 1.0)
                b[j] = min(max(b[j] * f + lum, 0.0), 1.0)

    @numba.njit(cache=True, nogil=True)
    def color_jitter_kernel(x: Any, apply: Any, order: Any, factors: Any, active: Any) -> None:
        """In place on ``x`` (N, C, H, W): each applied image runs the components ``order[n]``
        (0 brightness, 1 contrast, 2 saturation, 3 hue; skipped where ``active`` is false) with
        ``factors[n] = (b, c, s, h)``, clipping to [0, 1] after each."""
        channels, height, width = x.shape[1], x.shape[2], x.shape[3]
        for n in range(x.shape[0]):
            if not apply[n]:
                continue
            for t in range(4):
                k = order[n, t]
                if not active[k]:
                    continue
                f = factors[n, k]
                if k == 0 or k == 1:  # x <- f x + (1 - f) m, m = 0 (brightness) or the mean luma
                    off = 0.0 if k == 0 else (1.0 - f) * _mean_luma(x, n)
                    for c in range(channels):
                        for i in range(height):
                            src = x[n, c, i]
                            for j in range(width):
                                src[j] = min(max(src[j] * f + off, 0.0), 1.0)
                elif k == 2:  # x <- f x + (1 - f) L(x) (RGB only: the op requires 3 channels)
                    _saturate_image(x, n, f)
                else:
                    _hue_image(x, n, f)

    @numba.njit(cache=True, nogil=True)
    def grayscale_kernel(x: Any, apply: Any) -> None:
        """In place: the luma of each applied RGB image in all 3 channels (clipped to [0, 1])."""
        for n in range(x.shape[0]):
            if not apply[n]:
                continue
            for i in range(x.shape[2]):
                for j in range(x.shape[3]):
                    lum = _clip01(_LR * x[n, 0, i, j] + _LG * x[n, 1, i, j] + _LB * x[n, 2, i, j])
                    x[n, 0, i, j] = lum
                    x[n, 1, i, j] = lum
                    x[n, 2, i, j] = lum

    @numba.njit(cache=True, nogil=True)
    def solarize_kernel(x: Any, apply: Any, threshold: float) -> None:
        """In place: ``v >= threshold -> 1 - v`` on each applied image (then clipped to [0, 1])."""
        for n in range(x.shape[0]):
            if not apply[n]:
                continue
            for c in range(x.shape[1]):
                for i in range(x.shape[2]):
                    for j in range(x.shape[3]):
                        v = x[n, c, i, j]
                        if v >= threshold:
                            v = 1.0 - v
                        x[n, c, i, j] = min(max(v, 0.0), 1.0)

    @numba.njit(cache=True, nogil=True, inline="always")
    def _reflect(k: int, size: int) -> int:
        if k < 0:
            return -k
        if k >= size:
            return 2 * (size - 1) - k
        return k

    @numba.njit(cache=True, nogil=True)
    def blur_kernel(x: Any, apply: Any, wv: Any, wh: Any) -> None:
        """In place: per applied image ``n``, the separable correlation with ``wv[n]`` (vertical,
        (N, kh)) then ``wh[n]`` (horizontal, (N, kw)) over reflected borders (``x[-1] = x[1]``),
        each a sum of taps in order ``d = 0 .. k-1`` in the images' dtype; clipped to [0, 1]."""
        channels, height, width = x.shape[1], x.shape[2], x.shape[3]
        kh, kw = wv.shape[1], wh.shape[1]
        rh, rw = kh // 2, kw // 2
        tmp = np.empty((height, width), dtype=x.dtype)
        row = np.empty(width + 2 * rw, dtype=x.dtype)
        acc = np.empty(width, dtype=x.dtype)
        for n in range(x.shape[0]):
            if not apply[n]:
                continue
            for c in range(channels):
                plane = x[n, c]
                for i in range(height):
                    src = plane[_reflect(i - rh, height)]
                    w0 = wv[n, 0]
                    for j in range(width):
                        acc[j] = src[j] * w0
                    for d in range(1, kh):
                        src = plane[_reflect(i + d - rh, height)]
                        wd = wv[n, d]
                        for j in range(width):
                            acc[j] += src[j] * wd
                    tmp[i, :] = acc
                for i in range(height):
                    for j in range(width):
                        row[rw + j] = tmp[i, j]
                    for j in range(rw):
                        row[rw - 1 - j] = tmp[i, j + 1]
                        row[rw + width + j] = tmp[i, width - 2 - j]
                    w0 = wh[n, 0]
                    for j in range(width):
                        acc[j] = row[j] * w0
                    for d in range(1, kw):
                        wd = wh[n, d]
                        for j in range(width):
                            acc[j] += row[j + d] * wd
                    for j in range(width):
                        plane[i, j] = min(max(acc[j], 0.0), 1.0)

    @numba.njit(cache=True, nogil=True)
    def crop_kernel(x: Any, out: Any, apply: Any, y0: Any, y1: Any, wy0: Any, wy1: Any,
                    x0: Any, x1: Any, wx0: Any, wx1: Any) -> None:
        """Separable bilinear resampling: ``row = wy0 x[y0] + wy1 x[y1]`` (image ``n``, channel ``c``,
        output row ``i``: rows ``y0/y1[n, i]``), then ``out[n, c, i, j] = wx0 row[x0] + wx1 row[x1]``
        (columns ``x0/x1[n, j]``), clipped to [0, 1] where ``apply[n]`` (other rows are given
        weights 1, 0: an exact copy, not clipped)."""
        channels, width = x.shape[1], x.shape[3]
        out_h, out_w = out.shape[2], out.shape[3]
        row = np.empty(width, dtype=x.dtype)
        for n in range(x.shape[0]):
            cx0, cx1, cw0, cw1 = x0[n], x1[n], wx0[n], wx1[n]
            for i in range(out_h):
                a, b = wy0[n, i], wy1[n, i]
                for c in range(channels):
                    r0 = x[n, c, y0[n, i]]
                    r1 = x[n, c, y1[n, i]]
                    for j in range(width):
                        row[j] = r0[j] * a + r1[j] * b
                    dst = out[n, c, i]
                    if apply[n]:
                        for j in range(out_w):
                            dst[j] = min(max(row[cx0[j]] * cw0[j] + row[cx1[j]] * cw1[j], 0.0), 1.0)
                    else:
                        for j in range(out_w):
                            dst[j] = row[cx0[j]] * cw0[j] + row[cx1[j]] * cw1[j]
