"""Nearest-subspace classification (CTRL's evaluation; Dai et al., Entropy 2022; spec
``methods_ssl_causal.md`` §9): fit, per class, the principal subspace of the train codes of that
class (``components`` directions, after subtracting the class mean; without it when
``center=False``, the TruncatedSVD variant), and give a test code the class whose subspace leaves
the smallest residual ``||(x − μ_c) − U_c U_cᵀ (x − μ_c)||``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentkit.metrics._checks import check_inputs
from disentkit.validation import check_int

__all__ = ["nearest_subspace_accuracy"]


def _subspace(rows: np.ndarray, components: int, center: bool) -> tuple[np.ndarray, np.ndarray]:
    mean = rows.mean(axis=0) if center else np.zeros(rows.shape[1])
    _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
    return mean, vt[:components]


def nearest_subspace_accuracy(
    codes: Any, factors: Any, codes_test: Any, factors_test: Any, *, components: int = 10, center: bool = True,
) -> dict[str, float]:
    """Test accuracy of nearest-subspace classification of each factor (``test_accuracy:<j>``) and
    their mean (``test_accuracy``). ``components`` must be below the code width (a subspace as
    wide as the codes leaves no residual); a class with fewer train rows keeps as many as it has."""
    codes, factors, codes_test, factors_test = check_inputs(
        codes, factors, codes_test, factors_test, metric="nearest_subspace_accuracy", require_test=True)
    components = check_int("components", components, 1, maximum=codes.shape[1] - 1)
    out: dict[str, float] = {}
    for j in range(factors.shape[1]):
        classes = np.unique(factors[:, j])
        residuals = np.empty((codes_test.shape[0], len(classes)))
        for k, c in enumerate(classes):
            mean, basis = _subspace(codes[factors[:, j] == c], components, center)
            centred = codes_test - mean
            residuals[:, k] = np.linalg.norm(centred - (centred @ basis.T) @ basis, axis=1)
        predicted = classes[residuals.argmin(axis=1)]
        out[f"test_accuracy:{j}"] = float(np.mean(predicted == factors_test[:, j]))
    out["test_accuracy"] = float(np.mean([out[f"test_accuracy:{j}"] for j in range(factors.shape[1])]))
    return out
