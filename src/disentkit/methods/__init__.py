"""The VAE family and its registry: ``names()``, ``config_for(name, params)``, ``get(name, shape, **params)``.

>>> from disentkit import methods
>>> methods.names()[:3]
('ada_gvae', 'ada_ml_vae', 'annealed_vae')
>>> model = methods.get("beta_vae", (1, 64, 64), seed=0, beta=4)
>>> methods.config_for("beta_tc_vae", {"beta": 6, "estimator": "mws"})  # validated, no network built

Registered methods (module, ``input_kind``):

==================  =============================  ==========
``beta_vae``        :mod:`.beta_vae`               single
``annealed_vae``    :mod:`.annealed_vae`           single
``beta_tc_vae``     :mod:`.beta_tc_vae`            single
``factor_vae``      :mod:`.factor_vae`             single
``dip_vae_i``       :mod:`.dip_vae`                single
``dip_vae_ii``      :mod:`.dip_vae`                single
``ada_gvae``        :mod:`.ada_gvae`               pairs
``ada_ml_vae``      :mod:`.ada_gvae`               pairs
==================  =============================  ==========

Every method accepts the shared :class:`~disentkit.methods.config.VAEConfig` keys
(``latent_dim``, ``architecture``, ``lr``, ``reconstruction``, ``hfs_gamma``, ...).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from disentkit.methods.base import Method

_REGISTRY: dict[str, str] = {
    "beta_vae": "disentkit.methods.beta_vae:BetaVAE",
    "annealed_vae": "disentkit.methods.annealed_vae:AnnealedVAE",
    "beta_tc_vae": "disentkit.methods.beta_tc_vae:BetaTCVAE",
    "factor_vae": "disentkit.methods.factor_vae:FactorVAE",
    "dip_vae_i": "disentkit.methods.dip_vae:DIPVAEI",
    "dip_vae_ii": "disentkit.methods.dip_vae:DIPVAEII",
    "ada_gvae": "disentkit.methods.ada_gvae:AdaGVAE",
    "ada_ml_vae": "disentkit.methods.ada_gvae:AdaMLVAE",
}


def names() -> tuple[str, ...]:
    """The registered method names, sorted."""
    return tuple(sorted(_REGISTRY))


def method_class(name: str) -> type[Method]:
    """The class registered as ``name`` (``ValueError`` naming the valid names otherwise)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(names())}")
    module, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)


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


__all__ = ["Method", "config_for", "get", "method_class", "names"]
