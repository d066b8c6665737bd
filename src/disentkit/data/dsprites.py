"""dSprites rendered procedurally: a white square, ellipse or heart on black, 64x64 binary images.

The factor grid is the original's (Matthey et al. 2017, https://github.com/deepmind/dsprites-dataset):
``shape`` 3 (square, ellipse, heart), ``scale`` 6 (``linspace(0.5, 1, 6)``), ``orientation`` 40
(``2*pi*k/40``, the end point excluded), ``posX`` 32 and ``posY`` 32 (``linspace(0, 1, 32)``), in that
(C-order) column order, which is the order of the original file without its constant colour factor.
No file is read: every image is drawn here, so it is *like* the original, not pixel-identical.

Geometry (our choices, documented because the original generator is not public):

* Pixel ``(row, col)`` has its centre at integer coordinates. The sprite centre is at
  ``col = 16 + 31 * posX`` and ``row = 16 + 31 * posY`` (``posY`` grows downwards), so one step of
  either position factor moves the sprite by exactly one pixel, the smallest step at which all images
  differ (the dSprites README says the latent steps were chosen that way). The centre spans pixels
  16..47, symmetric about the image centre, and no sprite ever touches the border.
* A sprite is drawn in a canonical frame ``(u, v)`` (``v`` up) and mapped to the image by scaling
  with ``scale * UNIT`` pixels, rotating counter-clockwise (as seen on screen) by ``orientation`` and
  translating to the centre. Inside tests in the canonical frame:
  square ``max(|u|, |v|) <= 1``; ellipse ``(u/1.2)^2 + (v/0.6)^2 <= 1`` (aspect 2:1, major axis
  horizontal at orientation 0); heart ``(x^2 + y^2 - 1)^3 <= x^2 y^3`` with
  ``(x, y) = (u, v + c) / k`` (the classic implicit heart, point down, scaled by ``k`` to the
  square's width and shifted by ``c`` so that its area centroid is the sprite centre).
* ``UNIT`` = 9.85 pixels (the square is 19.7 px wide at scale 1) was calibrated so that the mean pixel
  value over the whole grid is 0.043, the published mean of the original images (binary std 0.202).
* Each pixel is 4x4 supersampled and set to 1 where at least half of its 16 samples are inside, so
  the images are exactly 0/1 while edges follow the true outline.

Rendering is a gather: the 720 (shape, scale, orientation) sprites are drawn once (lazily, shared by
all instances) into 29x29 patches, and a batch of images is filled by scattering each sample's patch
at its integer centre, in chunks of :data:`CHUNK` samples to bound memory.
"""

from __future__ import annotations

import numpy as np

from disentkit.data.base import FactorSubset, GroundTruthData
from disentkit.data.factors import FactorSpace

IMAGE_SIZE = 64
SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40, endpoint=False)
POSITIONS = np.linspace(0.0, 1.0, 32)

UNIT = 9.85  # pixels per canonical unit at scale 1 (the square's half side)
POSITION_OFFSET = 16  # pixel of the sprite centre at position 0
POSITION_SPAN = 31  # pixels between position 0 and position 1
SUPERSAMPLE = 4  # samples per pixel side
CHUNK = 4096  # samples rendered at once

_ELLIPSE_AXES = (1.2, 0.6)
_HEART_WIDTH = 2.278  # width of the implicit heart (x^2+y^2-1)^3 = x^2 y^3 (x in [-1.139, 1.139])
_HEART_CENTROID_Y = 0.2935  # its area centroid
_HEART_K = 2.0 / _HEART_WIDTH  # canonical heart as wide as the square

_PATCH_HALF = int(np.ceil(np.sqrt(2.0) * UNIT * SCALES[-1]))  # reaches past the square's corner
_PATCH = 2 * _PATCH_HALF + 1
if _PATCH_HALF > POSITION_OFFSET or POSITION_OFFSET + POSITION_SPAN + _PATCH_HALF > IMAGE_SIZE - 1:
    raise AssertionError("dSprites geometry: a sprite patch would leave the image")

_SPRITES: np.ndarray | None = None  # (720, _PATCH * _PATCH) float32, filled on first use


def inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean inside test of sprite ``shape`` (0 square, 1 ellipse, 2 heart) at canonical ``(u, v)``.

    Square: ``max(|u|, |v|) <= 1``. Ellipse: ``(u/1.2)^2 + (v/0.6)^2 <= 1``. Heart:
    ``(x^2 + y^2 - 1)^3 <= x^2 y^3`` with ``x = u / k``, ``y = v / k + 0.2935`` and ``k = 2 / 2.278``.
    """
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == 1:
        a, b = _ELLIPSE_AXES
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    if shape == 2:
        x = u / _HEART_K
        y = v / _HEART_K + _HEART_CENTROID_Y
        return (x * x + y * y - 1.0) ** 3 <= x * x * y**3
    raise ValueError(f"shape must be 0 (square), 1 (ellipse) or 2 (heart), got {shape!r}")


def sprite_masks(shape: int) -> np.ndarray:
    """The 6 x 40 binary sprites of ``shape``, float32 (6, 40, P, P) with P = 29, centred on pixel 14.

    Pixel ``(r, c)`` of a patch has offset ``(dx, dy) = (c - 14, r - 14)`` from the sprite centre. Its
    4x4 sub-samples ``(x, y) = (dx + ox, -(dy + oy))`` (``y`` up) are mapped to the canonical frame
    ``(u, v) = R(-theta) (x, y) / (scale * UNIT)``; the pixel is 1 where ``>= 8`` of the 16 are inside.
    """
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    d = np.arange(_PATCH) - _PATCH_HALF
    coord = d[:, None] + sub[None, :]  # (P, S): sample coordinates along one axis
    # axes (row, row sample, column, column sample); x grows with the column, y upwards
    x = np.broadcast_to(coord[None, None, :, :], (_PATCH, SUPERSAMPLE, _PATCH, SUPERSAMPLE))
    y = np.broadcast_to(-coord[:, :, None, None], (_PATCH, SUPERSAMPLE, _PATCH, SUPERSAMPLE))
    cos = np.cos(ORIENTATIONS)[:, None, None, None, None]
    sin = np.sin(ORIENTATIONS)[:, None, None, None, None]
    out = np.empty((len(SCALES), len(ORIENTATIONS), _PATCH, _PATCH), dtype=np.float32)
    for i, scale in enumerate(SCALES):  # 6 iterations, each vectorised over 40 orientations
        r = scale * UNIT
        u = (cos * x + sin * y) / r
        v = (-sin * x + cos * y) / r
        count = inside(shape, u, v).sum(axis=(2, 4))  # (40, P, P)
        out[i] = count * 2 >= SUPERSAMPLE * SUPERSAMPLE
    return out


def _sprites() -> np.ndarray:
    global _SPRITES
    if _SPRITES is None:
        masks = np.stack([sprite_masks(s) for s in range(len(SHAPES))])  # (3, 6, 40, P, P)
        _SPRITES = masks.reshape(-1, _PATCH * _PATCH)
    return _SPRITES


_PATCH_OFFSETS = (
    (np.arange(_PATCH)[:, None] - _PATCH_HALF) * IMAGE_SIZE + (np.arange(_PATCH)[None, :] - _PATCH_HALF)
).ravel()


def render(factors: np.ndarray) -> np.ndarray:
    """Images of validated dSprites ``factors`` (n, 5) (shape, scale, orientation, posX, posY).

    Returns float32 (n, 1, 64, 64) with values exactly 0 or 1: each sample's pre-drawn sprite patch
    ``sprites[shape, scale, orientation]`` is written around pixel ``(16 + posY, 16 + posX)``.
    The factors are not checked here; :meth:`DSprites.observations` checks them.
    """
    sprites = _sprites()
    n = factors.shape[0]
    images = np.zeros((n, IMAGE_SIZE * IMAGE_SIZE), dtype=np.float32)
    flat = images.reshape(-1)
    pixels = IMAGE_SIZE * IMAGE_SIZE
    for start in range(0, n, CHUNK):
        f = factors[start : start + CHUNK]
        sprite = (f[:, 0] * FACTOR_SIZES[1] + f[:, 1]) * FACTOR_SIZES[2] + f[:, 2]
        centre = (
            (np.arange(start, start + f.shape[0]) * pixels)
            + (POSITION_OFFSET + f[:, 4]) * IMAGE_SIZE
            + (POSITION_OFFSET + f[:, 3])
        )
        flat[centre[:, None] + _PATCH_OFFSETS[None, :]] = sprites[sprite]
    return images.reshape(n, 1, IMAGE_SIZE, IMAGE_SIZE)


class DSprites(GroundTruthData):
    """Procedural dSprites: 5 factors (shape 3, scale 6, orientation 40, posX 32, posY 32), 1x64x64.

    The images are binary (0/1) float32 and deterministic (no ``rng`` needed). See the module
    docstring for the geometry. ``factor_values`` gives the continuous value of each factor index.

    Example
    -------
    >>> data = DSprites()
    >>> data.observations([[2, 5, 0, 0, 31]]).shape   # a large heart, bottom-left
    (1, 1, 64, 64)
    """

    source = "procedural"
    stochastic = False

    def __init__(self) -> None:
        self._space = FactorSpace(FACTOR_NAMES, FACTOR_SIZES)

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (1, IMAGE_SIZE, IMAGE_SIZE)

    @property
    def factor_values(self) -> dict[str, np.ndarray]:
        """The value of each factor index: shape ids 0..2, scales, orientations (rad), positions."""
        return {
            "shape": np.arange(len(SHAPES), dtype=np.float64),
            "scale": SCALES.copy(),
            "orientation": ORIENTATIONS.copy(),
            "posX": POSITIONS.copy(),
            "posY": POSITIONS.copy(),
        }

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return render(factors)


def dsprites() -> DSprites:
    """The procedural dSprites dataset (registry name ``dsprites``)."""
    return DSprites()


def dsprites_noshape() -> GroundTruthData:
    """dSprites scored on scale, orientation, posX and posY; ``shape`` is drawn uniformly as a nuisance.

    The spec's ``dsprites_noshape`` (disentanglement_lib ``DSprites([2, 3, 4, 5])``): it draws the
    shape from ``rng`` when rendering, so ``observations`` needs an ``rng``.
    """
    return FactorSubset(DSprites(), ["scale", "orientation", "posX", "posY"])
