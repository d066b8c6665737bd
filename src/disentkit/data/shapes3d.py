"""Shapes3D: a procedural stand-in for 3dshapes (Burgess & Kim 2018), rendered by a ray caster.

Factors, in the order and with the sizes of the public ``3dshapes.h5``:

==============  ======  =============================================================
factor          values  meaning
==============  ======  =============================================================
``floor_hue``   10      HSV hue ``linspace(0, 0.9, 10)`` of the floor (S = V = 1)
``wall_hue``    10      hue of the walls
``object_hue``  10      hue of the object
``scale``       8       object size ``linspace(0.75, 1.25, 8)``
``shape``       4       cube, cylinder, sphere, capsule (3dshapes' order)
``orientation`` 15      camera azimuth ``linspace(-30, 30, 15)`` degrees
==============  ======  =============================================================

The scene: an object standing at the origin on the floor plane ``y = 0`` of a room whose two
walls meet in a vertical corner behind it (walls ``z - x = D`` and ``z + x = D``); no ceiling.
As in 3dshapes, *orientation rotates the view*: the camera orbits the object's vertical axis by
the azimuth, so the object turns relative to the camera and the room corner moves across the
image, while the light stays fixed in the room. Every surface is Lambertian,
``shade = ambient + (1 - ambient) * max(0, n . l)``, and floor and walls lie in the object's
shadow where a ray towards the light hits it. Pixels are averaged over ``supersample**2``
sub-pixel rays (anti-aliasing).

Rendering is split in two. The geometry of one (scale, shape, orientation) triple does not
depend on the hues, so it is ray cast once into a *layer buffer*: per pixel, the shaded
coverage of floor, walls and object (3 x H x W floats; a pixel's colour is
``sum_k layer_k * rgb(hue_k)``). The 8 * 4 * 15 = 480 buffers are cast lazily, the first time a
batch needs them, and kept (shared by all instances); rendering a batch is then a gather and three multiply-adds.
"""

from __future__ import annotations

import numpy as np

from disentkit.data.base import GroundTruthData
from disentkit.data.factors import FactorSpace
from disentkit.validation import check_int

__all__ = ["Shapes3D", "shapes3d", "hue_to_rgb", "SHAPES", "FLOOR", "WALL", "OBJECT"]

#: The shapes, in the order of 3dshapes' ``shape`` label.
SHAPES = ("cube", "cylinder", "sphere", "capsule")
#: Layer indices of :meth:`Shapes3D.layers`.
FLOOR, WALL, OBJECT = 0, 1, 2

# Scene constants (world units; the object at scale 1 is 2 units tall, its base 2 units wide).
_CAMERA_DISTANCE = 9.0  # horizontal distance of the camera from the object's axis
_CAMERA_HEIGHT = 4.0
_TARGET_HEIGHT = 1.3  # the camera looks at (0, _TARGET_HEIGHT, 0)
_FOV_DEGREES = 40.0  # vertical (= horizontal) field of view
_CORNER_DISTANCE = 6.0  # the walls meet at (0, y, _CORNER_DISTANCE)
_LIGHT = np.array([-0.5, 1.0, -0.7])  # direction towards the light (fixed in the room)
_AMBIENT_OBJECT = 0.3
_AMBIENT_ROOM = 0.55
_CAPSULE_RADIUS = 0.7
_CAPSULE_TOP = 2.6  # capsule height at scale 1
_EPS = 1e-4

# Layer buffers shared by every Shapes3D of the same (image_size, supersample): the buffers
# (480, 3, H, W) and which of them have been ray cast. They are a pure function of the key, so
# sharing them changes no result; instances stay small to pickle (data-loader workers).
_LAYER_CACHE: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """RGB (..., 3) of HSV colours with hue ``hue`` (in [0, 1)) and full saturation and value.

    ``r = clip(|6h - 3| - 1)``, ``g = clip(2 - |6h - 2|)``, ``b = clip(2 - |6h - 4|)``, clipped
    to [0, 1] (the piecewise-linear HSV hexcone).
    """
    h6 = 6.0 * np.asarray(hue, dtype=np.float64)[..., None]
    rgb = np.concatenate([np.abs(h6 - 3.0) - 1.0, 2.0 - np.abs(h6 - 2.0), 2.0 - np.abs(h6 - 4.0)], axis=-1)
    return np.clip(rgb, 0.0, 1.0)


