"""The training configuration: a typed, validated dataclass.

Every field is checked when the config is built (unknown keys, bad values, unknown method or dataset
names and parameters), so a mistake is a ``ValueError`` naming the valid choices before any work
starts.

>>> cfg = TrainConfig(method="beta_vae", dataset="dsprites", steps=1000)
>>> cfg = cfg.set_values(["beta=4", "batch_size=32"])   # --set, YAML scalars
>>> cfg.method_params, cfg.batch_size
({'beta': 4}, 32)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from typing import Any, Iterable

from disentkit.io import parse_yaml_value
from disentkit.validation import check_choice, check_int

PRECISIONS = ("fp32", "bf16")
_PARAM_GROUPS = ("method_params", "dataset_params", "sampler_params")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def _method_registry() -> Any:
    """The method registry module (``names``, ``get``, ``config_for``); tests may replace it."""
    import disentkit.methods as methods

    return methods


def _dataset_registry() -> Any:
    """The dataset registry module (``names``, ``get``)."""
    import disentkit.data as data

    return data


@dataclass(kw_only=True)
class TrainConfig:
    """Everything that defines a training run (same config, same machine: bit-identical run).

    Fields
    ------
    method: a method registry name (``disentkit.methods.names()``).
    method_params: the method's hyperparameters (checked by ``disentkit.methods.config_for``).
    dataset: a dataset registry name (``disentkit.data.names()``).
    dataset_params: parameters of the dataset factory.
    sampler: the batch sampler (:mod:`disentkit.data.batch_samplers`: ``uniform``, ``correlated``,
        ``weak_pairs``, ``views``); ``None`` (default) takes the method's ``default_sampler``. It must
        produce the batch kind the method trains on.
    sampler_params: the sampler's parameters (``setting`` of ``correlated``, ``k`` of
        ``weak_pairs``, ``augmentations`` of ``views``, ...).
    cache: read images from the on-disk grid cache (:class:`~disentkit.data.cache.CachedData`,
        built on first use under ``$DISENTKIT_CACHE`` or the user cache folder); deterministic
        datasets only. The batches are the same as without it.
    steps: optimisation steps (one batch each).
    batch_size: images (or pairs) per step.
    seed: the seed of everything: weight initialisation, the batch stream, the method's noise.
    checkpoint_every: write a checkpoint every this many steps (and at the end).
    log_every: write a ``train_log.jsonl`` record every this many steps (and at the end).
    keep_checkpoints: how many of the newest checkpoints to keep on disk.
    prefetch: batches rendered ahead in a background thread (0: none); the batches, and so the
        run, are the same for every value. Worth it for slow renderers (procedural shapes3d).
    device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.
    num_threads: torch CPU threads for the run (``None``: leave torch's setting); the count used is
        written to the log header.
    images: write ``traversal.png``, ``traversal.gif`` and ``reconstructions.png`` at the end.
    channels_last: keep images and weights in channels-last memory format (default: on; its
        measured effect is in ``benchmarks/README.md``).
    precision: ``"fp32"`` or ``"bf16"`` (bfloat16 autocast around each step; meant for GPUs and
        CPUs with native bfloat16, see ``benchmarks/README.md``).
    """

    method: str
    dataset: str
    steps: int
    method_params: dict[str, Any] = field(default_factory=dict)
    dataset_params: dict[str, Any] = field(default_factory=dict)
    sampler: str | None = None
    sampler_params: dict[str, Any] = field(default_factory=dict)
    cache: bool = False
    batch_size: int = 64
    seed: int = 0
    checkpoint_every: int = 1000
    log_every: int = 100
    keep_checkpoints: int = 1
    prefetch: int = 0
    device: str = "auto"
    num_threads: int | None = None
    images: bool = True
    channels_last: bool = True
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self._check_fields()
        self._check_components()

    # -- validation -----------------------------------------------------------------------------
    def _check_fields(self) -> None:
        for name in ("method", "dataset"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a registry name (a non-empty string), got {getattr(self, name)!r}")
        for name in _PARAM_GROUPS:
            value = getattr(self, name)
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise ValueError(f"{name} must be a dict with string keys, got {value!r}")
            setattr(self, name, dict(value))
        for name, minimum in (("steps", 1), ("batch_size", 1), ("seed", 0), ("checkpoint_every", 1),
                              ("log_every", 1), ("keep_checkpoints", 1), ("prefetch", 0)):
            setattr(self, name, check_int(name, getattr(self, name), minimum))
        if self.num_threads is not None:
            self.num_threads = check_int("num_threads", self.num_threads, 1)
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ValueError(f"device must be one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps', got {self.device!r}")
        for name in ("images", "channels_last", "cache"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        check_choice("precision", self.precision, PRECISIONS)

    def _check_components(self) -> None:
        methods = _method_registry()
        if self.method not in methods.names():
            raise ValueError(f"unknown method {self.method!r}; valid methods: {', '.join(methods.names())}")
        methods.config_for(self.method, self.method_params)  # raises ValueError naming valid keys
        datasets = _dataset_registry()
        if self.dataset not in datasets.names():
            raise ValueError(f"unknown dataset {self.dataset!r}; valid datasets: {', '.join(datasets.names())}")
        check_params = getattr(datasets, "check_params", None)
        if check_params is not None:  # parameter names, without building the dataset
            check_params(self.dataset, self.dataset_params)
        self._check_sampler(methods.method_class(self.method))

    def _check_sampler(self, method_class: Any) -> None:
        from disentkit.data.batch_samplers import SAMPLERS, check_sampler

        if self.sampler is not None and not isinstance(self.sampler, str):
            raise ValueError(f"sampler must be a sampler name or null, got {self.sampler!r}")
        name = self.resolved_sampler(method_class)
        need = getattr(method_class, "batch_kind", "images")
        if SAMPLERS.get(name) is not None and SAMPLERS[name] != need:
            fitting = [n for n, kind in SAMPLERS.items() if kind == need]
            raise ValueError(f"method {self.method!r} trains on {need!r} batches; sampler {name!r} makes "
                             f"{SAMPLERS[name]!r} batches; valid samplers for it: {', '.join(fitting)}")
        check_sampler(name, self.sampler_params, dataset=self.dataset, channels=_dataset_channels(self))

    def resolved_sampler(self, method_class: Any = None) -> str:
        """The sampler name: ``sampler``, or the method's ``default_sampler`` when it is ``None``."""
        if self.sampler is not None:
            return self.sampler
        if method_class is None:
            method_class = _method_registry().method_class(self.method)
        return getattr(method_class, "default_sampler", "uniform")

    # -- conversion -----------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        """The config's keys, in declaration order."""
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (parameter dicts copied)."""
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), dict) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build a config from a dict; unknown keys raise a ValueError listing the valid keys."""
        if not isinstance(data, dict):
            raise ValueError(f"a train config must be a dict, got {type(data).__name__}")
        valid = cls.field_names()
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; valid keys: {', '.join(valid)}")
        missing = [f.name for f in fields(cls) if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in data]
        if missing:
            raise ValueError(f"missing config key(s) {missing}")
        return cls(**data)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with some fields changed."""
        return self.from_dict({**self.to_dict(), **changes})

    def set_values(self, assignments: Iterable[str]) -> "TrainConfig":
        """A validated copy with ``key=value`` assignments applied (the CLI's ``--set``).

        ``key`` is a config field (``steps``), a dotted parameter (``method_params.beta``,
        ``dataset_params.spacing``), or a bare method parameter (``beta`` means
        ``method_params.beta``). ``value`` is parsed by :func:`disentkit.io.parse_yaml_value`
        (``4`` -> int, ``1e-3`` -> float, ``true`` -> bool, ``[1, 2]`` -> list, anything else a string).
        """
        data = self.to_dict()
        top = self.field_names()
        for item in assignments:
            if not isinstance(item, str) or "=" not in item:
                raise ValueError(f"--set expects key=value, got {item!r}")
            key, _, raw = item.partition("=")
            key = key.strip()
            value = parse_yaml_value(raw)
            if "." in key:
                group, _, sub = key.partition(".")
                if group not in _PARAM_GROUPS or not sub:
                    raise ValueError(
                        f"unknown key {key!r}; dotted keys are method_params.NAME, dataset_params.NAME or sampler_params.NAME; "
                        f"valid keys: {', '.join(top)}"
                    )
                data[group][sub] = value
            elif key in top:
                if key in _PARAM_GROUPS:
                    raise ValueError(f"set {key} entries one by one: {key}.NAME=VALUE")
                data[key] = value
            else:
                valid_params = _valid_method_params(data["method"])
                if valid_params is not None and key not in valid_params:
                    raise ValueError(
                        f"unknown key {key!r}; valid config keys: {', '.join(top)}; "
                        f"valid parameters of method {data['method']!r}: {', '.join(valid_params) or 'none'}"
                    )
                data["method_params"][key] = value
        return self.from_dict(data)


def _dataset_channels(config: TrainConfig) -> int | None:
    """The image channels of the config's dataset when it can be built cheaply (procedural
    datasets); ``None`` for file datasets whose files are not at hand (checked when the run starts)."""
    if config.resolved_sampler() != "views":
        return None
    try:
        return int(_dataset_registry().get(config.dataset, **config.dataset_params).observation_shape[0])
    except (ValueError, OSError):
        return None


def _valid_method_params(method: str) -> list[str] | None:
    """The hyperparameter names of ``method`` (None when the method is unknown)."""
    methods = _method_registry()
    if method not in methods.names():
        return None
    cfg = methods.config_for(method, {})
    return [f.name for f in fields(cfg)] if dataclasses.is_dataclass(cfg) else sorted(vars(cfg))
