"""MED (Cao et al. 2022): the spec's unit tests (methods_ssl_causal.md §2) and the per-code
disentanglement distribution (``code_disentanglement_bin_*``, ``informative_codes``)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import entropy

from disentkit.metrics import discrete_mi_matrix, med
from disentkit.metrics._med import code_disentanglement_shares, med_importance

SIZES = np.array([4, 5, 6, 3])
BINS = [f"code_disentanglement_bin_{b}" for b in range(10)]


def _factors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SIZES, size=(n, SIZES.size))


def _med(x, y, xt, yt, **kwargs) -> dict[str, float]:
    return med(x, y, codes_test=xt, factors_test=yt, **kwargs)


@pytest.fixture(scope="module")
def splits():
    y, yt = _factors(4000, 0), _factors(500, 1)
    return y, yt


def test_identity_mapping_of_factors_gives_med_near_one(splits):
    y, yt = splits
    scores = _med(y.astype(float), y, yt.astype(float), yt)
    # the only off-diagonal MI is the small-sample bias of 20-bin histograms (~(B-1)(K-1)/2N)
    assert scores["disentanglement"] > 0.97 and scores["completeness"] > 0.97
    assert scores["informativeness_test"] == 1.0
    assert scores["top1_disentanglement"] > 0.97


def test_a_random_rotation_gives_a_low_med(splits):
    y, yt = splits
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(SIZES.size, SIZES.size)))
    scale = lambda f: (f - (SIZES - 1) / 2) / SIZES  # noqa: E731 - every factor on one scale
    identity = _med(scale(y), y, scale(yt), yt)["disentanglement"]
    rotated = _med(scale(y) @ q, y, scale(yt) @ q, yt)
    assert rotated["disentanglement"] < 0.35 < 0.97 < identity
    assert rotated["informativeness_test"] > 0.9  # the information is all there, just mixed


def test_duplicated_codes_leave_med_unchanged_and_lower_completeness(splits):
    y, yt = splits
    rng = np.random.default_rng(3)
    mix = np.eye(SIZES.size) + 0.3 * rng.normal(size=(SIZES.size, SIZES.size))
    x, xt = y @ mix + 0.1 * rng.normal(size=y.shape), yt @ mix
    once = _med(x, y, xt, yt, topk=0)
    twice = _med(np.hstack([x, x]), y, np.hstack([xt, xt]), yt, topk=0)
    # each duplicate carries half of its code's importance: D_i and sum rho_i D_i are unchanged
    # (up to the 1e-11 the DCI entropy adds to every entry)
    assert twice["disentanglement"] == pytest.approx(once["disentanglement"], abs=1e-8)
    assert twice["completeness"] < once["completeness"] - 0.1
    assert twice["informative_codes"] == 2 * once["informative_codes"]
    assert [twice[k] for k in BINS] == pytest.approx([once[k] for k in BINS])


def test_top1_med_finds_a_few_clean_dims_among_many_noise_dims():
    y, yt = _factors(2000, 4), _factors(500, 5)
    rng = np.random.default_rng(6)
    x = np.hstack([y + 0.05 * rng.normal(size=y.shape), rng.normal(size=(2000, 200))])
    xt = np.hstack([yt.astype(float), rng.normal(size=(500, 200))])
    scores = _med(x, y, xt, yt)
    # 200 noise codes carry the histogram bias for every factor: most of the importance, none
    # of it disentangled; the best code of each factor is a clean one
    assert scores["disentanglement"] < 0.4
    assert scores["top1_disentanglement"] > 0.9 > scores["disentanglement"] + 0.5
    assert scores["informative_codes"] == 204
    assert sum(scores[k] for k in BINS) == pytest.approx(1.0)
    # the clean codes (D ~ 0.89 to 0.94) in the top two bins, the noise codes (D < 0.05) in bin 0
    top = scores["code_disentanglement_bin_8"] + scores["code_disentanglement_bin_9"]
    assert top == pytest.approx(4 / 204) and scores["code_disentanglement_bin_0"] == pytest.approx(200 / 204)


def test_code_disentanglement_bins_on_hand_made_codes():
    # a full factorial design: f0 and f1 are exactly independent, so every empirical MI between a
    # code made of one of them and the other factor is exactly 0
    y = np.array(list(itertools.product(range(2), range(2))) * 50)
    codes = np.column_stack([
        y[:, 0],                # only f0: row (H, 0) of P -> D = 1 (bin 9)
        y[:, 1],                # only f1: D = 1 (bin 9)
        np.full(len(y), 3.0),   # constant: no information, rho = 0 (not informative)
        2 * y[:, 0] + y[:, 1],  # both, equally: row (H, H) -> D = 0 (bin 0)
    ]).astype(float)
    mi = discrete_mi_matrix(codes, y)
    h = np.log(2)
    assert mi == pytest.approx(np.array([[h, 0], [0, h], [0, 0], [h, h]]), abs=1e-12)
    scores = med(codes, y, codes_test=codes, factors_test=y)
    assert scores["informative_codes"] == 3
    expected = [1 / 3] + [0.0] * 8 + [2 / 3]
    assert [scores[k] for k in BINS] == pytest.approx(expected)


def test_code_disentanglement_shares_equal_an_independent_histogram():
    rng = np.random.default_rng(7)
    # rows from one-hot (D ~ 1) to uniform (D = 0), and two all-zero rows (not informative)
    mi = rng.dirichlet(np.full(3, 0.3), size=60) * rng.uniform(0.1, 2.0, size=(60, 1))
    mi[[5, 17]] = 0.0
    importance = med_importance(mi)
    shares, count = code_disentanglement_shares(importance)
    rows = importance[importance.sum(axis=1) > 0]
    d = np.array([1 - entropy(r + 1e-11, base=3) for r in rows])  # scipy, as disentanglement_lib
    counts, _ = np.histogram(d, bins=np.linspace(0, 1, 11))
    assert count == 58 and shares == pytest.approx(counts / 58) and shares.sum() == pytest.approx(1)
    # the keys of med: the same numbers, from the matrix passed in
    codes, factors = rng.normal(size=(60, 60)), rng.integers(0, 2, size=(60, 3))
    scores = med(codes, factors, codes_test=codes, factors_test=factors, mi_matrix=mi)
    assert [scores[k] for k in BINS] == pytest.approx(shares) and scores["informative_codes"] == 58


def test_code_disentanglement_edge_cases():
    # one factor: every informative code has D = 1 exactly, which falls in the last bin
    shares, count = code_disentanglement_shares(np.array([[0.5], [0.0], [0.5]]))
    assert count == 2 and shares.tolist() == [0.0] * 9 + [1.0]
    # no informative code (an all-zero importance): every share is 0
    shares, count = code_disentanglement_shares(np.zeros((3, 2)))
    assert count == 0 and shares.tolist() == [0.0] * 10
