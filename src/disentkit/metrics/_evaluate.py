"""``evaluate``: run a named set of metrics on a dataset and a representation.

The array-level metrics (mig, sap, dci, modularity_explicitness, irs, unsupervised, med,
linear_probe, knn) share one train split and one test split: both are drawn with the dataset's
sampler from one generator seeded by ``seed`` (train first), rendered and encoded once, and every
metric uses the first ``num_train`` / ``num_test`` rows. The pieces several of them read (the
mutual-information matrix, the per-factor logistic regressions) are computed once per call and
passed to each (:class:`~disentkit.metrics._shared.SharedPieces`). The metrics that need the
dataset itself (BetaVAE, FactorVAE, downstream, fairness, sampled MIG) run afterwards, each with
its own seed derived from ``seed`` and its name, so a metric's value does not depend on which
other metrics were selected.

A metric that fails (degenerate codes it cannot score, a representation that returns NaN, a
crash inside an estimator) does not stop the others: its result records the error
(``{"values": {}, "error": "ValueError: ...", "settings": ..., "seconds": ...}``, with a
``RuntimeWarning``) and :func:`evaluate` goes on; ``on_error="raise"`` raises it instead. A result
holds finite values only: a metric that returns NaN or inf is recorded as failed, naming the keys.

A representation without a Gaussian posterior (its ``capabilities.gaussian_posterior`` is False,
or, without ``capabilities``, it has no ``encode``) cannot be scored by ``mig_sampled``: a set that
includes it among other metrics (``"all"`` too) records ``{"values": {}, "skipped": "no Gaussian
posterior", ...}`` for it; asking for it alone raises ``ValueError``.

Likewise a representation that cannot predict factors (``capabilities.predicts_factors`` is False,
or, without ``capabilities``, it has no ``predict_factors``) cannot be scored by the "predictor"
metrics (``attribute_accuracy``): in a set of several metrics they record ``"skipped": "no factor
predictions"``; asked for alone, they raise ``ValueError``.

Example::

    from disentkit.metrics import evaluate
    results = evaluate(dataset, model, metrics=["mig", "dci"], seed=0, preset="fast")
    results["dci"]["values"]["disentanglement"], results["dci"]["settings"]["num_train"]
"""

from __future__ import annotations

import importlib
import inspect
import time
import typing
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from disentkit.metrics._representation import (
    as_representation,
    missing_posterior,
    sample_codes,
    sampled_representation,
)
from disentkit.metrics._attribute import missing_predictor
from disentkit.metrics._shared import SharedPieces

__all__ = ["evaluate", "resolve_settings", "METRICS", "PRESETS", "CODES", "MetricInfo", "metric_seed",
           "SKIPPED_NO_POSTERIOR", "SKIPPED_NO_PREDICTIONS", "ON_ERROR"]

#: The ``"skipped"`` reason of a posterior metric on a representation without ``q(z|x)``.
SKIPPED_NO_POSTERIOR = "no Gaussian posterior"
#: The ``"skipped"`` reason of a predictor metric on a representation without ``predict_factors``.
SKIPPED_NO_PREDICTIONS = "no factor predictions"


@dataclass(frozen=True)
class MetricInfo:
    """One entry of :data:`METRICS`.

    kind: ``"array"`` (codes and factors of the shared splits), ``"intervention"`` (needs the
        dataset and a representation), ``"posterior"`` (needs the encoder's ``q(z|x)``) or
        ``"predictor"`` (needs the model's own ``predict_factors``).
    function: the function's name in :mod:`disentkit.metrics`.
    uses_test: array-level metrics that score a held-out split (get ``num_test`` test rows).
    fixed: settings fixed by this entry (not overridable).
    names_factors: the function takes ``factor_names`` (per-factor keys use the dataset's names).
    """

    kind: str
    description: str
    function: str
    uses_test: bool = False
    fixed: Mapping[str, Any] = field(default_factory=dict)
    names_factors: bool = False


