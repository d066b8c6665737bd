"""The colour, noisy and scream variants of dSprites (Locatello et al. 2019, disentanglement_lib).

Each variant wraps a binary, 1-channel dSprites-like dataset (procedural :class:`DSprites` by default,
or the original file) and keeps its factors; only the pixels change, following disentanglement_lib
(spec ``disentanglement_lib.md`` section 1.2), with images laid out (n, 3, H, W):

* :class:`ColorDSprites`: ``x * c`` with one colour ``c ~ U(0.5, 1)^3`` per sample; the background
  stays black.
* :class:`NoisyDSprites`: ``min(x + e, 1)`` with per-pixel noise ``e ~ U(0, 1)`` in each channel; the
  sprite is white, the background noise.
* :class:`ScreamDSprites`: a random 64x64 crop ``B`` of a background picture (Munch's *The Scream* in
  the reference, thumbnailed to fit 350x274), tinted per sample: ``b = (B + t) / 2`` with
  ``t ~ U(0, 1)^3``; the sprite pixels (``x == 1``) become ``1 - b``.

All three draw from ``rng`` when rendering (``stochastic = True``), after whatever the base draws.
Random numbers are drawn in the reference's layout (colours (n, 3), noise (n, H, W, 3)), per kind for
the whole batch: crop rows, then crop columns, then tints (the reference interleaves them per sample).
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np

from disentkit.data.base import GroundTruthData
from disentkit.data.dsprites import DSprites
from disentkit.data.factors import FactorSpace

PathLike = Union[str, "os.PathLike[str]"]

SCREAM_THUMBNAIL = (350, 274)  # (width, height) box the reference thumbnails the picture into
SCREAM_TEXTURE_SHAPE = (274, 221)  # (height, width) of The Scream (91 x 73.5 cm) thumbnailed so
CHUNK = 1024  # samples whose floating-point temporaries are held at once


class _Variant(GroundTruthData):
    """A 3-channel variant of a binary 1-channel base dataset; the factors are the base's."""

    stochastic = True

    def __init__(self, base: GroundTruthData | None = None):
        base = DSprites() if base is None else base
        if not isinstance(base, GroundTruthData):
            raise ValueError(f"base must be a GroundTruthData (e.g. DSprites()), got {type(base).__name__}")
        if base.observation_shape[0] != 1:
            raise ValueError(
                f"base must have 1-channel binary images (dSprites-like), got shape {base.observation_shape}"
            )
        self.base = base
        self.source = base.source

    @property
    def factor_space(self) -> FactorSpace:
        return self.base.factor_space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        _, h, w = self.base.observation_shape
        return (3, h, w)

    def _masks(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """The base images (n, 1, H, W) of validated ``factors``."""
        return self.base.observations(factors, rng)


class ColorDSprites(_Variant):
    """dSprites with the sprite in a random colour: ``x * c``, ``c ~ U(0.5, 1)^3`` per sample.

    The 3 channel values are drawn as ``rng.uniform(0.5, 1, (n, 3))``; the background stays 0.
    """

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        assert rng is not None
        masks = self._masks(factors, rng)
        colours = rng.uniform(0.5, 1.0, size=(factors.shape[0], 3)).astype(np.float32)
        return masks * colours[:, :, None, None]


class NoisyDSprites(_Variant):
    """dSprites on uniform noise: ``min(x + e, 1)``, ``e ~ U(0, 1)`` per pixel and channel.

    The noise is drawn as ``rng.uniform(0, 1, (n, H, W, 3))`` (in chunks of consecutive samples,
    which draws the same numbers) and moved to (n, 3, H, W).
    """

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        assert rng is not None
        masks = self._masks(factors, rng)
        n, _, h, w = masks.shape
        out = np.empty((n, 3, h, w), dtype=np.float32)
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            noise = rng.uniform(0.0, 1.0, size=(stop - start, h, w, 3)).astype(np.float32)
            out[start:stop] = noise.transpose(0, 3, 1, 2)
        # x + e in float32 equals float32(x + e) for binary x; min(., 1) makes the sprite exactly 1
        np.minimum(out + masks, 1.0, out=out)
        return out


def load_scream_image(path: PathLike) -> np.ndarray:
    """Read a background picture as the reference reads *The Scream*: float64 (H, W, 3) in [0, 1].

    The file is opened with Pillow, converted to RGB, shrunk with ``Image.thumbnail((350, 274))``
    (aspect kept, never enlarged) and divided by 255.
    """
    from PIL import Image

    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise ValueError(f"scream_image must be an existing image file, an array or None, got {path!r}")
    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail(SCREAM_THUMBNAIL)
        return np.asarray(img, dtype=np.float64) / 255.0


def scream_texture(height: int = SCREAM_TEXTURE_SHAPE[0], width: int = SCREAM_TEXTURE_SHAPE[1]) -> np.ndarray:
    """A deterministic painterly stand-in for *The Scream*: float64 (height, width, 3) in [0, 1].

    Two domain-warped band fields, ``t = (1 + sin(2 pi (f y + w(x, y)))) / 2`` with ``w`` a sum of
    low-frequency sinusoids, are coloured through a warm palette (dark red, orange, yellow: the sky)
    and a cool one (dark blue, blue, ochre: the fjord), blended across a wavy horizon at about 45% of
    the height, plus faint brush-stroke ripples along the bands. Used when no picture file is given (no download).
    """
    if height < 65 or width < 65:
        raise ValueError(f"the texture must be at least 65x65 pixels, got {height}x{width}")
    y, x = np.meshgrid(np.linspace(0.0, 1.0, height), np.linspace(0.0, 1.0, width), indexing="ij")
    two_pi = 2.0 * np.pi
    warp = 0.22 * np.sin(two_pi * (1.3 * x + 0.6 * y) + 0.4) + 0.08 * np.sin(two_pi * (3.1 * x - 1.7 * y))
    sky_phase = 4.5 * y + warp + 0.05 * np.sin(two_pi * 5.0 * x)
    swirl = 0.35 * np.sin(two_pi * (0.9 * x - 1.1 * y) + 1.0) + 0.12 * np.sin(two_pi * (2.3 * x + 2.9 * y))
    sea_phase = 3.0 * x + 2.0 * y + swirl
    sky_t = 0.5 + 0.5 * np.sin(two_pi * sky_phase)
    sea_t = 0.5 + 0.5 * np.sin(two_pi * sea_phase)
    warm = np.array([[0.55, 0.12, 0.08], [0.92, 0.45, 0.14], [0.97, 0.78, 0.32]])
    cool = np.array([[0.07, 0.11, 0.30], [0.20, 0.36, 0.62], [0.50, 0.44, 0.24]])
    horizon = 0.45 + 0.06 * np.sin(two_pi * (1.2 * x + 0.15))
    blend = 1.0 / (1.0 + np.exp(-(y - horizon) / 0.03))  # 0 in the sky, 1 below the horizon
    image = (1.0 - blend)[..., None] * _palette(warm, sky_t) + blend[..., None] * _palette(cool, sea_t)
    # brush strokes: fine ripples running along the bands, their spacing varying across the picture
    ripple = (1.0 - blend) * np.sin(two_pi * (6.0 + 2.0 * x) * sky_phase) + blend * np.sin(
        two_pi * (5.0 + 2.0 * y) * sea_phase
    )
    strokes = 0.035 * ripple * (0.6 + 0.4 * np.sin(two_pi * (2.0 * x + 3.0 * y)))
    return np.clip(image + strokes[..., None], 0.0, 1.0)


def _palette(colours: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Piecewise-linear colour map: ``t`` in [0, 1] through ``colours`` (k, 3) -> (..., 3)."""
    k = colours.shape[0] - 1
    pos = np.clip(t, 0.0, 1.0) * k
    i = np.minimum(pos.astype(np.int64), k - 1)
    frac = (pos - i)[..., None]
    return colours[i] * (1.0 - frac) + colours[i + 1] * frac


class ScreamDSprites(_Variant):
    """dSprites on a tinted crop of a picture, the sprite inverted (disentanglement_lib's Scream-dSprites).

    Per sample: a crop offset ``row ~ U{0 .. H_bg - 65}``, ``col ~ U{0 .. W_bg - 65}`` (the reference's
    ``randint(0, H_bg - 64)``, whose upper bound is exclusive), a tint ``t ~ U(0, 1)^3``;
    ``b = (crop + t) / 2`` and the image is ``1 - b`` where the sprite is (``x == 1``), ``b`` elsewhere.

    Parameters
    ----------
    base: the binary 1-channel dataset (default :class:`DSprites`).
    scream_image: a picture file (read by :func:`load_scream_image`; the reference uses Munch's
        *The Scream*, ``scream/scream.jpg``), an (H, W, 3) array in [0, 1], or ``None`` for the
        procedural :func:`scream_texture`. It must exceed the image size (64) in both directions.
    """

    def __init__(self, base: GroundTruthData | None = None, scream_image: PathLike | np.ndarray | None = None):
        super().__init__(base)
        if scream_image is None:
            background = scream_texture()
        elif isinstance(scream_image, np.ndarray):
            background = np.asarray(scream_image, dtype=np.float64)
            if background.size and (background.min() < 0.0 or background.max() > 1.0):
                raise ValueError("a scream_image array must have values in [0, 1]")
        else:
            background = load_scream_image(scream_image)
        _, h, w = self.base.observation_shape
        if background.ndim != 3 or background.shape[2] != 3 or background.shape[0] <= h or background.shape[1] <= w:
            raise ValueError(
                f"the background must be an RGB picture larger than {h}x{w} pixels, got shape {background.shape}"
            )
        self.background = np.ascontiguousarray(background)

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        assert rng is not None
        masks = self._masks(factors, rng)
        n, _, h, w = masks.shape
        bg_h, bg_w, _ = self.background.shape
        rows = rng.integers(0, bg_h - h, size=n)
        cols = rng.integers(0, bg_w - w, size=n)
        tints = rng.uniform(0.0, 1.0, size=(n, 3))
        pixels = self.background.reshape(-1, 3)  # row-major (bg_h * bg_w, 3)
        window = (np.arange(h)[:, None] * bg_w + np.arange(w)[None, :]).ravel()  # a crop at (0, 0)
        out = np.empty((n, 3, h, w), dtype=np.float32)
        for start in range(0, n, CHUNK):
            sl = slice(start, min(start + CHUNK, n))
            corner = rows[sl] * bg_w + cols[sl]
            crops = np.take(pixels, (corner[:, None] + window[None, :]).ravel(), axis=0)
            back = crops.reshape(-1, h, w, 3) + tints[sl, None, None, :]
            back /= 2.0
            np.subtract(1.0, back, out=back, where=(masks[sl, 0] == 1.0)[..., None])
            out[sl] = back.transpose(0, 3, 1, 2)
        return out


def _base(path: PathLike | None) -> GroundTruthData:
    """Procedural :class:`DSprites`, or the original file through the registry when ``path`` is given."""
    if path is None:
        return DSprites()
    from disentkit.data import registry

    return registry.get("dsprites", path=os.fspath(path))


def color_dsprites(path: PathLike | None = None) -> ColorDSprites:
    """Colour-dSprites (registry ``color_dsprites``); ``path`` reads the original dSprites file."""
    return ColorDSprites(_base(path))


def noisy_dsprites(path: PathLike | None = None) -> NoisyDSprites:
    """Noisy-dSprites (registry ``noisy_dsprites``); ``path`` reads the original dSprites file."""
    return NoisyDSprites(_base(path))


def scream_dsprites(path: PathLike | None = None, scream_image: PathLike | np.ndarray | None = None) -> ScreamDSprites:
    """Scream-dSprites (registry ``scream_dsprites``).

    ``path`` reads the original dSprites file; ``scream_image`` is the background picture (default:
    the procedural :func:`scream_texture`).
    """
    return ScreamDSprites(_base(path), scream_image=scream_image)
