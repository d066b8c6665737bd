"""Study specifications: a grid of training runs and the metrics that score them.

A study is a YAML file (or a built-in name) with four parts::

    name: quickstart
    train:        # defaults of every run: TrainConfig fields (see disentkit.train.TrainConfig)
      dataset: dsprites
      steps: 2000
    evaluation:   # how each run is scored (see disentkit.metrics.evaluate)
      metrics: [mig, dci, sap, modularity_explicitness]
      preset: fast
      seed: 0
    grid:         # the sweep DSL of disentkit.study.sweep, over dotted run-config keys
      product:
        - chain:
            - product: [{fixed: {method: beta_vae}}, {sweep: {method_params.beta: [1, 4]}}]
            - product: [{fixed: {method: beta_tc_vae}}, {sweep: {method_params.beta: [6]}}]
        - sweep: {seed: [0, 1]}

Each grid point is merged into the defaults, validated (unknown keys, methods, datasets, metrics
and bad values are errors naming the valid choices, before anything runs) and fully resolved
(method hyperparameters with their defaults). A run's id is a stable hash of that resolved config,
so the same run has the same id in every study and on every machine.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from disentkit.io import parse_yaml_value
from disentkit.study.sweep import Point, from_yaml_node
from disentkit.validation import check_choice, check_int

_TOP_KEYS = ("name", "description", "train", "evaluation", "grid", "execution", "finding")
_EVALUATION_KEYS = ("metrics", "preset", "seed", "settings", "shifts", "dataset_params")


@dataclass(frozen=True)
class RunSpec:
    """One fully resolved run of a study."""

    run_id: str
    train: dict[str, Any]
    evaluation: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config that the run id hashes."""
        return {"train": self.train, "evaluation": self.evaluation}

    def flat(self) -> dict[str, Any]:
        """Config values as flat dotted columns (``method``, ``method_params.beta``, ``seed`` ...)."""
        out: dict[str, Any] = {}
        for key, value in self.train.items():
            if isinstance(value, dict):
                out.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out


@dataclass
class StudySpec:
    """A parsed, validated study: defaults, evaluation settings and the grid points."""

    name: str
    train: dict[str, Any]
    evaluation: dict[str, Any]
    points: list[Point]
    description: str = ""
    execution: dict[str, Any] = field(default_factory=dict)
    finding: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StudySpec":
        """Validate the top level of a parsed study file and evaluate its grid."""
        if not isinstance(data, Mapping):
            raise ValueError("a study file must be a mapping with keys " + ", ".join(_TOP_KEYS))
        unknown = sorted(set(data) - set(_TOP_KEYS))
        if unknown:
            raise ValueError(f"unknown study key(s) {unknown}; valid keys: {', '.join(_TOP_KEYS)}")
        if "name" not in data or not isinstance(data["name"], str):
            raise ValueError("a study needs a name (a string)")
        check_study_name(data["name"])
        train = dict(data.get("train") or {})
        evaluation = dict(data.get("evaluation") or {})
        bad = sorted(set(evaluation) - set(_EVALUATION_KEYS))
        if bad:
            raise ValueError(f"unknown evaluation key(s) {bad}; valid keys: {', '.join(_EVALUATION_KEYS)}")
        points = from_yaml_node(data["grid"]) if data.get("grid") is not None else [{}]
        finding = None
        if data.get("finding") is not None:
            from disentkit.study.finding import check_finding

            resolved = resolve_evaluation(evaluation)
            finding = check_finding(data["finding"], resolved["metrics"], resolved.get("shifts", {}))
        return cls(name=data["name"], train=train, evaluation=evaluation, points=points,
                   description=str(data.get("description", "")), execution=dict(data.get("execution") or {}),
                   finding=finding)

    @classmethod
    def load(cls, study: str | Path) -> "StudySpec":
        """Load a study by built-in name (``quickstart``) or from a YAML file path."""
        path = Path(study)
        if path.suffix in (".yaml", ".yml") or path.exists():
            if not path.exists():
                raise FileNotFoundError(f"study file {path} does not exist")
            if path.is_dir():
                raise ValueError(f"study file {path} is a folder, not a YAML file")
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"study file {path} is not UTF-8 text (byte {err.start})") from None
            except OSError as err:
                raise ValueError(f"cannot read study file {path}: {err.strerror or err}") from None
        else:
            names = builtin_names()
            if str(study) not in names:
                raise ValueError(f"unknown study {study!r}: not a file, and the built-in studies are {', '.join(names)}")
            text = resources.files("disentkit.study.builtin").joinpath(f"{study}.yaml").read_text()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"study {study} is not valid YAML: {err}") from None
        return cls.from_dict(data)

    def runs(self, only: Iterable[str] = ()) -> list[RunSpec]:
        """Every run of the grid, resolved and validated, filtered by ``only`` (see :func:`filter_runs`)."""
        evaluation = resolve_evaluation(self.evaluation)
        runs, seen = [], set()
        for point in self.points:
            train = resolve_train(merge_point(self.train, point))
            check_shifts(evaluation.get("shifts", {}), train)
            evaluation_dataset_params(evaluation, train)
            run = RunSpec(run_id=run_id({"train": train, "evaluation": evaluation}), train=train, evaluation=evaluation)
            if run.run_id not in seen:  # the grid may name the same run twice
                seen.add(run.run_id)
                runs.append(run)
        return filter_runs(runs, only)

    def swept_keys(self) -> list[str]:
        """The run-config keys that the grid sets, in first-seen order."""
        return list(dict.fromkeys(k for point in self.points for k in point))


