"""Augmentations by name: ops, pipelines and multi-view specs from plain data, and the presets.

A config names augmentations as JSON/YAML-like data:

* an op: ``{"name": "crop", "scale": [0.5, 1.0]}`` or just ``"flip"`` (default parameters);
* a pipeline (one view): a list of ops, or ``{"ops": [...]}``;
* views: a preset name (:data:`VIEW_PRESETS`), a list of pipelines, or ``{"views": [...]}``
  (what :meth:`MultiView.to_dict` writes).

>>> views = build_views([[{"name": "crop", "scale": [0.5, 1]}, "flip"], ["flip"]], channels=1)
>>> build_views(views.to_dict(), channels=1).to_dict() == views.to_dict()
True
"""

from __future__ import annotations

import inspect
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from disentkit.data.augment._base import Augmentation
from disentkit.data.augment.blur import GaussianBlur
from disentkit.data.augment.color import ColorJitter, Grayscale, Solarize
from disentkit.data.augment.geometric import HorizontalFlip, RandomResizedCrop
from disentkit.data.augment.pipeline import Compose, MultiView

__all__ = ["AUGMENTATIONS", "VIEW_PRESETS", "build_augmentation", "build_pipeline", "build_views", "preset_spec"]

#: registry name -> op class
AUGMENTATIONS: Mapping[str, type[Augmentation]] = MappingProxyType({
    cls.name: cls for cls in (RandomResizedCrop, HorizontalFlip, ColorJitter, Grayscale, GaussianBlur, Solarize)
})


def build_augmentation(name: str, **params: Any) -> Augmentation:
    """The op registered as ``name`` (:data:`AUGMENTATIONS`) with constructor ``params``.

    Unknown names and parameters raise a ValueError listing the valid ones; bad values raise the
    op's own ValueError.
    """
    cls = AUGMENTATIONS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown augmentation {name!r}; valid names: {', '.join(AUGMENTATIONS)}")
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for augmentation {name!r}; valid parameters: {valid}")
    return cls(**params)


def _build_op(spec: Any) -> Augmentation:
    if isinstance(spec, Augmentation):
        return spec
    if isinstance(spec, str):
        return build_augmentation(spec)
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise ValueError(f"an augmentation spec needs a 'name' (one of {', '.join(AUGMENTATIONS)}), got {dict(spec)!r}")
        params = {k: v for k, v in spec.items() if k != "name"}
        return build_augmentation(spec["name"], **params)
    raise ValueError(f"an augmentation spec is a name or a dict with 'name' and parameters, got {spec!r}")


def build_pipeline(spec: Any) -> Compose:
    """One view's pipeline from a list of op specs or ``{"ops": [...]}`` (or a :class:`Compose`)."""
    if isinstance(spec, Compose):
        return spec
    if isinstance(spec, Mapping):
        if set(spec) != {"ops"}:
            raise ValueError(f"a pipeline spec dict has exactly the key 'ops', got keys {sorted(spec)}")
        spec = spec["ops"]
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise ValueError(f"a pipeline spec is a list of augmentation specs, got {spec!r}")
    return Compose([_build_op(op) for op in spec])


def _crop(scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3)) -> dict[str, Any]:
    return {"name": "crop", "scale": list(scale), "ratio": list(ratio)}


def _byol(channels: int) -> list[list[dict[str, Any]]]:
    """BYOL's T and T' (``methods_ssl_causal.md`` §1): blur p 1.0 / 0.1, solarize p 0.0 / 0.2."""
    def view(blur_p: float, solarize_p: float) -> list[dict[str, Any]]:
        return [
            _crop(),
            {"name": "flip", "p": 0.5},
            {"name": "color_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1, "p": 0.8},
            {"name": "grayscale", "p": 0.2},
            {"name": "blur", "sigma": [0.1, 2.0], "p": blur_p},
            {"name": "solarize", "threshold": 0.5, "p": solarize_p},
        ]
    return [view(1.0, 0.0), view(0.1, 0.2)]


def _simclr(channels: int) -> list[list[dict[str, Any]]]:
    """SimCLR's symmetric views (Chen et al. 2020): strength-1 jitter (0.8, 0.8, 0.8, 0.2) p 0.8,
    grayscale p 0.2, blur p 0.5, in both views."""
    view = [
        _crop(),
        {"name": "flip", "p": 0.5},
        {"name": "color_jitter", "brightness": 0.8, "contrast": 0.8, "saturation": 0.8, "hue": 0.2, "p": 0.8},
        {"name": "grayscale", "p": 0.2},
        {"name": "blur", "sigma": [0.1, 2.0], "p": 0.5},
    ]
    return [view, [dict(op) for op in view]]


def _none(channels: int) -> list[list[dict[str, Any]]]:
    """Two identical, unaugmented views (smoke tests, baselines)."""
    return [[], []]


_PRESETS: dict[str, Callable[[int], list[list[dict[str, Any]]]]] = {"byol": _byol, "simclr": _simclr, "none": _none}
#: the named view presets of :func:`build_views`
VIEW_PRESETS = tuple(_PRESETS)


def preset_spec(name: str, channels: int = 3) -> list[list[dict[str, Any]]]:
    """The plain-data spec (a list of pipelines) of the preset ``name`` (:data:`VIEW_PRESETS`)."""
    if name not in _PRESETS:
        raise ValueError(f"unknown view preset {name!r}; valid presets: {', '.join(VIEW_PRESETS)}")
    return _PRESETS[name](channels)


def _check_channel_count(channels: Any) -> int:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be an int >= 1 (the images' C), got {channels!r}")
    return channels


def build_views(spec: Any, channels: int | None = None) -> MultiView:
    """A :class:`MultiView` from a preset name, a list of pipelines or ``{"views": [...]}``.

    With ``channels`` (the dataset's C, at config-build time) every op is checked against it:
    colour ops that need RGB on a 1-channel dataset raise a ValueError naming the view, the op and
    the channels.

    >>> build_views("byol", channels=3).num_views
    2
    >>> build_views("byol", channels=1)   # ValueError: view 1: ColorJitter(...) needs 3-channel ...
    """
    if isinstance(spec, MultiView):
        views = spec
    elif isinstance(spec, str):
        views = MultiView([build_pipeline(p) for p in preset_spec(spec)])
    else:
        if isinstance(spec, Mapping):
            if set(spec) != {"views"}:
                raise ValueError(f"a views spec dict has exactly the key 'views', got keys {sorted(spec)}")
            spec = spec["views"]
        if not isinstance(spec, Sequence) or isinstance(spec, (str, bytes)):
            raise ValueError(f"a views spec is a preset name ({', '.join(VIEW_PRESETS)}), a list of pipelines "
                             f"or {{'views': [...]}}, got {spec!r}")
        if any(isinstance(p, (str, Augmentation)) or (isinstance(p, Mapping) and "name" in p) for p in spec):
            raise ValueError("a views spec is a list of pipelines (each a list of ops), e.g. "
                             "[[{'name': 'crop'}, {'name': 'flip'}], [{'name': 'flip'}]]; got a single list of ops")
        views = MultiView([build_pipeline(p) for p in spec])
    if channels is not None:
        views.check_channels(_check_channel_count(channels))
    return views
