"""Factor spaces: named discrete factors and the index <-> factor-vector mapping of a full grid;
continuous factors and angles (:class:`Factor`, :class:`ContinuousFactorSpace`); causal graphs over
factors (:class:`CausalGraph`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

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

    #: Every factor of a ``FactorSpace`` is discrete (see :class:`ContinuousFactorSpace`).
    is_discrete = True

    @property
    def factors(self) -> tuple["Factor", ...]:
        """The factors as :class:`Factor` objects (all discrete)."""
        return tuple(Factor.discrete(n, s) for n, s in zip(self.names, self.sizes))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kind of each factor: ``"discrete"``."""
        return ("discrete",) * self.num_factors


# -- continuous factors, angles and causal graphs -------------------------------------------------

#: The kinds of factor: ``discrete`` (``size`` values ``0 .. size-1``), ``continuous`` (a range
#: ``[low, high]``) and ``angle`` (a range ``[low, high]`` on a circle of ``period``).
FACTOR_KINDS = ("discrete", "continuous", "angle")


def _finite(name: str, what: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"factor {name!r}: {what} must be a finite number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"factor {name!r}: {what} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True)
class Factor:
    """One factor: discrete (``size`` values), continuous (a range) or an angle (a periodic range).

    - ``discrete``: integer values ``0 .. size-1`` (the factors of a :class:`FactorSpace`).
    - ``continuous``: real values in ``[low, high]``, ``low < high``.
    - ``angle``: real values (radians by convention) in ``[low, high]`` on a circle of ``period``
      (default ``2 pi``), ``0 < high - low <= period``; a value outside ``[low, high]`` is first
      moved by whole periods into ``[low, low + period)``, so ``low + period`` and ``low`` are the
      same angle.

    Build one with :meth:`discrete`, :meth:`continuous` or :meth:`angle`.

    Example
    -------
    >>> Factor.angle("light", 0.0, math.pi).describe()
    'light=[0, 3.14159] (angle)'
    """

    name: str
    kind: str = "discrete"
    size: int | None = None
    low: float | None = None
    high: float | None = None
    period: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a factor name must be a non-empty string, got {self.name!r}")
        if self.kind not in FACTOR_KINDS:
            raise ValueError(f"factor {self.name!r}: unknown kind {self.kind!r}; valid kinds: {', '.join(FACTOR_KINDS)}")
        if self.kind == "discrete":
            self._init_discrete()
        else:
            self._init_range()

    def _init_discrete(self) -> None:
        if self.low is not None or self.high is not None or self.period is not None:
            raise ValueError(f"factor {self.name!r}: a discrete factor has a size, not a range or a period")
        size = self.size
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"factor {self.name!r}: a discrete factor needs an integer size >= 1, got {size!r}")
        object.__setattr__(self, "size", int(size))

    def _init_range(self) -> None:
        if self.size is not None:
            raise ValueError(f"factor {self.name!r}: a {self.kind} factor has a range [low, high], not a size")
        if self.low is None or self.high is None:
            raise ValueError(f"factor {self.name!r}: a {self.kind} factor needs low and high")
        low, high = _finite(self.name, "low", self.low), _finite(self.name, "high", self.high)
        if not low < high:
            raise ValueError(f"factor {self.name!r}: the range needs low < high, got [{low:g}, {high:g}]")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if self.kind == "continuous":
            if self.period is not None:
                raise ValueError(f"factor {self.name!r}: a continuous factor has no period; use Factor.angle")
            return
        period = 2.0 * math.pi if self.period is None else _finite(self.name, "period", self.period)
        if not 0.0 < high - low <= period * (1.0 + 1e-12):
            raise ValueError(
                f"factor {self.name!r}: an angle's range [{low:g}, {high:g}] must be at most one "
                f"period ({period:g}) long"
            )
        object.__setattr__(self, "period", period)

    @classmethod
    def discrete(cls, name: str, size: int) -> "Factor":
        """A factor with the integer values ``0 .. size-1``."""
        return cls(name, "discrete", size=size)

    @classmethod
    def continuous(cls, name: str, low: float, high: float) -> "Factor":
        """A real factor in ``[low, high]``."""
        return cls(name, "continuous", low=low, high=high)

    @classmethod
    def angle(cls, name: str, low: float = -math.pi, high: float = math.pi, period: float = 2.0 * math.pi) -> "Factor":
        """An angle in ``[low, high]`` on a circle of ``period`` (``2 pi``: radians)."""
        return cls(name, "angle", low=low, high=high, period=period)

    @property
    def is_discrete(self) -> bool:
        """Whether the factor takes the integer values ``0 .. size-1``."""
        return self.kind == "discrete"

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)``; ``(0, size - 1)`` for a discrete factor."""
        if self.kind == "discrete":
            return 0.0, float(self.size - 1)  # type: ignore[operator]
        return float(self.low), float(self.high)  # type: ignore[arg-type]

    def check(self, values: np.ndarray) -> np.ndarray:
        """``values`` (any shape) checked against the factor, as float64; angles are wrapped first.

        A discrete factor needs integers in ``[0, size-1]``, a continuous one values in
        ``[low, high]``; an angle outside ``[low, high]`` moves by whole periods into
        ``[low, low + period)`` and must then lie in ``[low, high]``.
        """
        arr = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"factor {self.name!r} must be finite, got non-finite values")
        if self.kind == "discrete" and not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"factor {self.name!r} must be integer indices in [0, {self.size - 1}], got non-integer values")  # type: ignore[operator]
        low, high = self.bounds
        if self.kind == "angle":
            outside = (arr < low) | (arr > high)
            arr = np.where(outside, low + np.mod(arr - low, self.period), arr)  # type: ignore[arg-type]
        if arr.size and (arr.min() < low or arr.max() > high):
            raise ValueError(
                f"factor {self.name!r} must be in [{low:g}, {high:g}], got values in [{arr.min():g}, {arr.max():g}]"
            )
        return arr

    def sample_uniform(self, n: int, gen: np.random.Generator) -> np.ndarray:
        """``n`` values drawn uniformly: ``U{0, .., size-1}`` or ``U[low, high]``, float64 (n,)."""
        if self.kind == "discrete":
            return gen.integers(0, self.size, size=n).astype(np.float64)  # type: ignore[arg-type]
        low, high = self.bounds
        return low + (high - low) * gen.random(n)

    def describe(self) -> str:
        """``name=size``, ``name=[low, high]`` or ``name=[low, high] (angle)``."""
        if self.kind == "discrete":
            return f"{self.name}={self.size}"
        suffix = " (angle)" if self.kind == "angle" else ""
        return f"{self.name}=[{self.low:g}, {self.high:g}]{suffix}"


def _discrete_only(space: "ContinuousFactorSpace", what: str) -> ValueError:
    names = [f.name for f in space.factors if not f.is_discrete]
    return ValueError(
        f"{what} is defined only for discrete factors; the continuous factors {names} must be "
        "discretised first"
    )


@dataclass(frozen=True)
class ContinuousFactorSpace:
    """Factors of which at least one is continuous or an angle; factor vectors are float64 values.

    Column ``k`` of a factor array (n, F) holds the values of ``factors[k]``: integer indices (as
    floats) for a discrete factor, real values for a continuous one or an angle. There is no finite
    grid, so ``sizes``, ``strides``, ``num_states`` and ``grid`` raise a ``ValueError`` naming the
    continuous factors (a consumer that needs discrete factors must discretise them explicitly).

    Example
    -------
    >>> space = ContinuousFactorSpace((Factor.discrete("shape", 3), Factor.continuous("size", 0.5, 1.0)))
    >>> space.validate([[2, 0.75]])
    array([[2.  , 0.75]])
    """

    factors: tuple[Factor, ...]

    def __post_init__(self) -> None:
        factors = tuple(self.factors)
        if len(factors) == 0:
            raise ValueError("a factor space needs at least one factor")
        if not all(isinstance(f, Factor) for f in factors):
            raise ValueError(f"factors must be Factor objects, got {[type(f).__name__ for f in factors]}")
        names = tuple(f.name for f in factors)
        if len(set(names)) != len(names):
            raise ValueError(f"factor names must be unique, got {names}")
        if all(f.is_discrete for f in factors):
            raise ValueError("every factor is discrete: use FactorSpace(names, sizes) (or make_factor_space)")
        object.__setattr__(self, "factors", factors)

    is_discrete = False

    @property
    def names(self) -> tuple[str, ...]:
        """The factor names, in column order."""
        return tuple(f.name for f in self.factors)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kind of each factor (see :data:`FACTOR_KINDS`)."""
        return tuple(f.kind for f in self.factors)

    @property
    def num_factors(self) -> int:
        """The number of factors ``F``."""
        return len(self.factors)

    @property
    def low(self) -> np.ndarray:
        """The lower bound of each factor (0 for a discrete one), float64 (F,)."""
        return np.array([f.bounds[0] for f in self.factors])

    @property
    def high(self) -> np.ndarray:
        """The upper bound of each factor (``size - 1`` for a discrete one), float64 (F,)."""
        return np.array([f.bounds[1] for f in self.factors])

    @property
    def sizes(self) -> tuple[int, ...]:
        """Not defined: some factors are continuous (a ``ValueError`` names them)."""
        raise _discrete_only(self, "sizes")

    @property
    def strides(self) -> np.ndarray:
        """Not defined: some factors are continuous (a ``ValueError`` names them)."""
        raise _discrete_only(self, "strides")

    @property
    def num_states(self) -> int:
        """Not defined: some factors are continuous (a ``ValueError`` names them)."""
        raise _discrete_only(self, "num_states")

    def grid(self) -> np.ndarray:
        """Not defined: some factors are continuous (a ``ValueError`` names them)."""
        raise _discrete_only(self, "grid")

    def factor_index(self, name: str) -> int:
        """The position of the factor called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown factor {name!r}; the factors are {list(self.names)}") from None

    def validate(self, factors: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Check that ``factors`` is an (n, F) array of valid values (:meth:`Factor.check`); return
        it as float64, angles wrapped into their range."""
        arr = np.asarray(factors)
        if arr.ndim != 2 or arr.shape[1] != self.num_factors:
            raise ValueError(
                f"factors must have shape (n, {self.num_factors}) for factors {list(self.names)}, "
                f"got shape {arr.shape}"
            )
        if arr.size and not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"factors must be numbers, got dtype {arr.dtype}")
        return np.stack([f.check(arr[:, k]) for k, f in enumerate(self.factors)], axis=1).reshape(arr.shape)

    def sample_uniform(self, n: int, rng: RandomLike) -> np.ndarray:
        """``n`` factor vectors, each factor independently uniform on its values or range: float64 (n, F)."""
        n = check_int("n", n, 0)
        gen = check_random_state(rng)
        return np.stack([f.sample_uniform(n, gen) for f in self.factors], axis=1).reshape(n, self.num_factors)

    def describe(self) -> str:
        """A one-line summary such as ``shape=3 size=[0.5, 1]``."""
        return " ".join(f.describe() for f in self.factors)


