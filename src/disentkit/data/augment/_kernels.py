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
    def _scaled(dst: Any, src: Any, w: float) -> None:
        for k in range(dst.shape[0]):
            dst[k] = src[k] * w

    @numba.njit(cache=True, nogil=True)
    def _add_scaled(dst: Any, src: Any, w: float) -> None:
        for k in range(dst.shape[0]):
            dst[k] += src[k] * w

    @numba.njit(cache=True, nogil=True)
    def blur_kernel(x: Any, apply: Any, wv: Any, wh: Any) -> None:
        """In place: per applied image ``n``, the separable correlation with ``wv[n]`` (vertical,
        (N, kh)) then ``wh[n]`` (horizontal, (N, kw)) over reflected borders (``x[-1] = x[1]``),
        each a sum of taps in order ``d = 0 .. k-1`` in the images' dtype; clipped to [0, 1].

        Each pass runs over a whole flattened plane, one tap at a time (long loops the compiler
        vectorises): the vertical pass over the rows whose taps all lie inside the image, the
        horizontal pass over every pixel as if the rows were one line; the pixels those passes
        get wrong (the first and last ``k // 2`` rows, columns) are then recomputed with the
        reflected taps."""
        n_img, channels, height, width = x.shape
        kh, kw = wv.shape[1], wh.shape[1]
        rh, rw = kh // 2, kw // 2
        size = height * width
        flat = x.reshape(n_img, channels, size)
        tmp = np.empty(size, dtype=x.dtype)
        edge_cols = np.empty(2 * rw, dtype=np.int64)  # the border columns and their reflected taps
        edge_taps = np.empty((2 * rw, kw), dtype=np.int64)
        for e in range(2 * rw):
            j = e if e < rw else width - 2 * rw + e
            edge_cols[e] = j
            for d in range(kw):
                edge_taps[e, d] = _reflect(j + d - rw, width)
        edge = np.empty(height, dtype=x.dtype)
        for n in range(n_img):
            if not apply[n]:
                continue
            for c in range(channels):
                plane = flat[n, c]
                inner = tmp[rh * width:(height - rh) * width]  # vertical pass, rows rh .. H-rh-1
                m = inner.shape[0]
                _scaled(inner, plane[0:m], wv[n, 0])
                for d in range(1, kh):
                    _add_scaled(inner, plane[d * width:d * width + m], wv[n, d])
                for i in range(height):  # rows whose taps cross the border
                    if rh <= i < height - rh:
                        continue
                    row = tmp[i * width:(i + 1) * width]
                    r = _reflect(i - rh, height) * width
                    _scaled(row, plane[r:r + width], wv[n, 0])
                    for d in range(1, kh):
                        r = _reflect(i + d - rh, height) * width
                        _add_scaled(row, plane[r:r + width], wv[n, d])
                m = size - 2 * rw  # horizontal pass, pixels rw .. HW-rw-1 of the flattened plane
                out = plane[rw:rw + m]
                _scaled(out, tmp[0:m], wh[n, 0])
                for d in range(1, kw):
                    _add_scaled(out, tmp[d:d + m], wh[n, d])
                grid = tmp.reshape(height, width)
                pixels = plane.reshape(height, width)
                for e in range(2 * rw):  # the border columns, all rows at once
                    t0 = edge_taps[e, 0]
                    w0 = wh[n, 0]
                    for i in range(height):
                        edge[i] = grid[i, t0] * w0
                    for d in range(1, kw):
                        td = edge_taps[e, d]
                        wd = wh[n, d]
                        for i in range(height):
                            edge[i] += grid[i, td] * wd
                    j = edge_cols[e]
                    for i in range(height):
                        pixels[i, j] = edge[i]
                for k in range(size):
                    plane[k] = min(max(plane[k], 0.0), 1.0)

    @numba.njit(cache=True, nogil=True, inline="always")
    def _bilinear_taps(origin: float, extent: float, size: int, reverse: bool,
                       i0: Any, i1: Any, w0: Any, w1: Any) -> None:
        # grid_sample's bilinear taps along one axis of a box (origin and extent as fractions of
        # the side; align_corners=False, border padding), resized to the side: output pixel k
        # samples c = clip(origin size + (k + 1/2) extent - 1/2, 0, size - 1), neighbours
        # floor(c) and floor(c) + 1 (weight 0 past the edge); ``reverse`` mirrors the output order
        for k in range(size):
            c = origin * size + (k + 0.5) * extent - 0.5
            c = min(max(c, 0.0), size - 1.0)
            f = np.floor(c)
            a = int(f)
            o = size - 1 - k if reverse else k
            i0[o] = a
            if a >= size - 1:
                i1[o] = size - 1
                w0[o] = 1.0
                w1[o] = 0.0
            else:
                i1[o] = a + 1
                w0[o] = f + 1.0 - c
                w1[o] = c - f

    @numba.njit(cache=True, nogil=True)
    def crop_kernel(x: Any, out: Any, apply: Any, flip: Any, box: Any) -> None:
        """Random resized crop (and flip) of each image into ``out`` (same shape): where
        ``apply[n]``, the bilinear resampling of the box ``box[n] = (x0, y0, w, h)`` (fractions of
        the image) back to the image's size, separably (``row = wy0 x[y0] + wy1 x[y1]`` for output row ``i``, then
        ``out[i, j] = wx0 row[x0] + wx1 row[x1]``), clipped to [0, 1]; elsewhere an exact copy. Where
        ``flip[n]``, the columns are mirrored as well."""
        n_img, channels, height, width = x.shape
        y0, y1 = np.empty(height, dtype=np.int64), np.empty(height, dtype=np.int64)
        wy0, wy1 = np.empty(height, dtype=x.dtype), np.empty(height, dtype=x.dtype)
        x0, x1 = np.empty(width, dtype=np.int64), np.empty(width, dtype=np.int64)
        wx0, wx1 = np.empty(width, dtype=x.dtype), np.empty(width, dtype=x.dtype)
        row = np.empty(width, dtype=x.dtype)
        for n in range(n_img):
            if not apply[n]:  # copied exactly (mirrored where flip[n])
                for c in range(channels):
                    for i in range(height):
                        src, dst = x[n, c, i], out[n, c, i]
                        for j in range(width):
                            dst[j] = src[width - 1 - j] if flip[n] else src[j]
                continue
            _bilinear_taps(box[n, 0], box[n, 2], width, flip[n], x0, x1, wx0, wx1)
            _bilinear_taps(box[n, 1], box[n, 3], height, False, y0, y1, wy0, wy1)
            for i in range(height):
                a, b = wy0[i], wy1[i]
                for c in range(channels):
                    r0 = x[n, c, y0[i]]
                    r1 = x[n, c, y1[i]]
                    for j in range(width):
                        row[j] = r0[j] * a + r1[j] * b
                    dst = out[n, c, i]
                    for j in range(width):
                        dst[j] = min(max(row[x0[j]] * wx0[j] + row[x1[j]] * wx1[j], 0.0), 1.0)
