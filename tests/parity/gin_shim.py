"""A TensorFlow-free stand-in for ``gin`` / ``gin.tf`` so that disentanglement_lib's metric modules
import in a test environment (test helper only; never shipped).

disentanglement_lib 1.5 does ``import gin.tf`` (which imports TensorFlow in gin-config) and calls
``gin.configurable(..., blacklist=[...])`` (renamed ``denylist`` in gin-config 0.5). :func:`install`
registers a module exposing gin-config's API, with ``configurable`` translating the old keyword
names, as both ``sys.modules['gin']`` and ``sys.modules['gin.tf']``. Without gin-config installed,
``configurable`` becomes a no-op decorator and ``REQUIRED`` a sentinel, which is enough for the
array-level functions that take every argument explicitly.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

_RENAMED = {"blacklist": "denylist", "whitelist": "allowlist"}


def _translate(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {_RENAMED.get(key, key): value for key, value in kwargs.items()}


def _build() -> types.ModuleType:
    shim = types.ModuleType("gin")
    shim.__path__ = []  # a package, so that ``import gin.tf`` resolves to the registered module
    if importlib.util.find_spec("gin") is not None and "gin" not in sys.modules:
        import gin as real  # gin-config: gin/__init__.py itself does not import TensorFlow

        shim.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})

        def configurable(*args: Any, **kwargs: Any) -> Any:
            return real.configurable(*args, **_translate(kwargs))

        shim.configurable = configurable
        sys.modules.pop("gin", None)
    else:
        required = object()

        def configurable(*args: Any, **kwargs: Any) -> Any:
            if len(args) == 1 and callable(args[0]) and not kwargs:
                return args[0]
            return lambda fn: fn

        shim.configurable = configurable
        shim.REQUIRED = required
    return shim


def install() -> types.ModuleType:
    """Register the stand-in as ``gin`` and ``gin.tf`` (idempotent); return it."""
    current = sys.modules.get("gin")
    if current is not None and getattr(current, "__disentkit_shim__", False):
        return current
    shim = _build()
    shim.__disentkit_shim__ = True
    shim.tf = shim
    sys.modules["gin"] = shim
    sys.modules["gin.tf"] = shim
    return shim


def import_reference_metrics() -> types.SimpleNamespace | None:
    """Install the shim and import disentanglement_lib's metric modules, or return None when the
    package (``pip install --no-deps disentanglement-lib==1.5``) is not installed."""
    if importlib.util.find_spec("disentanglement_lib") is None:
        return None
    install()
    from disentanglement_lib.evaluation.metrics import (  # noqa: PLC0415
        dci,
        irs,
        mig,
        modularity_explicitness,
        sap_score,
        unsupervised_metrics,
        utils,
    )

    return types.SimpleNamespace(
        dci=dci,
        irs=irs,
        mig=mig,
        modularity_explicitness=modularity_explicitness,
        sap_score=sap_score,
        unsupervised_metrics=unsupervised_metrics,
        utils=utils,
    )


def bind_discretizer(num_bins: int = 20) -> None:
    """Give the reference its study-wide discretiser bindings (``histogram_discretizer``, 20 bins).

    With the no-op fallback (no gin-config) the reference's ``make_discretizer`` cannot be bound;
    callers then pass pre-discretised arrays themselves.
    """
    gin = install()
    if hasattr(gin, "bind_parameter"):
        from disentanglement_lib.evaluation.metrics import utils  # noqa: F401,PLC0415

        gin.clear_config()
        gin.bind_parameter("discretizer.discretizer_fn", utils._histogram_discretize)
        gin.bind_parameter("discretizer.num_bins", num_bins)
