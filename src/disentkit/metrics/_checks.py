"""Input checks of the metrics: one clear ``ValueError`` for a bad array, everywhere.

Every array-level metric validates its inputs here once (:func:`check_inputs`), so a bad array is
reported with the same message by every metric, never as a crash inside numpy, scipy or
scikit-learn (as scikit-learn's ``check_clusterings`` does for its clustering metrics). The shared
pieces a caller may pass in precomputed (a mutual-information matrix) are checked here too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "MAX_ABS_CODE",
    "varying_columns",
    "check_codes",
    "check_factors",
    "check_inputs",
    "check_mi_matrix",
    "check_factor_names",
]


#: The largest ``|code|`` the metrics accept: squares, covariances and sums of squares of larger
#: values overflow float64 (``sqrt(max float64)`` is about 1.3e154) and would turn into inf/NaN.
MAX_ABS_CODE = 1e100


def varying_columns(codes: np.ndarray) -> np.ndarray:
    """Boolean mask (D,) of the code columns that are not constant: ``max > min`` exactly.

    The package's rule for a constant (uninformative) code dimension (see :mod:`disentkit.metrics`):
    a variance would be a rounding residue (~1e-33) for a column whose rows are all equal, so the
    test compares the values themselves.
    """
    codes = np.asarray(codes)
    if codes.shape[0] == 0:
        return np.zeros(codes.shape[1], dtype=bool)
    return codes.max(axis=0) > codes.min(axis=0)


def check_codes(codes: Any, *, name: str = "codes", min_samples: int = 2) -> np.ndarray:
    """Return ``codes`` as a finite float64 array of shape (N, D), N >= ``min_samples``, D >= 1.

    Raises ``ValueError`` for a non-2-D array, an empty array, non-numeric values, NaN or infinite
    entries, or entries larger than :data:`MAX_ABS_CODE` in magnitude (naming the first offending
    row and column). Constant columns are valid (an uninformative code, scored as such).
    """
    try:
        arr = np.asarray(codes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape (N, D): {exc}") from None
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (N, D) (rows are samples), got shape {arr.shape}; "
            "reshape a single code dimension with codes[:, None]"
        )
    n, d = arr.shape
    if d < 1:
        raise ValueError(f"{name} must have at least one code dimension, got shape {arr.shape}")
    if n < min_samples:
        raise ValueError(f"{name} must have at least {min_samples} samples (rows), got {n}")
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} contains {int((~finite).sum())} NaN or infinite values "
            f"(first at row {row}, column {col}); metrics need finite codes"
        )
    huge = np.abs(arr) > MAX_ABS_CODE
    if huge.any():
        row, col = np.argwhere(huge)[0]
        raise ValueError(
            f"{name} has values as large as {float(np.abs(arr).max()):.3g} (first at row {row}, "
            f"column {col}); metrics need |codes| <= {MAX_ABS_CODE:g} (larger values overflow "
            "float64 in variances and fits): rescale the codes"
        )
    return arr


def check_factors(
    factors: Any,
    num_samples: int,
    *,
    name: str = "factors",
    allow_constant: bool = False,
) -> np.ndarray:
    """Return ``factors`` as an int64 array of shape (N, F) with ``N == num_samples``.

    Factors are class indices: integer dtype, or floats holding whole numbers. Unless
    ``allow_constant``, a factor that takes a single value raises ``ValueError`` (its entropy is 0,
    so MIG would divide by zero and no classifier can be trained on it).
    """
    arr = np.asarray(factors)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D integer array of shape (N, F), got shape {arr.shape}; "
            "reshape a single factor with factors[:, None]"
        )
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one factor column, got shape {arr.shape}")
    if arr.shape[0] != num_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} rows but the codes have {num_samples}; "
            "codes and factors must describe the same samples"
        )
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(arr) & (np.mod(arr, 1) == 0)
        if not ok.all():
            raise ValueError(
                f"{name} must hold integer class indices (discretise continuous factors first), "
                "got non-integer or non-finite values"
            )
    arr = arr.astype(np.int64, copy=False)
    if not allow_constant:
        constant = np.flatnonzero((arr == arr[:1]).all(axis=0))
        if constant.size:
            raise ValueError(
                f"{name} column(s) {constant.tolist()} take a single value in these {num_samples} "
                "samples; a constant factor has zero entropy and cannot be scored: drop it"
            )
    return arr


def check_inputs(
    codes: Any,
    factors: Any,
    codes_test: Any = None,
    factors_test: Any = None,
    *,
    metric: str,
    require_test: bool = False,
    allow_constant: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate a train split and an optional test split for the metric called ``metric``.

    Returns ``(codes, factors, codes_test, factors_test)`` as float64/int64 arrays (the test pair is
    ``None`` when not given). The test split must be given as a pair, with the same ``D`` and ``F``
    as the train split; ``require_test`` makes it mandatory. Constant factors are rejected in the
    train split only (a test split may well miss classes).
    """
    codes = check_codes(codes, name=f"{metric}: codes")
    factors = check_factors(
        factors, codes.shape[0], name=f"{metric}: factors", allow_constant=allow_constant
    )
    if (codes_test is None) != (factors_test is None):
        raise ValueError(f"{metric}: give codes_test and factors_test together, or neither")
    if codes_test is None:
        if require_test:
            raise ValueError(
                f"{metric} needs a held-out split: pass codes_test=... and factors_test=... "
                "(the reference uses 5,000 test samples)"
            )
        return codes, factors, None, None
    codes_test = check_codes(codes_test, name=f"{metric}: codes_test", min_samples=1)
    if codes_test.shape[1] != codes.shape[1]:
        raise ValueError(
            f"{metric}: codes_test has {codes_test.shape[1]} dimensions but codes has "
            f"{codes.shape[1]}"
        )
    factors_test = check_factors(
        factors_test, codes_test.shape[0], name=f"{metric}: factors_test", allow_constant=True
    )
    if factors_test.shape[1] != factors.shape[1]:
        raise ValueError(
            f"{metric}: factors_test has {factors_test.shape[1]} factors but factors has "
            f"{factors.shape[1]}"
        )
    return codes, factors, codes_test, factors_test


