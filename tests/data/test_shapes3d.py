"""Procedural Shapes3D: factors, determinism, and that each factor changes what it should."""

import colorsys

import numpy as np
import pytest

from disentkit.data.shapes3d import FLOOR, OBJECT, SHAPES, WALL, Shapes3D, hue_to_rgb, render_layers, shapes3d

HUES = np.linspace(0.0, 0.9, 10)
BASE = [2, 6, 0, 4, 0, 7]  # floor 0.2, wall 0.6, object 0.0, scale 4, cube, azimuth 0


@pytest.fixture(scope="module")
def data() -> Shapes3D:
    return Shapes3D()


def _with(factors, **changes):
    names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    out = list(factors)
    for name, value in changes.items():
        out[names.index(name)] = value
    return out


def _changed(data, a, b):
    """Pixels (H, W) whose colour differs between the images of factor vectors a and b."""
    im = data.observations([a, b])
    return np.abs(im[0] - im[1]).max(axis=0) > 1e-6


def _hue(rgb):
    return np.array([colorsys.rgb_to_hsv(*px)[0] for px in np.asarray(rgb, dtype=np.float64)])


def _hue_dist(h, target):
    d = np.abs(h - target) % 1.0
    return np.minimum(d, 1.0 - d)


def test_factor_names_sizes_and_values(data):
    assert data.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert data.factor_sizes == (10, 10, 10, 8, 4, 15)
    assert len(data) == 480_000
    assert data.observation_shape == (3, 64, 64)
    np.testing.assert_allclose(data.factor_values[0], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    np.testing.assert_allclose(data.factor_values[3][[0, -1]], [0.75, 1.25])
    np.testing.assert_allclose(data.factor_values[5][[0, 7, -1]], [-30.0, 0.0, 30.0])
    assert SHAPES == ("cube", "cylinder", "sphere", "capsule")


def test_index_round_trip(data):
    idx = np.array([0, 1, 14, 15, 479_999, 123_456])
    factors = data.factor_space.factors_of(idx)
    np.testing.assert_array_equal(factors[2], [0, 0, 0, 0, 0, 14])
    np.testing.assert_array_equal(factors[3], [0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(data.factor_space.index_of(factors), idx)


def test_images_dtype_range_and_determinism(data):
    f1, im1 = data.sample(8, rng=3)
    f2, im2 = Shapes3D().sample(8, rng=3)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(im1, im2)
    assert im1.shape == (8, 3, 64, 64) and im1.dtype == np.float32
    assert im1.min() >= 0.0 and im1.max() <= 1.0
    # the cached buffers equal a fresh ray cast
    g = f1[:2]
    fresh = render_layers(data.factor_values[3][g[:, 3]], g[:, 4], np.radians(data.factor_values[5][g[:, 5]]))
    np.testing.assert_array_equal(data.layers(g), fresh)


def test_hue_to_rgb_matches_hsv():
    np.testing.assert_allclose(hue_to_rgb(np.array([0.0, 1 / 3, 0.5, 2 / 3])), [[1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1]], atol=1e-12)
    expected = [colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in HUES]
    np.testing.assert_allclose(hue_to_rgb(HUES), expected, atol=1e-12)


def test_floor_hue_changes_only_floor_pixels(data):
    a, b = BASE, _with(BASE, floor_hue=5)
    changed = _changed(data, a, b)
    layers = data.layers([a])[0]
    assert not np.any(changed & (layers[FLOOR] == 0))
    assert changed[-4:].all() and not changed[:4].any()  # bottom rows are floor, top rows wall
    im = data.observations([b])[0]
    assert np.all(_hue_dist(_hue(im[:, -1].T), HUES[5]) < 1e-4)


def test_wall_hue_changes_only_wall_pixels(data):
    a, b = BASE, _with(BASE, wall_hue=9)
    changed = _changed(data, a, b)
    layers = data.layers([a])[0]
    assert not np.any(changed & (layers[WALL] == 0))
    assert changed[:4].all() and not changed[-4:].any()
    im = data.observations([b])[0]
    assert np.all(_hue_dist(_hue(im[:, 0].T), HUES[9]) < 1e-4)


def test_object_hue_changes_only_object_pixels(data):
    a, b = BASE, _with(BASE, object_hue=3)
    changed = _changed(data, a, b)
    layers = data.layers([a])[0]
    assert not np.any(changed & (layers[OBJECT] == 0))
    assert 100 < changed.sum() < 64 * 64 / 4  # a central object, not the whole image
    assert changed[28:36, 28:36].all()
    assert not changed[:4].any() and not changed[-4:].any()
    full = (layers[OBJECT] > 0) & (layers[FLOOR] == 0) & (layers[WALL] == 0)
    im = data.observations([b])[0]
    assert np.all(_hue_dist(_hue(im[:, full].T), HUES[3]) < 1e-4)


def test_object_is_shaded_and_casts_a_shadow(data):
    sphere = data.layers([_with(BASE, shape=2)])[0]
    pure = (sphere[OBJECT] > 0) & (sphere[FLOOR] == 0) & (sphere[WALL] == 0)
    assert sphere[OBJECT][pure].max() - sphere[OBJECT][pure].min() > 0.4  # Lambertian gradient
    floor = (sphere[FLOOR] > 0) & (sphere[WALL] == 0) & (sphere[OBJECT] == 0)
    assert sphere[FLOOR][floor].max() - sphere[FLOOR][floor].min() > 0.2  # lit floor vs shadow


def test_scale_grows_the_object_monotonically(data):
    for shape in range(4):
        factors = [_with(BASE, scale=s, shape=shape) for s in range(8)]
        area = (data.layers(factors)[:, OBJECT] > 0).sum(axis=(1, 2))
        assert np.all(np.diff(area) > 0), (SHAPES[shape], area)
        assert area[-1] > 2 * area[0]  # (1.25 / 0.75)^2 = 2.8 in area


def test_the_four_shapes_have_distinct_silhouettes(data):
    masks = data.layers([_with(BASE, shape=s) for s in range(4)])[:, OBJECT] > 0
    for i in range(4):
        for j in range(i + 1, 4):
            assert (masks[i] ^ masks[j]).sum() >= 20, (SHAPES[i], SHAPES[j])


def test_orientation_turns_the_cube_but_not_the_sphere_silhouette(data):
    cube = data.layers([_with(BASE, orientation=o) for o in (7, 10, 14)])[:, OBJECT] > 0
    assert (cube[0] ^ cube[1]).sum() >= 10 and (cube[0] ^ cube[2]).sum() >= 10
    assert cube[1].sum() > cube[0].sum()  # turned 12 degrees: two faces, a wider silhouette
    sphere = data.layers([_with(BASE, shape=2, orientation=o) for o in range(15)])[:, OBJECT] > 0
    assert max((sphere[0] ^ s).sum() for s in sphere) <= 2  # camera orbits the sphere's axis
    assert not np.array_equal(data.observations([BASE])[0], data.observations([_with(BASE, orientation=3)])[0])


def test_bad_parameters_and_factory():
    with pytest.raises(ValueError, match="supersample"):
        Shapes3D(supersample=0)
    with pytest.raises(ValueError, match="image_size"):
        Shapes3D(image_size=0)
    with pytest.raises(ValueError, match="shape"):
        render_layers(np.ones(1), np.array([4]), np.zeros(1))
    assert isinstance(shapes3d(), Shapes3D)
    with pytest.raises(ValueError, match="orientation"):
        shapes3d().observations([[0, 0, 0, 0, 0, 15]])
