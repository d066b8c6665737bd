"""Image grids written as PNG or animated GIF (Pillow only; no matplotlib needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from disentkit.io import atomic_path


def image_grid(images: np.ndarray, *, ncols: int | None = None, padding: int = 2, pad_value: float = 0.5,
               scale: int = 1) -> np.ndarray:
    """Tile images into one picture.

    Parameters
    ----------
    images: float array in [0, 1], either (rows, cols, C, H, W) or (N, C, H, W) with ``ncols``;
        C is 1 (grey) or 3 (RGB).
    ncols: columns for a (N, C, H, W) input (default: ceil(sqrt(N))).
    padding: pixels between tiles, filled with ``pad_value``.
    scale: integer upscaling factor (nearest neighbour), for small images.

    Returns
    -------
    uint8 array (H', W', 3).
    """
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 4:
        n = arr.shape[0]
        if n == 0:
            raise ValueError("image_grid needs at least one image")
        cols = int(ncols or int(np.ceil(np.sqrt(n))))
        rows = -(-n // cols)
        fill = np.full((rows * cols - n, *arr.shape[1:]), pad_value, dtype=np.float32)
        arr = np.concatenate([arr, fill]).reshape(rows, cols, *arr.shape[1:])
    if arr.ndim != 5 or arr.shape[2] not in (1, 3):
        raise ValueError(f"images must be (rows, cols, C, H, W) or (N, C, H, W) with C in {{1, 3}}, got {arr.shape}")
    if scale < 1 or padding < 0:
        raise ValueError("scale must be >= 1 and padding >= 0")
    rows, cols, c, h, w = arr.shape
    if c == 1:
        arr = np.repeat(arr, 3, axis=2)
    if scale > 1:
        arr = arr.repeat(scale, axis=3).repeat(scale, axis=4)
        h, w = h * scale, w * scale
    out = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, 3), pad_value, np.float32)
    tiles = arr.transpose(0, 3, 1, 4, 2)  # rows, H, cols, W, 3
    for r in range(rows):  # one slice per row of tiles; each row assignment is vectorised
        y = padding + r * (h + padding)
        block = out[y:y + h, padding:]
        block = block[:, : cols * (w + padding)].reshape(h, cols, w + padding, 3)
        block[:, :, :w, :] = tiles[r]
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_png(picture: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a uint8 (H, W, 3) picture as PNG, atomically (:func:`disentkit.io.atomic_path`)."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(tmp, format="PNG")
    return path


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, *, duration_ms: int = 120) -> Path:
    """Write uint8 (H, W, 3) frames as a looping animated GIF, atomically."""
    from PIL import Image

    if len(frames) == 0:
        raise ValueError("save_gif needs at least one frame")
    path = Path(path)
    pictures = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    with atomic_path(path) as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0)
    return path