# -- ray-primitive intersections ------------------------------------------------------------
# Rays are given by components that broadcast against each other: origin (ox, oy, oz) and
# direction (dx, dy, dz), not necessarily unit. Each function returns the ray parameter t of the
# first hit with t > _EPS (inf for a miss) and the outward unit normal (nx, ny, nz) there.
_Vec = tuple[np.ndarray, np.ndarray, np.ndarray]


def _hit_box(o: _Vec, d: _Vec, half: float, height: float) -> tuple[np.ndarray, _Vec]:
    """Slab test against the box ``[-half, half] x [0, height] x [-half, half]``."""
    lows, highs = (-half, 0.0, -half), (half, height, half)
    near, far, axis = None, None, None
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(3):
            t1 = (lows[k] - o[k]) / d[k]
            t2 = (highs[k] - o[k]) / d[k]
            lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
            if near is None:
                near, far, axis = lo, hi, np.zeros(lo.shape, dtype=np.int8)
            else:
                near, far = np.broadcast_arrays(near, far)
                axis = np.where(lo > near, np.int8(k), axis)
                near, far = np.maximum(near, lo), np.minimum(far, hi)
    hit = (near <= far) & (near > _EPS)
    t = np.where(hit, near, np.inf)
    # the normal points against the ray along the axis of the entry slab
    normal = tuple(np.where(axis == k, -np.sign(d[k]), 0.0) for k in range(3))
    return t, normal  # type: ignore[return-value]


def _hit_sphere(o: _Vec, d: _Vec, cy: float, r: float) -> tuple[np.ndarray, _Vec]:
    """First hit of the sphere of radius ``r`` centred at ``(0, cy, 0)``: solve |o + t d - c|^2 = r^2."""
    px, py, pz = o[0], o[1] - cy, o[2]
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = px * d[0] + py * d[1] + pz * d[2]  # half the linear coefficient
    c = px * px + py * py + pz * pz - r * r
    disc = b * b - a * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    t = np.where((disc >= 0) & (t > _EPS), t, np.inf)
    tt = np.where(np.isfinite(t), t, 0.0)
    normal = ((px + tt * d[0]) / r, (py + tt * d[1]) / r, (pz + tt * d[2]) / r)
    return t, normal


def _hit_tube(o: _Vec, d: _Vec, r: float, y0: float, y1: float) -> tuple[np.ndarray, _Vec]:
    """First hit of the side of the vertical cylinder ``x^2 + z^2 = r^2``, ``y0 <= y <= y1``."""
    a = d[0] * d[0] + d[2] * d[2]
    b = o[0] * d[0] + o[2] * d[2]
    c = o[0] * o[0] + o[2] * o[2] - r * r
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    y = o[1] + np.where(np.isfinite(t), t, 0.0) * d[1]
    t = np.where((disc >= 0) & (a > 0) & (t > _EPS) & (y >= y0) & (y <= y1), t, np.inf)
    tt = np.where(np.isfinite(t), t, 0.0)
    normal = ((o[0] + tt * d[0]) / r, np.zeros_like(tt), (o[2] + tt * d[2]) / r)
    return t, normal


