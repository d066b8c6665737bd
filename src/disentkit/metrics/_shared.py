"""The expensive pieces several array metrics read, computed once per :func:`evaluate` call.

MIG, modularity, MED and DCI's screening read the (code, factor) mutual-information matrix; the
explicitness score, MED's informativeness and the linear probe read the same per-factor logistic
regressions. Each metric takes its piece as an argument (``mi_matrix=``, ``logistic_fits=``);
:class:`SharedPieces` holds the shared train split of one ``evaluate`` call and hands each metric
the piece it needs, computing every distinct one once. It lives as long as that call: there is no
module-level memo, and a metric called on its own computes its piece itself.

A piece handed out is exactly what the metric would have computed on its own arrays (the same
rows converted the same way, the same call), so sharing never changes a value.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from disentkit.metrics._information import discrete_mi_matrix
from disentkit.metrics._logistic import LogisticModel, logistic_fits, resolve_solver

__all__ = ["SharedPieces"]


class SharedPieces:
    """Mutual-information matrices and logistic fits of the first rows of one train split.

    ``codes`` (N, D) and ``factors`` (N, F) are the whole shared train split; a metric that uses
    ``num_train`` rows and the factor ``columns`` asks for the piece of ``codes[:num_train]``
    against ``factors[:num_train, columns]``.
    """

    def __init__(self, codes: np.ndarray, factors: np.ndarray) -> None:
        self.codes = codes
        self.factors = factors
        self._mi: dict[tuple[int, int], np.ndarray] = {}
        self._fits: dict[tuple, list[LogisticModel]] = {}

    def _rows(self, num_train: int) -> tuple[np.ndarray, np.ndarray]:
        codes = np.asarray(self.codes[:num_train], dtype=np.float64)
        factors = np.asarray(self.factors[:num_train]).astype(np.int64, copy=False)
        return codes, factors

    def mi_matrix(self, num_train: int, num_bins: int, columns: Sequence[int]) -> np.ndarray:
        """``discrete_mi_matrix(codes[:num_train], factors[:num_train], num_bins)[:, columns]``.

        Computed once per ``(num_train, num_bins)`` over every factor column; each column of the
        matrix depends on its own factor only, so selecting columns afterwards is exact.
        """
        key = (int(num_train), int(num_bins))
        if key not in self._mi:
            codes, factors = self._rows(num_train)
            self._mi[key] = discrete_mi_matrix(codes, factors, num_bins)
        return self._mi[key][:, list(columns)]

    def logistic_fits(
        self,
        num_train: int,
        columns: Sequence[int],
        *,
        solver: str = "auto",
        C: float = 1.0,
        max_iter: int = 100,
        tol: float = 1e-4,
    ) -> list[LogisticModel]:
        """:func:`~disentkit.metrics._logistic.logistic_fits` of the first ``num_train`` rows
        against the factor ``columns``, once per distinct rows, columns and settings.

        Keyed by the exact column list: the torch solver fits the columns of one call together,
        so a fit is reused only where the metric would have made the very same call.
        """
        resolved = resolve_solver(solver, self.codes.shape[1])
        key = (int(num_train), tuple(int(c) for c in columns), resolved, float(C), int(max_iter),
               float(tol))
        if key not in self._fits:
            codes, factors = self._rows(num_train)
            self._fits[key] = logistic_fits(codes, factors[:, list(columns)], solver=resolved,
                                            C=C, max_iter=max_iter, tol=tol)
        return self._fits[key]
