"""Disentanglement metrics: array-level functions, intervention metrics and :func:`evaluate`.

Array-level metrics take codes ``(N, D)`` and integer factors ``(N, F)`` (row-major) and return a
flat ``dict[str, float]`` whose keys equal disentanglement_lib's, so numbers compare with published
ones; ``linear_probe`` and ``knn_accuracy`` (the self-supervised read-outs) report ``test_accuracy``
and ``test_accuracy:<factor>``. The metrics that read the mutual-information matrix or the
per-factor logistic fits take them as ``mi_matrix=`` / ``logistic_fits=`` (from
:func:`discrete_mi_matrix`, :func:`logistic_fits`) so that several of them share one computation.
``med`` also reports how the per-code disentanglement is spread (``code_disentanglement_bin_0``
... ``_9`` and ``informative_codes``). Intervention metrics take a dataset and a representation,
and their randomness as ``rng`` (an int seed or a numpy Generator). A researcher's own encoder is
loaded from ``"package.module:callable"`` or a TorchScript file by :func:`load_representation`,
and :func:`write_html_report` turns an :func:`evaluate` result into a one-page report. Names are
resolved lazily so that
``import disentkit.metrics`` does not import scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # array-level
    "mig": "_mig",
    "sap": "_sap",
    "dci": "_dci",
    "modularity_explicitness": "_modularity",
    "irs": "_irs",
    "unsupervised": "_unsupervised",
    "med": "_med",
    "linear_probe": "_probe",
    "knn_accuracy": "_knn",
    # need a dataset and a representation
    "beta_vae_score": "_beta_vae",
    "factor_vae_score": "_factor_vae",
    "downstream_task": "_downstream",
    "fairness": "_fairness",
    "mig_sampled": "_mig_sampled",
    # running a named set
    "evaluate": "_evaluate",
    "METRICS": "_evaluate",
    "PRESETS": "_evaluate",
    "CODES": "_evaluate",
    "resolve_settings": "_evaluate",
    # the HTML report of a results dict
    "html_report": "_html_report",
    "write_html_report": "_html_report",
    # representations
    "as_representation": "_representation",
    "Representation": "_representation",
    "posterior_of": "_representation",
    "has_posterior": "_representation",
    "load_representation": "_loading",
    # shared pieces, to compute once and pass to several metrics
    "discrete_mi_matrix": "_information",
    "histogram_discretize": "_information",
    "mutual_information_matrix": "_information",
    "logistic_fits": "_logistic",
    # per-code and per-factor matrices (reports)
    "gbt_importance_matrix": "_dci",
    "screened_codes": "_dci",
    "med_per_code": "_med",
    "code_disentanglement_shares": "_med",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'disentkit.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"disentkit.metrics.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