def _hit_disc(o: _Vec, d: _Vec, r: float, y: float) -> tuple[np.ndarray, _Vec]:
    """First hit of the upward-facing disc ``x^2 + z^2 <= r^2`` at height ``y``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (y - o[1]) / d[1]
    tt = np.where(np.isfinite(t), t, 0.0)
    x, z = o[0] + tt * d[0], o[2] + tt * d[2]
    t = np.where((t > _EPS) & (x * x + z * z <= r * r), t, np.inf)
    zero = np.zeros_like(tt)
    return t, (zero, zero + 1.0, zero)


def _closest(*hits: tuple[np.ndarray, _Vec]) -> tuple[np.ndarray, _Vec]:
    """The nearest of several hits of the same rays (a union of solids)."""
    t, normal = hits[0]
    for t2, n2 in hits[1:]:
        nearer = t2 < t
        t = np.where(nearer, t2, t)
        normal = tuple(np.where(nearer, b, a) for a, b in zip(normal, n2))  # type: ignore[assignment]
    return t, normal


def _hit_shape(shape: int, o: _Vec, d: _Vec) -> tuple[np.ndarray, _Vec]:
    """First hit of the unit-scale object ``SHAPES[shape]`` standing on the floor at the origin.

    cube: side 2; cylinder: radius 1, height 2; sphere: radius 1; capsule: radius 0.7, height 2.6
    (a cylinder between two hemispheres). The bottom faces touch the floor and are never visible.
    """
    if shape == 0:
        return _hit_box(o, d, 1.0, 2.0)
    if shape == 1:
        return _closest(_hit_tube(o, d, 1.0, 0.0, 2.0), _hit_disc(o, d, 1.0, 2.0))
    if shape == 2:
        return _hit_sphere(o, d, 1.0, 1.0)
    r, top = _CAPSULE_RADIUS, _CAPSULE_TOP
    return _closest(_hit_tube(o, d, r, r, top - r), _hit_sphere(o, d, r, r), _hit_sphere(o, d, top - r, r))


def _hit_object(shape: int, scale: np.ndarray, o: _Vec, d: _Vec) -> tuple[np.ndarray, _Vec]:
    """Hit the object scaled by ``scale`` about the origin: cast ``(o / s, d / s)`` at the unit object.

    Scaling origin and direction alike keeps t, and a uniform scale keeps the normals.
    """
    s = scale
    return _hit_shape(shape, (o[0] / s, o[1] / s, o[2] / s), (d[0] / s, d[1] / s, d[2] / s))


def _camera_rays(azimuth: np.ndarray, image_size: int, supersample: int) -> tuple[_Vec, _Vec]:
    """Camera origins (G, 1) and unit ray directions (G, S) for azimuths ``azimuth`` (G,) in radians.

    The camera sits at ``(-R sin a, height, -R cos a)``, looks at ``(0, target, 0)`` with a pinhole
    of field of view ``_FOV_DEGREES``; the S = (image_size * supersample)^2 rays go through the
    centres of a regular sub-pixel grid, rows top to bottom, columns left to right.
    """
    a = np.asarray(azimuth, dtype=np.float64)[:, None]
    origin = (-_CAMERA_DISTANCE * np.sin(a), np.full_like(a, _CAMERA_HEIGHT), -_CAMERA_DISTANCE * np.cos(a))
    fwd = np.stack([-origin[0], _TARGET_HEIGHT - origin[1], -origin[2]], axis=-1)
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)  # (G, 1, 3)
    right = np.cross(fwd, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    up = np.cross(right, fwd)
    n = image_size * supersample
    grid = (np.arange(n) + 0.5) / n * 2.0 - 1.0  # -1 .. 1
    half = np.tan(np.radians(_FOV_DEGREES) / 2.0)
    v = np.repeat(-grid, n) * half  # rows: top (+) to bottom (-)
    u = np.tile(grid, n) * half  # columns: left to right
    dirs = fwd + u[:, None] * right + v[:, None] * up  # (G, S, 3)
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    return origin, (dirs[..., 0], dirs[..., 1], dirs[..., 2])


def _room_hit(o: _Vec, d: _Vec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where camera rays leave the room: t, the layer (FLOOR or WALL) and the Lambert term n . l.

    The room is the convex set ``y > 0, z - x < D, z + x < D``; a ray from inside leaves it
    through the first of the three planes it crosses ahead of it.
    """
    light = _LIGHT / np.linalg.norm(_LIGHT)
    inv2 = 1.0 / np.sqrt(2.0)
    planes = (  # inward normal n and offset: the plane is n . p = c
        ((0.0, 1.0, 0.0), 0.0),
        ((inv2, 0.0, -inv2), -_CORNER_DISTANCE * inv2),
        ((-inv2, 0.0, -inv2), -_CORNER_DISTANCE * inv2),
    )
    ts, lamberts = [], []
    with np.errstate(divide="ignore", invalid="ignore"):
        for n, c in planes:
            nd = n[0] * d[0] + n[1] * d[1] + n[2] * d[2]
            t = (c - (n[0] * o[0] + n[1] * o[1] + n[2] * o[2])) / nd
            ts.append(np.where((nd < 0) & (t > 0), t, np.inf))
            lamberts.append(max(0.0, float(np.dot(n, light))))
    t_all = np.stack(np.broadcast_arrays(*ts))
    which = np.argmin(t_all, axis=0)
    t = np.take_along_axis(t_all, which[None], axis=0)[0]
    layer = np.where(which == 0, FLOOR, WALL)
    lambert = np.asarray(lamberts)[which]
    return t, layer, lambert


