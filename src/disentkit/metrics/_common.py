"""The former home of the metrics' shared pieces; kept only as an import path.

The pieces now live in modules with one job each: :mod:`~disentkit.metrics._checks` (input
checks), :mod:`~disentkit.metrics._information` (discretisation, mutual information),
:mod:`~disentkit.metrics._gbt` (the boosted-tree estimator) and
:mod:`~disentkit.metrics._estimators` (scikit-learn estimators with the reference's settings).
``disentkit.study.runner`` still imports ``histogram_discretize`` and ``mutual_information_matrix``
from here; new code imports from those modules.
"""

from __future__ import annotations

from disentkit.metrics._checks import check_codes, check_factors, check_inputs
from disentkit.metrics._estimators import make_logistic_regression, quiet_fit
from disentkit.metrics._gbt import (
    FAST_GBT_PARAMS,
    GBT_ESTIMATORS,
    FastGBTClassifier,
    make_gbt_classifier,
    normalized_importances,
    share_among_equivalent,
)
from disentkit.metrics._information import (
    factor_entropies,
    histogram_discretize,
    mutual_information_matrix,
)

__all__ = [
    "check_codes",
    "check_factors",
    "check_inputs",
    "histogram_discretize",
    "mutual_information_matrix",
    "factor_entropies",
    "GBT_ESTIMATORS",
    "FAST_GBT_PARAMS",
    "FastGBTClassifier",
    "make_gbt_classifier",
    "make_logistic_regression",
    "normalized_importances",
    "quiet_fit",
    "share_among_equivalent",
]