def check_study_name(name: Any) -> str:
    """``name`` when it names one folder inside the studies folder (``studies/NAME`` is the default
    output of ``study run``): a non-empty string without a path separator (``/``, ``\\``), a NUL or
    another control character, and not ``.`` or ``..``; else a ``ValueError`` saying so."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a study name must be a non-empty string, got {name!r}")
    if name in (".", "..") or any(c in name for c in "/\\") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"study name {name!r} is not a folder name: it cannot be '.' or '..' or hold '/', '\\' "
                         "or control characters (the study is written to studies/NAME)")
    return name


def filter_runs(runs: list[RunSpec], only: Iterable[str]) -> list[RunSpec]:
    """The runs matching every ``--only`` filter (see :func:`parse_filter`); an error if none does."""
    only = list(only)
    if not only:
        return list(runs)
    filters = [parse_filter(f) for f in only]
    kept = [run for run in runs if all(f(run.flat()) for f in filters)]
    if not kept:
        keys = sorted(runs[0].flat()) if runs else []
        raise ValueError(f"no run matches {only}; config keys: {', '.join(keys)}")
    return kept


def builtin_names() -> list[str]:
    """The names of the studies shipped with disentkit."""
    folder = resources.files("disentkit.study.builtin")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def merge_point(defaults: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, Any]:
    """Apply dotted ``point`` keys (``method_params.beta``) onto a deep copy of ``defaults``."""
    out = copy.deepcopy(dict(defaults))
    for key, value in point.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"grid key {key!r}: {part!r} is not a group of parameters")
            node = child
        node[parts[-1]] = copy.deepcopy(value)
    return out


def resolve_train(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a train config and fill in every default, including the method's hyperparameters."""
    from disentkit import methods
    from disentkit.train import TrainConfig

    config = TrainConfig.from_dict(dict(data))
    resolved = config.to_dict()
    method_config = methods.config_for(config.method, config.method_params)
    if dataclasses.is_dataclass(method_config):
        resolved["method_params"] = dataclasses.asdict(method_config)
    return resolved