def render_layers(
    scale: np.ndarray, shape: np.ndarray, azimuth: np.ndarray, image_size: int = 64, supersample: int = 2
) -> np.ndarray:
    """Ray cast the layer buffers of G scenes: float32 (G, 3, H, W).

    ``scale`` (G,) object sizes, ``shape`` (G,) indices into :data:`SHAPES`, ``azimuth`` (G,)
    camera azimuths in radians. Layer k of a pixel is the mean over its sub-pixel rays of
    ``[ray sees layer k] * shade``; an image with hues ``h`` is ``sum_k layer_k * hue_to_rgb(h_k)``.
    """
    scale = np.asarray(scale, dtype=np.float64)
    shape = np.asarray(shape, dtype=np.int64)
    g = scale.shape[0]
    if scale.ndim != 1 or shape.shape != (g,) or np.shape(azimuth) != (g,):
        raise ValueError("scale, shape and azimuth must be 1-D arrays of the same length")
    if g and (shape.min() < 0 or shape.max() >= len(SHAPES)):
        raise ValueError(f"shape must index {SHAPES}, i.e. be in [0, {len(SHAPES) - 1}]")
    o, d = _camera_rays(azimuth, image_size, supersample)
    t_room, layer, lambert = _room_hit(o, d)
    shade = _AMBIENT_ROOM + (1.0 - _AMBIENT_ROOM) * lambert

    light = _LIGHT / np.linalg.norm(_LIGHT)
    shading = np.zeros(t_room.shape)
    for k in np.unique(shape):  # one vectorised pass per shape present
        rows = np.flatnonzero(shape == k)
        sc = scale[rows, None]
        o_k = tuple(c[rows] for c in o)
        d_k = tuple(c[rows] for c in d)
        t_obj, normal = _hit_object(int(k), sc, o_k, d_k)
        on_obj = t_obj < t_room[rows]
        n_dot_l = normal[0] * light[0] + normal[1] * light[1] + normal[2] * light[2]
        obj_shade = _AMBIENT_OBJECT + (1.0 - _AMBIENT_OBJECT) * np.maximum(n_dot_l, 0.0)
        # shadows: a ray from the floor / wall point towards the light that hits the object
        tr = np.where(np.isfinite(t_room[rows]), t_room[rows], 0.0)
        p = tuple(oc + tr * dc for oc, dc in zip(o_k, d_k))
        t_shadow, _ = _hit_object(int(k), sc, p, tuple(np.full(1, c) for c in light))
        lit = np.isinf(t_shadow) & (lambert[rows] > 0)
        room_shade = np.where(lit, shade[rows], _AMBIENT_ROOM)
        layer[rows] = np.where(on_obj, OBJECT, layer[rows])
        shading[rows] = np.where(on_obj, obj_shade, room_shade)

    n = image_size
    out = np.empty((g, 3, n, n), dtype=np.float32)
    for k in (FLOOR, WALL, OBJECT):
        w = np.where(layer == k, shading, 0.0).reshape(g, n, supersample, n, supersample)
        out[:, k] = w.mean(axis=(2, 4))
    return out


