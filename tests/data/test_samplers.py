"""Samplers: uniform, correlated (HFS weights, exact sampling) and weakly supervised pairs."""

import numpy as np
import pytest

from disentkit.data import DummyData, FactorSpace
from disentkit.data.samplers import (
    binary_sigma,
    CorrelatedSampler,
    UniformSampler,
    WeakPairSampler,
    named_correlations,
    pearson_matrix,
)

SQUARE = FactorSpace(("a", "b"), (32, 32))


def brute_force_correlation(sizes, pairs):
    """Pearson correlation of factors 0 and 1 under w = prod exp(-(c_i - c_j)^2 / (2 s^2)),
    enumerating the grid independently of the sampler's code."""
    grids = np.meshgrid(*[np.arange(s, dtype=float) for s in sizes], indexing="ij")
    w = np.ones(grids[0].shape)
    for i, j, s, inv in pairs:
        ci = grids[i] / (sizes[i] - 1)
        cj = grids[j] / (sizes[j] - 1)
        if inv:
            cj = 1 - cj
        w *= np.exp(-((ci - cj) ** 2) / (2 * s**2))
    p = w / w.sum()
    a, b = grids[0], grids[1]
    ma, mb = (p * a).sum(), (p * b).sum()
    cov = (p * (a - ma) * (b - mb)).sum()
    return cov / np.sqrt((p * (a - ma) ** 2).sum() * (p * (b - mb) ** 2).sum())


# -- uniform ------------------------------------------------------------------------------------

def test_uniform_sampler_distribution_and_determinism():
    space = FactorSpace(("x", "y", "z"), (3, 5, 1))
    s = UniformSampler(space)
    f = s.sample(30000, rng=1)
    assert f.dtype == np.int64 and f.shape == (30000, 3)
    for k, size in enumerate(space.sizes):
        freq = np.bincount(f[:, k], minlength=size) / f.shape[0]
        assert freq.shape == (size,)
        np.testing.assert_allclose(freq, 1 / size, atol=0.012)
    assert np.abs(pearson_matrix(f[:, :2])[0, 1]) < 0.02
    np.testing.assert_array_equal(s.sample(50, 7), s.sample(50, 7))
    assert not np.array_equal(s.sample(50, 7), s.sample(50, 8))
    # a dataset is accepted in place of its factor space
    assert UniformSampler(DummyData(num_factors=2, size=3)).factor_space.sizes == (3, 3)


# -- correlated ---------------------------------------------------------------------------------

def test_grid_weights_match_the_hfs_formula():
    space = FactorSpace(("a", "b", "c"), (3, 2, 2))
    s = CorrelatedSampler(space, pairs=[("a", "b", 0.5), (2, 0, 0.25, True)])
    p = s.grid_weights()
    a, b, c = np.meshgrid(np.arange(3) / 2, np.arange(2), np.arange(2), indexing="ij")
    w = np.exp(-((a - b) ** 2) / (2 * 0.25)) * np.exp(-((c - (1 - a)) ** 2) / (2 * 0.0625))
    np.testing.assert_allclose(p, w / w.sum(), rtol=1e-12)
    grid = space.grid()
    np.testing.assert_allclose(np.exp(s.log_weights(grid)), w.ravel(), rtol=1e-12)
    # hand value of one state: a=1 (c=0.5), b=0, c=1 -> exp(-0.25/0.5) * exp(-(1-0.5)^2/0.125)
    assert np.exp(s.log_weights([[1, 0, 1]]))[0] == pytest.approx(np.exp(-0.5) * np.exp(-2.0))


@pytest.mark.parametrize("method", ["grid", "rejection"])
def test_correlated_sampler_reaches_the_exact_correlation(method):
    s = CorrelatedSampler(SQUARE, pairs=[("a", "b", 0.1)], method=method)
    exact = s.exact_correlation()[0, 1]
    assert exact == pytest.approx(brute_force_correlation((32, 32), [(0, 1, 0.1, False)]), abs=1e-10)
    assert 0.9 < exact < 0.97
    realised = s.realised_correlation(20000, rng=0)[0, 1]
    assert abs(realised - exact) < 0.03
    f = s.sample(20000, rng=3)
    assert f.dtype == np.int64 and f.shape == (20000, 2)
    # the sampled joint distribution matches the normalised grid weights
    freq = np.bincount(SQUARE.index_of(f), minlength=SQUARE.num_states) / 20000
    assert np.abs(freq - s.grid_weights().ravel()).sum() < 0.12  # total variation < 0.06


