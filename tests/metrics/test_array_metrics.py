"""Analytic and hand-computed checks of the array-level metrics (parity with disentanglement_lib
itself is in tests/parity)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from disentkit.metrics import dci, irs, med, mig, modularity_explicitness, sap, unsupervised
from disentkit.metrics._dci import dci_completeness, dci_disentanglement
from disentkit.metrics._gbt import make_gbt_classifier
from disentkit.metrics._information import (
    factor_entropies,
    histogram_discretize,
    mutual_information_matrix,
)
from disentkit.metrics._modularity import macro_roc_auc, modularity_from_mi
from disentkit.metrics._sap import discrete_score_matrix
from disentkit.metrics._unsupervised import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
)

SIZES = np.array([3, 6, 10, 8, 8])


def _factors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SIZES, size=(n, SIZES.size))


def _noisy_identity(y: np.ndarray, seed: int, noise: float = 0.01) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return y / (y.max(axis=0) + 1) + noise * rng.normal(size=y.shape)


# ------------------------------------------------------------------------------ shared pieces
def test_histogram_discretize_hand_example():
    codes = np.array([[0.0, 5.0], [0.5, 5.0], [1.0, 5.0], [0.2, 5.0]])
    out = histogram_discretize(codes, num_bins=2)
    # edges [0, 0.5, 1]: 0 and 0.2 -> bin 1, 0.5 and the max 1.0 -> bin 2; constant column: 1 bin
    np.testing.assert_array_equal(out[:, 0], [1, 2, 2, 1])
    assert np.unique(out[:, 1]).size == 1
    assert out.dtype == np.int64


def test_histogram_discretize_equals_numpy_digitize():
    rng = np.random.default_rng(0)
    codes = np.column_stack(
        [rng.normal(size=500), rng.integers(0, 7, 500), np.linspace(-1, 1, 500), np.full(500, 2.0),
         rng.exponential(size=500) ** 3]
    )
    out = histogram_discretize(codes, 20)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], 20)[1]
        np.testing.assert_array_equal(out[:, i], np.digitize(codes[:, i], edges[:-1]))
    assert out.min() >= 1 and out.max() == 20


def test_mutual_information_hand_values():
    codes = np.array([[1, 1], [1, 2], [2, 1], [2, 2]])
    factors = np.array([[0], [0], [1], [1]])
    mi = mutual_information_matrix(codes, factors)
    np.testing.assert_allclose(mi, [[np.log(2)], [0.0]], atol=1e-15)
    np.testing.assert_allclose(factor_entropies(np.array([[0, 0], [0, 0], [0, 1], [1, 1]])),
                               [-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)), np.log(2)])


def test_mutual_information_equals_sklearn():
    rng = np.random.default_rng(1)
    codes = rng.integers(1, 21, size=(700, 6))
    factors = np.column_stack([rng.integers(0, 40, 700), codes[:, 0] // 3, rng.integers(5, 8, 700)])
    mi = mutual_information_matrix(codes, factors)
    expected = [[mutual_info_score(factors[:, j], codes[:, i]) for j in range(3)] for i in range(6)]
    np.testing.assert_allclose(mi, expected, atol=1e-12)


def test_gbt_factory_importances_sum_to_one_and_reject_unknown():
    y = _factors(300, 0)[:, 1]
    x = np.column_stack([y + 0.1 * np.random.default_rng(0).normal(size=300), np.zeros(300)])
    for kind in ("fast", "reference"):
        model = make_gbt_classifier(kind, seed=0).fit(x, y)
        assert model.feature_importances_.sum() == pytest.approx(1.0)
        assert model.feature_importances_[0] > 0.99
    with pytest.raises(ValueError, match="fast"):
        make_gbt_classifier("xgboost")


# ------------------------------------------------------------------------------ MIG
def test_mig_identity_is_one_and_noise_near_zero():
    y = _factors(2000, 0)
    # below 1 only by the finite-sample MI of each code with the other factors
    assert mig(y.astype(float), y)["discrete_mig"] == pytest.approx(1.0, abs=0.01)
    noise = np.random.default_rng(1).normal(size=(2000, 5))
    assert mig(noise, y)["discrete_mig"] < 0.02


def test_mig_invariant_to_permutation_and_rescaling():
    y = _factors(1500, 2)
    x = np.column_stack([_noisy_identity(y, 3, 0.1), np.random.default_rng(4).normal(size=1500)])
    base = mig(x, y)["discrete_mig"]
    perm = [5, 2, 0, 4, 1, 3]
    assert mig(x[:, perm] * [3, -2, 0.5, 10, 1, 7] + 4, y)["discrete_mig"] == pytest.approx(base)


def test_mig_one_code_uses_zero_as_runner_up():
    y = np.array([[0], [0], [1], [1]])
    assert mig(np.array([[0.0], [0.1], [1.0], [1.1]]), y)["discrete_mig"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------ DCI
def test_dci_formulas_on_hand_made_importance():
    assert dci_disentanglement(np.eye(3)) == pytest.approx(1.0, abs=1e-8)
    assert dci_completeness(np.eye(3)) == pytest.approx(1.0, abs=1e-8)
    assert dci_disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-12)
    # both codes serve factor 0 only: perfectly disentangled, factor 0 split evenly over 2 codes
    r = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert dci_disentanglement(r) == pytest.approx(1.0, abs=1e-8)
    assert dci_completeness(r) == pytest.approx(0.0, abs=1e-8)
    # rows weighted by their share: code 0 (weight 3/4) dedicated, code 1 (1/4) split evenly
    r = np.array([[0.75, 0.0], [0.125, 0.125]])
    assert dci_disentanglement(r) == pytest.approx(0.75, abs=1e-8)
    assert dci_completeness(np.array([[1.0], [0.0]])) == pytest.approx(1.0, abs=1e-8)
    assert dci_disentanglement(np.array([[1.0], [2.0]])) == 1.0  # one factor: trivially 1


def test_dci_identity_and_noise():
    y, yt = _factors(1500, 0), _factors(500, 1)
    good = dci(_noisy_identity(y, 2), y, codes_test=_noisy_identity(yt, 3), factors_test=yt)
    assert good["disentanglement"] > 0.9 and good["completeness"] > 0.9
    assert good["informativeness_test"] > 0.95
    rng = np.random.default_rng(4)
    bad = dci(rng.normal(size=(1500, 5)), y, codes_test=rng.normal(size=(500, 5)), factors_test=yt)
    assert bad["informativeness_test"] < 0.3


@pytest.mark.slow
def test_dci_fast_is_deterministic_and_close_to_reference():
    sizes = np.array([3, 6, 10])
    y = np.random.default_rng(5).integers(0, sizes, size=(1200, 3))
    yt = np.random.default_rng(6).integers(0, sizes, size=(400, 3))

    def codes(f, seed):
        signal = f / sizes + 0.05 * np.random.default_rng(seed).normal(size=f.shape)
        return np.column_stack([signal, np.random.default_rng(seed + 1).normal(size=(len(f), 2))])

    x, xt = codes(y, 7), codes(yt, 9)
    fast = dci(x, y, codes_test=xt, factors_test=yt, seed=1)
    assert fast == dci(x, y, codes_test=xt, factors_test=yt, seed=1)
    reference = dci(x, y, codes_test=xt, factors_test=yt, estimator="reference", seed=1)
    for key in ("disentanglement", "completeness", "informativeness_test"):
        assert fast[key] == pytest.approx(reference[key], abs=0.02), key


# ------------------------------------------------------------------------------ SAP
def test_sap_fast_solver_matches_liblinear_and_identity_is_high():
    y, yt = _factors(800, 11)[:, [0, 1, 2]], _factors(400, 12)[:, [0, 1, 2]]
    x = np.column_stack([_noisy_identity(y, 13, 0.05), np.random.default_rng(14).normal(size=800)])
    xt = np.column_stack([_noisy_identity(yt, 15, 0.05), np.random.default_rng(16).normal(size=400)])
    fast = discrete_score_matrix(x, y, xt, yt)
    slow = discrete_score_matrix(x, y, xt, yt, solver="reference")
    np.testing.assert_allclose(fast, slow, atol=5e-3)
    noise_x = np.random.default_rng(17).normal(size=(800, 4))
    noise_xt = np.random.default_rng(18).normal(size=(400, 4))
    assert sap(x, y, codes_test=xt, factors_test=yt)["SAP_score"] > 0.15
    assert sap(noise_x, y, codes_test=noise_xt, factors_test=yt)["SAP_score"] < 0.05
    two_classes = (y[:, :1] > 0).astype(int)
    np.testing.assert_allclose(
        discrete_score_matrix(x, two_classes, xt, (yt[:, :1] > 0).astype(int)),
        discrete_score_matrix(x, two_classes, xt, (yt[:, :1] > 0).astype(int), solver="reference"),
        atol=5e-3,
    )


def test_sap_continuous_hand_value():
    y = np.array([[0], [1], [2], [3]])
    x = np.column_stack([[0.0, 1.0, 2.0, 3.0], [1.0, -1.0, 1.0, -1.0]])
    # corr^2 of code 0 with y is 1; code 1: cov = -2/3 ... corr^2 = 0.2
    assert sap(x, y, continuous_factors=True)["SAP_score"] == pytest.approx(0.8)


# ------------------------------------------------------------------------------ modularity
def test_modularity_hand_made_mi():
    mi = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert modularity_from_mi(mi) == pytest.approx(1.0 / 3.0)
    mi = np.array([[2.0, 1.0, 0.0]])  # delta = (4 + 1 - 4) / (4 * 2) = 1/8
    assert modularity_from_mi(mi) == pytest.approx(7.0 / 8.0)


def test_macro_auc_hand_value_and_missing_class():
    labels = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.2, 0.8]])
    # class 1 scores: positives {0.4, 0.8} vs negatives {0.1, 0.6}: 3 of 4 pairs ordered -> 0.75
    assert macro_roc_auc(labels, proba, np.array([0, 1])) == pytest.approx(0.75)
    # class 2 never occurs in the labels: left out instead of crashing
    proba3 = np.column_stack([proba, np.zeros(4)])
    assert macro_roc_auc(labels, proba3, np.array([0, 1, 2])) == pytest.approx(0.75)


def test_modularity_explicitness_identity():
    y, yt = _factors(1500, 20), _factors(500, 21)
    out = modularity_explicitness(
        _noisy_identity(y, 22), y, codes_test=_noisy_identity(yt, 23), factors_test=yt
    )
    assert out["modularity_score"] > 0.95
    assert out["explicitness_score_test"] > 0.9


# ------------------------------------------------------------------------------ IRS
def test_irs_tiny_example_and_active_count():
    y = np.array([[0], [0], [1], [1]])
    z = np.array([[0.0, 7.0], [2.0, 7.0], [10.0, 7.0], [12.0, 7.0]])  # column 1 is constant
    # mean 6, max_dev 6; per group |z - e| = 1, so cum_dev = 1 and IRS = 1 - 1/6
    out = irs(z, y, diff_quantile=1.0, discretize_factors=False)
    assert out == {"IRS": pytest.approx(5.0 / 6.0), "num_active_dims": 1.0}
    assert irs(np.full((4, 2), 3.0), y) == {"IRS": 0.0, "num_active_dims": 0.0}


def test_irs_invariant_to_permutation_and_scale():
    y = _factors(1000, 30)
    x = np.column_stack([_noisy_identity(y, 31, 0.05), np.random.default_rng(32).normal(size=1000)])
    base = irs(x, y)["IRS"]
    assert irs(x[:, ::-1] * 5.0 - 1.0, y)["IRS"] == pytest.approx(base)
    assert base > irs(np.random.default_rng(33).normal(size=(1000, 6)), y)["IRS"]


# ------------------------------------------------------------------------------ unsupervised
def test_gaussian_scores_on_hand_covariance():
    cov = np.array([[4.0, 1.0], [1.0, 1.0]])
    assert gaussian_total_correlation(cov) == pytest.approx(0.5 * np.log(4.0 / 3.0))
    # S^1/2 C S^1/2 = [[16, 2], [2, 1]]: tr sqrt = sqrt(tr + 2 sqrt(det)) = sqrt(17 + 2 sqrt 12)
    expected = 2 * 5.0 - 2 * np.sqrt(17.0 + 2.0 * np.sqrt(12.0))
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(expected)
    assert gaussian_total_correlation(np.eye(3)) == 0.0
    assert gaussian_wasserstein_correlation(np.diag([1.0, 2.0])) == pytest.approx(0.0, abs=1e-12)


def test_unsupervised_mutual_info_of_duplicate_codes():
    x = np.random.default_rng(40).normal(size=(1000, 1))
    d = histogram_discretize(x, 20)[:, 0]
    h = mutual_info_score(d, d)
    out = unsupervised(np.hstack([x, x]))
    assert out["mutual_info_score"] == pytest.approx(h)  # (2 H) / (2^2 - 2)
    assert unsupervised(np.random.default_rng(41).normal(size=(3000, 4)))["mutual_info_score"] < 0.05


# ------------------------------------------------------------------------------ MED
def test_med_identity_and_noise():
    y, yt = _factors(1500, 50), _factors(500, 51)
    good = med(_noisy_identity(y, 52), y, codes_test=_noisy_identity(yt, 53), factors_test=yt)
    # binned MI with 20 bins has a positive small-sample bias, so "near 1" is about 0.85 here
    assert good["disentanglement"] > 0.8 and good["top1_disentanglement"] > 0.8
    assert good["top1_completeness"] > 0.8
    rng = np.random.default_rng(54)
    bad = med(rng.normal(size=(1500, 5)), y, codes_test=rng.normal(size=(500, 5)), factors_test=yt)
    assert bad["disentanglement"] < 0.2
    assert set(med(rng.normal(size=(100, 3)), y[:100], codes_test=rng.normal(size=(50, 3)),
                   factors_test=yt[:50], topk=0)) == {
        "disentanglement", "completeness", "informativeness_train", "informativeness_test",
        "informative_codes", *(f"code_disentanglement_bin_{b}" for b in range(10))}


def test_med_invariant_to_permutation_and_rescaling():
    y, yt = _factors(1000, 60), _factors(300, 61)
    x, xt = _noisy_identity(y, 62, 0.2), _noisy_identity(yt, 63, 0.2)
    base = med(x, y, codes_test=xt, factors_test=yt, topk=2)
    perm, scale = [3, 1, 4, 0, 2], np.array([2.0, -1.0, 0.1, 5.0, 3.0])
    other = med(x[:, perm] * scale, y, codes_test=xt[:, perm] * scale, factors_test=yt, topk=2)
    for key in base:
        assert other[key] == pytest.approx(base[key], abs=1e-9), key
