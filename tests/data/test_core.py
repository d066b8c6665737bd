"""The data model: factor spaces, the dataset base class, nuisance factors and the registry."""

import numpy as np
import pytest

import disentkit.data as dd
from disentkit._random import check_random_state
from disentkit.data.base import FactorSubset, GroundTruthData
from disentkit.data.factors import FactorSpace


class Counter(GroundTruthData):
    """Deterministic images: pixel (0, 0, k) holds factor k / (size_k - 1)."""

    def __init__(self, sizes=(3, 4, 5)):
        self._space = FactorSpace(tuple(f"f{k}" for k in range(len(sizes))), sizes)

    @property
    def factor_space(self):
        return self._space

    @property
    def observation_shape(self):
        return (1, 2, 8)

    def _render(self, factors, rng):
        out = np.zeros((len(factors), 1, 2, 8), np.float32)
        out[:, 0, 0, : factors.shape[1]] = factors / (np.asarray(self._space.sizes) - 1)
        return out


def test_strides_and_round_trip_by_hand():
    space = FactorSpace(("a", "b", "c"), (3, 4, 5))
    np.testing.assert_array_equal(space.strides, [20, 5, 1])
    assert space.num_states == 60
    np.testing.assert_array_equal(space.index_of([[2, 3, 4], [0, 0, 1], [1, 2, 0]]), [59, 1, 30])
    np.testing.assert_array_equal(space.factors_of([59, 1, 30]), [[2, 3, 4], [0, 0, 1], [1, 2, 0]])
    grid = space.grid()
    assert grid.shape == (60, 3) and grid.dtype == np.int64
    np.testing.assert_array_equal(space.index_of(grid), np.arange(60))


@pytest.mark.parametrize(
    "factors, message",
    [
        ([[3, 0, 0]], "factor 'a' must be in \\[0, 2\\]"),
        ([[0, -1, 0]], "factor 'b' must be in \\[0, 3\\]"),
        ([0, 0, 0], "shape \\(n, 3\\)"),
        ([[0, 0]], "shape \\(n, 3\\)"),
        ([[0.5, 0, 0]], "integer"),
    ],
)
def test_bad_factors_raise_value_error(factors, message):
    space = FactorSpace(("a", "b", "c"), (3, 4, 5))
    with pytest.raises(ValueError, match=message):
        space.index_of(factors)


def test_bad_spaces_and_indices():
    with pytest.raises(ValueError, match="unique"):
        FactorSpace(("a", "a"), (2, 2))
    with pytest.raises(ValueError, match=">= 1"):
        FactorSpace(("a",), (0,))
    with pytest.raises(ValueError, match="2 factor names but 1"):
        FactorSpace(("a", "b"), (2,))
    space = FactorSpace(("a",), (4,))
    with pytest.raises(ValueError, match="\\[0, 3\\]"):
        space.factors_of([4])
    with pytest.raises(ValueError, match="unknown factor 'z'"):
        space.factor_index("z")


def test_uniform_sampling_is_seeded_and_uniform():
    space = FactorSpace(("a", "b"), (3, 7))
    a = space.sample_uniform(30000, 5)
    np.testing.assert_array_equal(a, space.sample_uniform(30000, 5))
    assert not np.array_equal(a, space.sample_uniform(30000, 6))
    freq = np.bincount(a[:, 1], minlength=7) / len(a)
    np.testing.assert_allclose(freq, 1 / 7, atol=0.01)


def test_random_state_arguments():
    rs = np.random.RandomState(3)
    g = check_random_state(rs)
    first = g.integers(0, 100, 5)
    # a RandomState is wrapped around the same bit generator: reseeding replays the draws
    np.testing.assert_array_equal(check_random_state(np.random.RandomState(3)).integers(0, 100, 5), first)
    for bad in (None, 1.5, "0", -1, True):
        with pytest.raises(ValueError):
            check_random_state(bad)


def test_dataset_sample_and_observations():
    data = Counter()
    factors, images = data.sample(10, rng=1)
    assert factors.shape == (10, 3) and factors.dtype == np.int64
    assert images.shape == (10, 1, 2, 8) and images.dtype == np.float32
    np.testing.assert_allclose(images[:, 0, 0, :3] * (np.array([3, 4, 5]) - 1), factors)
    assert data.observations(np.zeros((0, 3), np.int64)).shape == (0, 1, 2, 8)
    assert len(data) == 60 and data.num_factors == 3 and data.factor_sizes == (3, 4, 5)
    with pytest.raises(ValueError, match="factor 'f2'"):
        data.observations([[0, 0, 5]])


