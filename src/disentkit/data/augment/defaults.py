"""Per-dataset default views for self-supervised training that keep the measured factors.

``methods_ssl_causal.md`` §2 (Cao et al. 2022, MED): standard crop/flip/colour pipelines adapted per
dataset, no colour ops on binary dSprites, care with ops that destroy measured factors (hue jitter
on Shapes3D's hue factors, crops on position factors). Factors that an augmentation perturbs are
expected to get *low* mutual information with the representation, so the default keeps each
perturbation of a measured factor small relative to that factor's range, and leaves out ops that
would make two values of a factor indistinguishable. :func:`~disentkit.data.augment.perturbed_factors`
lists what each op still perturbs.

Each default has two views, asymmetric in the blur like BYOL (view 1 blur p = 1.0, view 2 p = 0.1,
sigma ~ U[0.1, 1.0] unless said otherwise), and no flip anywhere a factor is a horizontal position
or an orientation (a flip maps posX to 1 - posX and an angle to its mirror, which teaches the
model to merge them).

==================  =========================================================  ============================
dataset             views (both, unless noted)                                 why
==================  =========================================================  ============================
dsprites,           crop scale (0.8, 1), ratio (0.9, 1/0.9); blur              binary, 1 channel: no colour
dsprites_noshape                                                               op (solarize blanks a binary
                                                                               image); box side >= 85%:
                                                                               shift <= 15% of the side,
                                                                               zoom <= 1.18x, so posX,
                                                                               posY, scale stay readable
color_dsprites      crop as dsprites; jitter (0.4, 0.4, 0.2, 0.1) p 0.8;       the colour is a nuisance
                    grayscale p 0.2; blur                                      (not a factor): full colour
                                                                               jitter; no solarize (dark
                                                                               sprites vanish)
noisy_dsprites,     crop as dsprites; jitter (0.4, 0.4, 0.2, 0.1) p 0.8;       noise / tinted background
scream_dsprites     grayscale p 0.2; blur                                      are nuisances
shapes3d            crop (0.8, 1), ratio (0.9, 1/0.9); jitter (0.4, 0.4,      floor/wall/object hue are
                    0.2, hue 0) p 0.8; blur                                    measured: no hue jitter, no
                                                                               grayscale, no solarize; no
                                                                               flip (orientation); mild
                                                                               crop (object scale)
xysquares           crop (0.9, 1), ratio (0.95, 1/0.95); jitter (0.4, 0.4,     every factor is a position
                    0, 0) p 0.8; blur sigma (0.1, 0.5)                         and each channel is one
                                                                               square: shift <= 7.5% (<
                                                                               a grid step), no hue,
                                                                               saturation or grayscale
xyobject            crop (0.9, 1), ratio (0.95, 1/0.95); blur sigma (0.1,      the colour factor mixes hue
                    0.5)                                                       and brightness levels: no
                                                                               colour op at all
mpi3d_*             crop (0.8, 1), ratio (0.9, 1/0.9); blur                    object and background
                                                                               colours are measured: no
                                                                               colour op; first_dof moves
                                                                               the arm sideways: no flip
smallnorb           crop (0.6, 1), ratio (3/4, 4/3); blur                      lighting is measured (no
                                                                               brightness/contrast);
                                                                               azimuth: no flip; no
                                                                               position or scale factor
cars3d              crop (0.6, 1), ratio (3/4, 4/3); jitter (0.4, 0.4, 0.2,    azimuth: no flip; the car's
                    hue 0) p 0.8; blur                                         colour is part of its
                                                                               identity: no hue/grayscale
fallback (any       BYOL (:func:`preset_spec` ``"byol"``); on non-RGB data     nothing known about the
other name)         without the ops that need RGB and with brightness/contrast factors
                    jitter only
==================  =========================================================  ============================

>>> views = default_views("dsprites", channels=1)
>>> [op.name for op in views[0]]
['crop', 'blur']
"""

from __future__ import annotations

from typing import Any, Callable

from disentkit.data.augment.pipeline import MultiView
from disentkit.data.augment.registry import build_views, preset_spec

__all__ = ["DEFAULT_VIEW_DATASETS", "default_view_spec", "default_views"]

Spec = list[list[dict[str, Any]]]