METRICS: dict[str, MetricInfo] = {
    "mig": MetricInfo("array", "discrete MIG of histogram-binned codes (Chen et al.; disentanglement_lib)", "mig"),
    "sap": MetricInfo("array", "SAP score (Kumar et al.)", "sap", uses_test=True),
    "dci": MetricInfo("array", "DCI disentanglement, completeness, informativeness (Eastwood & Williams)",
                      "dci", uses_test=True),
    "modularity_explicitness": MetricInfo("array", "modularity and explicitness (Ridgeway & Mozer)",
                                          "modularity_explicitness", uses_test=True),
    "irs": MetricInfo("array", "interventional robustness score (Suter et al.)", "irs"),
    "unsupervised": MetricInfo("array", "Gaussian total correlation, Wasserstein correlation, code MI",
                               "unsupervised"),
    "med": MetricInfo("array", "MED and top-k MED: DCI with a mutual-information importance matrix "
                      "(Cao et al.)", "med", uses_test=True),
    "linear_probe": MetricInfo("array", "linear probe per factor: logistic regression on frozen codes, "
                               "with the majority-class baseline", "linear_probe", uses_test=True,
                               names_factors=True),
    "knn": MetricInfo("array", "k-nearest-neighbour accuracy per factor (cosine, majority vote)",
                      "knn_accuracy", uses_test=True, names_factors=True),
    "fos": MetricInfo("array", "factorised support: HFS's pairwise Hausdorff distance on 128-code batches "
                      "(Roth et al.)", "fos"),
    "learned_features": MetricInfo("array", "active latents (range > 0.2) against the number of factors "
                                   "(NashAE, Yeats et al.)", "learned_features"),
    "beta_vae_score": MetricInfo("intervention", "BetaVAE score (Higgins et al.)", "beta_vae_score"),
    "factor_vae_score": MetricInfo("intervention", "FactorVAE score (Kim & Mnih)", "factor_vae_score"),
    "downstream_task_logistic_regression": MetricInfo(
        "intervention", "downstream accuracy, LogisticRegressionCV (Locatello et al. 2019)",
        "downstream_task", fixed={"predictor": "logistic_regression_cv"},
    ),
    "downstream_task_boosted_trees": MetricInfo(
        "intervention", "downstream accuracy, gradient boosting (Locatello et al. 2019)",
        "downstream_task", fixed={"predictor": "gradient_boosting"},
    ),
    "fairness": MetricInfo("intervention", "fairness of downstream predictions (Locatello et al. 2019b)",
                           "fairness"),
    "mig_sampled": MetricInfo("posterior", "Chen et al.'s MIG from sampled codes and q(z|x)", "mig_sampled"),
    "subspace_mi": MetricInfo("array", "KSG (k = 3) MI between the code halves and conditional on each binary "
                              "factor (CMI minimisation, Funke et al.)", "subspace_mi", names_factors=True),
    "attribute_accuracy": MetricInfo("predictor", "accuracy of the model's own predictions of its attributes "
                                     "(predict_factors; Funke et al.)", "attribute_accuracy"),
}

_ARRAY_REFERENCE = {"num_train": 10_000, "num_test": 5_000}
_ARRAY_FAST = {"num_train": 2_000, "num_test": 1_000}

