"""Latent traversals and reconstructions of a trained VAE-family method.

A traversal encodes one image, takes its mean code ``mu`` and, for each latent dimension ``d``,
decodes ``mu`` with ``mu_d`` replaced by each value of a fixed interval (disentanglement_lib's
"fixed interval" traversal, ``[-2, 2]`` by default). Decoder outputs are Bernoulli logits, shown as
``sigmoid(logits)``.

>>> rows = latent_traversal(model, images[0], np.linspace(-2, 2, 9))   # (D, 9, C, H, W)
>>> save_png(image_grid(rows), "traversal.png")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disentkit.viz.grid import image_grid, save_gif, save_png


def _device(method: torch.nn.Module) -> torch.device:
    try:
        return next(method.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _as_tensor(images: Any, method: torch.nn.Module) -> torch.Tensor:
    return torch.as_tensor(np.asarray(images, dtype=np.float32)).to(_device(method))


@torch.no_grad()
def decode_images(method: Any, codes: torch.Tensor) -> np.ndarray:
    """``sigmoid(method.decode(codes))`` as float32 numpy images (N, C, H, W) in [0, 1]."""
    return torch.sigmoid(method.decode(codes).float()).cpu().numpy()


@torch.no_grad()
def latent_traversal(method: Any, image: Any, values: Any = None) -> np.ndarray:
    """Decode the mean code of ``image`` (C, H, W) with each dimension swept over ``values``.

    ``values`` defaults to 9 points evenly spaced over [-2, 2].

    Returns float32 (D, K, C, H, W): row ``d`` varies latent ``d`` through the K ``values``, all
    other dimensions fixed at the image's mean code. One decoder call for all D·K codes.
    """
    x = _as_tensor(image, method)
    if x.ndim != 3:
        raise ValueError(f"image must be one (C, H, W) image, got shape {tuple(x.shape)}")
    values = np.linspace(-2.0, 2.0, 9) if values is None else values
    vals = torch.as_tensor(np.asarray(values, dtype=np.float32), device=x.device)
    if vals.ndim != 1 or vals.numel() == 0:
        raise ValueError("values must be a non-empty 1-D sequence")
    mu = method.encode(x[None])[0][0].float()  # (D,)
    d, k = mu.shape[0], vals.shape[0]
    codes = mu.expand(d, k, d).clone()  # codes[i, j] = mu with dimension i set to vals[j]
    idx = torch.arange(d, device=x.device)
    codes[idx, :, idx] = vals.expand(d, k)
    pictures = decode_images(method, codes.reshape(d * k, d))
    return pictures.reshape(d, k, *pictures.shape[1:])


@torch.no_grad()
def reconstructions(method: Any, images: Any) -> np.ndarray:
    """Inputs above their reconstructions ``sigmoid(decode(mu(x)))``: float32 (2, N, C, H, W)."""
    x = _as_tensor(images, method)
    mu = method.encode(x)[0]
    return np.stack([x.cpu().numpy(), decode_images(method, mu)])


def save_run_pictures(method: Any, dataset: Any, run_dir: str | os.PathLike, *, seed: int = 0, n_images: int = 8,
                      n_values: int = 9, gif_frames: int = 16, scale: int = 1) -> dict[str, Path]:
    """Write ``traversal.png``, ``traversal.gif`` and ``reconstructions.png`` into ``run_dir``.

    The images are ``dataset.sample(n_images, rng=seed)`` (the first one is traversed).
    ``traversal.png`` has one row per latent dimension and ``n_values`` columns over [-2, 2];
    ``traversal.gif`` sweeps all dimensions at once (one tile each) over ``gif_frames`` values,
    up and back down; ``reconstructions.png`` shows the inputs above their reconstructions.
    """
    if n_images < 1 or n_values < 2 or gif_frames < 2:
        raise ValueError("n_images must be >= 1, n_values and gif_frames >= 2")
    run_dir = Path(run_dir)
    _, images = dataset.sample(n_images, rng=seed)
    was_training = method.training
    method.eval()
    try:
        rows = latent_traversal(method, images[0], np.linspace(-2.0, 2.0, n_values))
        sweep = latent_traversal(method, images[0], np.linspace(-2.0, 2.0, gif_frames))  # (D, T, C, H, W)
        recon = reconstructions(method, images)
    finally:
        method.train(was_training)
    order = list(range(gif_frames)) + list(range(gif_frames - 2, 0, -1))  # up, then back down
    frames = [image_grid(sweep[None, :, t], scale=scale) for t in order]
    return {
        "traversal.png": save_png(image_grid(rows, scale=scale), run_dir / "traversal.png"),
        "traversal.gif": save_gif(frames, run_dir / "traversal.gif"),
        "reconstructions.png": save_png(image_grid(recon, scale=scale), run_dir / "reconstructions.png"),
    }