def check_mi_matrix(mi_matrix: Any, num_codes: int, num_factors: int, *, metric: str) -> np.ndarray:
    """Return a precomputed mutual-information matrix as float64 (D, F), or raise ``ValueError``.

    It must have one row per code dimension and one column per factor column of the arrays it goes
    with, and hold finite, non-negative values (nats), as
    :func:`~disentkit.metrics._information.mutual_information_matrix` returns.
    """
    try:
        mi = np.asarray(mi_matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{metric}: mi_matrix must be a numeric (D, F) array: {exc}") from None
    if mi.shape != (num_codes, num_factors):
        raise ValueError(
            f"{metric}: mi_matrix has shape {mi.shape} but the codes and factors need "
            f"({num_codes}, {num_factors}) (one row per code, one column per factor)"
        )
    if not np.isfinite(mi).all() or (mi < 0).any():
        raise ValueError(f"{metric}: mi_matrix must hold finite, non-negative values (nats)")
    return mi


def check_factor_names(factor_names: Any, num_factors: int, *, metric: str) -> list[str]:
    """The labels of the factor columns in per-factor result keys: ``factor_names`` as strings, or
    the column indices ``"0"``, ``"1"``, ... when it is ``None``."""
    if factor_names is None:
        return [str(j) for j in range(num_factors)]
    if isinstance(factor_names, str):
        raise ValueError(f"{metric}: factor_names must be a sequence of names, got the string {factor_names!r}")
    names = [str(name) for name in factor_names]
    if len(names) != num_factors or len(set(names)) != len(names):
        raise ValueError(
            f"{metric}: factor_names must be {num_factors} distinct names (one per factor column), "
            f"got {names}"
        )
    return names