def test_grid_sampling_follows_the_weights_on_a_tiny_grid():
    space = FactorSpace(("a", "b"), (2, 3))
    s = CorrelatedSampler(space, pairs=[(0, 1, 0.3)])
    f = s.sample(200000, rng=5)
    freq = np.bincount(space.index_of(f), minlength=6) / 200000
    np.testing.assert_allclose(freq, s.grid_weights().ravel(), atol=0.004)


def test_inverse_gives_negative_correlation():
    s = CorrelatedSampler(SQUARE, pairs=[("a", "b", 0.1)], inverse=True)
    exact = s.exact_correlation()[0, 1]
    assert exact == pytest.approx(brute_force_correlation((32, 32), [(0, 1, 0.1, True)]), abs=1e-10)
    assert exact < -0.9
    assert abs(s.realised_correlation(20000, rng=0)[0, 1] - exact) < 0.03
    # a 4-item pair sets inverse per pair
    per_pair = CorrelatedSampler(SQUARE, pairs=[("a", "b", 0.1, True)])
    np.testing.assert_array_equal(per_pair.sample(100, 1), s.sample(100, 1))


def test_confounder_correlates_with_every_other_factor():
    space = FactorSpace(("f0", "f1", "f2", "f3"), (8, 8, 8, 8))
    s = CorrelatedSampler(space, confounder=("f1", 0.2))
    assert sorted((p.i, p.j) for p in s.pairs) == [(1, 0), (1, 2), (1, 3)]
    r = s.realised_correlation(20000, rng=0)
    exact = s.exact_correlation()
    for k in (0, 2, 3):
        assert exact[1, k] > 0.5
        assert abs(r[1, k] - exact[1, k]) < 0.03
    report = s.correlation_report(n=20000, rng=0)
    assert [(row["factor_i"], row["factor_j"]) for row in report] == [("f1", "f0"), ("f1", "f2"), ("f1", "f3")]
    assert report[0]["realised"] == pytest.approx(r[1, 0])


def test_uncorrelated_pairs_stay_near_zero():
    space = FactorSpace(("a", "b", "c"), (16, 16, 10))
    s = CorrelatedSampler(space, pairs=[("a", "b", 0.1)])
    exact = s.exact_correlation()
    assert exact[0, 2] == pytest.approx(0, abs=1e-12) and exact[1, 2] == pytest.approx(0, abs=1e-12)
    r = s.realised_correlation(20000, rng=2)
    assert abs(r[0, 2]) < 0.03 and abs(r[1, 2]) < 0.03
    assert r[0, 1] > 0.8


def test_correlated_sampler_determinism_and_names():
    by_name = CorrelatedSampler(SQUARE, pairs=[("a", "b", 0.1)])
    by_index = CorrelatedSampler(SQUARE, pairs=[(0, 1, 0.1)])
    np.testing.assert_array_equal(by_name.sample(64, 11), by_index.sample(64, 11))
    assert not np.array_equal(by_name.sample(64, 11), by_name.sample(64, 12))
    rej = CorrelatedSampler(SQUARE, pairs=[(0, 1, 0.1)], method="rejection")
    np.testing.assert_array_equal(rej.sample(64, 11), rej.sample(64, 11))
    # auto switches to rejection above max_grid_states
    assert CorrelatedSampler(SQUARE, pairs=[(0, 1, 0.1)], max_grid_states=100).method == "rejection"
    assert by_name.sample(0, 0).shape == (0, 2)


