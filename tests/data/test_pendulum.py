"""Pendulum (spec methods_ssl_causal.md section 6): labels, grid, interventions, rendering."""

import math

import numpy as np
import pytest

import disentkit.data as dd
from disentkit.data.pendulum import Pendulum, pendulum_shadow

SIZE = 64
PX_PER_X = SIZE / 20.0  # x in [0, 20] fills the width
PX_PER_Y = SIZE / 22.0  # y in [-1, 21] fills the height


def spec_labels(theta, phi):
    """The spec's formulas, written out independently: proj, then shadow length and position."""

    def proj(x, y, base):
        return (base - (y - x * math.tan(phi))) / math.tan(phi)

    pivot = proj(10.0, 10.5, -0.5)
    tip = proj(10 + 9.5 * math.sin(theta), 10.5 - 9.5 * math.cos(theta), -0.5)
    return max(3.0, abs(pivot - tip)), (pivot + tip) / 2


@pytest.fixture(scope="module")
def data():
    return Pendulum()


def test_hand_picked_labels(data):
    # theta = 0, phi = pi/3: proj(pivot) = 10 - 11/sqrt(3), proj(tip) = 10 - 1.5/sqrt(3)
    # theta = pi/6, phi = pi/2 (light straight above): proj(x, y) = x, tip x = 10 + 9.5/2
    # theta = 0, phi = pi/2: a zero-length shadow, clamped to 3
    cases = [
        (0.0, math.pi / 3, 9.5 / math.sqrt(3), 10 - 6.25 / math.sqrt(3)),
        (math.pi / 6, math.pi / 2, 4.75, 12.375),
        (0.0, math.pi / 2, 3.0, 10.0),
    ]
    continuous = Pendulum(mode="continuous")
    start = continuous.sample_factors(len(cases), rng=0)
    theta = np.array([c[0] for c in cases])
    phi = np.array([c[1] for c in cases])
    out = continuous.intervene(start, do={"angle": theta, "light": phi})
    expected = np.array([[c[2], c[3]] for c in cases])
    np.testing.assert_allclose(out[:, 2:], expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.stack(pendulum_shadow(theta, phi), axis=1), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("i, j", [(-40, 60), (43, 147), (0, 99), (7, 101), (-13, 128)])
def test_grid_rows_match_the_spec_formulas(data, i, j):
    row = (i + 40) * 87 + (j - 60) - (j > 100)  # i slowest; j = 100 is left out
    theta, phi = i * math.pi / 200, j * math.pi / 200
    length, position = spec_labels(theta, phi)
    np.testing.assert_allclose(data.grid()[row], [theta, phi, length, position], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(data.grid_indices(data.grid()[row : row + 1]), [[i + 40, (j - 60) - (j > 100)]])


def test_grid_has_7308_images(data):
    grid = data.grid()
    assert len(data) == 7308 and grid.shape == (7308, 4) and grid.dtype == np.float64
    i = np.unique(np.rint(grid[:, 0] * 200 / np.pi))
    j = np.unique(np.rint(grid[:, 1] * 200 / np.pi))
    np.testing.assert_array_equal(i, np.arange(-40, 44))
    np.testing.assert_array_equal(j, [k for k in range(60, 148) if k != 100])
    assert np.unique(grid[:, :2], axis=0).shape[0] == 7308
    np.testing.assert_array_equal(data.grid_indices(grid), data.grid_space.grid())
    np.testing.assert_array_equal(data.grid_index(grid[[0, 87, 7307]]), [0, 87, 7307])
    # every shadow value of the grid lies in its declared range
    data.factor_space.validate(grid)


def test_sampling_modes_and_determinism(data):
    f = data.sample_factors(300, rng=5)
    np.testing.assert_array_equal(f, data.sample_factors(300, rng=5))
    data.grid_indices(f)  # every grid draw is a grid point
    cont = Pendulum(mode="continuous")
    g = cont.sample_factors(300, rng=5)
    np.testing.assert_array_equal(g, cont.sample_factors(300, rng=5))
    assert g[:, 0].min() >= -40 * np.pi / 200 and g[:, 0].max() <= 43 * np.pi / 200
    assert g[:, 1].min() >= 60 * np.pi / 200 and g[:, 1].max() <= 147 * np.pi / 200
    expected = np.array([spec_labels(t, p) for t, p in g[:, :2]])
    np.testing.assert_allclose(g[:, 2:], expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="not on the grid"):
        data.grid_indices(g[:1])
    with pytest.raises(ValueError, match="mode='continuous' has no finite number of images"):
        len(cont)


def test_intervening_on_a_cause_moves_the_shadow(data):
    f = data.grid()[[100, 3000, 6000]]
    out = data.intervene(f, do={"angle": 0.3})
    np.testing.assert_array_equal(out[:, 1], f[:, 1])  # the light stays
    expected = np.array([spec_labels(0.3, p) for p in f[:, 1]])
    np.testing.assert_allclose(out[:, 2:], expected, atol=1e-12)
    assert np.all(np.abs(out[:, 3] - f[:, 3]) > 0.1)
    lit = data.intervene(f, do={"light": 2.0})
    np.testing.assert_array_equal(lit[:, 0], f[:, 0])  # the angle stays
    np.testing.assert_allclose(lit[:, 2:], np.array([spec_labels(t, 2.0) for t in f[:, 0]]), atol=1e-12)


def test_intervening_on_the_shadow_changes_no_cause(data):
    f = data.grid()[[100, 3000, 6000]]
    out = data.intervene(f, do={"shadow_length": 5.0})
    np.testing.assert_array_equal(out[:, [0, 1, 3]], f[:, [0, 1, 3]])
    np.testing.assert_array_equal(out[:, 2], 5.0)
    out = data.intervene(f, do={"shadow_position": 11.0})
    np.testing.assert_array_equal(out[:, :3], f[:, :3])
    np.testing.assert_array_equal(out[:, 3], 11.0)


def test_intervention_errors_and_angle_wrapping(data):
    f = data.grid()[:1]
    with pytest.raises(ValueError, match="factor 'angle' must be in"):
        data.intervene(f, do={"angle": 1.2})
    with pytest.raises(ValueError, match="factor 'shadow_length' must be in \\[3, 13\\]"):
        data.intervene(f, do={"shadow_length": 1.0})
    with pytest.raises(ValueError, match="unknown factor 'sun'"):
        data.intervene(f, do={"sun": 1.0})
    wrapped = data.intervene(f, do={"angle": 2 * np.pi + 0.1})  # the same angle as 0.1
    np.testing.assert_allclose(wrapped, data.intervene(f, do={"angle": 0.1}), atol=1e-12)


def test_causal_graph_is_dear_pendulum_graph(data):
    g = data.causal_graph
    assert g.names == ("angle", "light", "shadow_length", "shadow_position")
    np.testing.assert_array_equal(g.adjacency(), [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert data.intervenable_factors == g.names
    assert data.factor_space.kinds == ("angle", "angle", "continuous", "continuous")


def test_rendering_shape_range_and_determinism(data):
    f = data.grid()[::1000]
    a = data.observations(f)
    assert a.shape == (len(f), 3, 64, 64) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, data.observations(f, rng=123))
    np.testing.assert_array_equal(a[:, :, 30, 1], 1.0)  # white background left of the scene
    assert Pendulum(image_size=96).observations(f[:2]).shape == (2, 3, 96, 96)
    assert not data.stochastic


def _dark_run(image, row):
    """First and last column (inclusive) of the dark run in ``row`` of an RGB image (3, H, W)."""
    dark = np.flatnonzero(image[:, row].mean(axis=0) < 0.5)
    assert dark.size and np.all(np.diff(dark) == 1)
    return dark[0], dark[-1]


FLOOR_ROW = int((21 - (-0.5)) * PX_PER_Y)  # the floor y = -0.5 lies in pixel row 62


@pytest.mark.parametrize("i, j", [(-40, 80), (0, 60), (20, 120), (30, 135), (-20, 99), (10, 140)])
def test_the_shadow_is_drawn_where_its_labels_say(data, i, j):
    theta, phi = i * math.pi / 200, j * math.pi / 200
    length, position = spec_labels(theta, phi)
    assert 0 < position - length / 2 and position + length / 2 < 20  # fully in the image
    f = data.intervene(data.grid()[:1], do={"angle": theta, "light": phi})
    first, last = _dark_run(data.observations(f)[0], FLOOR_ROW)
    centre = (first + last + 1) / 2 / PX_PER_X
    assert abs(centre - position) <= 1 / PX_PER_X  # within a pixel
    assert abs((last + 1 - first) / PX_PER_X - length) <= 1 / PX_PER_X


def test_ball_and_sun_positions(data):
    theta, phi = 0.4, math.pi / 2
    f = data.intervene(data.grid()[:1], do={"angle": theta, "light": phi})
    img = data.observations(f)[0]
    red = (img[0] > 0.6) & (img[1] < 0.2) & (img[2] < 0.2)  # firebrick (178, 34, 34)
    rows, cols = np.nonzero(red)
    assert abs((cols + 0.5).mean() / PX_PER_X - (10 + 8 * math.sin(theta))) < 0.2
    assert abs(21 - (rows + 0.5).mean() / PX_PER_Y - (10.5 - 8 * math.cos(theta))) < 0.2
    orange = (img[0] > 0.9) & (img[1] > 0.5) & (img[1] < 0.8) & (img[2] < 0.1)  # (255, 165, 0)
    _, cols = np.nonzero(orange)
    assert abs((cols + 0.5).mean() / PX_PER_X - 10.0) < 0.2  # the sun above the pivot at phi = pi/2


def test_a_shadow_intervention_moves_only_the_shadow_pixels(data):
    f = data.grid()[[2000]]
    moved = data.intervene(f, do={"shadow_position": 15.0, "shadow_length": 4.0})
    a, b = data.observations(f)[0], data.observations(moved)[0]
    changed_rows = np.flatnonzero(np.abs(a - b).max(axis=(0, 2)) > 0)
    assert changed_rows.size and changed_rows.min() >= FLOOR_ROW - 2
    first, last = _dark_run(b, FLOOR_ROW)
    assert abs((first + last + 1) / 2 / PX_PER_X - 15.0) <= 1 / PX_PER_X
    assert abs((last + 1 - first) / PX_PER_X - 4.0) <= 1 / PX_PER_X


def test_registry_entry():
    data = dd.get("pendulum", mode="continuous", image_size=32)
    assert isinstance(data, Pendulum) and data.name == "pendulum" and data.observation_shape == (3, 32, 32)
    assert "pendulum" in dd.names()
    dd.check_params("pendulum", {"mode": "grid"})
    with pytest.raises(ValueError, match="mode must be one of 'grid', 'continuous'; got 'dense'"):
        dd.get("pendulum", mode="dense")
    with pytest.raises(ValueError, match="image_size must be an integer >= 8"):
        dd.get("pendulum", image_size=4)
    factors, images = data.sample(3, rng=0)
    assert factors.shape == (3, 4) and images.shape == (3, 3, 32, 32)


def test_windowed_rendering_equals_full_image_rendering():
    # each shape is rasterised only inside a window derived from the factor ranges; rasterising
    # every shape over the whole image must give the same pixels, at the ranges' extremes too
    data, full = Pendulum(), Pendulum()
    centres = np.arange(64, dtype=np.float32) + 0.5
    full._window_cache = {k: (centres, centres) for k in ("pendulum", "sun", "shadow")}
    low, high = data.factor_space.low, data.factor_space.high
    f = data.grid()[::37]
    extremes = np.array([[low[0], low[1], high[2], low[3]], [high[0], high[1], high[2], high[3]]])
    f = np.concatenate([f, extremes, Pendulum(mode="continuous").sample_factors(50, rng=2)])
    np.testing.assert_array_equal(data.observations(f), full.observations(f))
