"""XYSquares and XYObject: squares on a pixel grid (Michlo, Klein & James, IJCAI 2023).

Both datasets are rendered procedurally by broadcasting comparisons of the pixel coordinates
against each square's bounds, so a whole batch is drawn without per-image loops.

XYSquares (spec ``methods_vae.md`` section 6.1)
    Three ``square_size`` squares. Square ``i`` (R, G, B) has its top-left corner at
    ``(offset + spacing * x_i, offset + spacing * y_i)`` (column, row) with
    ``P = min(grid_size, (image_size - square_size) // spacing + 1)`` positions per axis and
    ``offset = (image_size - (square_size + (P - 1) * spacing)) // 2``, which centres the grid.
    In RGB mode square ``i`` is drawn only in channel ``i`` (colours never mix, squares never
    occlude); in greyscale mode every square is drawn into the one channel. With the default
    spacing 8 = square size, one grid step moves a square onto pixels it did not cover before:
    every pair of images that differ in one factor is at the same pixel (MSE) distance.

XYObject (disent's ``XYObjectData``)
    One square of a chosen scale and colour placed on a grid; factors ``x, y, scale, colour``.
"""

from __future__ import annotations

import warnings

import numpy as np

from disentkit.data.base import GroundTruthData
from disentkit.data.factors import FactorSpace
from disentkit.validation import check_int

__all__ = ["XYObject", "XYSquares", "xyobject", "xysquares", "PALETTES"]


def _square_masks(top: np.ndarray, left: np.ndarray, size: np.ndarray | int, image_size: int) -> np.ndarray:
    """Boolean (n, H, W) masks of axis-aligned squares.

    Pixel ``(r, c)`` is inside square ``k`` when ``top_k <= r < top_k + size_k`` and
    ``left_k <= c < left_k + size_k``; ``top``, ``left`` and ``size`` broadcast to (n,).
    """
    coords = np.arange(image_size, dtype=np.int64)
    top = np.asarray(top, dtype=np.int64)[:, None]
    left = np.asarray(left, dtype=np.int64)[:, None]
    size = np.broadcast_to(np.asarray(size, dtype=np.int64), top.shape[:1])[:, None]
    rows = (coords >= top) & (coords < top + size)  # (n, H)
    cols = (coords >= left) & (coords < left + size)  # (n, W)
    return rows[:, :, None] & cols[:, None, :]


class XYSquares(GroundTruthData):
    """Three squares on a grid, square ``i`` in channel ``i`` (Michlo et al. 2023, spec section 6.1).

    Parameters
    ----------
    grid_size: the most positions per axis (``P`` is capped at it); >= 1.
    grid_spacing: pixels between neighbouring positions; >= 1. Below ``square_size`` neighbouring
        positions overlap (a warning says so), which is the "overlap" sweep of the paper.
    square_size: side of each square in pixels, ``1 <= square_size <= image_size``.
    rgb: three channels with square ``i`` only in channel ``i`` (True), or one channel with every
        square drawn in it (False).
    image_size: height and width of the images.

    Factors ``(x_R, y_R, x_G, y_G, x_B, y_B)``, each with ``P`` values; images are 0 with 1 inside
    the squares. Defaults give ``P = 8``, offset 0 and ``8**6 = 262,144`` images.

    Example
    -------
    >>> data = XYSquares(grid_spacing=9)
    >>> data.num_positions, data.offset
    (7, 1)
    """

    def __init__(
        self,
        grid_size: int = 8,
        grid_spacing: int = 8,
        square_size: int = 8,
        rgb: bool = True,
        image_size: int = 64,
    ):
        self.image_size = check_int("image_size", image_size, 1)
        self.square_size = check_int("square_size", square_size, 1, maximum=self.image_size)
        self.grid_size = check_int("grid_size", grid_size, 1)
        self.grid_spacing = check_int("grid_spacing", grid_spacing, 1)
        if self.grid_spacing < self.square_size:
            warnings.warn(
                f"grid_spacing={grid_spacing} < square_size={square_size}: squares at neighbouring "
                "positions overlap",
                stacklevel=2,
            )
        self.rgb = bool(rgb)
        self.num_positions = min(
            self.grid_size, (self.image_size - self.square_size) // self.grid_spacing + 1
        )
        extent = self.square_size + (self.num_positions - 1) * self.grid_spacing
        self.offset = (self.image_size - extent) // 2
        names = ("x_R", "y_R", "x_G", "y_G", "x_B", "y_B")
        self._space = FactorSpace(names, (self.num_positions,) * 6)

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (3 if self.rgb else 1, self.image_size, self.image_size)

    def corners(self, factors: np.ndarray) -> np.ndarray:
        """Top-left corners (row, column) of the three squares: int64 (n, 3, 2).

        ``corner = offset + grid_spacing * (y_i, x_i)``.
        """
        arr = self.factor_space.validate(factors).reshape(-1, 3, 2)  # (n, square, (x, y))
        return self.offset + self.grid_spacing * arr[:, :, ::-1]

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        n = factors.shape[0]
        corners = self.corners(factors).reshape(n * 3, 2)
        masks = _square_masks(corners[:, 0], corners[:, 1], self.square_size, self.image_size)
        masks = masks.reshape(n, 3, self.image_size, self.image_size)
        if not self.rgb:
            masks = masks.any(axis=1, keepdims=True)
        return masks.astype(np.float32)


