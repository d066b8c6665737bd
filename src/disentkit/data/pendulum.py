"""Pendulum: a pendulum and a light that cast a shadow (CausalVAE's generator, used by DEAR).

Spec ``methods_ssl_causal.md`` section 6 (Yang et al. 2021, CausalVAE ``causal_data/pendulum.py``;
Shen et al. 2022, DEAR). The scene lives in the data box ``x in [0, 20]``, ``y in [-1, 21]``:

- the pendulum hangs from the pivot ``(10, 10.5)``: a black rod to the ball centre
  ``(10 + 8 sin(theta), 10.5 - 8 cos(theta))``, a firebrick ball of radius 1.5;
- a light (an orange sun of radius 3) stands at ``(proj(10, 10.5, base=20.5), 20.5)``;
- the shadow is a black segment on the floor ``y = -0.5``.

With the light angle ``phi``, ``proj(x, y, base) = (base - (y - x tan(phi))) / tan(phi)`` is the
``x`` where the light ray through ``(x, y)`` meets the line ``y = base``. The rod's shadow runs from
the pivot to the tip ``(10 + 9.5 sin(theta), 10.5 - 9.5 cos(theta))``, so the structural equations
of the two effects are

    ``shadow_position = (proj(10, 10.5, -0.5) + proj(tip, -0.5)) / 2``
    ``shadow_length = max(3, |proj(10, 10.5, -0.5) - proj(tip, -0.5)|)``

and the causal graph is ``angle -> {shadow_length, shadow_position} <- light``. The four factors are
float64 values (``angle = theta`` and ``light = phi`` in radians, the shadow in scene units), in the
order ``(angle, light, shadow_length, shadow_position)`` of DEAR's labels.

Modes: ``"grid"`` draws the causes from CausalVAE's grid, ``theta = i pi / 200`` for
``i in {-40, .., 43}`` and ``phi = j pi / 200`` for ``j in {60, .., 147} \\ {100}`` (84 x 87 = 7,308
images, ``i`` changing slowest); ``"continuous"`` draws ``theta`` and ``phi`` uniformly on the same
ranges. Either way, :meth:`~disentkit.data.base.GroundTruthData.intervene` sets any factor: setting
an angle recomputes the shadow, setting the shadow changes no cause (the image then shows the set
shadow under the unchanged pendulum and light).

Rendering (our own rasteriser, not matplotlib): the data box fills the ``image_size`` square image
on a white background; the rod and the shadow are ``image_size / 24`` pixels thick (CausalVAE's
3-point lines on a 1-inch, 96-dpi figure); shapes are painted rod, ball, sun, shadow with
anti-aliased coverage (exact for the axis-aligned shadow, a one-pixel ramp across the other edges).
"""

from __future__ import annotations

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.data.base import GroundTruthData
from disentkit.data.factors import CausalGraph, ContinuousFactorSpace, Factor, FactorSpace
from disentkit.validation import check_choice, check_int

__all__ = ["Pendulum", "pendulum", "pendulum_project", "pendulum_shadow", "ANGLE_INDICES", "LIGHT_INDICES"]

#: CausalVAE's grid: ``theta = i * pi / 200`` and ``phi = j * pi / 200`` (``j = 100``, a light
#: straight above, is left out).
ANGLE_INDICES = np.arange(-40, 44, dtype=np.int64)
LIGHT_INDICES = np.setdiff1d(np.arange(60, 148, dtype=np.int64), [100])

FACTOR_NAMES = ("angle", "light", "shadow_length", "shadow_position")
PIVOT = (10.0, 10.5)
ROD_LENGTH = 8.0  # pivot to ball centre
TIP_LENGTH = 9.5  # pivot to the end of the shadow-casting rod
BALL_RADIUS = 1.5
SUN_RADIUS = 3.0
SUN_BASE = 20.5
FLOOR = -0.5
MIN_SHADOW = 3.0
X_RANGE = (0.0, 20.0)
Y_RANGE = (-1.0, 21.0)
LINE_WIDTH = 1.0 / 24.0  # of the image side: 3 points = 4 of 96 pixels
# The shadow's range contains every value of the causes' box (its extremes are at the box's corners:
# length 3 .. 12.58, position 2.008 .. 19.61).
SHADOW_LENGTH_RANGE = (3.0, 13.0)
SHADOW_POSITION_RANGE = (2.0, 20.0)

