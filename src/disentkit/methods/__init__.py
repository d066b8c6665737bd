"""The method registry: ``names()``, ``config_for(name, params)``, ``get(name, shape, **params)``, ``register``.

>>> from disentkit import methods
>>> methods.names()[:3]
('ada_gvae', 'ada_ml_vae', 'annealed_vae')
>>> model = methods.get("beta_vae", (1, 64, 64), seed=0, beta=4)
>>> methods.config_for("beta_tc_vae", {"beta": 6, "estimator": "mws"})  # validated, no network built
>>> methods.register("my_vae", "mypackage.models:MyVAE")    # a Method subclass, imported when used

Every method follows the contract of :mod:`disentkit.methods.base`: it declares the batch it
trains on (``batch_kind``, ``num_views``, ``default_sampler``) and its ``capabilities``.
``disentkit.methods.describe()`` lists them; the VAE family accepts the shared
:class:`~disentkit.methods.config.VAEConfig` keys (``latent_dim``, ``architecture``, ``lr``,
``reconstruction``, ``hfs_gamma``, ...).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from disentkit.methods.base import Capabilities, Method

_REGISTRY: dict[str, str] = {
    "beta_vae": "disentkit.methods.beta_vae:BetaVAE",
    "annealed_vae": "disentkit.methods.annealed_vae:AnnealedVAE",
    "beta_tc_vae": "disentkit.methods.beta_tc_vae:BetaTCVAE",
    "factor_vae": "disentkit.methods.factor_vae:FactorVAE",
    "dip_vae_i": "disentkit.methods.dip_vae:DIPVAEI",
    "dip_vae_ii": "disentkit.methods.dip_vae:DIPVAEII",
    "ada_gvae": "disentkit.methods.ada_gvae:AdaGVAE",
    "ada_ml_vae": "disentkit.methods.ada_gvae:AdaMLVAE",
    "byol": "disentkit.methods.byol:BYOL",
    "simsiam": "disentkit.methods.simsiam:SimSiam",
    "barlow_twins": "disentkit.methods.barlow_twins:BarlowTwins",
    "vicreg": "disentkit.methods.vicreg:VICReg",
    "cmc": "disentkit.methods.cmc:CMC",
    "dim": "disentkit.methods.dim:DeepInfoMax",
    "nashae": "disentkit.methods.nashae:NashAE",
    "cmi": "disentkit.methods.cmi:CMI",
}
_CLASSES: dict[str, type[Method]] = {}


def register(name: str, target: str | type[Method]) -> None:
    """Register a method under ``name``: a :class:`Method` subclass or its ``"module:Class"`` path
    (imported on first use). An existing name is replaced."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a method name must be an identifier string, got {name!r}")
    if isinstance(target, str):
        if target.count(":") != 1:
            raise ValueError(f"a method path must be 'module:Class', got {target!r}")
        _REGISTRY[name] = target
        _CLASSES.pop(name, None)
        return
    if not (isinstance(target, type) and issubclass(target, Method)):
        raise ValueError(f"register takes a Method subclass or 'module:Class', got {target!r}")
    _CLASSES[name] = target
    _REGISTRY[name] = f"{target.__module__}:{target.__qualname__}"


def names() -> tuple[str, ...]:
    """The registered method names, sorted."""
    return tuple(sorted(_REGISTRY))


def method_class(name: str) -> type[Method]:
    """The class registered as ``name`` (``ValueError`` naming the valid names otherwise)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(names())}")
    if name not in _CLASSES:
        module, attr = _REGISTRY[name].split(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"method {name!r}: cannot import {_REGISTRY[name]} ({err})") from None
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise ValueError(f"method {name!r}: {_REGISTRY[name]} is not a Method subclass")
        _CLASSES[name] = cls
    return _CLASSES[name]


def describe() -> list[dict[str, Any]]:
    """One row per method: name, batch kind, views, default sampler and capabilities."""
    rows = []
    for name in names():
        cls = method_class(name)
        rows.append({"name": name, "batch_kind": cls.batch_kind, "num_views": cls.num_views,
                     "default_sampler": cls.default_sampler, **dataclasses.asdict(cls.capabilities)})
    return rows


def config_for(name: str, params: dict[str, Any] | None = None) -> Any:
    """The validated config dataclass of method ``name`` from ``params`` (missing keys: defaults).

    Raises ``ValueError`` for an unknown method, an unknown key (listing the valid keys) or a bad
    value (naming the valid range or choices). Builds no network.
    """
    cls = method_class(name).config_class
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise ValueError(f"method parameters must be a dict, got {type(params).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for method {name!r}; valid keys: {', '.join(valid)}")
    return cls(**params)


def get(name: str, observation_shape: tuple[int, int, int], *, seed: int | None = None,
        **params: Any) -> Method:
    """Build method ``name`` for images of ``observation_shape`` (C, H, W) with hyperparameters ``params``.

    ``seed`` seeds the method's own generator (weights and all training noise); ``None`` draws
    the seed from the global torch RNG, so a caller that ran ``torch.manual_seed`` is reproducible.
    """
    config = config_for(name, params)
    return method_class(name)(observation_shape, config, seed=seed)


__all__ = ["Capabilities", "Method", "config_for", "describe", "get", "method_class", "names", "register"]