def xysquares(
    grid_size: int = 8,
    grid_spacing: int = 8,
    square_size: int = 8,
    rgb: bool = True,
    image_size: int = 64,
) -> XYSquares:
    """The ``xysquares`` registry factory; see :class:`XYSquares` for the parameters."""
    return XYSquares(
        grid_size=grid_size,
        grid_spacing=grid_spacing,
        square_size=square_size,
        rgb=rgb,
        image_size=image_size,
    )


_R, _G, _B = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
_Y, _C, _M, _W = (1.0, 1.0, 0.0), (0.0, 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, 1.0)

#: Base colours of the XYObject palettes (disent's names). ``rainbow`` is ordered by hue.
PALETTES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "rainbow": (_R, _Y, _G, _C, _B, _M),
    "rgb": (_R, _G, _B),
    "colors": (_R, _G, _B, _Y, _C, _M, _W),
    "greys": (_W,),
}


class XYObject(GroundTruthData):
    """One square of a given scale and colour on a grid (disent's ``XYObjectData``).

    The square of side ``s = scales[scale]`` with ``scales = range(min_square_size,
    max_square_size + 1, square_size_spacing)`` is centred in the ``max_square_size`` cell at
    ``(grid_spacing * x, grid_spacing * y)``: its top-left corner is
    ``grid_spacing * (y, x) + (max_square_size - s) // 2``. There are
    ``P = (image_size - max_square_size) // grid_spacing + 1`` positions per axis, so the largest
    square always fits.

    Colour ``c = level * len(hues) + hue`` (hue changes fastest) is the palette colour ``hue``
    at brightness ``(level + 1) / brightness_levels``. Brightness is folded into the colour
    factor on purpose, as in disent: it is a nuisance that makes "colour" hard to disentangle.
    With ``rgb=False`` the image has one channel and the palette collapses to white, so the colour
    factor has ``brightness_levels`` grey values (disent aliases its greyscale palettes the same way).

    Defaults (disent's): 64x64 RGB, spacing 2, squares 7, 9, 11, 13, 15 and the 6-hue rainbow at
    4 brightness levels, giving factor sizes ``x=25, y=25, scale=5, colour=24`` (75,000 images).
    These keep every factor ordinal on the pixel level: a one-step move (2 px) overlaps the
    smallest square by 5 of 7 columns, unlike XYSquares' zero-overlap default.
    """

    def __init__(
        self,
        image_size: int = 64,
        grid_spacing: int = 2,
        min_square_size: int = 7,
        max_square_size: int = 15,
        square_size_spacing: int = 2,
        rgb: bool = True,
        palette: str = "rainbow",
        brightness_levels: int = 4,
    ):
        self.image_size = check_int("image_size", image_size, 1)
        self.grid_spacing = check_int("grid_spacing", grid_spacing, 1)
        self.min_square_size = check_int("min_square_size", min_square_size, 1)
        self.max_square_size = check_int("max_square_size", max_square_size, 1)
        if not self.min_square_size <= self.max_square_size <= self.image_size:
            raise ValueError(
                "need 1 <= min_square_size <= max_square_size <= image_size, got "
                f"min_square_size={min_square_size}, max_square_size={max_square_size}, "
                f"image_size={image_size}"
            )
        self.square_size_spacing = check_int("square_size_spacing", square_size_spacing, 1)
        self.brightness_levels = check_int("brightness_levels", brightness_levels, 1)
        if palette not in PALETTES:
            raise ValueError(f"unknown palette {palette!r}; valid palettes: {sorted(PALETTES)}")
        self.palette = palette
        self.rgb = bool(rgb)
        self.scales = np.arange(
            self.min_square_size, self.max_square_size + 1, self.square_size_spacing, dtype=np.int64
        )
        self.num_positions = (self.image_size - self.max_square_size) // self.grid_spacing + 1
        hues = np.asarray(PALETTES[palette] if self.rgb else ((1.0,),), dtype=np.float32)
        levels = np.arange(1, self.brightness_levels + 1, dtype=np.float32) / self.brightness_levels
        #: The colour of each value of the ``colour`` factor, float32 (num_colours, C).
        self.colors = (levels[:, None, None] * hues[None, :, :]).reshape(-1, hues.shape[1])
        self._space = FactorSpace(
            ("x", "y", "scale", "colour"),
            (self.num_positions, self.num_positions, len(self.scales), len(self.colors)),
        )

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (3 if self.rgb else 1, self.image_size, self.image_size)

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        size = self.scales[factors[:, 2]]
        pad = (self.max_square_size - size) // 2
        top = self.grid_spacing * factors[:, 1] + pad
        left = self.grid_spacing * factors[:, 0] + pad
        mask = _square_masks(top, left, size, self.image_size)  # (n, H, W)
        color = self.colors[factors[:, 3]]  # (n, C)
        return mask[:, None, :, :] * color[:, :, None, None]


def xyobject(
    image_size: int = 64,
    grid_spacing: int = 2,
    min_square_size: int = 7,
    max_square_size: int = 15,
    square_size_spacing: int = 2,
    rgb: bool = True,
    palette: str = "rainbow",
    brightness_levels: int = 4,
) -> XYObject:
    """The ``xyobject`` registry factory; see :class:`XYObject` for the parameters."""
    return XYObject(
        image_size=image_size,
        grid_spacing=grid_spacing,
        min_square_size=min_square_size,
        max_square_size=max_square_size,
        square_size_spacing=square_size_spacing,
        rgb=rgb,
        palette=palette,
        brightness_levels=brightness_levels,
    )