class Shapes3D(GroundTruthData):
    """Procedural 3dshapes: a shaded object in a room, six factors (see the module docstring).

    Parameters
    ----------
    image_size: height and width of the images (64 like 3dshapes).
    supersample: sub-pixel rays per pixel side (2 gives 2x2 anti-aliasing; 1 turns it off).

    Images are float32 (n, 3, H, W) in [0, 1]; the renderer is deterministic. ``factor_values``
    holds the 3dshapes label value of every factor index (hue, scale, shape id, degrees).

    Example
    -------
    >>> data = Shapes3D()
    >>> data.observations([[0, 3, 6, 7, 0, 7]]).shape
    (1, 3, 64, 64)
    """

    def __init__(self, image_size: int = 64, supersample: int = 2):
        self.image_size = check_int("image_size", image_size, 1)
        self.supersample = check_int("supersample", supersample, 1)
        hues = np.linspace(0.0, 0.9, 10)
        #: 3dshapes label values per factor: hues, scales, shape ids, azimuths in degrees.
        self.factor_values: tuple[np.ndarray, ...] = (
            hues,
            hues,
            hues,
            np.linspace(0.75, 1.25, 8),
            np.arange(4, dtype=np.float64),
            np.linspace(-30.0, 30.0, 15),
        )
        self._space = FactorSpace(
            ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"), (10, 10, 10, 8, 4, 15)
        )
        self._palette = hue_to_rgb(hues).astype(np.float32)  # (10, 3)

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    def _geometry_ids(self, factors: np.ndarray) -> np.ndarray:
        return (factors[:, 3] * 4 + factors[:, 4]) * 15 + factors[:, 5]

    def _buffers(self, ids: np.ndarray, chunk: int = 32) -> np.ndarray:
        """The layer buffers of geometry ids ``ids`` (n,), ray casting the ones not cached yet."""
        key = (self.image_size, self.supersample)
        if key not in _LAYER_CACHE:
            _LAYER_CACHE[key] = (
                np.zeros((8 * 4 * 15, 3, self.image_size, self.image_size), dtype=np.float32),
                np.zeros(8 * 4 * 15, dtype=bool),
            )
        cache, cached = _LAYER_CACHE[key]
        missing = np.unique(ids[~cached[ids]])
        for start in range(0, missing.size, chunk):  # chunks bound the memory of the ray arrays
            g = missing[start : start + chunk]
            scale_idx, rest = np.divmod(g, 4 * 15)
            shape_idx, orient_idx = np.divmod(rest, 15)
            cache[g] = render_layers(
                self.factor_values[3][scale_idx],
                shape_idx,
                np.radians(self.factor_values[5][orient_idx]),
                self.image_size,
                self.supersample,
            )
            cached[g] = True
        return cache[ids]

    def layers(self, factors: np.ndarray) -> np.ndarray:
        """Shaded coverage of floor, walls and object per pixel: float32 (n, 3, H, W).

        Layer ``k`` (:data:`FLOOR`, :data:`WALL`, :data:`OBJECT`) is the fraction of the pixel's
        sub-pixel rays that see that surface, each weighted by its Lambert shade. It depends only
        on scale, shape and orientation.
        """
        arr = self.factor_space.validate(factors)
        return self._buffers(self._geometry_ids(arr))

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        layers = self.layers(factors)  # (n, 3 layers, H, W)
        colours = self._palette[factors[:, :3]]  # (n, 3 layers, 3 rgb)
        # image[c] = sum_k layers[k] * colours[k, c]
        n, _, h, w = layers.shape
        out = np.matmul(colours.transpose(0, 2, 1), layers.reshape(n, 3, h * w))
        return np.clip(out, 0.0, 1.0, out=out).reshape(n, 3, h, w)


def shapes3d(image_size: int = 64, supersample: int = 2) -> Shapes3D:
    """The ``shapes3d`` registry factory (procedural); see :class:`Shapes3D`."""
    return Shapes3D(image_size=image_size, supersample=supersample)
