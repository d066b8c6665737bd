"""The report's matrices on wide codes: the importance fit is capped and says which codes it fitted."""

from __future__ import annotations

import time

import numpy as np

from disentkit.metrics import as_representation, discrete_mi_matrix, screened_codes
from disentkit.study.worker import IMPORTANCE_SCREEN, score_matrices

SIZES = (3, 5, 8, 4)


class FactorImages:
    """A stand-in dataset whose "images" (N, 1, 1, F) are its factors, so a code can read them."""

    factor_names = tuple(f"f{k}" for k in range(len(SIZES)))

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        factors = np.stack([rng.integers(0, s, n) for s in SIZES], axis=1)
        return factors, factors[:, None, None, :].astype(np.float32)


def codes_of_width(width: int):
    """Codes (N, width): code 7k+3 is factor k plus small noise, every other code pure noise."""
    def encode(images: np.ndarray) -> np.ndarray:
        factors = images.reshape(len(images), -1)
        codes = np.random.default_rng(1).normal(size=(len(images), width))
        for k in range(factors.shape[1]):
            codes[:, 7 * k + 3] = factors[:, k] + 0.01 * codes[:, 7 * k + 3]
        return codes.astype(np.float32)
    return encode


def test_wide_codes_get_a_capped_recorded_importance_matrix():
    dataset, encode = FactorImages(), codes_of_width(300)
    start = time.perf_counter()
    out = score_matrices(dataset, encode, seed=0, num_samples=500)
    seconds = time.perf_counter() - start

    importance, fitted = out["importance"], out["importance_codes"]
    assert importance.shape == out["mutual_information"].shape == (300, len(SIZES))
    assert len(fitted) == IMPORTANCE_SCREEN < 300
    factors, images = dataset.sample(500, np.random.default_rng(0))
    codes = as_representation(encode)(images)  # batched as score_matrices encodes
    expected = screened_codes(codes, factors, IMPORTANCE_SCREEN, mi_matrix=discrete_mi_matrix(codes, factors, 20))
    np.testing.assert_array_equal(fitted, expected)
    assert np.all(importance[np.setdiff1d(np.arange(300), fitted)] == 0)  # unfitted codes: no importance
    np.testing.assert_allclose(importance.sum(axis=0), 1.0)
    informative = 7 * np.arange(len(SIZES)) + 3
    assert set(informative) <= set(fitted.tolist())
    np.testing.assert_array_equal(importance.argmax(axis=0), informative)
    assert seconds < 30  # loose: the cap is asserted structurally above


def test_narrow_codes_fit_every_code():
    out = score_matrices(FactorImages(), codes_of_width(30), seed=0, num_samples=300)
    np.testing.assert_array_equal(out["importance_codes"], np.arange(30))
    assert out["importance"].shape == (30, len(SIZES))