def test_named_correlations_table():
    d = named_correlations("dsprites")
    assert len(d) == 3 + 2 * 3 + 2
    assert d["dsprites_single_1_01"]["pairs"] == [(0, 1, 0.1)]
    assert d["dsprites_double_1_004"]["pairs"] == [(0, 3, 0.04), (1, 4, 0.04)]
    assert d["dsprites_conf_2_02"]["confounder"] == (3, 0.2)
    s3 = named_correlations("shapes3d")
    assert s3["shapes3d_single_1_01"]["pairs"] == [(0, 1, 0.1)]  # floor hue - wall hue
    assert s3["shapes3d_triple_1_01"]["pairs"] == [(3, 5, 0.1), (4, 1, 0.1), (2, 0, 0.1)]
    assert named_correlations("mpi3d_toy")["mpi3d_single_3_01"]["pairs"] == [(5, 6, 0.1)]
    space = FactorSpace(("shape", "scale", "orientation", "posX", "posY"), (3, 6, 40, 32, 32))
    s = CorrelatedSampler.from_setting(space, "dsprites_single_2_01")
    assert [(p.i, p.j, p.sigma, p.inverse) for p in s.pairs] == [(3, 4, 0.1, False)]
    inv = CorrelatedSampler.from_setting(space, "dsprites_single_2_01_inv")
    assert inv.pairs[0].inverse
    assert inv.exact_correlation()[3, 4] < -0.5
    with pytest.raises(ValueError, match="valid"):
        named_correlations("cars3d")
    with pytest.raises(ValueError, match="dsprites_single_1_01"):
        CorrelatedSampler.from_setting(space, "dsprites_single_9_01")
    with pytest.raises(ValueError, match="6 factors"):
        CorrelatedSampler.from_setting(space, "shapes3d_single_1_01")


def test_correlated_sampler_bad_arguments():
    with pytest.raises(ValueError, match=r"\['a', 'b'\]"):
        CorrelatedSampler(SQUARE, pairs=[("a", "nope", 0.1)])
    with pytest.raises(ValueError, match="index in"):
        CorrelatedSampler(SQUARE, pairs=[(0, 5, 0.1)])
    with pytest.raises(ValueError, match=r"sigma must be > 0\.0, got 0\.0"):
        CorrelatedSampler(SQUARE, pairs=[("a", "b", 0.0)])
    with pytest.raises(ValueError, match=r"sigma must be > 0\.0, got -1"):
        CorrelatedSampler(SQUARE, pairs=[("a", "b", -1)])
    with pytest.raises(ValueError, match="sigma must be a finite number"):
        CorrelatedSampler(SQUARE, pairs=[("a", "b", float("inf"))])
    with pytest.raises(ValueError, match="two different"):
        CorrelatedSampler(SQUARE, pairs=[("a", "a", 0.1)])
    with pytest.raises(ValueError, match="auto"):
        CorrelatedSampler(SQUARE, pairs=[("a", "b", 0.1)], method="mcmc")
    with pytest.raises(ValueError, match="rejection"):
        CorrelatedSampler(SQUARE, pairs=[("a", "b", 0.1)], method="grid", max_grid_states=10)
    with pytest.raises(ValueError, match="factor, sigma"):
        CorrelatedSampler(SQUARE, confounder="a")
    with pytest.raises(ValueError, match=r"n must be an integer >= 0, got -1"):
        CorrelatedSampler(SQUARE).sample(-1, 0)


# -- weak pairs ---------------------------------------------------------------------------------

SPACE5 = FactorSpace(("s", "c", "o", "x", "y"), (3, 1, 4, 5, 6))


@pytest.mark.parametrize("k", [1, 2, 4])
def test_weak_pairs_differ_in_exactly_k_factors(k):
    w = WeakPairSampler(SPACE5, k=k)
    f1, f2, changed = w.sample(2000, rng=0)
    assert f1.shape == f2.shape == changed.shape == (2000, 5)
    assert f1.dtype == f2.dtype == np.int64 and changed.dtype == bool
    np.testing.assert_array_equal(changed, f1 != f2)
    assert (changed.sum(axis=1) == k).all()
    assert not changed[:, 1].any()  # the size-1 factor never changes
    SPACE5.validate(f2)


def test_weak_pairs_random_k_and_new_values():
    space = FactorSpace(("a", "b", "c", "d"), (4, 4, 4, 4))
    f1, f2, changed = WeakPairSampler(space, k=-1).sample(6000, rng=1)
    counts = np.bincount(changed.sum(axis=1), minlength=5)
    assert counts[0] == 0 and counts[4] == 0
    np.testing.assert_allclose(counts[1:4] / 6000, 1 / 3, atol=0.03)  # k ~ U{1, .., F-1}
    # each factor is picked equally often; a new value is uniform over the 3 other values
    np.testing.assert_allclose(changed.mean(axis=0), 0.5, atol=0.03)
    shift = ((f2 - f1) % 4)[changed]
    np.testing.assert_allclose(np.bincount(shift, minlength=4) / shift.size, [0, 1 / 3, 1 / 3, 1 / 3], atol=0.02)


