"""subspace_mi (KSG MI / CMI between code halves) and prediction_accuracy against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from disentkit.metrics import METRICS, ksg_mutual_information, prediction_accuracy, subspace_mi
from disentkit.metrics._subspace_mi import subspace_split


def _gaussian_pair(rho: float, n: int, seed: int, dims: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``dims`` independent pairs (x_d, y_d) with correlation rho: I = -dims/2 log(1 - rho²)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dims))
    y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((n, dims))
    return x, y


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
def test_ksg_matches_the_gaussian_closed_form(rho):
    # KSG's standard deviation at n = 4000 is about 0.01-0.015 nats here (10 seeds); the tolerance is ~3 sd
    x, y = _gaussian_pair(rho, 4000, seed=1)
    assert ksg_mutual_information(x, y, 3) == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.04)


def test_independent_subspaces_have_zero_mi_and_halves_are_the_default():
    x, y = _gaussian_pair(0.0, 3000, seed=2, dims=2)
    codes = np.hstack([x, y])
    out = subspace_mi(codes, np.zeros((3000, 1), dtype=int) + np.arange(2).repeat(1500)[:, None])
    assert abs(out["mi"]) < 0.03 and abs(out["cmi_0"]) < 0.03
    # two-dimensional halves: the MI adds up over the independent pairs
    x, y = _gaussian_pair(0.8, 3000, seed=3, dims=2)
    out = subspace_mi(np.hstack([x, y]), np.zeros((3000, 1), dtype=int) + 1, factor_names=["c"])
    assert out == {"mi": pytest.approx(-np.log(1 - 0.64), abs=0.08)}  # a constant factor is not binary
    assert subspace_split(5, None) == ([0, 1], [2, 3, 4])
    assert subspace_split(5, [[4], [0, 2]]) == ([4], [0, 2])


def test_conditionally_independent_but_marginally_dependent():
    # z1 = m(a) + e1, z2 = m(a) + e2 with independent noise: z1 ⊥ z2 | a, but both follow a
    rng = np.random.default_rng(4)
    n = 4000
    a = rng.integers(0, 2, n)
    m = np.where(a == 1, 1.5, -1.5)
    codes = np.stack([m + rng.standard_normal(n), m + rng.standard_normal(n)], axis=1)
    other = rng.integers(0, 2, n)  # an unrelated binary factor: conditioning on it changes nothing
    out = subspace_mi(codes, np.stack([a, other], 1), factor_names=["a", "other"])
    assert abs(out["cmi_a"]) < 0.03
    assert out["mi"] > 0.3 and out["cmi_other"] == pytest.approx(out["mi"], abs=0.05)
    # the conditional value is the p(a)-weighted mean of the within-class estimates (prepared codes)
    from disentkit.metrics._subspace_mi import _prepare

    z1, z2 = _prepare(codes[:, :1], 0), _prepare(codes[:, 1:], 1)
    want = sum((a == v).mean() * ksg_mutual_information(z1[a == v], z2[a == v], 3) for v in (0, 1))
    assert out["cmi_a"] == pytest.approx(want, rel=1e-12)


def test_ksg_agrees_with_an_independent_implementation():
    from sklearn.feature_selection._mutual_info import _compute_mi_cc  # scikit-learn's KSG (k neighbours)

    x, y = _gaussian_pair(0.6, 1000, seed=5)
    assert ksg_mutual_information(x, y, 3) == pytest.approx(_compute_mi_cc(x.ravel(), y.ravel(), 3), rel=1e-9)


def test_constant_subspaces_score_zero_and_bad_inputs_are_errors():
    codes = np.zeros((50, 4))
    codes[:, 2:] = np.random.default_rng(0).normal(size=(50, 2))
    factors = np.random.default_rng(1).integers(0, 2, (50, 1))
    assert subspace_mi(codes, factors) == {"mi": 0.0, "cmi_0": 0.0}
    with pytest.raises(ValueError, match="at least 2 code dimensions"):
        subspace_mi(codes[:, :1], factors)
    with pytest.raises(ValueError, match="disjoint"):
        subspace_mi(codes, factors, split=[[0, 1], [1, 2]])
    few = np.zeros((50, 1), dtype=int)
    few[:2] = 1
    with pytest.raises(ValueError, match="class 1 of factor 'f' has 2 samples"):
        subspace_mi(codes + np.arange(50)[:, None], few, factor_names=["f"])


def test_prediction_accuracy_and_the_registry():
    pred = np.array([[0, 1], [1, 1], [1, 0], [0, 0]])
    true = np.array([[0, 1], [0, 1], [1, 1], [0, 1]])
    assert prediction_accuracy(pred, true, factor_names=["a", "b"]) == {
        "accuracy_a": 0.75, "accuracy_b": 0.5, "mean": 0.625}
    assert METRICS["attribute_accuracy"].kind == "predictor" and METRICS["subspace_mi"].kind == "array"