# The sample sizes of each preset; everything else is the metric function's default.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # disentanglement_lib's study settings (metric_configs/*.gin; MED from the _med fork).
    "reference": {
        "mig": {"num_train": 10_000},
        "sap": dict(_ARRAY_REFERENCE),
        "dci": dict(_ARRAY_REFERENCE),
        "modularity_explicitness": dict(_ARRAY_REFERENCE),
        "irs": {"num_train": 10_000},
        "unsupervised": {"num_train": 10_000},
        "med": {"num_train": 10_000, "num_test": 10_000},
        "linear_probe": dict(_ARRAY_REFERENCE),
        "knn": {**_ARRAY_REFERENCE, "k": 20},
        "fos": {"num_train": 1_024},  # 8 batches of 128 codes
        "learned_features": {"num_train": 1_000},  # NashAE's 1,000 encodings
        "beta_vae_score": {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000},
        "factor_vae_score": {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000,
                             "num_variance_estimate": 10_000, "prune_threshold": 0.05},
        "downstream_task_logistic_regression": {"num_train": (10, 100, 1_000, 10_000), "num_test": 5_000},
        "downstream_task_boosted_trees": {"num_train": (10, 100, 1_000, 10_000), "num_test": 5_000},
        "fairness": {"num_train": 10_000, "num_test_points_per_class": 100},
        "mig_sampled": {"num_samples": 10_000, "num_entropy_samples": 10_000},
        "subspace_mi": {"num_train": 10_000},
        "attribute_accuracy": {"num_test": 5_000},
    },
    # Quick studies: a fifth of the array-level samples; the image-hungry BetaVAE and FactorVAE
    # scores (2 * 64 and 64 images per point) get a twentieth of their points.
    "fast": {
        "mig": {"num_train": 2_000},
        "sap": dict(_ARRAY_FAST),
        "dci": dict(_ARRAY_FAST),
        "modularity_explicitness": dict(_ARRAY_FAST),
        "irs": {"num_train": 2_000},
        "unsupervised": {"num_train": 2_000},
        "med": dict(_ARRAY_FAST),
        "linear_probe": dict(_ARRAY_FAST),
        "knn": {**_ARRAY_FAST, "k": 20},
        "fos": {"num_train": 512},  # 4 batches of 128 codes
        "learned_features": {"num_train": 1_000},
        "beta_vae_score": {"batch_size": 64, "num_train": 500, "num_eval": 250},
        "factor_vae_score": {"batch_size": 64, "num_train": 500, "num_eval": 250,
                             "num_variance_estimate": 2_000, "prune_threshold": 0.05},
        "downstream_task_logistic_regression": {"num_train": (10, 100, 1_000), "num_test": 1_000},
        "downstream_task_boosted_trees": {"num_train": (10, 100, 1_000), "num_test": 1_000},
        "fairness": {"num_train": 2_000, "num_test_points_per_class": 20},
        "mig_sampled": {"num_samples": 2_000, "num_entropy_samples": 2_000},
        "subspace_mi": {"num_train": 2_000},
        "attribute_accuracy": {"num_test": 1_000},
    },
}

CODES = ("mean", "sampled")
#: ``evaluate(on_error=...)``: record a failing metric's error in its result, or raise it.
ON_ERROR = ("record", "raise")

# Parameters that evaluate itself provides; never settings.
_MANAGED = frozenset({"codes", "factors", "codes_test", "factors_test", "seed", "rng", "factor_names",
                      "mi_matrix", "logistic_fits"})
_MANAGED_POSTERIOR = frozenset({"batch_size", "device"})


def metric_seed(seed: int, name: str) -> int:
    """The seed of metric ``name`` in a run seeded by ``seed``: a 32-bit word of
    ``SeedSequence([seed, crc32(name)])`` (independent of the other metrics selected)."""
    return int(np.random.SeedSequence([seed, zlib.crc32(name.encode())]).generate_state(1)[0])


def _function(info: MetricInfo) -> Callable[..., dict[str, float]]:
    return getattr(importlib.import_module("disentkit.metrics"), info.function)


def _defaults(name: str) -> dict[str, Any]:
    """The settings metric ``name`` accepts, with the function's defaults."""
    info = METRICS[name]
    params = inspect.signature(_function(info)).parameters
    skip = _MANAGED | set(info.fixed) | (_MANAGED_POSTERIOR if info.kind in ("posterior", "predictor") else set())
    out = {
        key: p.default
        for key, p in params.items()
        if p.kind is p.KEYWORD_ONLY and key not in skip
    }
    if info.kind == "array":
        out["num_train"] = None
        if info.uses_test:
            out["num_test"] = None
    if info.kind in ("array", "posterior"):
        out["factors"] = None  # a subset of factor names (None: all)
    return out