def test_weak_pairs_allow_same_value_and_reference_k():
    space = FactorSpace(("a", "b", "c"), (2, 2, 2))
    f1, f2, changed = WeakPairSampler(space, k=2, allow_same_value=True).sample(4000, rng=2)
    assert (changed.sum(axis=1) == 2).all()
    differ = (f1 != f2).sum(axis=1)
    assert ((f1 != f2) <= changed).all()
    # a size-2 factor keeps its value half the time: 0, 1, 2 differences with p = 1/4, 1/2, 1/4
    np.testing.assert_allclose(np.bincount(differ, minlength=3) / 4000, [0.25, 0.5, 0.25], atol=0.03)
    _, _, ch = WeakPairSampler(space, k=3, reference_k=True).sample(4000, rng=3)
    counts = np.bincount(ch.sum(axis=1), minlength=4) / 4000
    np.testing.assert_allclose(counts, [0, 0.5, 0, 0.5], atol=0.03)


def test_weak_pairs_determinism_and_base_sampler():
    w = WeakPairSampler(SPACE5, k=-1)
    a, b = w.sample(100, 5), w.sample(100, 5)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(w.sample(100, 6)[1], a[1])
    base = CorrelatedSampler(SQUARE, pairs=[("a", "b", 0.1)])
    f1, f2, _ = WeakPairSampler(SQUARE, k=1, base=base).sample(500, 4)
    np.testing.assert_array_equal(f1, base.sample(500, 4))


def test_weak_pairs_bad_arguments():
    with pytest.raises(ValueError, match=r"in \[1, 4\]"):
        WeakPairSampler(SPACE5, k=5)  # only 4 factors can change
    with pytest.raises(ValueError, match="-1"):
        WeakPairSampler(SPACE5, k=0)
    with pytest.raises(ValueError, match="-1"):
        WeakPairSampler(SPACE5, k=-2)
    with pytest.raises(ValueError, match="at least 2 factors"):
        WeakPairSampler(FactorSpace(("a",), (5,)), k=-1)
    with pytest.raises(ValueError, match="same factor space"):
        WeakPairSampler(SPACE5, base=UniformSampler(SQUARE))


@pytest.mark.parametrize("c", [0.9, 0.6, -0.6, -0.9])
def test_binary_correlation_gives_the_cmi_joint(c):
    """CMI's joint of two binary attributes, proportional to [[1+c, 1-c], [1-c, 1+c]] (Funke et al.),
    with uniform marginals; a third factor stays independent."""
    space = FactorSpace(("a1", "a2", "other"), (2, 2, 3))
    sampler = CorrelatedSampler(space, binary=[("a1", "a2", c)])
    joint = sampler.grid_weights().sum(axis=2)
    np.testing.assert_allclose(joint, np.array([[1 + c, 1 - c], [1 - c, 1 + c]]) / 4, rtol=1e-12)
    np.testing.assert_allclose(sampler.grid_weights().sum(axis=(0, 1)), [1 / 3] * 3, rtol=1e-12)
    drawn = sampler.sample(40000, rng=0)
    agree = np.mean(drawn[:, 0] == drawn[:, 1])
    assert abs(agree - (1 + c) / 2) < 0.01  # P(a1 = a2) = (1 + c) / 2


def test_binary_correlation_zero_is_uniform_and_bad_values_are_refused():
    space = FactorSpace(("a1", "a2", "wide"), (2, 2, 3))
    np.testing.assert_allclose(CorrelatedSampler(space, binary=[(0, 1, 0.0)]).grid_weights(), 1 / 12)
    with pytest.raises(ValueError, match="c must be"):
        CorrelatedSampler(space, binary=[(0, 1, 1.0)])
    with pytest.raises(ValueError, match="'wide' has 3"):
        CorrelatedSampler(space, binary=[(0, "wide", 0.5)])
    with pytest.raises(ValueError, match="unknown|not a factor|factor"):
        CorrelatedSampler(space, binary=[(0, "nope", 0.5)])
    assert binary_sigma(-0.9) == binary_sigma(0.9) == pytest.approx((2 * np.log(19)) ** -0.5)
