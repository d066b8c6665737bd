"""Pillow-exact Lanczos resizing of whole uint8 image batches, as two matrix products.

Pillow's ``Image.resize(size, Image.LANCZOS)`` (``libImaging/Resample.c``) resamples separably:
first along the width, then along the height, rounding to uint8 after each pass. For one axis of
length ``n_in`` resized to ``n_out``, with ``scale = n_in / n_out`` and ``s = max(scale, 1)``, output
pixel ``j`` (centre ``c_j = (j + 0.5) * scale``) takes the inputs ``i`` in
``[int(c_j - 3s + 0.5), int(c_j + 3s + 0.5))`` (clipped to ``[0, n_in)``) with weights

    w_ji = L((i - c_j + 0.5) / s) / sum_i L(...),   L(x) = sinc(x) sinc(x / 3) on [-3, 3), else 0,

quantised to fixed point ``k_ji = round_half_away(w_ji * 2**22)``. A pass computes
``clip((2**21 + sum_i k_ji x_i) >> 22, 0, 255)``. Here each pass is one float64 matrix product:
the products and sums are integers below ``2**53``, so float64 holds them exactly and the result
equals Pillow's bit for bit (checked against Pillow in the tests) while running on whole batches.
"""

from __future__ import annotations

import numpy as np

_PRECISION_BITS = 22  # Pillow: 32 - 8 (uint8) - 2
_SUPPORT = 3.0  # Lanczos-3


def _lanczos(x: np.ndarray) -> np.ndarray:
    """Pillow's truncated sinc: ``sinc(x) * sinc(x / 3)`` for ``-3 <= x < 3``, else 0."""
    inside = (x >= -_SUPPORT) & (x < _SUPPORT)
    return np.where(inside, np.sinc(x) * np.sinc(x / _SUPPORT), 0.0)


def lanczos_weights(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's fixed-point Lanczos weights as a dense float64 ``(n_out, n_in)`` matrix of integers.

    Row ``j`` holds ``k_ji`` (see the module docstring); the entries sum to about ``2**22``.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"image sizes must be >= 1, got {n_in} -> {n_out}")
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = _SUPPORT * filterscale
    centres = (np.arange(n_out) + 0.5) * scale
    # C casts (int) truncate toward zero; the arguments here are > -1, so trunc matches.
    lo = np.maximum(np.trunc(centres - support + 0.5), 0).astype(np.int64)
    hi = np.minimum(np.trunc(centres + support + 0.5), n_in).astype(np.int64)
    cols = np.arange(n_in)
    taps = (cols[None, :] >= lo[:, None]) & (cols[None, :] < hi[:, None])
    w = np.where(taps, _lanczos((cols[None, :] - centres[:, None] + 0.5) / filterscale), 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=np.zeros_like(w), where=total != 0)
    scaled = w * float(1 << _PRECISION_BITS)
    return np.where(scaled < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5))


def _requantise(acc: np.ndarray) -> np.ndarray:
    """Pillow's ``clip8``, in place: ``(acc + 2**21) >> 22`` clipped to [0, 255] (float64)."""
    acc += float(1 << (_PRECISION_BITS - 1))
    acc *= 1.0 / float(1 << _PRECISION_BITS)  # a power of two: exact
    np.floor(acc, out=acc)
    return np.clip(acc, 0.0, 255.0, out=acc)


def resize_lanczos(images: np.ndarray, size: tuple[int, int], chunk: int = 64) -> np.ndarray:
    """Resize uint8 images ``(n, H, W)`` or ``(n, H, W, C)`` to ``size = (h, w)``, like Pillow.

    Equal, pixel for pixel, to ``np.asarray(Image.fromarray(img).resize((w, h), Image.LANCZOS))``
    for every image (also to ``thumbnail`` when the aspect ratio is kept and the reduction is at most
    4x, since Pillow then applies no ``reduce`` step). Works in chunks of ``chunk`` images.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4):
        raise ValueError(f"images must be uint8 (n, H, W) or (n, H, W, C), got {arr.dtype} {arr.shape}")
    h, w = int(size[0]), int(size[1])
    squeeze = arr.ndim == 3
    if squeeze:
        arr = arr[..., None]
    n, h_in, w_in, c = arr.shape
    out = np.empty((n, h, w, c), dtype=np.uint8)
    if (h_in, w_in) == (h, w):
        out[...] = arr
        return out[..., 0] if squeeze else out
    kx_t = lanczos_weights(w_in, w).T.copy()  # (W, w)
    ky = lanczos_weights(h_in, h)  # (h, H)
    for start in range(0, n, chunk):
        # (m, C, H, W): rows of pixels are contiguous, so each pass is one BLAS product.
        x = np.moveaxis(arr[start : start + chunk], 3, 1).astype(np.float64)
        if w_in != w:  # horizontal pass first, rounded to uint8 (Pillow skips a no-op pass)
            x = _requantise(x @ kx_t)
        if h_in != h:
            x = _requantise(np.matmul(ky, x))
        out[start : start + chunk] = np.moveaxis(x, 1, 3)
    return out[..., 0] if squeeze else out