def _select(metrics: str | Sequence[str]) -> list[str]:
    """The selected names in :data:`METRICS` order, without duplicates (``"all"``: every metric)."""
    valid = ", ".join(METRICS)
    if isinstance(metrics, str):
        if metrics == "all":
            return list(METRICS)
        metrics = [metrics]
    names = list(metrics)
    if not names:
        raise ValueError(f"metrics must be 'all', a name or a non-empty list of names from: {valid}")
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; valid names: {valid} (or 'all')")
    return [n for n in METRICS if n in names]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _resolve_settings(
    names: list[str], preset: str, per_metric: Mapping[str, Mapping[str, Any]] | None, flat: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """preset < flat keys < per-metric settings; unknown keys raise ValueError."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    accepted = {name: _defaults(name) for name in names}
    resolved = {name: {**accepted[name], **PRESETS[preset].get(name, {})} for name in names}
    all_keys = sorted(set().union(*(accepted[n] for n in names))) if names else []
    for key, value in flat.items():
        targets = [n for n in names if key in accepted[n]]
        if not targets:
            raise ValueError(
                f"unknown setting {key!r} for the metrics {names}; valid settings: {all_keys} "
                "(per-metric settings go in settings={'<metric>': {...}})"
            )
        for n in targets:
            resolved[n][key] = value
    for name, values in (per_metric or {}).items():
        if name not in METRICS:
            raise ValueError(f"settings for unknown metric {name!r}; valid names: {', '.join(METRICS)}")
        if name not in names:
            raise ValueError(f"settings given for {name!r}, which is not among the selected metrics {names}")
        if not isinstance(values, Mapping):
            raise ValueError(f"settings[{name!r}] must be a dict of settings, got {type(values).__name__}")
        unknown = sorted(set(values) - set(accepted[name]))
        if unknown:
            raise ValueError(
                f"unknown setting(s) {unknown} for {name!r}; valid settings: {sorted(accepted[name])}"
            )
        resolved[name].update(values)
    for name, values in resolved.items():
        _check_sizes(name, values, accepted[name])
        _check_choices(name, values)
    return resolved


def resolve_settings(
    metrics: str | Sequence[str] = "all",
    preset: str = "reference",
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    **flat_settings: Any,
) -> dict[str, dict[str, Any]]:
    """The settings each selected metric would run with in :func:`evaluate`, without running it.

    Same arguments and precedence as :func:`evaluate` (the preset's sample sizes, then flat keys
    for every selected metric that takes them, then per-metric ``settings``); ``num_train`` /
    ``num_test`` / ``factors`` are ``None`` where the metric keeps its default. For a study spec or
    a command line to reject bad settings before any work.

    Raises
    ------
    ValueError: an unknown metric, preset or setting (naming the valid ones), a bad sample size or
    a value outside a setting's choices.
    """
    return _resolve_settings(_select(metrics), preset, settings, flat_settings)


def _check_choices(name: str, values: Mapping[str, Any]) -> None:
    """Settings the metric function annotates with a ``Literal`` must be one of its values."""
    hints = typing.get_type_hints(_function(METRICS[name]))
    for key, value in values.items():
        hint = hints.get(key)
        if typing.get_origin(hint) is typing.Literal and value not in typing.get_args(hint):
            raise ValueError(f"{name}: {key} must be one of {typing.get_args(hint)}, got {value!r}")


def _is_count(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 1


def _check_sizes(name: str, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Sample sizes (``num_*``, ``batch_size``) must be positive ints, or non-empty sequences of
    them where the metric takes several sizes (the downstream task's ``num_train``)."""
    for key, value in values.items():
        if not (key.startswith("num_") or key == "batch_size"):
            continue
        several = isinstance(defaults.get(key), (tuple, list))
        if several and isinstance(value, (tuple, list)):
            ok = len(value) > 0 and all(_is_count(v) for v in value)
        else:
            ok = _is_count(value)
        if not ok:
            what = "a positive int or a non-empty list of them" if several else "a positive int"
            raise ValueError(f"{name}: {key} must be {what}, got {value!r}")


def _factor_columns(dataset: Any, subset: Sequence[str] | None, metric: str) -> list[int]:
    if subset is None:
        return list(range(dataset.num_factors))
    if isinstance(subset, str) or not subset or len(set(subset)) != len(subset):
        raise ValueError(
            f"{metric}: factors must be a non-empty list of distinct names of {list(dataset.factor_names)}"
        )
    return [dataset.factor_space.factor_index(str(f)) for f in subset]


def evaluate(
    dataset: Any,
    representation: Any,
    metrics: str | Sequence[str] = "all",
    seed: int = 0,
    *,
    preset: str = "reference",
    progress: bool = True,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    codes: str = "mean",
    encode_batch_size: int = 256,
    device: Any = None,
    on_splits: Callable[[Mapping[str, tuple[np.ndarray, np.ndarray]]], None] | None = None,
    on_error: typing.Literal["record", "raise"] = "record",
    **flat_settings: Any,
) -> dict[str, dict[str, Any]]:
    """Run the metrics ``metrics`` on ``dataset`` and ``representation``.

    Parameters
    ----------
    dataset: a :class:`~disentkit.data.GroundTruthData`.
    representation: a callable numpy images -> codes, or an ``nn.Module`` with ``represent`` (see
        :func:`~disentkit.metrics._representation.as_representation`). One with a Gaussian
        posterior (``capabilities.gaussian_posterior``, or without ``capabilities`` an
        ``encode(images) -> (mu, logvar)``) also gets ``mig_sampled`` and ``codes="sampled"``.
    metrics: ``"all"``, a name or a list of names from :data:`METRICS`. Without a posterior,
        ``mig_sampled`` in a set of several metrics (``"all"`` too) is skipped with a recorded
        reason (see Returns); asked for alone, it raises ``ValueError``.
    seed: a non-negative int. The shared splits come from ``default_rng(seed)`` (train, then
        test); metric ``m`` gets ``metric_seed(seed, m)`` (its ``rng``, or its ``seed`` for the
        array metrics that take one).
    preset: the sample sizes, from :data:`PRESETS`:

        ================================  ===========================  ===========================
        metric                            ``"reference"``              ``"fast"``
        ================================  ===========================  ===========================
        mig, irs, unsupervised            train 10,000                 train 2,000
        sap, dci, modularity_explicitness train 10,000, test 5,000     train 2,000, test 1,000
        med                               train 10,000, test 10,000    train 2,000, test 1,000
        linear_probe                      train 10,000, test 5,000     train 2,000, test 1,000
        knn                               train 10,000, test 5,000;    train 2,000, test 1,000;
                                          k = 20                       k = 20
        beta_vae_score                    B 64; 10,000 train, 5,000    B 64; 500 train, 250 eval
                                          eval points (1.9 M images)   points (96,000 images)
        factor_vae_score                  B 64; 10,000 / 5,000 votes;  B 64; 500 / 250 votes;
                                          10,000 variance images       2,000 variance images
        downstream_task_*                 train 10, 100, 1,000,        train 10, 100, 1,000;
                                          10,000; test 5,000 each      test 1,000 each
        fairness                          train 10,000; 100 per value  train 2,000; 20 per value
        mig_sampled                       N = S = 10,000               N = S = 2,000
        fos                               8 batches of 128 codes       4 batches of 128 codes
        learned_features                  1,000 codes                  1,000 codes
        subspace_mi                       train 10,000                 train 2,000
        attribute_accuracy                5,000 predicted images       1,000 predicted images
        ================================  ===========================  ===========================

        The image counts are what cost time: "fast" encodes about 160,000 images on dSprites,
        "reference" about 3 million. Every other setting is the metric function's default (e.g.
        the ``"fast"`` LightGBM estimator of DCI, downstream and fairness in both presets; MED's
        ``topk=1``; the probe's ``C=1``, ``max_iter=100``; kNN's ``metric="cosine"``).
    progress: show a tqdm progress bar over the metrics.
    settings: per-metric settings, ``{"dci": {"estimator": "reference"}, "med": {"topk": 5}}``;
        they override the flat settings and the preset.
    codes: ``"mean"``: the representation's own output (``represent``, the posterior mean for the
        VAE family); ``"sampled"``: one draw from ``q(z|x)`` per image (needs a posterior).
        Recorded in every result.
    encode_batch_size, device: images per call of the representation, and the device of the
        inputs of a module (default: its own).
    on_splits: called once with ``{"train": (codes, factors), "test": (codes, factors)}`` (test
        only when a selected metric uses one) right after the shared splits are encoded, e.g. to
        keep them for a report; not called when no array metric is selected (nor when encoding
        them fails).
    on_error: ``"record"`` (default): a metric that raises (or returns a NaN or inf value) gets
        ``"error"`` in its result and the other metrics still run; ``"raise"``: the exception
        propagates (for debugging a metric).
    flat_settings: a setting applied to every selected metric that accepts it (e.g.
        ``num_train=5000``, ``num_bins=10``, ``factors=("scale", "orientation", "posX", "posY")``
        for the array-level metrics and ``mig_sampled``). The array-level metrics accept
        ``num_train`` (and ``num_test`` where they use a test split), ``factors`` (a subset of the
        scored factor columns) and their keyword settings; each selected array metric uses the
        first rows of the shared splits, which are as large as the largest request.

    Returns
    -------
    ``{metric: {"values": {key: float}, "settings": {...}, "seconds": float}}``, JSON-serialisable,
    in :data:`METRICS` order. ``settings`` holds everything that changes the number: sample sizes,
    the metric's own settings, ``factors`` (the scored names), ``codes`` and ``seed``. ``seconds``
    is the metric's own time (for array metrics, excluding the shared encoding; a shared MI matrix
    or set of logistic fits is charged to the first metric that reads it). A skipped metric has
    empty ``values``, ``seconds`` 0 and ``"skipped": "no Gaussian posterior"``
    (:data:`SKIPPED_NO_POSTERIOR`). A failed metric (``on_error="record"``) has empty ``values``,
    its ``settings``, the ``seconds`` until it failed and ``"error"``: one line,
    ``"<ExceptionType>: <message>"`` (e.g. ``"ValueError: unsupervised: 4 samples for 10
    non-constant code dimensions: ..."``); when the shared splits cannot be encoded, every array
    metric records ``"encoding the shared splits failed: ..."``. Values are always finite. On a
    dataset with continuous factors (pendulum), the array metrics score each continuous factor cut
    into :data:`FACTOR_BINS` equal-width bins of its range, recorded as
    ``settings["discretised_factors"]`` (``{name: bins}``).

    Raises
    ------
    ValueError, before any work: an unknown metric, preset, setting, ``codes`` or ``on_error``;
    ``mig_sampled`` alone or ``codes="sampled"`` without a posterior; a bad seed or sample size.
    With ``on_error="raise"``, whatever a metric raises.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    if codes not in CODES:
        raise ValueError(f"codes must be one of {CODES}, got {codes!r}")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    names = _select(metrics)
    posterior_names = [n for n in names if METRICS[n].kind == "posterior"]
    reason = missing_posterior(representation) if posterior_names or codes == "sampled" else None
    if reason is not None and codes == "sampled":
        raise ValueError(f"codes='sampled' needs a Gaussian posterior q(z|x); {reason}")
    if reason is not None and len(posterior_names) == len(names):
        raise ValueError(f"{', '.join(names)} needs a Gaussian posterior q(z|x); {reason}")
    skipped = set(posterior_names) if reason is not None else set()
    predictor_names = [n for n in names if METRICS[n].kind == "predictor"]
    no_predictions = missing_predictor(representation) if predictor_names else None
    if no_predictions is not None and len(predictor_names) == len(names):
        raise ValueError(f"{', '.join(names)} needs a model that predicts factors (predict_factors); {no_predictions}")
    skip_reason = {n: SKIPPED_NO_POSTERIOR for n in skipped}
    if no_predictions is not None:
        skip_reason.update({n: SKIPPED_NO_PREDICTIONS for n in predictor_names})
    resolved = _resolve_settings(names, preset, settings, flat_settings)
    columns = {
        name: _factor_columns(dataset, resolved[name].get("factors"), name)
        for name in names
        if "factors" in resolved[name]
    }
    base = as_representation(representation, batch_size=encode_batch_size, device=device)

    def representation_for(label: str) -> Any:
        if codes == "mean":
            return base
        return sampled_representation(
            representation, metric_seed(seed, label + ":codes"), batch_size=encode_batch_size, device=device
        )

    from tqdm.auto import tqdm

    results: dict[str, dict[str, Any]] = {}
    array_names = [n for n in names if METRICS[n].kind == "array"]
    shared: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    pieces: SharedPieces | None = None
    shared_failure: str | None = None
    with tqdm(names, desc="metrics", disable=not progress, leave=False) as bar:
        for name in bar:
            bar.set_postfix_str(name)
            info = METRICS[name]
            config = resolved[name]
            record = {key: _jsonable(value) for key, value in config.items()}
            record.update({key: _jsonable(value) for key, value in info.fixed.items()})
            record.update(codes={"posterior": "sampled", "predictor": "predictions"}.get(info.kind, codes), seed=seed)
            if "factors" in config:
                record["factors"] = [dataset.factor_names[k] for k in columns[name]]
            else:
                record["factors"] = list(dataset.factor_names)
            if info.kind == "array" and discretised_factors(dataset):
                record["discretised_factors"] = discretised_factors(dataset)
            if name in skip_reason:
                results[name] = {"values": {}, "settings": record, "seconds": 0.0,
                                 "skipped": skip_reason[name]}
                continue
            func = _function(info)
            if info.kind == "array" and not shared and shared_failure is None:
                bar.set_postfix_str(f"{name} (encoding the shared splits)")
                encoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
                try:
                    _encode_shared(dataset, representation_for("shared"), resolved, array_names, seed,
                                   encoded)
                except Exception as err:
                    if on_error == "raise":
                        raise
                    shared_failure = f"encoding the shared splits failed: {_error_text(err)}"
                else:
                    shared.update(encoded)
                    pieces = SharedPieces(*shared["train"])
                    if on_splits is not None:
                        on_splits(dict(shared))
            if info.kind == "array" and shared_failure is not None:
                results[name] = _failed(name, record, shared_failure, 0.0)
                continue
            start = time.perf_counter()
            try:
                if info.kind == "array":
                    assert pieces is not None
                    names_of = [dataset.factor_names[k] for k in columns[name]]
                    values = _run_array(name, func, config, columns[name], shared, pieces, seed, names_of)
                elif info.kind in ("posterior", "predictor"):
                    values = func(dataset, representation, rng=metric_seed(seed, name),
                                  batch_size=encode_batch_size, device=device, **config)
                else:
                    values = func(dataset, representation_for(name), rng=metric_seed(seed, name),
                                  **config, **info.fixed)
                values = _finite_values(name, values)
            except Exception as err:
                if on_error == "raise":
                    raise
                results[name] = _failed(name, record, _error_text(err), time.perf_counter() - start)
                continue
            results[name] = {
                "values": values,
                "settings": record,
                "seconds": time.perf_counter() - start,
            }
    return results


def _error_text(err: BaseException) -> str:
    """``"<ExceptionType>: <first line of the message>"``: one line for a result record."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _failed(name: str, settings: dict[str, Any], error: str, seconds: float) -> dict[str, Any]:
    """The result record of a metric that failed with ``error`` (and the warning that says so)."""
    warnings.warn(f"evaluate: {name} failed; its result records the error: {error}", RuntimeWarning,
                  stacklevel=3)
    return {"values": {}, "settings": settings, "seconds": seconds, "error": error}


def _finite_values(name: str, values: Mapping[str, Any]) -> dict[str, float]:
    """``values`` as floats; ``ValueError`` naming the keys whose value is NaN or infinite."""
    out = {key: float(value) for key, value in values.items()}
    bad = [key for key, value in out.items() if not np.isfinite(value)]
    if bad:
        shown = ", ".join(f"{key}={out[key]}" for key in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ValueError(f"{name} returned non-finite values ({shown}); a result holds finite values only")
    return out


def _run_array(
    name: str,
    func: Callable[..., dict[str, float]],
    config: dict[str, Any],
    columns: list[int],
    shared: Mapping[str, tuple[np.ndarray, np.ndarray]],
    pieces: SharedPieces,
    seed: int,
    factor_names: list[str],
) -> dict[str, float]:
    """Call an array-level metric on the first rows (and the chosen factor columns) of the splits,
    with the shared pieces it reads."""
    from disentkit.metrics._dci import SCREEN_NUM_BINS, uses_mi_matrix

    kwargs = {k: v for k, v in config.items() if k not in ("num_train", "num_test", "factors")}
    train_codes, train_factors = shared["train"]
    if METRICS[name].uses_test:
        test_codes, test_factors = shared["test"]
        num_test = config["num_test"]
        kwargs.update(codes_test=test_codes[:num_test], factors_test=test_factors[:num_test, columns])
    params = inspect.signature(func).parameters
    if "seed" in params:
        kwargs["seed"] = metric_seed(seed, name)
    if METRICS[name].names_factors:
        kwargs["factor_names"] = factor_names
    num_train = config["num_train"]
    if "mi_matrix" in params:
        if METRICS[name].function == "dci":  # DCI reads the matrix only to screen wide codes
            bins = SCREEN_NUM_BINS if uses_mi_matrix(
                train_codes.shape[1], estimator=config["estimator"], screen=config["screen"]) else None
        else:
            bins = config["num_bins"]
        if bins is not None:
            kwargs["mi_matrix"] = pieces.mi_matrix(num_train, bins, columns)
    if "logistic_fits" in params:
        fit = {key: config[key] for key in ("solver", "C", "max_iter") if key in config}
        kwargs["logistic_fits"] = pieces.logistic_fits(num_train, columns, **fit)
    return func(train_codes[:num_train], train_factors[:num_train, columns], **kwargs)


def _encode_shared(
    dataset: Any,
    rep: Any,
    resolved: Mapping[str, Mapping[str, Any]],
    array_names: list[str],
    seed: int,
    out: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    """Draw and encode the shared train split (then the test split, if any metric uses one)."""
    gen = np.random.default_rng(seed)
    num_train = max(resolved[n]["num_train"] for n in array_names)
    out["train"] = _discrete_split(dataset, *sample_codes(dataset, rep, num_train, gen))
    tests = [resolved[n]["num_test"] for n in array_names if METRICS[n].uses_test]
    if tests:
        out["test"] = _discrete_split(dataset, *sample_codes(dataset, rep, max(tests), gen))


#: Equal-width bins a continuous (or angle) factor is cut into for the array metrics.
FACTOR_BINS = 20


def discretised_factors(dataset: Any) -> dict[str, int]:
    """The continuous factors of ``dataset`` and the number of bins the array metrics cut each into
    (:data:`FACTOR_BINS` equal-width bins over the factor's declared ``[low, high]``); empty for a
    dataset of discrete factors."""
    space = dataset.factor_space
    if getattr(space, "is_discrete", True):
        return {}
    return {f.name: FACTOR_BINS for f in space.factors if f.kind != "discrete"}


def _discrete_split(dataset: Any, codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, factors)`` with every continuous factor replaced by its bin index
    (:func:`discretised_factors`): ``min(floor((v - low) / (high - low) * bins), bins - 1)``."""
    bins = discretised_factors(dataset)
    if not bins:
        return codes, factors
    out = np.empty(factors.shape, dtype=np.int64)
    for k, factor in enumerate(dataset.factor_space.factors):
        if factor.kind == "discrete":
            out[:, k] = factors[:, k]
            continue
        scaled = (factors[:, k] - factor.low) / (factor.high - factor.low)
        out[:, k] = np.clip(np.floor(scaled * bins[factor.name]), 0, bins[factor.name] - 1)
    return codes, out
