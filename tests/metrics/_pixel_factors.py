"""A tiny ground-truth dataset shared by the metric tests: each factor is one pixel's intensity."""

from __future__ import annotations

import numpy as np

from disentkit.data import FactorSpace, GroundTruthData

SIZES = (3, 4, 5)


class PixelFactors(GroundTruthData):
    """Factors of ``sizes`` drawn as the intensities of a 1 x F image: pixel k = v_k / (|V_k| - 1)."""

    def __init__(self, sizes: tuple[int, ...] = SIZES):
        self._space = FactorSpace(tuple(f"f{k}" for k in range(len(sizes))), sizes)

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (1, 1, self.num_factors)

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        scale = np.asarray(self.factor_sizes, dtype=np.float32) - 1
        return (factors / scale).astype(np.float32)[:, None, None, :]


def identity(images: np.ndarray) -> np.ndarray:
    """Reads the factor values of :data:`SIZES` back: codes (N, F) = round(pixel * (|V_k| - 1))."""
    return np.rint(images[:, 0, 0, :] * (np.asarray(SIZES) - 1))
