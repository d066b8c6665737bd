"""XYSquares (Michlo et al. 2023, spec methods_vae.md 6.1) and XYObject (disent's XYObjectData)."""

import warnings

import numpy as np
import pytest

import disentkit.data as dd
from disentkit.data.xysquares import XYObject, XYSquares, xyobject, xysquares


def _quiet(**params) -> XYSquares:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return XYSquares(**params)


def _reference_squares(factors, offset, spacing, size=8, image_size=64):
    """Draw each square by slicing, one image at a time (the loop is the reference)."""
    out = np.zeros((len(factors), 3, image_size, image_size), dtype=np.float32)
    for n, f in enumerate(factors):
        for i in range(3):
            row, col = offset + spacing * f[2 * i + 1], offset + spacing * f[2 * i]
            out[n, i, row : row + size, col : col + size] = 1.0
    return out


def test_default_factors():
    data = XYSquares()
    assert data.factor_names == ("x_R", "y_R", "x_G", "y_G", "x_B", "y_B")
    assert data.factor_sizes == (8,) * 6
    assert len(data) == 262_144
    assert data.observation_shape == (3, 64, 64)
    assert (data.num_positions, data.offset) == (8, 0)


@pytest.mark.parametrize(
    "params, positions, offset",
    [
        ({"grid_spacing": 1}, 8, 24),  # extent 8 + 7 = 15 -> (64 - 15) // 2
        ({"grid_spacing": 4}, 8, 14),  # 56 // 4 + 1 = 15 capped at 8; extent 36
        ({"grid_spacing": 7}, 8, 3),  # 56 // 7 + 1 = 9 capped at 8; extent 57
        ({"grid_spacing": 8}, 8, 0),
        ({"grid_spacing": 9}, 7, 1),  # 56 // 9 + 1 = 7; extent 62
        ({"grid_spacing": 16}, 4, 4),  # 56 // 16 + 1 = 4; extent 56
        ({"grid_size": 4}, 4, 16),  # extent 32
        ({"grid_size": 100, "grid_spacing": 4, "square_size": 4}, 16, 0),  # 60 // 4 + 1
    ],
)
def test_positions_and_offset(params, positions, offset):
    data = _quiet(**params)
    assert (data.num_positions, data.offset) == (positions, offset)
    assert data.factor_sizes == (positions,) * 6


@pytest.mark.parametrize("spacing, offset", [(8, 0), (7, 3), (4, 14)])
def test_squares_are_blocks_in_their_own_channel(spacing, offset):
    data = _quiet(grid_spacing=spacing)
    factors = data.sample_factors(20, rng=0)
    images = data.observations(factors)
    np.testing.assert_array_equal(images, _reference_squares(factors, offset, spacing))
    assert images.dtype == np.float32
    np.testing.assert_array_equal(images.sum(axis=(2, 3)), 64.0)  # one 8x8 block per channel
    corners = data.corners(factors)
    np.testing.assert_array_equal(corners[:, 0], offset + spacing * factors[:, [1, 0]])