def resolve_evaluation(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate evaluation settings (metric names, preset) and fill in defaults."""
    from disentkit.metrics import METRICS, PRESETS

    metrics = data.get("metrics", "all")
    if isinstance(metrics, str):
        metrics = list(METRICS) if metrics == "all" else [metrics]
    if not isinstance(metrics, list) or not metrics:
        raise ValueError("evaluation.metrics must be 'all', a metric name or a list of names")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; valid metrics: {', '.join(METRICS)}")
    preset = check_choice("evaluation.preset", data.get("preset", "reference"), tuple(PRESETS))
    seed = check_int("evaluation.seed", data.get("seed", 0), 0)
    settings = data.get("settings", {}) or {}
    if not isinstance(settings, dict):
        raise ValueError("evaluation.settings must be a mapping")
    check_evaluation_settings(metrics, preset, settings)
    resolved = {"metrics": list(metrics), "preset": preset, "seed": seed, "settings": settings}
    shifts = data.get("shifts") or {}
    if not isinstance(shifts, dict) or not all(isinstance(k, str) and _SHIFT_NAME.fullmatch(k) for k in shifts):
        raise ValueError("evaluation.shifts must map shift names (letters, digits, '_' and '-') to a target: "
                         f"'train', 'inverse' or a correlation (setting, pairs, binary, ...); got {shifts!r}")
    if shifts:  # only then: the ids of studies without shifts stay as they were
        resolved["shifts"] = shifts
    dataset_params = data.get("dataset_params") or {}
    if not isinstance(dataset_params, dict) or not all(isinstance(k, str) for k in dataset_params):
        raise ValueError(f"evaluation.dataset_params must be a mapping of dataset parameters, got {dataset_params!r}")
    if dataset_params:  # likewise
        resolved["dataset_params"] = dataset_params
    return resolved


def evaluation_dataset_params(evaluation: Mapping[str, Any], train: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of the dataset a run is scored on: its training ``dataset_params`` updated by
    ``evaluation.dataset_params`` (for example ``{split: test}`` to score on held-out images).
    Checked against the dataset's parameters (``ValueError`` naming the valid ones)."""
    from disentkit.data import registry

    params = {**(train.get("dataset_params") or {}), **evaluation.get("dataset_params", {})}
    if evaluation.get("dataset_params"):
        registry.check_params(train["dataset"], params)
    return params


_SHIFT_NAME = re.compile(r"[A-Za-z0-9_-]+")


def check_shifts(shifts: Mapping[str, Any], train: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The correlation each evaluation shift of a run draws its data under (see
    :func:`disentkit.data.batch_samplers.check_shift`; ``train`` is the run's resolved config)."""
    from disentkit.data.batch_samplers import check_shift

    return {name: check_shift(name, target, sampler=train.get("sampler"), sampler_params=train.get("sampler_params"),
                              dataset=train.get("dataset"))
            for name, target in shifts.items()}


def check_evaluation_settings(metrics: list[str], preset: str, settings: Mapping[str, Any]) -> None:
    """Check ``evaluation.settings`` as :func:`disentkit.metrics.evaluate` will (``ValueError`` naming
    the valid settings): flat settings, per-metric ``settings: {metric: {...}}`` and ``codes``."""
    from disentkit.metrics import CODES, resolve_settings

    reserved = sorted(set(settings) & set(_EVALUATE_OWN_ARGUMENTS))
    if reserved:
        raise ValueError(f"evaluation.settings cannot set {reserved}; they are evaluation keys "
                         f"(evaluation.{reserved[0]}), not metric settings")
    flat = {k: v for k, v in settings.items() if k not in _EVALUATE_ARGUMENTS}
    per_metric = settings.get("settings")
    if per_metric is not None and not isinstance(per_metric, Mapping):
        raise ValueError("evaluation.settings.settings must map metric names to their settings")
    check_choice("evaluation.settings.codes", settings.get("codes", "mean"), CODES)
    resolve_settings(metrics, preset, per_metric, **flat)


# evaluate() keyword arguments that are not metric settings
_EVALUATE_ARGUMENTS = ("settings", "codes", "encode_batch_size", "device")
# evaluate() arguments that the evaluation section sets itself (or the worker does), never settings
_EVALUATE_OWN_ARGUMENTS = ("metrics", "preset", "seed", "progress", "on_splits")


def run_id(config: Mapping[str, Any]) -> str:
    """A stable 12-hex-digit id: the SHA-256 of the canonical JSON of a resolved config."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_filter(text: str):
    """Parse ``--only KEY=VALUES`` into a predicate over a run's flat config.

    ``VALUES`` is one value, a comma list (``beta_vae,factor_vae``) or an inclusive integer range
    (``0..2``). ``KEY`` is a flat config key (``method``, ``seed``, ``method_params.beta``) or the
    last part of one (``beta``). Numbers compare by value (``beta=4`` matches ``4.0``).
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw:
        raise ValueError(f"--only expects KEY=VALUE, KEY=A,B or KEY=LO..HI, got {text!r}")
    if ".." in raw:
        lo, _, hi = raw.partition("..")
        try:
            accepted = {_filter_key(v) for v in range(int(lo), int(hi) + 1)}
        except ValueError:
            raise ValueError(f"--only range must be integers LO..HI, got {raw!r}") from None
    else:
        accepted = {_filter_key(parse_yaml_value(v)) for v in raw.split(",")}

    def predicate(flat: Mapping[str, Any]) -> bool:
        keys = [k for k in flat if k == key or k.endswith("." + key)]
        if not keys:
            raise ValueError(f"--only: unknown key {key!r}; keys: {', '.join(sorted(flat))}")
        return any(_filter_key(flat[k]) in accepted for k in keys)

    return predicate


def _filter_key(value: Any) -> str:
    """How ``--only`` compares values: numbers by value (``4`` == ``4.0``), anything else as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)
