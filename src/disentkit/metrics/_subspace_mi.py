"""Mutual information between two code subspaces, and conditional on binary attributes (kNN).

``subspace_mi`` splits the codes into ``z1 = codes[:, :s]`` and ``z2 = codes[:, s:]`` (``s = D // 2``
by default, the CMI model's halves) and estimates, with the Kraskov-Stögbauer-Grassberger
estimator (KSG, estimator 1; Kraskov, Stögbauer, Grassberger, "Estimating mutual information",
Phys. Rev. E 69, 066138, 2004, Eq. 8), k = 3 as in Funke et al. (CoLLAs 2022)::

    I(z1; z2) ≈ ψ(k) + ψ(N) − (1/N) Σ_i [ψ(n1_i + 1) + ψ(n2_i + 1)]

where ε_i is the max-norm distance from row i to its k-th nearest neighbour in the joint space
(z1, z2) and ``n1_i`` (``n2_i``) counts the other rows strictly closer than ε_i to row i in z1
(z2), also in the max-norm. For every binary factor a (a column taking exactly two values), the
conditional MI is the class-weighted mean of the within-class estimates::

    I(z1; z2 | a) = Σ_v p(a = v) I(z1; z2 | a = v),     p(a = v) = N_v / N

(keys ``mi`` and ``cmi_<factor name>``, nats). Neighbours and counts come from
``scipy.spatial.cKDTree`` queries (``p = inf``), vectorised over rows.

Preprocessing: each non-constant code column is standardised (mean 0, standard deviation 1; the
max-norm compares columns on one scale, as the KSG paper assumes) and a jitter ``1e-10 · N(0, 1)``
from ``seed`` breaks ties between equal codes (as scikit-learn's ``mutual_info_regression`` does).
Constant columns are dropped; a subspace whose columns are all constant carries no information
and gets ``mi`` (and every ``cmi``) exactly 0. KSG is nearly unbiased, so an estimate of an
independent pair scatters around 0 and may be slightly negative; values are reported as they are.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from disentkit.metrics._checks import check_factor_names, check_inputs, varying_columns
from disentkit.validation import check_int

__all__ = ["subspace_mi", "ksg_mutual_information", "subspace_split"]


def ksg_mutual_information(x: np.ndarray, y: np.ndarray, k: int = 3) -> float:
    """The KSG (estimator 1) estimate of ``I(x; y)`` in nats from rows ``x`` (N, dx), ``y`` (N, dy).

    Max-norm distances; ``ψ(k) + ψ(N) − mean[ψ(n_x + 1) + ψ(n_y + 1)]`` (module docstring). The
    inputs are used as they are (no scaling, no jitter); needs N > k rows.
    """
    from scipy.spatial import cKDTree
    from scipy.special import digamma

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x, y = (a[:, None] if a.ndim == 1 else a for a in (x, y))
    n = x.shape[0]
    k = check_int("k", k, 1)
    if y.shape[0] != n:
        raise ValueError(f"x and y must have the same number of rows, got {n} and {y.shape[0]}")
    if n <= k:
        raise ValueError(f"the KSG estimator needs more than k = {k} samples, got {n}")
    joint = np.hstack([x, y])
    dist, _ = cKDTree(joint).query(joint, k=k + 1, p=np.inf)  # the first neighbour is the row itself
    radius = np.nextafter(dist[:, -1], 0.0)  # "strictly closer than ε_i"
    n_x = cKDTree(x).query_ball_point(x, radius, p=np.inf, return_length=True) - 1
    n_y = cKDTree(y).query_ball_point(y, radius, p=np.inf, return_length=True) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_y + 1)))


def subspace_split(num_codes: int, split: int | Sequence[Sequence[int]] | None) -> tuple[list[int], list[int]]:
    """The code columns of z1 and z2: ``None`` -> halves (``D // 2``), an int s -> ``[:s]``, ``[s:]``,
    or two disjoint, non-empty lists of column indices."""
    if split is None or isinstance(split, (int, np.integer)) and not isinstance(split, bool):
        s = num_codes // 2 if split is None else check_int("split", split, 1, maximum=num_codes - 1)
        if num_codes < 2:
            raise ValueError(f"subspace_mi needs at least 2 code dimensions to split, got {num_codes}")
        return list(range(s)), list(range(s, num_codes))
    try:
        first, second = ([int(check_int("split column", c, 0, maximum=num_codes - 1)) for c in part]
                         for part in split)
    except (TypeError, ValueError) as err:
        raise ValueError(f"split must be None, an int in [1, {num_codes - 1}] or two lists of column indices "
                         f"in [0, {num_codes - 1}], got {split!r} ({err})") from None
    if not first or not second or set(first) & set(second):
        raise ValueError(f"split must give two non-empty, disjoint lists of columns, got {split!r}")
    return first, second


def _prepare(codes: np.ndarray, seed: int) -> np.ndarray:
    """Standardise the non-constant columns, add the tie-breaking jitter; constant columns are dropped."""
    varying = varying_columns(codes)
    x = codes[:, varying]
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x + 1e-10 * np.random.default_rng(seed).standard_normal(x.shape)


def subspace_mi(
    codes: Any,
    factors: Any,
    *,
    split: int | Sequence[Sequence[int]] | None = None,
    k: int = 3,
    factor_names: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """KSG estimates of ``I(z1; z2)`` and of ``I(z1; z2 | a)`` for each binary factor a (nats).

    Parameters
    ----------
    codes: (N, D) codes; z1 and z2 are the columns of ``split`` (:func:`subspace_split`; halves).
    factors: (N, F) integer factors; each column with exactly two values gets a ``cmi`` key.
    k: neighbours of the KSG estimator (3).
    factor_names: the names in the ``cmi_<name>`` keys (column indices when None).
    seed: the seed of the tie-breaking jitter.

    Returns ``{"mi": I(z1; z2), "cmi_<name>": I(z1; z2 | name), ...}``; only ``mi`` when no factor
    is binary. ``ValueError`` when a class of a binary factor has k rows or fewer.
    """
    codes, factors, _, _ = check_inputs(codes, factors, metric="subspace_mi", allow_constant=True)
    k = check_int("k", k, 1)
    names = check_factor_names(factor_names, factors.shape[1], metric="subspace_mi")
    first, second = subspace_split(codes.shape[1], split)
    n = codes.shape[0]
    if n <= k:
        raise ValueError(f"subspace_mi: the KSG estimator needs more than k = {k} samples, got {n}")
    z1, z2 = codes[:, first], codes[:, second]
    informative = varying_columns(z1).any() and varying_columns(z2).any()
    binary = [j for j in range(factors.shape[1]) if np.unique(factors[:, j]).size == 2]
    if not informative:
        return {"mi": 0.0, **{f"cmi_{names[j]}": 0.0 for j in binary}}
    z1, z2 = _prepare(z1, seed), _prepare(z2, seed + 1)
    out = {"mi": ksg_mutual_information(z1, z2, k)}
    for j in binary:
        total = 0.0
        for value in np.unique(factors[:, j]):
            rows = factors[:, j] == value
            count = int(rows.sum())
            if count <= k:
                raise ValueError(f"subspace_mi: class {int(value)} of factor {names[j]!r} has {count} samples; "
                                 f"the within-class KSG estimate needs more than k = {k}")
            total += count / n * ksg_mutual_information(z1[rows], z2[rows], k)
        out[f"cmi_{names[j]}"] = total
    return out
