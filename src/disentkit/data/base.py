"""The ground-truth dataset interface and generic wrappers around it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping, Sequence

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.data.factors import AnyFactorSpace, CausalGraph, FactorSpace


class GroundTruthData(ABC):
    """A dataset whose images are generated from known factors.

    Subclasses define :attr:`factor_space`, :attr:`observation_shape` and :meth:`_render`; the
    public methods validate their arguments once and delegate.

    Conventions: factors are int64 ``(n, F)`` arrays of indices (a :class:`FactorSpace`), or float64
    ``(n, F)`` arrays of values when some factors are continuous or angles (a
    :class:`~disentkit.data.factors.ContinuousFactorSpace`); images are float32 ``(n, C, H, W)``
    arrays in ``[0, 1]``. Randomness comes only from the ``rng`` argument (an int seed, a numpy
    ``Generator`` or ``RandomState``): the same seed gives the same factors and images.

    Causal structure (optional): a dataset may declare :attr:`causal_graph`, a DAG over its factor
    names, and implement interventions by listing :attr:`intervenable_factors` and defining
    :meth:`_structural_equation` (the value of a factor from its parents);
    :meth:`intervene` then sets factors and recomputes their descendants.

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
    def factor_space(self) -> AnyFactorSpace:
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
        """The number of values of each factor (a ``ValueError`` for continuous factors)."""
        return self.factor_space.sizes

    @property
    def num_factors(self) -> int:
        """The number of factors ``F``."""
        return self.factor_space.num_factors

    # -- sampling -----------------------------------------------------------------------------
    def sample_factors(self, n: int, rng: RandomLike) -> np.ndarray:
        """Draw ``n`` factor vectors, each factor independently and uniformly: int64 (n, F)
        (float64 for continuous factors)."""
        return self.factor_space.sample_uniform(n, rng)

    # -- causal structure ---------------------------------------------------------------------
    @property
    def causal_graph(self) -> CausalGraph | None:
        """The causal graph over :attr:`factor_names` (``None``: no declared causal structure)."""
        return None

    @property
    def intervenable_factors(self) -> tuple[str, ...]:
        """The factors :meth:`intervene` may set (none unless the dataset implements interventions)."""
        return ()

    def _structural_equation(self, name: str, factors: np.ndarray) -> np.ndarray:
        """The values (n,) of factor ``name`` computed from its parents' columns of ``factors`` (n, F)."""
        raise NotImplementedError(f"{type(self).__name__} has no structural equation for {name!r}")

    def _propagate(self, factors: np.ndarray, changed: Sequence[str]) -> np.ndarray:
        """Recompute, in topological order, every factor that descends from one of ``changed``
        (and is not itself in ``changed``) with :meth:`_structural_equation`; in place, returned."""
        graph = self.causal_graph
        assert graph is not None
        changed = set(changed)
        moved = set(changed)
        for node in graph.topological_order:
            if node not in changed and moved.intersection(graph.parents(node)):
                factors[:, self.factor_space.factor_index(node)] = self._structural_equation(node, factors)
                moved.add(node)
        return factors

    def intervene(self, factors: np.ndarray | Sequence[Sequence[float]], do: Mapping[str, Any]) -> np.ndarray:
        """The factors after the do-operation ``do(name := value, ...)``.

        Each named factor is set to its value (a scalar, or one value per row (n,)); then every
        descendant of a set factor in :attr:`causal_graph` that is not set itself is recomputed
        from its parents by the dataset's structural equations, in topological order. Ancestors
        and unrelated factors keep their values: intervening on an effect changes no cause.

        Raises ``ValueError`` when the dataset declares no causal graph, when a name is not a
        factor or not in :attr:`intervenable_factors`, or when a value is out of its factor's range.
        Returns an array of the factors' dtype (int64 indices or float64 values), shape (n, F).
        """
        label = self.name or type(self).__name__
        if self.causal_graph is None:
            raise ValueError(f"{label} declares no causal graph, so it has no interventions")
        if not isinstance(do, Mapping) or not all(isinstance(k, str) for k in do):
            raise ValueError(f"do must be a mapping from factor names to values, got {do!r}")
        space = self.factor_space
        for name in do:
            space.factor_index(name)  # an unknown name lists the factors
            if name not in self.intervenable_factors:
                raise ValueError(f"factor {name!r} of {label} is not intervenable; "
                                 f"intervenable factors: {list(self.intervenable_factors)}")
        out = space.validate(factors).astype(np.float64)
        for name, value in do.items():
            column = np.asarray(value, dtype=np.float64) if _is_numeric(value) else None
            if column is None or column.shape not in ((), (out.shape[0],)):
                raise ValueError(f"do value of {name!r} must be a number or one number per row "
                                 f"({out.shape[0]},), got {value!r}")
            out[:, space.factor_index(name)] = column
        out = space.validate(out).astype(np.float64)
        return space.validate(self._propagate(out, list(do)))

    # -- rendering ----------------------------------------------------------------------------
    def observations(self, factors: np.ndarray | Sequence[Sequence[float]], rng: RandomLike = None) -> np.ndarray:
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
        if not space.is_discrete:
            raise ValueError(f"FactorSubset needs discrete factors; {base.name or type(base).__name__} "
                             f"has continuous factors ({space.describe()})")
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


class ResampledData(GroundTruthData):
    """``base`` with its factors drawn by another factor sampler: the data of a correlation shift.

    :meth:`sample_factors` (and so :meth:`sample` and every metric that draws factors) returns
    ``sampler.sample(n, rng)``; rendering is ``base``'s own. Used to evaluate a model on correlated
    or anti-correlated data (HFS's correlation-shift evaluation, Roth et al. 2023 §3.5; CMI's
    anti-correlated test set, Funke et al. 2022) with the usual metrics. ``sampler`` is any object
    with ``sample(n, rng) -> int64 (n, F)`` over ``base``'s factors, such as a
    :class:`~disentkit.data.samplers.CorrelatedSampler`.
    """

    def __init__(self, base: GroundTruthData, sampler: Any, name: str = ""):
        if not callable(getattr(sampler, "sample", None)):
            raise ValueError(f"sampler must have sample(n, rng), got {sampler!r}")
        self.base = base
        self.sampler = sampler
        self.name = name or base.name
        self.source = base.source
        self.stochastic = base.stochastic

    @property
    def factor_space(self) -> AnyFactorSpace:
        return self.base.factor_space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return self.base.observation_shape

    def sample_factors(self, n: int, rng: RandomLike) -> np.ndarray:
        """``n`` factor vectors from the sampler (not uniform)."""
        return np.asarray(self.sampler.sample(n, check_random_state(rng)))

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return self.base.observations(factors, rng)

    def __repr__(self) -> str:
        return f"<{self.base!r} resampled by {self.sampler!r}>"


def _is_numeric(value: Any) -> bool:
    arr = np.asarray(value)
    return arr.dtype != bool and (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating))


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