def _two_views(ops: list[dict[str, Any]], sigma: tuple[float, float] = (0.1, 1.0)) -> Spec:
    """The same ops in two views, followed by a blur of p 1.0 (view 1) and 0.1 (view 2)."""
    return [[dict(op) for op in ops] + [{"name": "blur", "sigma": list(sigma), "p": p}] for p in (1.0, 0.1)]


def _crop(low: float, aspect: float) -> dict[str, Any]:
    return {"name": "crop", "scale": [low, 1.0], "ratio": [aspect, 1.0 / aspect]}


def _jitter(brightness: float, contrast: float, saturation: float, hue: float, channels: int) -> list[dict[str, Any]]:
    if channels != 3:
        saturation, hue = 0.0, 0.0
    if brightness == contrast == saturation == hue == 0.0:
        return []
    return [{"name": "color_jitter", "brightness": brightness, "contrast": contrast, "saturation": saturation,
             "hue": hue, "p": 0.8}]


def _rgb_only(op: dict[str, Any], channels: int) -> list[dict[str, Any]]:
    return [op] if channels == 3 else []


def _dsprites(channels: int) -> Spec:
    return _two_views([_crop(0.8, 0.9)])


def _coloured_dsprites(channels: int) -> Spec:
    return _two_views([_crop(0.8, 0.9), *_jitter(0.4, 0.4, 0.2, 0.1, channels),
                       *_rgb_only({"name": "grayscale", "p": 0.2}, channels)])


def _shapes3d(channels: int) -> Spec:
    return _two_views([_crop(0.8, 0.9), *_jitter(0.4, 0.4, 0.2, 0.0, channels)])


def _xysquares(channels: int) -> Spec:
    return _two_views([_crop(0.9, 0.95), *_jitter(0.4, 0.4, 0.0, 0.0, channels)], sigma=(0.1, 0.5))


def _xyobject(channels: int) -> Spec:
    return _two_views([_crop(0.9, 0.95)], sigma=(0.1, 0.5))


def _mpi3d(channels: int) -> Spec:
    return _two_views([_crop(0.8, 0.9)])


def _smallnorb(channels: int) -> Spec:
    return _two_views([{"name": "crop", "scale": [0.6, 1.0], "ratio": [3 / 4, 4 / 3]}])


def _cars3d(channels: int) -> Spec:
    return _two_views([{"name": "crop", "scale": [0.6, 1.0], "ratio": [3 / 4, 4 / 3]},
                       *_jitter(0.4, 0.4, 0.2, 0.0, channels)])


def _fallback(channels: int) -> Spec:
    spec = preset_spec("byol", channels)
    if channels == 3:
        return spec
    out = []
    for view in spec:
        ops = []
        for op in view:
            if op["name"] == "grayscale":
                continue
            if op["name"] == "color_jitter":
                op = {**op, "saturation": 0.0, "hue": 0.0}
            ops.append(op)
        out.append(ops)
    return out


_DEFAULTS: dict[str, Callable[[int], Spec]] = {
    "dsprites": _dsprites,
    "dsprites_noshape": _dsprites,
    "color_dsprites": _coloured_dsprites,
    "noisy_dsprites": _coloured_dsprites,
    "scream_dsprites": _coloured_dsprites,
    "shapes3d": _shapes3d,
    "xysquares": _xysquares,
    "xyobject": _xyobject,
    "mpi3d_toy": _mpi3d,
    "mpi3d_realistic": _mpi3d,
    "mpi3d_real": _mpi3d,
    "smallnorb": _smallnorb,
    "cars3d": _cars3d,
}
#: the dataset names with their own default (every other name gets the fallback)
DEFAULT_VIEW_DATASETS = tuple(_DEFAULTS)


def default_view_spec(dataset_name: str, channels: int) -> Spec:
    """The plain-data spec of :func:`default_views` (a list of two pipelines)."""
    if not isinstance(dataset_name, str):
        raise ValueError(f"dataset_name must be a dataset name (str), got {dataset_name!r}")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be an int >= 1 (the images' C), got {channels!r}")
    key = dataset_name if dataset_name in _DEFAULTS else ("mpi3d_toy" if dataset_name.startswith("mpi3d") else "")
    return _DEFAULTS.get(key, _fallback)(channels)


def default_views(dataset_name: str, channels: int) -> MultiView:
    """The default two views of dataset ``dataset_name`` with ``channels``-channel images (see the
    module table); an unknown name gets the BYOL fallback, adapted to ``channels``."""
    return build_views(default_view_spec(dataset_name, channels), channels=channels)
