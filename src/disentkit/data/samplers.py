"""Factor samplers: the dataset's own, uniform, correlated (HFS / Träuble et al. 2021) and weakly supervised pairs.

A sampler draws factor vectors for a :class:`~disentkit.data.FactorSpace`; every sampler has
``sample(n, rng) -> int64 (n, F)`` (the weak-pair sampler returns a pair of such arrays and a mask).
Samplers accept a ``FactorSpace`` or a dataset (its ``factor_space`` is used) and never draw from
global randomness. The uniform and dataset samplers also accept a
:class:`~disentkit.data.factors.ContinuousFactorSpace` (float64 values, uniform on each range); the
correlated and weak-pair samplers need discrete factors.

>>> from disentkit.data import FactorSpace
>>> space = FactorSpace(("a", "b"), (32, 32))
>>> sampler = CorrelatedSampler(space, pairs=[("a", "b", 0.1)])
>>> sampler.sample(4, rng=0).shape
(4, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, Union, runtime_checkable

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.data.factors import AnyFactorSpace, ContinuousFactorSpace, FactorSpace
from disentkit.validation import check_choice, check_int, check_number

FactorRef = Union[int, str]
SpaceLike = Any  # a FactorSpace or an object with a ``factor_space`` attribute (a dataset)

__all__ = [
    "CorrelatedSampler",
    "CorrelationPair",
    "DatasetSampler",
    "FactorSampler",
    "UniformSampler",
    "WeakPairSampler",
    "as_factor_space",
    "binary_sigma",
    "named_correlations",
    "pearson_matrix",
]


@runtime_checkable
class FactorSampler(Protocol):
    """Anything that draws factor vectors of a factor space."""

    factor_space: FactorSpace

    def sample(self, n: int, rng: RandomLike) -> np.ndarray:
        """Draw ``n`` factor vectors, int64 (n, F)."""
        ...


def as_factor_space(space: SpaceLike) -> AnyFactorSpace:
    """Return ``space`` if it is a factor space (discrete or continuous), else ``space.factor_space``
    (a dataset)."""
    if isinstance(space, (FactorSpace, ContinuousFactorSpace)):
        return space
    fs = getattr(space, "factor_space", None)
    if isinstance(fs, (FactorSpace, ContinuousFactorSpace)):
        return fs
    raise ValueError(
        f"expected a FactorSpace or a dataset with a factor_space, got {type(space).__name__}"
    )


def _discrete_space(space: SpaceLike, sampler: str) -> FactorSpace:
    """``as_factor_space(space)``, which must be discrete (a ValueError names the continuous factors)."""
    fs = as_factor_space(space)
    if not isinstance(fs, FactorSpace):
        continuous = [f.name for f in fs.factors if not f.is_discrete]
        raise ValueError(f"{sampler} needs discrete factors; the continuous factors are {continuous}")
    return fs


def _factor_position(space: FactorSpace, ref: FactorRef) -> int:
    """The column of factor ``ref`` (a name or an index); ValueError lists the valid factors."""
    if isinstance(ref, str):
        return space.factor_index(ref)
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool) and 0 <= ref < space.num_factors:
        return int(ref)
    raise ValueError(
        f"unknown factor {ref!r}; give a name in {list(space.names)} or an index in "
        f"[0, {space.num_factors - 1}]"
    )


def pearson_matrix(factors: np.ndarray) -> np.ndarray:
    """Pearson correlation between the columns of ``factors`` (n, F): float64 (F, F).

    ``r_ab = cov(a, b) / (std(a) std(b))``; a constant column gives NaN in its row and column.
    """
    x = np.asarray(factors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"factors must be a 2-D (n, F) array, got shape {x.shape}")
    x = x - x.mean(axis=0)
    cov = x.T @ x
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.outer(sd, sd)


class UniformSampler:
    """Every factor independently and uniformly (disentanglement_lib's ``sample_factors``); a
    continuous factor or an angle uniformly on its range ``[low, high]``."""

    def __init__(self, space: SpaceLike):
        self.factor_space = as_factor_space(space)

    def sample(self, n: int, rng: RandomLike) -> np.ndarray:
        """``n`` factor vectors, ``f_k ~ U{0, .., sizes[k]-1}`` independently: int64 (n, F)
        (``f_k ~ U[low_k, high_k]`` for continuous factors: float64 (n, F))."""
        return self.factor_space.sample_uniform(n, rng)

    def __repr__(self) -> str:
        return f"UniformSampler({self.factor_space.describe()})"


class DatasetSampler:
    """The dataset's own factor distribution: ``dataset.sample_factors(n, rng)``.

    For a procedural grid dataset this is :class:`UniformSampler` (the same draws); for a labelled
    image set whose grid is mostly empty (CelebA's 2^40 attribute vectors) it is the empirical
    distribution of its rows, so every drawn factor vector has an image.
    """

    def __init__(self, dataset: Any):
        if not callable(getattr(dataset, "sample_factors", None)):
            raise ValueError(f"DatasetSampler needs a dataset with sample_factors, got {type(dataset).__name__}")
        self.dataset = dataset
        self.factor_space = as_factor_space(dataset)

    def sample(self, n: int, rng: RandomLike) -> np.ndarray:
        """``n`` factor vectors from the dataset's distribution: int64 (n, F)."""
        return self.dataset.sample_factors(n, rng)

    def __repr__(self) -> str:
        return f"DatasetSampler({type(self.dataset).__name__}: {self.factor_space.describe()})"


# -- correlated sampling ----------------------------------------------------------------------


@dataclass(frozen=True)
class CorrelationPair:
    """One correlated pair ``(i, j)`` of factor columns with strength ``sigma``.

    Its weight is ``exp(-(c_i - c_j)^2 / (2 sigma^2))``, with ``c_j`` replaced by ``1 - c_j`` when
    ``inverse`` is true (the "inv" variant, a negative correlation).
    """

    i: int
    j: int
    sigma: float
    inverse: bool = False


def binary_sigma(c: float) -> float:
    """The ``sigma`` of a Gaussian pair over two binary factors whose joint is proportional to
    ``[[1 + |c|, 1 - |c|], [1 - |c|, 1 + |c|]]``.

    With the values scaled to {0, 1}, equal values weigh 1 and unequal ones ``exp(-1 / (2 sigma^2))``,
    so the diagonal / off-diagonal ratio ``(1 + |c|) / (1 - |c|)`` gives
    ``sigma = (2 log((1 + |c|) / (1 - |c|)))^(-1/2)``. ``c`` in (-1, 1), not 0.
    """
    c = check_number("c", c, -1.0, 1.0, strict_min=True, strict_max=True)
    if c == 0:
        raise ValueError("c = 0 is no correlation (no sigma gives it: leave the pair out)")
    return float((2.0 * np.log((1.0 + abs(c)) / (1.0 - abs(c)))) ** -0.5)


def _scaled_values(size: int) -> np.ndarray:
    """Min-max scaled values of a factor of ``size`` evenly spaced values: ``v / (size - 1)``.

    A constant (size-1) factor is scaled to 0.
    """
    if size == 1:
        return np.zeros(1)
    return np.arange(size, dtype=np.float64) / (size - 1)


class CorrelatedSampler:
    """Correlated factors by pairwise Gaussian weights (HFS, Roth et al. 2023; Träuble et al. 2021).

    Every factor is min-max scaled to ``c_k in [0, 1]`` (``c_k = f_k / (sizes[k] - 1)``: the
    factors' values are evenly spaced, so scaling indices equals scaling values). A grid state
    ``f`` has the weight

        ``w(f) = prod_{(i, j, sigma) in pairs} exp(-(c_i - c_j)^2 / (2 sigma^2))``

    (``c_j -> 1 - c_j`` for an inverse pair) and is drawn with probability ``w(f) / sum_g w(g)``:
    the distribution of HFS's ``WeightedRandomSampler`` over the full dataset. Smaller ``sigma`` is
    a stronger correlation (used: 0.4 weak, 0.1 medium, 0.04 strong, 0.2 for confounders).

    Sampling is exact. ``method="grid"`` normalises the weights of all grid states once and draws
    by inverse CDF (``searchsorted`` on the cumulative sum); ``"rejection"`` proposes uniform states
    and keeps each with probability ``w(f) <= 1``; ``"auto"`` uses the grid when it has at most
    ``max_grid_states`` states. The two methods give the same distribution but different draws.

    Parameters
    ----------
    space: a :class:`FactorSpace` or a dataset.
    pairs: ``(i, j, sigma)`` or ``(i, j, sigma, inverse)`` items; ``i``, ``j`` are factor names or
        indices. Repeated pairs multiply their weights.
    inverse: the default ``inverse`` of 3-item pairs and of the confounder pairs.
    confounder: ``(factor, sigma)``: pair ``factor`` with every other factor (HFS's "conf"
        settings: the weights of the ``F - 1`` pairs multiply).
    binary: ``(i, j, c)`` items for two binary factors (size 2), the correlation of CMI's
        correlated data (Funke et al. 2022): the joint of ``(f_i, f_j)`` is proportional to
        ``[[1 + c, 1 - c], [1 - c, 1 + c]]`` (``c`` in (-1, 1); ``c < 0`` anti-correlates), which
        is the Gaussian pair with ``sigma = (2 log((1 + |c|) / (1 - |c|)))^(-1/2)``, inverse when
        ``c < 0`` (:func:`binary_sigma`); ``c = 0`` adds no weight. Both marginals stay uniform.
    method: ``"auto"``, ``"grid"`` or ``"rejection"``.
    max_grid_states: the largest grid that ``"auto"`` (and :meth:`exact_correlation`) enumerate.

    Example
    -------
    >>> s = CorrelatedSampler(FactorSpace(("a", "b", "c"), (8, 8, 4)), pairs=[("a", "b", 0.1)])
    >>> r = s.realised_correlation(20000, rng=0)   # r[0, 1] is about 0.95, r[0, 2] about 0
    """

    METHODS = ("auto", "grid", "rejection")

    def __init__(
        self,
        space: SpaceLike,
        pairs: Sequence[Sequence[Any]] = (),
        inverse: bool = False,
        confounder: tuple[FactorRef, float] | None = None,
        method: str = "auto",
        max_grid_states: int = 5_000_000,
        binary: Sequence[Sequence[Any]] = (),
    ):
        self.factor_space = _discrete_space(space, "CorrelatedSampler")
        fs = self.factor_space
        check_choice("method", method, self.METHODS)
        max_grid_states = check_int("max_grid_states", max_grid_states, 1)
        if not isinstance(inverse, (bool, np.bool_)):
            raise ValueError(f"inverse must be True or False, got {inverse!r}")
        parsed = [self._parse_pair(p, bool(inverse)) for p in pairs]
        if confounder is not None:
            if not isinstance(confounder, (tuple, list)) or len(confounder) != 2:
                raise ValueError(f"confounder must be (factor, sigma), got {confounder!r}")
            f = _factor_position(fs, confounder[0])
            if fs.num_factors < 2:
                raise ValueError("a confounder needs at least two factors")
            parsed += [self._parse_pair((f, k, confounder[1]), bool(inverse)) for k in range(fs.num_factors) if k != f]
        parsed += [pair for item in binary if (pair := self._parse_binary(item)) is not None]
        self.pairs: tuple[CorrelationPair, ...] = tuple(parsed)
        self.max_grid_states = int(max_grid_states)
        if method == "grid" and fs.num_states > self.max_grid_states:
            raise ValueError(
                f"method='grid' enumerates all {fs.num_states} states, more than max_grid_states="
                f"{self.max_grid_states}; use method='rejection' or raise max_grid_states"
            )
        if method == "auto":
            method = "grid" if fs.num_states <= self.max_grid_states else "rejection"
        self.method = method
        self._cdf: np.ndarray | None = None

    def _parse_pair(self, item: Sequence[Any], default_inverse: bool) -> CorrelationPair:
        fs = self.factor_space
        if not isinstance(item, (tuple, list)) or len(item) not in (3, 4):
            raise ValueError(f"a pair must be (i, j, sigma) or (i, j, sigma, inverse), got {item!r}")
        i, j = _factor_position(fs, item[0]), _factor_position(fs, item[1])
        if i == j:
            raise ValueError(f"a pair needs two different factors, got {fs.names[i]!r} twice")
        sigma = check_number("sigma", item[2], 0.0, strict_min=True, finite=True)
        inv = default_inverse if len(item) == 3 else item[3]
        if not isinstance(inv, (bool, np.bool_)):
            raise ValueError(f"inverse must be True or False, got {inv!r}")
        return CorrelationPair(i, j, sigma, bool(inv))

    def _parse_binary(self, item: Sequence[Any]) -> CorrelationPair | None:
        fs = self.factor_space
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise ValueError(f"a binary correlation must be (i, j, c), got {item!r}")
        i, j = _factor_position(fs, item[0]), _factor_position(fs, item[1])
        if i == j:
            raise ValueError(f"a binary correlation needs two different factors, got {fs.names[i]!r} twice")
        for k in (i, j):
            if fs.sizes[k] != 2:
                raise ValueError(f"a binary correlation needs factors of 2 values; {fs.names[k]!r} has {fs.sizes[k]}")
        c = check_number("c", item[2], -1.0, 1.0, strict_min=True, strict_max=True)
        if c == 0:
            return None
        return CorrelationPair(i, j, binary_sigma(c), c < 0)

    @classmethod
    def from_setting(cls, space: SpaceLike, setting: str, **kwargs: Any) -> "CorrelatedSampler":
        """The sampler of a named HFS setting such as ``"shapes3d_single_1_01"`` (see
        :func:`named_correlations`; a ``"_inv"`` suffix gives the inverse correlations)."""
        fs = as_factor_space(space)
        dataset = setting.split("_")[0]
        table = named_correlations(dataset)
        base = setting[:-4] if setting.endswith("_inv") else setting
        if base not in table:
            raise ValueError(f"unknown correlation setting {setting!r}; valid: {sorted(table)} (optionally + '_inv')")
        spec = table[base]
        if fs.num_factors != spec["num_factors"]:
            raise ValueError(
                f"setting {setting!r} is for {spec['num_factors']} factors, the space has {fs.num_factors}"
            )
        return cls(fs, pairs=spec["pairs"], confounder=spec["confounder"], inverse=setting.endswith("_inv"), **kwargs)

    # -- weights ------------------------------------------------------------------------------
    def _pair_table(self, p: CorrelationPair) -> np.ndarray:
        """``log w`` of one pair over its two factors' values, (sizes[i], sizes[j])."""
        ci = _scaled_values(self.factor_space.sizes[p.i])
        cj = _scaled_values(self.factor_space.sizes[p.j])
        if p.inverse:
            cj = 1.0 - cj
        return -((ci[:, None] - cj[None, :]) ** 2) / (2.0 * p.sigma**2)

    def log_weights(self, factors: np.ndarray) -> np.ndarray:
        """``log w(f)`` of each factor vector in ``factors`` (n, F): float64 (n,), all ``<= 0``."""
        f = self.factor_space.validate(factors)
        out = np.zeros(f.shape[0])
        for p in self.pairs:
            out += self._pair_table(p)[f[:, p.i], f[:, p.j]]
        return out

    def grid_weights(self) -> np.ndarray:
        """The normalised probability of every grid state, float64 with shape ``sizes``
        (ravel in C order to index it by grid index)."""
        fs = self.factor_space
        if fs.num_states > self.max_grid_states:
            raise ValueError(
                f"the grid has {fs.num_states} states, more than max_grid_states={self.max_grid_states}"
            )
        logw = np.zeros(fs.sizes)
        for p in self.pairs:
            table = self._pair_table(p)
            shape = [1] * fs.num_factors
            shape[p.i], shape[p.j] = fs.sizes[p.i], fs.sizes[p.j]
            logw += (table if p.i < p.j else table.T).reshape(shape)
        w = np.exp(logw - logw.max())
        return w / w.sum()

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, n: int, rng: RandomLike) -> np.ndarray:
        """``n`` factor vectors drawn i.i.d. with probability ``w(f) / sum_g w(g)``: int64 (n, F)."""
        n = check_int("n", n, 0)
        gen = check_random_state(rng)
        if self.method == "grid":
            return self._sample_grid(n, gen)
        return self._sample_rejection(n, gen)

    def _sample_grid(self, n: int, gen: np.random.Generator) -> np.ndarray:
        if self._cdf is None:
            cdf = np.cumsum(self.grid_weights().ravel())
            cdf /= cdf[-1]
            self._cdf = cdf
        # P(index = k) = cdf[k] - cdf[k-1]: searchsorted(side="right") finds cdf[k-1] <= u < cdf[k]
        index = np.searchsorted(self._cdf, gen.random(n), side="right")
        return self.factor_space.factors_of(np.minimum(index, self.factor_space.num_states - 1))

    def _sample_rejection(self, n: int, gen: np.random.Generator, max_proposals: int = 10**9) -> np.ndarray:
        fs = self.factor_space
        parts: list[np.ndarray] = []
        have, proposed, accepted = 0, 0, 0
        while have < n:
            rate = (accepted + 1) / (proposed + 2)  # a smoothed acceptance estimate
            m = int(min(max(1024, 1.2 * (n - have) / rate), 4_000_000))
            cand = fs.sample_uniform(m, gen)
            keep = cand[gen.random(m) < np.exp(self.log_weights(cand))]
            parts.append(keep)
            proposed += m
            accepted += keep.shape[0]
            have += keep.shape[0]
            if have < n and proposed >= max_proposals:
                raise RuntimeError(
                    f"rejection sampling accepted {accepted} of {proposed} proposals; the correlations "
                    "are too strong for it: use method='grid' (raise max_grid_states) or larger sigmas"
                )
        if not parts:
            return np.zeros((0, fs.num_factors), dtype=np.int64)
        return np.concatenate(parts)[:n]

    # -- diagnostics --------------------------------------------------------------------------
    def realised_correlation(self, n: int, rng: RandomLike) -> np.ndarray:
        """Pearson correlation matrix (F, F) of the factors of ``n`` drawn vectors."""
        return pearson_matrix(self.sample(n, rng))

    def exact_correlation(self) -> np.ndarray:
        """Pearson correlation matrix (F, F) of the factors under the exact sampling distribution
        (computed from the normalised grid weights; needs ``num_states <= max_grid_states``)."""
        fs = self.factor_space
        p = self.grid_weights()
        nf = fs.num_factors
        vals = [np.arange(s, dtype=np.float64) for s in fs.sizes]
        marg = [p.sum(axis=tuple(k for k in range(nf) if k != a)) for a in range(nf)]
        mean = np.array([m @ v for m, v in zip(marg, vals)])
        var = np.array([m @ (v - mu) ** 2 for m, v, mu in zip(marg, vals, mean)])
        cov = np.diag(var)
        for a in range(nf):
            for b in range(a + 1, nf):
                joint = p.sum(axis=tuple(k for k in range(nf) if k not in (a, b)))
                cov[a, b] = cov[b, a] = (vals[a] - mean[a]) @ joint @ (vals[b] - mean[b])
        sd = np.sqrt(var)
        with np.errstate(invalid="ignore", divide="ignore"):
            return cov / np.outer(sd, sd)

    def correlation_report(self, n: int = 20000, rng: RandomLike = 0) -> list[dict[str, Any]]:
        """One row per distinct correlated pair: its names, ``sigma``, ``inverse``, the Pearson
        correlation ``realised`` on ``n`` draws and the ``exact`` one (NaN for a grid too large to
        enumerate)."""
        realised = self.realised_correlation(n, rng)
        try:
            exact = self.exact_correlation()
        except ValueError:
            exact = np.full_like(realised, np.nan)
        names = self.factor_space.names
        rows, seen = [], set()
        for p in self.pairs:
            if (p.i, p.j, p.sigma, p.inverse) in seen:
                continue
            seen.add((p.i, p.j, p.sigma, p.inverse))
            rows.append({
                "factor_i": names[p.i], "factor_j": names[p.j], "sigma": p.sigma, "inverse": p.inverse,
                "realised": float(realised[p.i, p.j]), "exact": float(exact[p.i, p.j]), "n": n,
            })
        return rows

    def __repr__(self) -> str:
        names = self.factor_space.names
        desc = ", ".join(
            f"{names[p.i]}-{'inv ' if p.inverse else ''}{names[p.j]} {p.sigma:g}" for p in self.pairs
        )
        return f"CorrelatedSampler([{desc}], method={self.method!r})"


# The settings of HFS's correlation benchmark (methods_vae.md §3.4), by factor column:
# dsprites: shape 0, scale 1, orientation 2, posX 3, posY 4.
# shapes3d: floorCol 0, wallCol 1, objCol 2, objSize 3, objType 4, objAzimuth 5.
# mpi3d:    objCol 0, objShape 1, objSize 2, cameraHeight 3, backCol 4, posX 5, posY 6.
_SIGMA_CODE = {0.4: "04", 0.1: "01", 0.04: "004", 0.2: "02"}
_SETTINGS: dict[str, dict[str, Any]] = {
    "dsprites": {
        "num_factors": 5,
        "single": {1: [(0, 1)], 2: [(3, 4)], 3: [(0, 4)]},
        "double": {1: [(0, 3), (1, 4)], 2: [(0, 1), (3, 4)]},
        "triple": {},
        "conf": {1: 0, 2: 3},
    },
    "shapes3d": {
        "num_factors": 6,
        "single": {1: [(0, 1)], 2: [(4, 3)], 3: [(4, 1)], 4: [(4, 2)]},
        "double": {1: [(3, 0), (4, 1)], 2: [(3, 4), (0, 1)]},
        "triple": {1: [(3, 5), (4, 1), (2, 0)], 2: [(2, 5), (4, 3), (0, 1)]},
        "conf": {1: 4, 2: 1},
    },
    "mpi3d": {
        "num_factors": 7,
        "single": {1: [(3, 4)], 2: [(0, 2)], 3: [(5, 6)]},
        "double": {1: [(0, 1), (5, 6)], 2: [(0, 5), (1, 6)]},
        "triple": {1: [(0, 4), (3, 5), (1, 6)], 2: [(0, 1), (5, 6), (4, 3)]},
        "conf": {1: 1, 2: 5},
    },
}


def named_correlations(dataset_name: str) -> dict[str, dict[str, Any]]:
    """The correlated-training settings of HFS (Roth et al. 2023; methods_vae.md §3.4).

    Returns ``{setting: {"pairs": [(i, j, sigma), ...], "confounder": (f, sigma) | None,
    "num_factors": F}}`` with names ``<dataset>_<single|double|triple|conf>_<id>_<sigma code>``
    (01 = 0.1, 04 = 0.4, 004 = 0.04, 02 = 0.2): single and triple use sigma 0.1, double each of
    0.4, 0.1 and 0.04, conf 0.2. Factors are column indices of the dataset's standard order
    (dSprites shape, scale, orientation, posX, posY; Shapes3D floor, wall, object hue, scale,
    shape, orientation; MPI3D colour, shape, size, camera height, background, DOF1, DOF2).
    ``dataset_name`` is ``dsprites``, ``shapes3d`` or any ``mpi3d*`` name. Feed a value to
    :class:`CorrelatedSampler` (``pairs=..., confounder=...``) or use
    :meth:`CorrelatedSampler.from_setting`.
    """
    key = "mpi3d" if dataset_name.startswith("mpi3d") else dataset_name
    if key not in _SETTINGS:
        raise ValueError(f"no HFS correlation settings for {dataset_name!r}; valid: dsprites, shapes3d, mpi3d*")
    t = _SETTINGS[key]
    out: dict[str, dict[str, Any]] = {}

    def add(kind: str, ident: int, sigma: float, pairs: list, confounder: Any = None) -> None:
        out[f"{key}_{kind}_{ident}_{_SIGMA_CODE[sigma]}"] = {
            "pairs": [(i, j, sigma) for i, j in pairs], "confounder": confounder,
            "num_factors": t["num_factors"],
        }

    for ident, pairs in t["single"].items():
        add("single", ident, 0.1, pairs)
    for ident, pairs in t["double"].items():
        for sigma in (0.4, 0.1, 0.04):
            add("double", ident, sigma, pairs)
    for ident, pairs in t["triple"].items():
        add("triple", ident, 0.1, pairs)
    for ident, f in t["conf"].items():
        add("conf", ident, 0.2, [], (f, 0.2))
    return out


# -- weakly supervised pairs ------------------------------------------------------------------


class WeakPairSampler:
    """Pairs of factor vectors that differ in ``k`` factors (Locatello et al. 2020, ``simple_dynamics``).

    For each pair: draw ``f1`` from ``base`` (uniform by default); pick ``k`` distinct factors
    uniformly without replacement (``k = -1``: ``k ~ U{1, .., F-1}`` per pair); give each picked
    factor a new value. With ``allow_same_value=False`` (default) the new value is uniform over the
    factor's *other* values, so exactly ``k`` factors differ (size-1 factors are never picked);
    with ``True`` it is uniform over all values and may equal the old one, as in the reference.
    Unlike the reference (which uses the global ``np.random``), every draw comes from ``rng``.

    ``reference_k=True`` reproduces disentanglement_lib's choice of the number of changed
    factors, ``choice([1, k])`` (1 or ``k`` with equal probability), instead of exactly ``k``.

    ``sample(n, rng)`` returns ``(f1, f2, changed)``: int64 (n, F), int64 (n, F) and bool (n, F)
    marking the picked factors (``changed == (f1 != f2)`` when ``allow_same_value=False``). The
    reference's label, "the last changed index", is a picked index.
    """

    def __init__(
        self,
        space: SpaceLike,
        k: int = 1,
        allow_same_value: bool = False,
        base: FactorSampler | None = None,
        reference_k: bool = False,
    ):
        self.factor_space = _discrete_space(space, "WeakPairSampler")
        fs = self.factor_space
        self.allow_same_value = bool(allow_same_value)
        self.reference_k = bool(reference_k)
        sizes = np.asarray(fs.sizes, dtype=np.int64)
        self._changeable = np.ones(fs.num_factors, bool) if self.allow_same_value else sizes > 1
        n_change = int(self._changeable.sum())
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"k must be an int: -1 (random) or in [1, {n_change}], got {k!r}")
        k = int(k)
        if k == -1:
            if min(fs.num_factors - 1, n_change) < 1:
                raise ValueError(f"k=-1 draws k in [1, F-1] and needs at least 2 factors, got {fs.describe()}")
        elif not 1 <= k <= n_change:
            raise ValueError(
                f"k must be -1 (random) or in [1, {n_change}] (the factors that can change: "
                f"{[n for n, c in zip(fs.names, self._changeable) if c]}), got {k}"
            )
        self.k = k
        self.base = base if base is not None else UniformSampler(fs)
        if as_factor_space(self.base) != fs:
            raise ValueError("base must sample the same factor space")

    def sample_k(self, n: int, rng: RandomLike) -> np.ndarray:
        """The number of factors to change per pair, int64 (n,)."""
        gen = check_random_state(rng)
        if self.k == -1:
            high = min(self.factor_space.num_factors - 1, int(self._changeable.sum()))
            k = gen.integers(1, high + 1, size=n)
        else:
            k = np.full(n, self.k, dtype=np.int64)
        if self.reference_k:
            k = np.where(gen.random(n) < 0.5, 1, k)
        return k

    def sample(self, n: int, rng: RandomLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(f1, f2, changed)`` for ``n`` pairs (see the class docstring)."""
        n = check_int("n", n, 0)
        gen = check_random_state(rng)
        fs = self.factor_space
        f1 = self.base.sample(n, gen)
        k = self.sample_k(n, gen)
        # k distinct factors per row: the k smallest of i.i.d. uniform keys (non-changeable = inf)
        keys = gen.random((n, fs.num_factors))
        keys[:, ~self._changeable] = np.inf
        rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
        changed = rank < k[:, None]
        sizes = np.asarray(fs.sizes, dtype=np.int64)
        if self.allow_same_value:
            new = gen.integers(0, sizes, size=(n, fs.num_factors))
        else:  # old + U{1, .., size-1} mod size: uniform over the other values
            shift = gen.integers(1, np.maximum(sizes, 2), size=(n, fs.num_factors))
            new = (f1 + shift) % sizes
        f2 = np.where(changed, new, f1)
        return f1, f2, changed

    def __repr__(self) -> str:
        return f"WeakPairSampler(k={self.k}, allow_same_value={self.allow_same_value}, base={self.base!r})"
