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

Degenerate representations are scored, not crashed on. The rule, for every metric:

- **Non-finite codes are an error.** NaN or infinite codes (and ``|code| > 1e100``, which
  overflows float64 in variances) raise a ``ValueError`` naming the first bad row and column,
  whether they come as arrays or from a representation.
- **A constant code dimension is uninformative**, and is scored as such. "Constant" means all its
  rows are equal (``max == min``, never a variance that rounding leaves at 1e-33, so collapsed codes
  whose rows all equal one vector count as constant). A constant dimension is never split on, has
  zero mutual information with everything and is standardised by 1. Codes whose every dimension
  is constant get each metric's documented value for an uninformative code: ``mig`` 0; ``sap`` 0
  (a constant code's accuracy is that of the most frequent train class); ``dci`` disentanglement
  and completeness 0 (the all-zero importance matrix, also with one factor or one code),
  informativeness the accuracy of answering the most frequent train class; ``modularity_score`` 0
  and explicitness 0.5 (the AUC of a constant score); ``irs`` 0 with ``num_active_dims`` 0;
  ``unsupervised`` 0 on all four keys; ``med`` 0 (no code informs any factor: every score, share
  and ``informative_codes`` 0); ``linear_probe`` and ``knn`` the accuracy of the answers a
  constant input gets (kNN: every distance ties, so the first ``k`` train rows vote);
  ``factor_vae_score`` 0 with no active dimension; ``mig_sampled`` near 0 for a constant
  posterior (its sampled entropy estimates differ by sampling noise only);
  the downstream and fairness classifiers answer the most frequent class (fairness 0). One
  informative dimension among constant ones scores as that dimension alone would, with the
  constant ones at zero importance.
- **An undefined value is an error, never NaN or inf in silence.** Where the number does not exist
  for these inputs, the metric raises a ``ValueError`` saying why: ``unsupervised`` with no more
  samples than non-constant code dimensions (``N <= D``: singular covariance); explicitness when
  the test split defines no factor's ROC AUC (e.g. one test sample); ``mig_sampled`` on a
  posterior whose densities overflow. ``unsupervised`` on linearly dependent dimensions returns
  the exact ``inf`` total correlation with a ``RuntimeWarning``.
- **evaluate() records a failure and goes on.** A metric that raises (or returns a non-finite
  value) gets ``"error": "<ExceptionType>: <message>"`` and empty ``values`` in its result; the
  other metrics are computed as usual (``on_error="raise"`` raises instead).
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
    "fos": "_fos",
    "nearest_subspace_accuracy": "_subspace",  # CTRL's read-out for wide codes; not in METRICS
    "learned_features": "_active",
    "active_latents": "_active",
    "tad": "_tad",  # binary attributes (CelebA); not in METRICS, call it on codes and attributes
    "auroc_matrix": "_tad",
    # need a dataset and a representation
    "beta_vae_score": "_beta_vae",
    "factor_vae_score": "_factor_vae",
    "downstream_task": "_downstream",
    "fairness": "_fairness",
    "mig_sampled": "_mig_sampled",
    "attribute_accuracy": "_attribute",  # a model's own factor predictions (predict_factors)
    "prediction_accuracy": "_attribute",
    "missing_predictor": "_attribute",
    # two code subspaces (CMI minimisation, Funke et al. 2022)
    "subspace_mi": "_subspace_mi",
    "ksg_mutual_information": "_subspace_mi",
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
