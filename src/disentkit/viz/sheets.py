"""Dataset sheets: one row per factor, that factor swept across its values from a fixed base."""

from __future__ import annotations

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.data.base import GroundTruthData
from disentkit.viz.grid import image_grid


def sweep_values(size: int, max_values: int) -> np.ndarray:
    """Up to ``max_values`` evenly spaced values of a factor with ``size`` values (all if it fits)."""
    if max_values < 2:
        raise ValueError(f"max_values must be >= 2, got {max_values}")
    if size <= max_values:
        return np.arange(size)
    return np.unique(np.round(np.linspace(0, size - 1, max_values)).astype(np.int64))


def _factor_sweep(factor: object, max_values: int) -> np.ndarray:
    """The values a sheet shows of one factor: :func:`sweep_values` of a discrete factor's indices,
    ``max_values`` evenly spaced values of a continuous factor's (or angle's) range."""
    if factor.kind == "discrete":
        return sweep_values(factor.size, max_values)
    return np.linspace(factor.low, factor.high, max_values)


def factor_sweep_images(dataset: GroundTruthData, *, rng: RandomLike = 0, base: np.ndarray | None = None,
                        max_values: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Images of each factor swept from a base point.

    Returns ``(images, mask)``: images (F, K, C, H, W) with K = the longest sweep, and a boolean
    (F, K) mask of the cells that hold an image (shorter sweeps are padded). The base factor vector
    is drawn from ``rng`` unless given; the same ``rng`` renders every cell. A continuous factor is
    swept over ``max_values`` evenly spaced values of its range; on a dataset with a causal graph,
    an intervenable factor is swept by ``dataset.intervene`` (its effects follow it).
    """
    gen = check_random_state(rng)
    space = dataset.factor_space
    base_vec = space.sample_uniform(1, gen)[0] if base is None else space.validate(np.asarray(base)[None])[0]
    sweeps = [_factor_sweep(f, max_values) for f in space.factors]
    width = max(len(s) for s in sweeps)
    factors = np.repeat(base_vec[None, None, :], space.num_factors * width, axis=0).reshape(
        space.num_factors, width, space.num_factors).copy()
    mask = np.zeros((space.num_factors, width), dtype=bool)
    causal = dataset.causal_graph is not None
    for k, values in enumerate(sweeps):
        name = space.names[k]
        if causal and name in dataset.intervenable_factors:
            factors[k, : len(values)] = dataset.intervene(factors[k, : len(values)], {name: values})
        else:
            factors[k, : len(values), k] = values
        mask[k, : len(values)] = True
    images = dataset.observations(factors.reshape(-1, space.num_factors), gen)
    images = images.reshape(space.num_factors, width, *dataset.observation_shape)
    images[~mask] = 1.0  # padding cells are white
    return images, mask


def factor_sweep_sheet(dataset: GroundTruthData, *, rng: RandomLike = 0, max_values: int = 16,
                       scale: int = 1, labels: bool = True) -> np.ndarray:
    """A uint8 (H, W, 3) sheet: one labelled row per factor, swept across its values."""
    images, _ = factor_sweep_images(dataset, rng=rng, max_values=max_values)
    grid = image_grid(images, padding=2, pad_value=1.0, scale=scale)
    if not labels:
        return grid
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    names = [f"{f.name} ({f.size})" if f.kind == "discrete" else f"{f.name} [{f.low:.3g}, {f.high:.3g}]"
             for f in dataset.factor_space.factors]
    label_width = 8 + max(int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(n, font=font)) for n in names)
    title_height = 16
    sheet = Image.new("RGB", (grid.shape[1] + label_width, grid.shape[0] + title_height), "white")
    sheet.paste(Image.fromarray(grid), (label_width, title_height))
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 2), f"{dataset.name or type(dataset).__name__}: each row sweeps one factor", fill="black", font=font)
    tile = dataset.observation_shape[1] * scale + 2
    for k, name in enumerate(names):
        draw.text((4, title_height + 2 + k * tile + tile // 2 - 6), name, fill="black", font=font)
    return np.asarray(sheet)