def make_factor_space(factors: Sequence[Factor]) -> "FactorSpace | ContinuousFactorSpace":
    """A :class:`FactorSpace` when every factor is discrete, else a :class:`ContinuousFactorSpace`."""
    factors = tuple(factors)
    if factors and all(isinstance(f, Factor) and f.is_discrete for f in factors):
        return FactorSpace(tuple(f.name for f in factors), tuple(int(f.size) for f in factors))  # type: ignore[arg-type]
    return ContinuousFactorSpace(factors)


AnyFactorSpace = Union[FactorSpace, ContinuousFactorSpace]


@dataclass(frozen=True)
class CausalGraph:
    """A directed acyclic graph over named factors: edge ``(a, b)`` means ``a`` causes ``b``.

    ``names`` are the nodes (a dataset's factor names, in column order; a factor in no edge is an
    isolated node); ``edges`` are ``(parent, child)`` name pairs (repeats are merged). The graph is
    validated when built: an edge naming an unknown factor, a self-loop or a cycle is a
    ``ValueError`` naming it. :meth:`adjacency` is the matrix with ``A[i, j] = 1`` for ``i -> j``
    (DEAR's convention).

    Example
    -------
    >>> g = CausalGraph(("angle", "light", "shadow"), [("angle", "shadow"), ("light", "shadow")])
    >>> g.parents("shadow"), g.topological_order
    (('angle', 'light'), ('angle', 'light', 'shadow'))
    """

    names: tuple[str, ...]
    edges: tuple[tuple[str, str], ...] = ()
    _order: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(self.names)
        if len(names) == 0 or not all(isinstance(n, str) for n in names):
            raise ValueError(f"a causal graph needs factor names (strings), got {names!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"causal graph factor names must be unique, got {names}")
        object.__setattr__(self, "names", names)
        edges: list[tuple[str, str]] = []
        for edge in self.edges:
            if not isinstance(edge, (tuple, list)) or len(edge) != 2:
                raise ValueError(f"a causal graph edge must be a (parent, child) pair, got {edge!r}")
            for node in edge:
                if node not in names:
                    raise ValueError(
                        f"causal graph edge {tuple(edge)!r} names unknown factor {node!r}; the factors are {list(names)}"
                    )
            if edge[0] == edge[1]:
                raise ValueError(f"causal graph has a cycle: {edge[0]} -> {edge[0]}")
            if tuple(edge) not in edges:
                edges.append((str(edge[0]), str(edge[1])))
        object.__setattr__(self, "edges", tuple(edges))
        object.__setattr__(self, "_order", self._topological_order())

    def _topological_order(self) -> tuple[str, ...]:
        """Kahn's algorithm taking the first ready node in column order; a cycle is a ValueError naming it."""
        indegree = {n: 0 for n in self.names}
        for _, child in self.edges:
            indegree[child] += 1
        order: list[str] = []
        ready = [n for n in self.names if indegree[n] == 0]
        while ready:
            node = ready.pop(0)
            order.append(node)
            for child in self.children(node):
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
            ready.sort(key=self.names.index)
        if len(order) < len(self.names):
            raise ValueError(f"causal graph has a cycle: {' -> '.join(self._find_cycle(set(order)))}")
        return tuple(order)

    def _find_cycle(self, done: set[str]) -> list[str]:
        """A cycle among the nodes Kahn's algorithm could not order (each has a parent among them)."""
        node = next(n for n in self.names if n not in done)
        path: list[str] = []
        while node not in path:
            path.append(node)
            node = next(p for p in self.parents(node) if p not in done)
        cycle = path[path.index(node):][::-1]  # followed parents: reverse into causal order
        start = min(range(len(cycle)), key=lambda k: self.names.index(cycle[k]))  # first in column order
        cycle = cycle[start:] + cycle[:start]
        return [*cycle, cycle[0]]

    @classmethod
    def from_adjacency(cls, names: Sequence[str], adjacency: np.ndarray | Sequence[Sequence[float]]) -> "CausalGraph":
        """The graph of a 0/1 matrix with ``A[i, j] != 0`` for an edge ``names[i] -> names[j]``."""
        a = np.asarray(adjacency)
        if a.shape != (len(names), len(names)):
            raise ValueError(f"adjacency must have shape ({len(names)}, {len(names)}), got {a.shape}")
        return cls(tuple(names), tuple((names[i], names[j]) for i, j in zip(*np.nonzero(a))))

    @property
    def topological_order(self) -> tuple[str, ...]:
        """Every node after its parents: at each step the first ready node in column order."""
        return self._order

    def _check(self, name: str) -> str:
        if name not in self.names:
            raise ValueError(f"unknown factor {name!r}; the factors are {list(self.names)}")
        return name

    def parents(self, name: str) -> tuple[str, ...]:
        """The direct causes of ``name``, in column order."""
        self._check(name)
        found = {p for p, c in self.edges if c == name}
        return tuple(n for n in self.names if n in found)

    def children(self, name: str) -> tuple[str, ...]:
        """The direct effects of ``name``, in column order."""
        self._check(name)
        found = {c for p, c in self.edges if p == name}
        return tuple(n for n in self.names if n in found)

    def _closure(self, name: str, step: Any) -> tuple[str, ...]:
        seen: set[str] = set()
        todo = list(step(name))
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(step(node))
        return tuple(n for n in self.names if n in seen)

    def ancestors(self, name: str) -> tuple[str, ...]:
        """Every node with a directed path to ``name``, in column order."""
        return self._closure(name, self.parents)

    def descendants(self, name: str) -> tuple[str, ...]:
        """Every node reached by a directed path from ``name``, in column order."""
        return self._closure(name, self.children)

    @property
    def roots(self) -> tuple[str, ...]:
        """The nodes without parents (the exogenous causes)."""
        children = {c for _, c in self.edges}
        return tuple(n for n in self.names if n not in children)

    def adjacency(self) -> np.ndarray:
        """int64 (F, F) with ``A[i, j] = 1`` for an edge ``names[i] -> names[j]``."""
        a = np.zeros((len(self.names), len(self.names)), dtype=np.int64)
        for p, c in self.edges:
            a[self.names.index(p), self.names.index(c)] = 1
        return a

    def describe(self) -> str:
        """The edges as ``a -> b, a -> c`` (``no edges`` for an empty graph)."""
        return ", ".join(f"{p} -> {c}" for p, c in self.edges) or "no edges"
