"""Factor spaces: named discrete factors and the index <-> factor-vector mapping of a full grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.validation import check_int


@dataclass(frozen=True)
class FactorSpace:
    """A grid of ``F`` discrete factors, factor ``k`` taking the values ``0 .. sizes[k]-1``.

    Grid states are numbered in C (row-major) order, so the last factor changes fastest:
    ``index = sum_k factors[k] * strides[k]`` with ``strides[k] = prod(sizes[k+1:])``. This is the
    order in which dSprites, 3dshapes and MPI3D store their images.

    Example
    -------
    >>> space = FactorSpace(("shape", "scale"), (3, 6))
    >>> space.index_of([[2, 5]])
    array([17])
    >>> space.factors_of([17])
    array([[2, 5]])
    """

    names: tuple[str, ...]
    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        sizes = tuple(int(s) for s in self.sizes)
        if len(names) != len(sizes):
            raise ValueError(f"got {len(names)} factor names but {len(sizes)} factor sizes")
        if len(names) == 0:
            raise ValueError("a factor space needs at least one factor")
        if len(set(names)) != len(names):
            raise ValueError(f"factor names must be unique, got {names}")
        if any(s < 1 for s in sizes):
            raise ValueError(f"every factor size must be >= 1, got {sizes}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "sizes", sizes)

    @property
    def num_factors(self) -> int:
        """The number of factors ``F``."""
        return len(self.sizes)

    @property
    def num_states(self) -> int:
        """The number of points in the full grid, ``prod(sizes)``."""
        return int(np.prod(self.sizes, dtype=np.int64))

    @property
    def strides(self) -> np.ndarray:
        """C-order strides, int64 (F,): ``strides[k] = prod(sizes[k+1:])``."""
        sizes = np.asarray(self.sizes, dtype=np.int64)
        return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)

    def factor_index(self, name: str) -> int:
        """The position of the factor called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown factor {name!r}; the factors are {list(self.names)}") from None

    def validate(self, factors: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        """Check that ``factors`` is an int (n, F) array of in-range values; return it as int64."""
        arr = np.asarray(factors)
        if arr.ndim != 2 or arr.shape[1] != self.num_factors:
            raise ValueError(
                f"factors must have shape (n, {self.num_factors}) for factors {list(self.names)}, "
                f"got shape {arr.shape}"
            )
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.equal(np.mod(arr, 1), 0)):
                raise ValueError("factors must be integer indices, got non-integer values")
        arr = arr.astype(np.int64, copy=False)
        if arr.size:
            low = arr.min(axis=0)
            high = arr.max(axis=0)
            sizes = np.asarray(self.sizes)
            bad = np.flatnonzero((low < 0) | (high >= sizes))
            if bad.size:
                k = int(bad[0])
                raise ValueError(
                    f"factor {self.names[k]!r} must be in [0, {self.sizes[k] - 1}], got values in "
                    f"[{low[k]}, {high[k]}]"
                )
        return arr

    def index_of(self, factors: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        """Grid index (int64, (n,)) of each factor vector in ``factors`` (n, F)."""
        return self.validate(factors) @ self.strides

    def factors_of(self, index: np.ndarray | Sequence[int]) -> np.ndarray:
        """Factor vectors (int64, (n, F)) of grid indices ``index`` (n,)."""
        idx = np.asarray(index)
        if idx.ndim != 1:
            raise ValueError(f"index must be a 1-D array, got shape {idx.shape}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_states):
            raise ValueError(f"grid indices must be in [0, {self.num_states - 1}]")
        return (idx[:, None] // self.strides[None, :]) % np.asarray(self.sizes, dtype=np.int64)

    def sample_uniform(self, n: int, rng: RandomLike) -> np.ndarray:
        """``n`` factor vectors drawn independently and uniformly per factor, int64 (n, F)."""
        n = check_int("n", n, 0)
        gen = check_random_state(rng)
        return gen.integers(0, np.asarray(self.sizes, dtype=np.int64), size=(n, self.num_factors))

    def grid(self) -> np.ndarray:
        """Every factor vector of the grid in index order, int64 (num_states, F)."""
        return self.factors_of(np.arange(self.num_states, dtype=np.int64))

    def describe(self) -> str:
        """A one-line summary such as ``shape=3 scale=6``."""
        return " ".join(f"{n}={s}" for n, s in zip(self.names, self.sizes))
