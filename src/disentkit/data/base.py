"""The ground-truth dataset interface and generic wrappers around it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.data.factors import FactorSpace


class GroundTruthData(ABC):
    """A dataset whose images are generated from known discrete factors.

    Subclasses define :attr:`factor_space`, :attr:`observation_shape` and :meth:`_render`; the
    public methods validate their arguments once and delegate.

    Conventions: factors are int64 ``(n, F)`` arrays of indices; images are float32
    ``(n, C, H, W)`` arrays in ``[0, 1]``. Randomness comes only from the ``rng`` argument (an int
    seed, a numpy ``Generator`` or ``RandomState``): the same seed gives the same factors and images.

    Attributes
    ----------
    name: the registry name (``""`` for an unregistered instance).
    source: ``"procedural"`` (rendered, no file) or ``"file"`` (read from the original files).
    stochastic: whether :meth:`observations` draws random numbers (noise, colours, nuisance
        factors); deterministic datasets accept ``rng=None``.
    """

    name: str = ""
    source: str = "procedural"
    stochastic: bool = False

    @property
    @abstractmethod
    def factor_space(self) -> FactorSpace:
        """The factors this dataset is generated from (and scored on)."""

    @property
    @abstractmethod
    def observation_shape(self) -> tuple[int, int, int]:
        """The shape ``(C, H, W)`` of one image."""

    @abstractmethod
    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Render validated int64 ``factors`` (n, F) into float32 images (n, C, H, W)."""

    # -- derived properties -------------------------------------------------------------------
    @property
    def factor_names(self) -> tuple[str, ...]:
        """The factor names, in column order."""
        return self.factor_space.names

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """The number of values of each factor."""
        return self.factor_space.sizes

    @property
    def num_factors(self) -> int:
        """The number of factors ``F``."""
        return self.factor_space.num_factors

    # -- sampling -----------------------------------------------------------------------------
    def sample_factors(self, n: int, rng: RandomLike) -> np.ndarray:
        """Draw ``n`` factor vectors, each factor independently and uniformly: int64 (n, F)."""
        return self.factor_space.sample_uniform(n, rng)

    def observations(self, factors: np.ndarray | Sequence[Sequence[int]], rng: RandomLike = None) -> np.ndarray:
        """Render the images of ``factors`` (n, F): float32 (n, C, H, W) in [0, 1].

        ``rng`` is required when :attr:`stochastic` is true (colours, noise, nuisance factors).
        """
        arr = self.factor_space.validate(factors)
        gen = None
        if rng is not None:
            gen = check_random_state(rng)
        elif self.stochastic:
            raise ValueError(
                f"{self.name or type(self).__name__} draws random numbers when rendering; "
                "pass rng= (an int seed or a numpy Generator)"
            )
        if arr.shape[0] == 0:
            return np.zeros((0, *self.observation_shape), dtype=np.float32)
        images = self._render(arr, gen)
        expected = (arr.shape[0], *self.observation_shape)
        if images.shape != expected or images.dtype != np.float32:
            raise RuntimeError(
                f"{type(self).__name__}._render returned {images.dtype} {images.shape}, expected float32 {expected}"
            )
        return images

    def sample(self, n: int, rng: RandomLike) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` factor vectors, then render them with the same generator: ``(factors, images)``."""
        gen = check_random_state(rng)
        factors = self.sample_factors(n, gen)
        return factors, self.observations(factors, gen)

    def sample_observations(self, n: int, rng: RandomLike) -> np.ndarray:
        """Images of ``n`` uniformly drawn factor vectors, float32 (n, C, H, W)."""
        return self.sample(n, rng)[1]

    def __len__(self) -> int:
        return self.factor_space.num_states

    def __repr__(self) -> str:
        c, h, w = self.observation_shape
        label = self.name or type(self).__name__
        return f"<{label}: {self.factor_space.describe()}; images {c}x{h}x{w}; {self.source}>"


class FactorSubset(GroundTruthData):
    """Score only some factors of ``base``; the others become nuisance factors.

    Nuisance factors are drawn uniformly inside :meth:`observations`, after the scored factors have
    been drawn, in increasing factor order (the order of disentanglement_lib's
    ``SplitDiscreteStateSpace``). ``dsprites_noshape`` is ``FactorSubset(dsprites, [1, 2, 3, 4])``.
    """

    stochastic = True

    def __init__(self, base: GroundTruthData, latent_factors: Sequence[int | str], name: str = ""):
        self.base = base
        space = base.factor_space
        idx = [space.factor_index(f) if isinstance(f, str) else int(f) for f in latent_factors]
        if len(idx) == 0 or len(set(idx)) != len(idx) or any(not 0 <= i < space.num_factors for i in idx):
            raise ValueError(
                f"latent_factors must be distinct factors of {list(space.names)}, got {list(latent_factors)}"
            )
        self.latent_indices = np.asarray(idx, dtype=np.int64)
        self.nuisance_indices = np.asarray(
            [i for i in range(space.num_factors) if i not in idx], dtype=np.int64
        )
        self._space = FactorSpace(tuple(space.names[i] for i in idx), tuple(space.sizes[i] for i in idx))
        self.name = name
        self.source = base.source

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return self.base.observation_shape

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        assert rng is not None
        full = np.empty((factors.shape[0], self.base.num_factors), dtype=np.int64)
        full[:, self.latent_indices] = factors
        sizes = np.asarray(self.base.factor_sizes, dtype=np.int64)
        for k in self.nuisance_indices:
            full[:, k] = rng.integers(0, sizes[k], size=factors.shape[0])
        return self.base.observations(full, rng)


class DummyData(GroundTruthData):
    """Uniform noise images with ``F`` factors of ``size`` values (disentanglement_lib's ``dummy_data``).

    The images carry no information about the factors; useful for tests and smoke runs.
    """

    stochastic = True

    def __init__(self, num_factors: int = 10, size: int = 5, channels: int = 1, image_size: int = 64):
        if num_factors < 1 or size < 1 or channels < 1 or image_size < 1:
            raise ValueError("num_factors, size, channels and image_size must all be >= 1")
        self._space = FactorSpace(tuple(f"factor{k}" for k in range(num_factors)), (size,) * num_factors)
        self._shape = (int(channels), int(image_size), int(image_size))

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return self._shape

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        assert rng is not None
        return rng.random((factors.shape[0], *self._shape), dtype=np.float32)
