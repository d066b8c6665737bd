"""The FoS diagnostic against a brute-force pairwise Hausdorff distance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from disentkit.metrics import evaluate, fos


def _hard_hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    """max over product points (a_p, b_q) of the min over actual points k of the squared distance."""
    d = (a[:, None, None] - a[None, None, :]) ** 2 + (b[None, :, None] - b[None, None, :]) ** 2  # (p, q, k)
    return float(d.min(axis=2).max())


def test_fos_equals_the_brute_force_sum_over_pairs_averaged_over_batches():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(20, 3))
    out = fos(codes, batch_size=8, num_batches=5)  # 2 full batches of 8 (the last 4 rows unused)
    want = np.mean([sum(_hard_hausdorff(codes[s:s + 8, i], codes[s:s + 8, j])
                        for i, j in itertools.combinations(range(3), 2)) for s in (0, 8)])
    assert out["fos"] == pytest.approx(want, rel=1e-12)
    assert out["fos_per_pair"] == pytest.approx(want / 3, rel=1e-12)


def test_a_grid_has_factorised_support_and_a_diagonal_does_not():
    grid = np.array(list(itertools.product(range(4), range(4))), dtype=float)  # 16 points, full product
    assert fos(grid, batch_size=16)["fos"] == 0.0
    line = np.repeat(np.arange(16.0)[:, None], 2, axis=1)
    assert fos(line, batch_size=16)["fos"] > 10


def test_wide_codes_use_a_seeded_sample_of_pairs_and_evaluate_reaches_it():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(16, 12))  # 66 pairs > 45
    a, b = fos(codes, batch_size=16, seed=3), fos(codes, batch_size=16, seed=3)
    assert a == b and a["fos"] == pytest.approx(a["fos_per_pair"] * 66)
    with pytest.raises(ValueError, match="fos needs at least batch_size=128 codes, got 16"):
        fos(codes)


def test_fos_in_evaluate():
    from disentkit.data import FactorSpace, GroundTruthData

    class Two(GroundTruthData):
        factor_space = FactorSpace(("a", "b"), (4, 4))
        observation_shape = (1, 1, 2)

        def _render(self, factors, rng):
            return factors.astype(np.float32)[:, None, None, :]

    result = evaluate(Two(), lambda x: x[:, 0, 0, :], ["fos"], num_train=256, progress=False)
    assert result["fos"]["values"]["fos"] == pytest.approx(0.0, abs=1e-12)  # independent uniform factors