def test_one_step_has_zero_overlap_at_spacing_8():
    data = XYSquares()
    base = np.array([[3, 4, 0, 6, 5, 5]])
    steps = np.repeat(base, 6, axis=0) + np.eye(6, dtype=np.int64)
    images = data.observations(np.concatenate([base, steps]))
    overlap = (images[:1] * images[1:]).sum(axis=(2, 3))  # (6 moves, 3 channels)
    moved = np.eye(6, dtype=bool).reshape(6, 3, 2).any(axis=2)
    np.testing.assert_array_equal(overlap[moved], 0.0)
    np.testing.assert_array_equal(overlap[~moved], 64.0)
    sq_dist = ((images[1:] - images[:1]) ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_array_equal(sq_dist, 128.0)  # every one-step neighbour equally far


def test_one_step_overlaps_at_spacing_4():
    data = _quiet(grid_spacing=4)
    images = data.observations([[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    assert (images[0, 0] * images[1, 0]).sum() == 32.0  # 8 rows x 4 columns


def test_greyscale_draws_every_square_in_one_channel():
    rgb, grey = XYSquares(), XYSquares(rgb=False)
    assert grey.observation_shape == (1, 64, 64) and grey.factor_sizes == rgb.factor_sizes
    factors = rgb.sample_factors(10, rng=1)
    np.testing.assert_array_equal(grey.observations(factors)[:, 0], rgb.observations(factors).max(axis=1))


def test_overlap_warning():
    with pytest.warns(UserWarning, match="overlap"):
        XYSquares(grid_spacing=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        XYSquares(grid_spacing=8)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"square_size": 65}, "square_size"),
        ({"square_size": 0}, "square_size"),
        ({"grid_spacing": 0}, "grid_spacing"),
        ({"grid_size": 0}, "grid_size"),
        ({"image_size": 0}, "image_size"),
        ({"grid_size": 2.5}, "grid_size"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        XYSquares(**params)


def test_determinism_and_index_round_trip():
    data = XYSquares()
    f1, im1 = data.sample(16, rng=7)
    f2, im2 = xysquares().sample(16, rng=7)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(im1, im2)
    np.testing.assert_array_equal(data.factor_space.factors_of(data.factor_space.index_of(f1)), f1)
    assert data.factor_space.index_of([[0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0]]).tolist() == [1, 8**5]


def test_registry_factories_take_explicit_parameters():
    with pytest.warns(UserWarning, match="overlap"):
        assert dd.get("xysquares", grid_spacing=4).offset == 14
    assert dd.get("xyobject", grid_spacing=4).factor_sizes == (13, 13, 5, 24)
    with pytest.raises(ValueError, match="grid_spacing"):
        dd.get("xysquares", spacing=4)


# -- XYObject ----------------------------------------------------------------------------------


def test_xyobject_defaults():
    data = XYObject()
    assert data.factor_names == ("x", "y", "scale", "colour")
    assert data.factor_sizes == (25, 25, 5, 24)  # (64 - 15) // 2 + 1; 7..15 step 2; 6 hues x 4
    assert data.scales.tolist() == [7, 9, 11, 13, 15]
    assert len(data) == 75_000
    np.testing.assert_array_equal(data.colors[[0, 1, 6, 7, 23]], [[0.25, 0, 0], [0.25, 0.25, 0], [0.5, 0, 0], [0.5, 0.5, 0], [1, 0, 1]])


def test_xyobject_square_position_size_and_colour():
    data = XYObject()
    image = data.observations([[3, 5, 1, 7]])[0]  # scale 9, pad (15 - 9) // 2 = 3, colour 0.5 * yellow
    expected = np.zeros((3, 64, 64), dtype=np.float32)
    expected[:2, 13:22, 9:18] = 0.5  # rows 2 * 5 + 3, columns 2 * 3 + 3
    np.testing.assert_array_equal(image, expected)
    corner = data.observations([[24, 24, 4, 23]])[0]  # the largest square in the last cell fits
    assert corner[0, 48:63, 48:63].min() == 1.0 and corner.sum() == 2 * 225 and corner[1].sum() == 0


def test_xyobject_greyscale_and_palettes():
    grey = xyobject(rgb=False)
    assert grey.observation_shape == (1, 64, 64) and grey.factor_sizes == (25, 25, 5, 4)
    np.testing.assert_allclose(grey.colors[:, 0], [0.25, 0.5, 0.75, 1.0])
    rgb = XYObject(palette="rgb", brightness_levels=1)
    np.testing.assert_array_equal(rgb.colors, np.eye(3))
    f, im = rgb.sample(6, rng=0)
    np.testing.assert_array_equal(im.sum(axis=(2, 3)).argmax(axis=1), f[:, 3])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"min_square_size": 9, "max_square_size": 7}, "min_square_size"),
        ({"max_square_size": 65}, "max_square_size"),
        ({"palette": "plasma"}, "rainbow"),
        ({"grid_spacing": 0}, "grid_spacing"),
        ({"brightness_levels": 0}, "brightness_levels"),
        ({"square_size_spacing": 0}, "square_size_spacing"),
    ],
)
def test_xyobject_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        XYObject(**params)
