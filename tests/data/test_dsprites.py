"""Procedural dSprites and its colour / noisy / scream variants."""

import numpy as np
import pytest
from PIL import Image

import disentkit.data.dsprites as dsp
import disentkit.data.dsprites_variants as dsv
from disentkit.data import registry
from disentkit.data.dsprites import DSprites, dsprites, dsprites_noshape
from disentkit.data.dsprites_variants import (
    ColorDSprites,
    NoisyDSprites,
    ScreamDSprites,
    color_dsprites,
    load_scream_image,
    noisy_dsprites,
    scream_dsprites,
    scream_texture,
)

SQUARE, ELLIPSE, HEART = 0, 1, 2


def centroid(image: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of mass of a (1, H, W) image."""
    rows, cols = np.nonzero(image[0])
    return rows.mean(), cols.mean()


def area(images: np.ndarray) -> np.ndarray:
    return images.reshape(images.shape[0], -1).sum(axis=1)


# -- the factor space ---------------------------------------------------------------------------
def test_factors_and_shapes():
    data = dsprites()
    assert isinstance(data, DSprites)
    assert data.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert data.factor_sizes == (3, 6, 40, 32, 32)
    assert len(data) == 737280
    assert data.observation_shape == (1, 64, 64)
    assert data.stochastic is False and data.source == "procedural"
    values = data.factor_values
    np.testing.assert_allclose(values["scale"], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    np.testing.assert_allclose(values["orientation"][[0, 1, 39]], [0.0, 2 * np.pi / 40, 2 * np.pi * 39 / 40])
    np.testing.assert_allclose(values["posX"][[0, 1, 31]], [0.0, 1 / 31, 1.0])


def test_index_round_trip():
    space = DSprites().factor_space
    # C order: index = shape*245760 + scale*40960 + orientation*1024 + posX*32 + posY
    np.testing.assert_array_equal(space.index_of([[2, 5, 39, 31, 31], [1, 0, 0, 0, 0], [0, 1, 2, 3, 4]]),
                                  [737279, 245760, 40960 + 2048 + 96 + 4])
    factors = DSprites().sample_factors(500, 3)
    np.testing.assert_array_equal(space.factors_of(space.index_of(factors)), factors)


def test_observations_binary_and_deterministic():
    data = DSprites()
    factors, images = data.sample(64, 11)
    assert images.dtype == np.float32 and images.shape == (64, 1, 64, 64)
    assert set(np.unique(images)) == {0.0, 1.0}
    np.testing.assert_array_equal(DSprites().observations(factors), images)  # no rng needed
    f2, i2 = data.sample(64, 11)
    np.testing.assert_array_equal(f2, factors)
    np.testing.assert_array_equal(i2, images)
    assert data.observations(np.zeros((0, 5), dtype=np.int64)).shape == (0, 1, 64, 64)


def test_bad_factors_raise():
    data = DSprites()
    with pytest.raises(ValueError, match="posX"):
        data.observations([[0, 0, 0, 32, 0]])
    with pytest.raises(ValueError, match="shape"):
        data.observations([[-1, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="shape"):
        data.observations([[0, 0, 0, 0]])
    with pytest.raises(ValueError):
        data.observations([0, 0, 0, 0, 0])


# -- geometry -----------------------------------------------------------------------------------
def test_square_is_a_19_pixel_block_at_the_documented_centre():
    # half side 9.85 px at scale 1: pixels at offsets -9..9 are (more than half) inside, 10 is not
    img = DSprites().observations([[SQUARE, 5, 0, 3, 20]])[0, 0]
    expected = np.zeros((64, 64), dtype=np.float32)
    expected[16 + 20 - 9 : 16 + 20 + 10, 16 + 3 - 9 : 16 + 3 + 10] = 1
    np.testing.assert_array_equal(img, expected)


def test_position_moves_the_centroid_one_pixel_per_step():
    data = DSprites()
    k = np.arange(32)
    along_x = data.observations(np.stack([np.full(32, HEART), np.full(32, 3), np.full(32, 7), k, np.full(32, 9)], 1))
    along_y = data.observations(np.stack([np.full(32, HEART), np.full(32, 3), np.full(32, 7), np.full(32, 9), k], 1))
    cx = np.array([centroid(im) for im in along_x])
    cy = np.array([centroid(im) for im in along_y])
    np.testing.assert_allclose(np.diff(cx[:, 1]), 1.0)  # posX moves columns (the last axis)
    np.testing.assert_allclose(np.diff(cx[:, 0]), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.diff(cy[:, 0]), 1.0)  # posY moves rows, downwards
    np.testing.assert_allclose(np.diff(cy[:, 1]), 0.0, atol=1e-12)
    # every sprite stays inside the image with a margin, and translation keeps the sprite
    corners = data.observations([[SQUARE, 5, 5, 0, 0], [SQUARE, 5, 5, 31, 31]])
    assert corners[:, 0, [0, -1], :].sum() == 0 and corners[:, 0, :, [0, -1]].sum() == 0
    np.testing.assert_array_equal(corners[0, 0, 2:33, 2:33], corners[1, 0, 33:64, 33:64])


def test_area_grows_with_scale_and_shapes_differ():
    data = DSprites()
    for shape in range(3):
        f = np.stack([np.full(6, shape), np.arange(6), np.full(6, 4), np.full(6, 15), np.full(6, 15)], 1)
        a = area(data.observations(f))
        assert np.all(np.diff(a) > 0), a
        # area ~ scale^2: 4x from scale 0.5 to 1, within pixelation
        assert 3.4 < a[5] / a[0] < 4.6
    imgs = data.observations([[s, 5, 0, 15, 15] for s in range(3)])
    a = area(imgs)
    assert a[ELLIPSE] < a[HEART] < a[SQUARE] == 361
    assert not np.array_equal(imgs[0], imgs[1]) and not np.array_equal(imgs[1], imgs[2])


def test_orientation_rotates_counter_clockwise():
    data = DSprites()
    imgs = data.observations([[HEART, 5, 0, 15, 15], [HEART, 5, 10, 15, 15], [HEART, 5, 20, 15, 15], [HEART, 5, 3, 15, 15]])
    patches = imgs[:, 0, 31 - 14 : 31 + 15, 31 - 14 : 31 + 15]  # centred on pixel (31, 31)
    np.testing.assert_array_equal(patches[0], patches[0][:, ::-1])  # upright heart: mirror symmetric
    assert not np.array_equal(patches[0], patches[0][::-1])  # but not upside-down symmetric
    assert not np.array_equal(patches[0], patches[3])  # 27 degrees changes the image
    # a quarter turn (orientation 10 of 40) is rot90 of the patch (counter-clockwise on screen)
    np.testing.assert_array_equal(patches[1], np.rot90(patches[0]))
    np.testing.assert_array_equal(patches[2], np.rot90(patches[0], 2))
    # the heart's point is at the bottom when upright
    rows = np.nonzero(patches[0])[0]
    assert np.nonzero(patches[0][rows.max()])[0].size < np.nonzero(patches[0][rows.min() + 3])[0].size


def test_mean_intensity_matches_the_original_dataset():
    # calibrated to the published dSprites pixel mean 0.043 (std 0.202); position does not change it
    grid = DSprites().factor_space.grid()
    one_position = grid[(grid[:, 3] == 10) & (grid[:, 4] == 20)]  # all 720 shape/scale/orientation
    mean = DSprites().observations(one_position).mean()
    assert 0.042 < mean < 0.044


def test_chunked_rendering_matches(monkeypatch):
    factors = DSprites().sample_factors(50, 0)
    full = dsp.render(factors)
    monkeypatch.setattr(dsp, "CHUNK", 7)
    np.testing.assert_array_equal(dsp.render(factors), full)


# -- dsprites_noshape ---------------------------------------------------------------------------
def test_noshape_draws_the_shape_from_rng():
    data = dsprites_noshape()
    assert data.factor_names == ("scale", "orientation", "posX", "posY")
    assert data.factor_sizes == (6, 40, 32, 32) and data.stochastic
    factors = np.tile([[5, 0, 15, 15]], (40, 1))
    with pytest.raises(ValueError, match="rng"):
        data.observations(factors)
    gen = np.random.default_rng(4)
    images = data.observations(factors, gen)
    shapes = np.random.default_rng(4).integers(0, 3, size=40)
    expected = DSprites().observations(np.column_stack([shapes, factors]))
    np.testing.assert_array_equal(images, expected)
    assert len(np.unique(area(images))) == 3  # all three shapes showed up
    assert not np.array_equal(data.observations(factors, gen), images)  # the generator advanced


# -- variants -----------------------------------------------------------------------------------
def _masks(factors):
    return DSprites().observations(factors)[:, 0] == 1


def test_color_rule():
    data = color_dsprites()
    assert isinstance(data, ColorDSprites) and isinstance(data.base, DSprites)
    assert data.observation_shape == (3, 64, 64) and data.stochastic
    assert data.factor_names == DSprites().factor_names
    factors = DSprites().sample_factors(20, 1)
    images = data.observations(factors, 7)
    assert images.dtype == np.float32
    mask = _masks(factors)
    colours = np.random.default_rng(7).uniform(0.5, 1.0, size=(20, 3)).astype(np.float32)
    for i in range(20):
        assert np.all(images[i][:, ~mask[i]] == 0)  # black background
        np.testing.assert_array_equal(images[i][:, mask[i]], np.repeat(colours[i][:, None], mask[i].sum(), 1))
    assert np.all((colours >= 0.5) & (colours <= 1.0))
    np.testing.assert_array_equal(data.observations(factors, 7), images)
    assert not np.array_equal(data.observations(factors, 8), images)
    with pytest.raises(ValueError, match="rng"):
        data.observations(factors)


def test_noisy_rule(monkeypatch):
    data = noisy_dsprites()
    assert isinstance(data, NoisyDSprites)
    factors = DSprites().sample_factors(10, 2)
    images = data.observations(factors, 5)
    mask = _masks(factors)
    assert np.all(images.transpose(1, 0, 2, 3)[:, mask] == 1.0)  # white sprite
    noise = np.random.default_rng(5).uniform(0, 1, size=(10, 64, 64, 3)).transpose(0, 3, 1, 2)
    background = images.transpose(1, 0, 2, 3)[:, ~mask]
    np.testing.assert_array_equal(background, noise.astype(np.float32).transpose(1, 0, 2, 3)[:, ~mask])
    assert 0.25 < background.std() < 0.33 and 0.45 < background.mean() < 0.55  # U(0, 1) noise
    monkeypatch.setattr(dsv, "CHUNK", 3)  # chunked noise draws the same numbers
    np.testing.assert_array_equal(data.observations(factors, 5), images)


def _expected_scream(background, factors, seed):
    gen = np.random.default_rng(seed)
    n = factors.shape[0]
    rows = gen.integers(0, background.shape[0] - 64, size=n)
    cols = gen.integers(0, background.shape[1] - 64, size=n)
    tints = gen.uniform(0, 1, size=(n, 3))
    backs = np.stack([(background[r : r + 64, c : c + 64] + t) / 2 for r, c, t in zip(rows, cols, tints)])
    return backs.transpose(0, 3, 1, 2)  # (n, 3, 64, 64)


def test_scream_rule_with_the_procedural_texture(monkeypatch):
    data = scream_dsprites()
    assert isinstance(data, ScreamDSprites) and data.background.shape == (274, 221, 3)
    factors = DSprites().sample_factors(12, 3)
    images = data.observations(factors, 9)
    backs = _expected_scream(data.background, factors, 9)
    mask = _masks(factors)[:, None]
    expected = np.where(mask, 1.0 - backs, backs).astype(np.float32)
    np.testing.assert_array_equal(images, expected)
    assert images.min() >= 0 and images.max() <= 1
    monkeypatch.setattr(dsv, "CHUNK", 5)
    np.testing.assert_array_equal(data.observations(factors, 9), images)


def test_scream_texture_is_deterministic_and_textured():
    tex = scream_texture()
    np.testing.assert_array_equal(tex, scream_texture())
    assert tex.shape == (274, 221, 3) and tex.min() >= 0 and tex.max() <= 1
    # smooth bands, not noise: neighbouring pixels are close, the picture as a whole varies a lot
    assert np.abs(np.diff(tex, axis=1)).mean() < 0.05 and tex.std(axis=(0, 1)).min() > 0.1
    # warm sky above, cool water below
    assert tex[:60, :, 0].mean() > tex[:60, :, 2].mean() + 0.3
    assert tex[-60:, :, 2].mean() > tex[-60:, :, 0].mean() + 0.1
    with pytest.raises(ValueError, match="65"):
        scream_texture(64, 100)


def test_scream_uses_a_custom_image_file(tmp_path):
    path = tmp_path / "picture.png"
    colour = np.array([200, 100, 50], dtype=np.uint8)
    Image.fromarray(np.tile(colour, (300, 700, 1))).save(path)  # 700 wide, 300 high
    loaded = load_scream_image(path)
    assert loaded.shape == (150, 350, 3)  # thumbnailed to fit 350 x 274, aspect kept
    np.testing.assert_allclose(loaded, np.broadcast_to(colour / 255.0, loaded.shape))
    data = scream_dsprites(scream_image=path)
    factors = DSprites().sample_factors(6, 4)
    images = data.observations(factors, 1).astype(np.float64)
    mask = _masks(factors)
    gen = np.random.default_rng(1)
    gen.integers(0, 150 - 64, size=6), gen.integers(0, 350 - 64, size=6)  # crop rows, crop columns
    tints = gen.uniform(0, 1, size=(6, 3))
    back = (colour / 255.0 + tints) / 2  # the background is the tinted constant colour
    for i in range(6):
        np.testing.assert_allclose(images[i][:, ~mask[i]], np.repeat(back[i][:, None], (~mask[i]).sum(), 1), atol=1e-6)
        np.testing.assert_allclose(images[i][:, mask[i]], np.repeat(1 - back[i][:, None], mask[i].sum(), 1), atol=1e-6)


def test_variant_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="1-channel"):
        NoisyDSprites(ColorDSprites())
    with pytest.raises(ValueError, match="GroundTruthData"):
        ColorDSprites("dsprites")
    with pytest.raises(ValueError, match="larger than 64x64"):
        ScreamDSprites(scream_image=np.zeros((64, 300, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ScreamDSprites(scream_image=np.full((100, 100, 3), 255.0))
    with pytest.raises(ValueError, match="existing image file"):
        ScreamDSprites(scream_image=tmp_path / "missing.jpg")
    with pytest.raises(ValueError, match="existing image file"):
        ScreamDSprites(scream_image=0)  # not a path (os.path.isfile(0) would test a file descriptor)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((60, 200, 3), dtype=np.uint8)).save(small)
    with pytest.raises(ValueError, match="larger than 64x64"):
        scream_dsprites(scream_image=small)
    with pytest.raises(ValueError, match="factors must have shape"):
        ColorDSprites().observations([[0, 0, 0, 0]], rng=0)
    with pytest.raises(ValueError, match="orientation"):
        NoisyDSprites().observations([[0, 0, 40, 0, 0]], rng=0)


def test_variants_wrap_a_stochastic_base_in_draw_order():
    base = dsprites_noshape()
    data = ColorDSprites(base)
    factors = np.tile([[5, 0, 15, 15]], (8, 1))
    images = data.observations(factors, 3)
    gen = np.random.default_rng(3)
    expected = base.observations(factors, gen) * gen.uniform(0.5, 1, size=(8, 3)).astype(np.float32)[:, :, None, None]
    np.testing.assert_array_equal(images, expected)


def test_registry_builds_the_procedural_datasets():
    assert isinstance(registry.get("dsprites"), DSprites)
    assert registry.get("dsprites_noshape").num_factors == 4
    for name, cls in (("color_dsprites", ColorDSprites), ("noisy_dsprites", NoisyDSprites), ("scream_dsprites", ScreamDSprites)):
        data = registry.get(name)
        assert isinstance(data, cls) and data.name == name and data.observation_shape == (3, 64, 64)


def test_colour_and_noise_match_the_reference_draws_from_a_random_state():
    # disentanglement_lib draws uniform(0.5, 1, (n, 1, 1, 3)) and uniform(0, 1, (n, 64, 64, 3)) from a
    # RandomState; a RandomState passed here yields the same numbers (same bit stream, same doubles)
    factors = DSprites().sample_factors(4, 0)
    mask = _masks(factors)
    colours = np.random.RandomState(3).uniform(0.5, 1, (4, 1, 1, 3))
    images = ColorDSprites().observations(factors, np.random.RandomState(3))
    np.testing.assert_array_equal(images.transpose(0, 2, 3, 1)[mask], np.broadcast_to(colours, (4, 64, 64, 3))[mask].astype(np.float32))
    noise = np.random.RandomState(8).uniform(0, 1, (4, 64, 64, 3))
    images = NoisyDSprites().observations(factors, np.random.RandomState(8))
    expected = np.minimum(noise + mask[..., None], 1).astype(np.float32)
    np.testing.assert_array_equal(images.transpose(0, 2, 3, 1), expected)