_BLACK = np.zeros(3, dtype=np.float32)
_FIREBRICK = np.array([178, 34, 34], dtype=np.float32) / 255.0
_ORANGE = np.array([255, 165, 0], dtype=np.float32) / 255.0


def pendulum_project(x: np.ndarray, y: np.ndarray, phi: np.ndarray, base: float = FLOOR) -> np.ndarray:
    """``proj = (base - (y - x tan(phi))) / tan(phi)``: where the light ray through ``(x, y)`` at the
    light angle ``phi`` meets the line ``y = base`` (CausalVAE's ``projection``)."""
    t = np.tan(phi)
    return (base - (y - x * t)) / t


def pendulum_shadow(theta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(shadow_length, shadow_position)`` of pendulum angle ``theta`` under light angle ``phi``.

    ``length = max(3, |proj(pivot) - proj(tip)|)``, ``position = (proj(pivot) + proj(tip)) / 2``
    on the floor ``y = -0.5``, with the tip ``(10 + 9.5 sin(theta), 10.5 - 9.5 cos(theta))``.
    """
    theta, phi = np.asarray(theta, dtype=np.float64), np.asarray(phi, dtype=np.float64)
    pivot = pendulum_project(PIVOT[0], PIVOT[1], phi)
    tip = pendulum_project(PIVOT[0] + TIP_LENGTH * np.sin(theta), PIVOT[1] - TIP_LENGTH * np.cos(theta), phi)
    return np.maximum(MIN_SHADOW, np.abs(pivot - tip)), (pivot + tip) / 2.0


def _ramp(signed_distance: np.ndarray, footprint: np.ndarray | float) -> np.ndarray:
    """Coverage of a pixel whose centre is ``signed_distance`` inside a shape's edge:
    ``clip(0.5 + d / footprint, 0, 1)``, ``footprint`` the pixel's width along the edge normal."""
    return np.clip(0.5 + signed_distance / footprint, 0.0, 1.0)


class Pendulum(GroundTruthData):
    """The Pendulum scene of CausalVAE and DEAR (spec ``methods_ssl_causal.md`` section 6).

    Parameters
    ----------
    mode: ``"grid"`` (the 7,308 causes of CausalVAE's grid, drawn uniformly; ``len`` is 7,308) or
        ``"continuous"`` (``theta``, ``phi`` uniform on the grid's ranges; no ``len``).
    image_size: height and width of the RGB images (DEAR: 64; CausalVAE saved 96).

    Factors (float64): ``angle`` in ``[-40 pi/200, 43 pi/200]`` and ``light`` in
    ``[60 pi/200, 147 pi/200]`` (angles), ``shadow_length`` in [3, 13] and ``shadow_position`` in
    [2, 20] (continuous). All four are intervenable.

    Example
    -------
    >>> data = Pendulum()
    >>> len(data), data.observation_shape
    (7308, (3, 64, 64))
    >>> f = data.intervene(data.grid()[:1], do={"angle": 0.0})   # the shadow follows the angle
    """

    MODES = ("grid", "continuous")

    def __init__(self, mode: str = "grid", image_size: int = 64):
        self.mode = check_choice("mode", mode, self.MODES)
        self.image_size = check_int("image_size", image_size, 8)
        theta, phi = ANGLE_INDICES * np.pi / 200.0, LIGHT_INDICES * np.pi / 200.0
        self._space = ContinuousFactorSpace((
            Factor.angle("angle", theta[0], theta[-1]),
            Factor.angle("light", phi[0], phi[-1]),
            Factor.continuous("shadow_length", *SHADOW_LENGTH_RANGE),
            Factor.continuous("shadow_position", *SHADOW_POSITION_RANGE),
        ))
        self._graph = CausalGraph(FACTOR_NAMES, (
            ("angle", "shadow_length"), ("angle", "shadow_position"),
            ("light", "shadow_length"), ("light", "shadow_position"),
        ))
        self._grid: np.ndarray | None = None
        self._window_cache: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def factor_space(self) -> ContinuousFactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    @property
    def causal_graph(self) -> CausalGraph:
        return self._graph

    @property
    def intervenable_factors(self) -> tuple[str, ...]:
        return FACTOR_NAMES

    # -- the grid -----------------------------------------------------------------------------
    @property
    def grid_space(self) -> FactorSpace:
        """The grid of causes as discrete factors: ``angle`` (84 values of ``i``), ``light`` (87 of ``j``)."""
        return FactorSpace(("angle", "light"), (len(ANGLE_INDICES), len(LIGHT_INDICES)))

    def grid(self) -> np.ndarray:
        """The factors of CausalVAE's 7,308 images in its order (``i`` slowest): float64 (7308, 4)."""
        if self._grid is None:
            index = self.grid_space.grid()
            theta = ANGLE_INDICES[index[:, 0]] * np.pi / 200.0
            phi = LIGHT_INDICES[index[:, 1]] * np.pi / 200.0
            self._grid = self._with_effects(theta, phi)
        return self._grid.copy()

    def grid_indices(self, factors: np.ndarray) -> np.ndarray:
        """The grid position ``(angle index, light index)`` of the causes of ``factors``: int64 (n, 2).

        A ``ValueError`` when a cause is not on the grid (within 1e-9 of ``i pi / 200``, ``j pi / 200``).
        """
        arr = self.factor_space.validate(factors)
        i, j = arr[:, 0] * 200.0 / np.pi, arr[:, 1] * 200.0 / np.pi
        a = np.rint(i).astype(np.int64) - ANGLE_INDICES[0]
        b = np.searchsorted(LIGHT_INDICES, np.rint(j).astype(np.int64))
        b_ok = LIGHT_INDICES[np.minimum(b, len(LIGHT_INDICES) - 1)] == np.rint(j)
        off = (np.abs(i - np.rint(i)) > 1e-9) | (np.abs(j - np.rint(j)) > 1e-9) | ~b_ok
        if np.any(off):
            row = int(np.flatnonzero(off)[0])
            raise ValueError(f"factors row {row} (angle={arr[row, 0]:g}, light={arr[row, 1]:g}) is not on "
                             "the grid theta = i pi/200, phi = j pi/200")
        return np.stack([a, b], axis=1)

    def grid_index(self, factors: np.ndarray) -> np.ndarray:
        """The row of :meth:`grid` of each factor vector's causes, int64 (n,) (``ValueError`` off the grid)."""
        return self.grid_space.index_of(self.grid_indices(factors))

    def __len__(self) -> int:
        if self.mode == "continuous":
            raise ValueError("pendulum with mode='continuous' has no finite number of images; use mode='grid'")
        return len(ANGLE_INDICES) * len(LIGHT_INDICES)

    # -- sampling and structural equations ----------------------------------------------------
    def _with_effects(self, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
        length, position = pendulum_shadow(theta, phi)
        return np.stack([theta, phi, length, position], axis=1)

    def sample_factors(self, n: int, rng: RandomLike) -> np.ndarray:
        """``n`` factor vectors: grid causes drawn uniformly (``"grid"``) or ``theta``, ``phi``
        uniform on their ranges (``"continuous"``), the shadow from the structural equations."""
        n = check_int("n", n, 0)
        gen = check_random_state(rng)
        if self.mode == "grid":
            return self.grid()[gen.integers(0, len(self), size=n)]
        angle, light = self._space.factors[0], self._space.factors[1]
        return self._with_effects(angle.sample_uniform(n, gen), light.sample_uniform(n, gen))

    def _structural_equation(self, name: str, factors: np.ndarray) -> np.ndarray:
        length, position = pendulum_shadow(factors[:, 0], factors[:, 1])
        return length if name == "shadow_length" else position

    # -- rendering ----------------------------------------------------------------------------
    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        size = self.image_size
        sx, sy = _scales(size)
        theta, phi, length, position = (factors[:, k] for k in range(4))
        ball = (PIVOT[0] + ROD_LENGTH * np.sin(theta), PIVOT[1] - ROD_LENGTH * np.cos(theta))
        sun = pendulum_project(PIVOT[0], PIVOT[1], phi, base=SUN_BASE)
        n = factors.shape[0]
        images = np.ones((n, 3, size, size), dtype=np.float32)
        width = LINE_WIDTH * size
        pivot_x, pivot_y = _px(np.full(n, PIVOT[0]), sx), _py(np.full(n, PIVOT[1]), sy)
        ball_x, ball_y = _px(ball[0], sx), _py(ball[1], sy)
        floor = float(_py(FLOOR, sy))
        windows = self._windows()
        rows, cols = windows["pendulum"]
        _paint(images, windows["pendulum"], _capsule(rows, cols, pivot_x, pivot_y, ball_x, ball_y, width / 2), _BLACK)
        ball_cover = _ellipse(rows, cols, ball_x, ball_y, BALL_RADIUS * sx, BALL_RADIUS * sy)
        _paint(images, windows["pendulum"], ball_cover, _FIREBRICK)
        rows, cols = windows["sun"]
        sun_cover = _ellipse(rows, cols, _px(sun, sx), _py(np.full(n, SUN_BASE), sy), SUN_RADIUS * sx, SUN_RADIUS * sy)
        _paint(images, windows["sun"], sun_cover, _ORANGE)
        rows, cols = windows["shadow"]
        shadow = _box(rows, cols, _px(position - length / 2, sx), _px(position + length / 2, sx),
                      floor - width / 2, floor + width / 2)
        _paint(images, windows["shadow"], shadow, _BLACK)
        return images

    def _windows(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The pixel centres (rows, columns) each shape can cover, given the factors' ranges.

        Every shape is rasterised only inside its window (the pendulum's rows and columns over the
        whole angle range, the sun's rows, the floor's rows), padded by two pixels.
        """
        if getattr(self, "_window_cache", None) is None:
            size = self.image_size
            sx, sy = _scales(size)
            pad = LINE_WIDTH * size / 2 + 2.0
            angle = self._space.factors[0]
            theta = np.linspace(angle.low, angle.high, 1025)
            xs = np.concatenate([[PIVOT[0]], PIVOT[0] + ROD_LENGTH * np.sin(theta)])
            ys = np.concatenate([[PIVOT[1]], PIVOT[1] - ROD_LENGTH * np.cos(theta)])
            ball_x = (_px(xs.min() - BALL_RADIUS, sx), _px(xs.max() + BALL_RADIUS, sx))
            ball_y = (_py(ys.max() + BALL_RADIUS, sy), _py(ys.min() - BALL_RADIUS, sy))
            floor = float(_py(FLOOR, sy))
            everything = (-pad, size + pad)
            self._window_cache = {
                "pendulum": (_centres(ball_y, pad, size), _centres(ball_x, pad, size)),
                "sun": (_centres((_py(SUN_BASE + SUN_RADIUS, sy), _py(SUN_BASE - SUN_RADIUS, sy)), pad, size),
                        _centres(everything, 0.0, size)),
                "shadow": (_centres((floor, floor), pad, size), _centres(everything, 0.0, size)),
            }
        return self._window_cache


def _scales(size: int) -> tuple[float, float]:
    """Pixels per scene unit along x and y (the data box fills the image)."""
    return size / (X_RANGE[1] - X_RANGE[0]), size / (Y_RANGE[1] - Y_RANGE[0])


def _px(x: np.ndarray | float, sx: float) -> np.ndarray:
    """Scene x to pixel-space column coordinate (0 at the left edge)."""
    return np.asarray((np.asarray(x) - X_RANGE[0]) * sx, dtype=np.float32)


def _py(y: np.ndarray | float, sy: float) -> np.ndarray:
    """Scene y to pixel-space row coordinate (0 at the top edge)."""
    return np.asarray((Y_RANGE[1] - np.asarray(y)) * sy, dtype=np.float32)


def _centres(span: tuple[float, float], pad: float, size: int) -> np.ndarray:
    """Pixel centres ``k + 0.5`` of the pixels meeting ``[span[0] - pad, span[1] + pad]``, in the image."""
    first = max(0, int(np.floor(float(span[0]) - pad)))
    last = min(size, int(np.ceil(float(span[1]) + pad)))
    return np.arange(first, max(first, last), dtype=np.float32) + 0.5


def _paint(images: np.ndarray, window: tuple[np.ndarray, np.ndarray], alpha: np.ndarray, colour: np.ndarray) -> None:
    """Composite ``colour`` over the ``window`` (row and column centres) of ``images`` (n, 3, H, W)
    with coverage ``alpha`` (n, rows, columns), in place."""
    rows, cols = window
    if rows.size == 0 or cols.size == 0:
        return
    r0, c0 = int(rows[0]), int(cols[0])
    view = images[:, :, r0 : r0 + rows.size, c0 : c0 + cols.size]
    view += alpha[:, None, :, :] * (colour[None, :, None, None] - view)


def _capsule(rows: np.ndarray, cols: np.ndarray, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray,
             y1: np.ndarray, radius: float) -> np.ndarray:
    """Coverage (n, rows, columns) of the pixel-space segments ``(x0, y0) -> (x1, y1)`` thickened by ``radius``."""
    u = cols[None, None, :]
    v = rows[None, :, None]
    dx, dy = (x1 - x0)[:, None, None], (y1 - y0)[:, None, None]
    rx, ry = u - x0[:, None, None], v - y0[:, None, None]
    t = np.clip((rx * dx + ry * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    ex, ey = rx - t * dx, ry - t * dy
    dist = np.sqrt(ex * ex + ey * ey)
    footprint = np.maximum((np.abs(ex) + np.abs(ey)) / np.maximum(dist, 1e-12), 1.0)
    return _ramp(radius - dist, footprint)


def _ellipse(rows: np.ndarray, cols: np.ndarray, cx: np.ndarray, cy: np.ndarray, rx: float, ry: float) -> np.ndarray:
    """Coverage (n, rows, columns) of the pixel-space ellipses (a scene circle) at ``(cx, cy)`` with
    radii ``(rx, ry)``: the edge distance is measured in radii and the footprint is the pixel's
    width along the normal."""
    du = (cols[None, None, :] - cx[:, None, None]) / rx  # in radii: the unit circle
    dv = (rows[None, :, None] - cy[:, None, None]) / ry
    dist = np.sqrt(du * du + dv * dv)
    # the pixel's width along the normal, in radii: |n_x| / rx + |n_y| / ry
    footprint = np.maximum((np.abs(du) / rx + np.abs(dv) / ry) / np.maximum(dist, 1e-12), 1.0 / max(rx, ry))
    return _ramp(1.0 - dist, footprint)


def _box(rows: np.ndarray, cols: np.ndarray, x0: np.ndarray, x1: np.ndarray, y0: float, y1: float) -> np.ndarray:
    """Exact area coverage (n, rows, columns) of the axis-aligned pixel-space boxes ``[x0, x1] x [y0, y1]``."""
    left, top = cols - 0.5, rows - 0.5
    cover_x = np.clip(np.minimum(left[None, :] + 1, x1[:, None]) - np.maximum(left[None, :], x0[:, None]), 0.0, 1.0)
    cover_y = np.clip(np.minimum(top + 1, y1) - np.maximum(top, y0), 0.0, 1.0).astype(np.float32)
    return cover_y[None, :, None] * cover_x[:, None, :]


def pendulum(mode: str = "grid", image_size: int = 64) -> Pendulum:
    """The ``pendulum`` registry factory; see :class:`Pendulum` for the parameters."""
    return Pendulum(mode=mode, image_size=image_size)