def test_factor_subset_draws_nuisance_factors_after_latents():
    base = Counter()
    sub = FactorSubset(base, ["f0", "f2"])
    assert sub.factor_names == ("f0", "f2") and sub.factor_sizes == (3, 5)
    with pytest.raises(ValueError, match="rng"):
        sub.observations([[1, 2]])
    images = sub.observations([[1, 2]] * 200, rng=0)
    np.testing.assert_allclose(images[:, 0, 0, 0], 0.5)
    np.testing.assert_allclose(images[:, 0, 0, 2], 0.5)
    # the nuisance factor f1 is drawn uniformly from the given generator
    nuisance = np.round(images[:, 0, 0, 1] * 3).astype(int)
    assert set(nuisance) == {0, 1, 2, 3}
    expected = np.random.default_rng(0).integers(0, 4, 200)
    np.testing.assert_array_equal(nuisance, expected)
    with pytest.raises(ValueError, match="distinct factors"):
        FactorSubset(base, [0, 0])


def test_registry_names_errors_and_parameters():
    assert {"dsprites", "shapes3d", "xysquares", "mpi3d_toy", "smallnorb", "cars3d"} <= set(dd.names())
    with pytest.raises(ValueError, match="unknown dataset 'nope'; valid names: dsprites"):
        dd.get("nope")
    with pytest.raises(ValueError, match="unknown parameter\\(s\\) \\['colour'\\].*valid parameters"):
        dd.get("dummy", colour=3)
    with pytest.raises(ValueError, match="source must be"):
        dd.get("dummy", source="web")
    with pytest.raises(ValueError, match="procedural only"):
        dd.get("dummy", path="/nonexistent")
    data = dd.get("dummy", num_factors=2, size=3, image_size=8)
    assert data.name == "dummy" and data.factor_sizes == (3, 3) and data.observation_shape == (1, 8, 8)
    a = data.sample(4, 0)[1]
    np.testing.assert_array_equal(a, data.sample(4, 0)[1])


def test_factor_sweep_sheet_rows_follow_one_factor():
    from disentkit.viz.sheets import factor_sweep_images, factor_sweep_sheet, sweep_values

    np.testing.assert_array_equal(sweep_values(40, 16), np.unique(np.round(np.linspace(0, 39, 16)).astype(int)))
    np.testing.assert_array_equal(sweep_values(5, 16), np.arange(5))
    data = Counter()
    images, mask = factor_sweep_images(data, rng=0, base=[1, 1, 1], max_values=16)
    assert images.shape == (3, 5, 1, 2, 8)
    np.testing.assert_array_equal(mask.sum(1), [3, 4, 5])
    # row k varies factor k only
    np.testing.assert_allclose(images[2, :, 0, 0, 2], np.arange(5) / 4)
    np.testing.assert_allclose(images[2, :, 0, 0, 0], 0.5)
    sheet = factor_sweep_sheet(data, rng=0, scale=2)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3 and sheet.shape[2] == 3


def test_check_params_validates_names_without_building():
    from disentkit.data.registry import check_params

    check_params("xysquares", {"grid_spacing": 4})
    check_params("mpi3d_toy", {"path": "/nowhere/mpi3d_toy.npz"})  # nothing is read
    with pytest.raises(ValueError, match="unknown parameter\\(s\\) \\['spacing'\\].*grid_spacing"):
        check_params("xysquares", {"spacing": 4})
    with pytest.raises(ValueError, match="procedural only"):
        check_params("xysquares", {"source": "file"})


def test_sheets_sweep_continuous_factors_by_intervention_and_quickstart_draws_every_dataset(tmp_path):
    from disentkit import data as dd
    from disentkit.quickstart import write_dataset_sheets
    from disentkit.viz import sheets

    pend = dd.get("pendulum")
    seen = {}
    real = pend.observations

    def recording(factors, rng=None):  # keep the factor vectors the sheet renders
        seen["f"] = factors
        return real(factors, rng)

    pend.observations = recording
    images, mask = sheets.factor_sweep_images(pend, rng=0, max_values=5)
    assert images.shape == (4, 5, 3, 64, 64) and mask.all()
    rows = seen["f"].reshape(4, 5, 4)
    np.testing.assert_allclose(rows[0, :, 0], np.linspace(pend.factor_space.factors[0].low,
                                                          pend.factor_space.factors[0].high, 5))
    np.testing.assert_allclose(rows[0], pend.intervene(rows[0], {"angle": rows[0, :, 0]}))  # the shadow follows
    assert np.ptp(rows[0, :, 3]) > 0 and np.ptp(rows[3, :, 0]) == 0  # setting the shadow moves no cause
    paths = write_dataset_sheets(tmp_path)
    drawn = {p.stem for p in paths}
    procedural = {n for n in dd.names() if dd.entry(n).factory is not None and n != "dummy"}
    assert drawn == procedural - {"pulse_signals"} and all(p.stat().st_size > 0 for p in paths)
