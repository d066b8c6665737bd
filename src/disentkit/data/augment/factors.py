"""Which ground-truth factors an augmentation set perturbs (so a report can say what an SSL model
was taught to ignore).

Each op declares the *kinds* of factor it perturbs (``op.perturbs``, from
:data:`~disentkit.data.augment._base.PERTURBATION_KINDS`); a factor name is given kinds by the
keyword rules below, matched against the lower-cased name and its tokens (split at ``_``, ``-``,
spaces, digits and camelCase: ``posX -> pos, x``; ``x_R -> x, r``; ``floor_hue -> floor, hue``).

=============  ==============================================  =================================
kind           factor names (whole name or token)              ops that perturb it
=============  ==============================================  =================================
position_x     x, posx, xpos, first_dof, horizontal, position  crop, flip
position_y     y, posy, ypos, second_dof, vertical, position   crop
scale          scale, size                                     crop
orientation    orientation, rotation, azimuth, angle, yaw      flip
elevation      elevation, pitch, camera_height                 (none here: a horizontal flip keeps it)
hue            any name containing "hue"; color, colour        color_jitter (hue > 0), grayscale,
                                                               solarize
saturation     color, colour                                   color_jitter (saturation > 0),
                                                               grayscale, solarize
brightness     color, colour, lighting, light, illumination,   color_jitter (brightness or
               brightness                                      contrast > 0), solarize
texture        texture                                         blur
=============  ==============================================  =================================

A ``color``/``colour`` factor (MPI3D's object and background colours, XYObject's colour, which
mixes hue and brightness levels) counts as hue, saturation and brightness; a ``*hue`` factor
(Shapes3D) as hue only, since brightness, contrast and (mild) saturation changes keep the hue.
MPI3D's ``first_dof`` / ``second_dof`` move the arm horizontally / vertically in the image. Names
matching no rule (shape, category, object_type, instance) are perturbed by none of these ops. Pass
``rules=`` for another table.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Sequence

from disentkit.data.augment._base import PERTURBATION_KINDS, Augmentation
from disentkit.data.augment.pipeline import Compose, MultiView

__all__ = ["FACTOR_KIND_RULES", "factor_kinds", "perturbed_factors"]

#: kind -> (keywords matched to the whole lower-cased name or to one of its tokens,
#:          substrings matched anywhere in the lower-cased name)
FACTOR_KIND_RULES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "position_x": (("x", "posx", "xpos", "first_dof", "horizontal", "position"), ()),
    "position_y": (("y", "posy", "ypos", "second_dof", "vertical", "position"), ()),
    "scale": (("scale", "size"), ()),
    "orientation": (("orientation", "rotation", "azimuth", "angle", "yaw"), ()),
    "elevation": (("elevation", "pitch", "camera_height"), ()),
    "hue": (("color", "colour"), ("hue",)),
    "saturation": (("color", "colour"), ()),
    "brightness": (("color", "colour", "lighting", "light", "illumination", "brightness"), ()),
    "texture": (("texture",), ()),
}


def _tokens(name: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name)
    return {t for t in re.split(r"[^a-zA-Z]+", spaced.lower()) if t}


def factor_kinds(name: str, rules: Mapping[str, tuple[Sequence[str], Sequence[str]]] = FACTOR_KIND_RULES) -> tuple[str, ...]:
    """The kinds of the factor called ``name`` under ``rules`` (see the module table)."""
    low = name.lower()
    tokens = _tokens(name)
    kinds = []
    for kind, (words, parts) in rules.items():
        if low in words or tokens & set(words) or any(s in low for s in parts):
            kinds.append(kind)
    return tuple(kinds)


def _ops(views: Any) -> Iterable[Augmentation]:
    if isinstance(views, Augmentation):
        yield views
    elif isinstance(views, Compose):
        yield from views.ops
    elif isinstance(views, MultiView):
        for pipe in views.pipelines:
            yield from pipe.ops
    elif isinstance(views, (list, tuple)):
        for item in views:
            yield from _ops(item)
    else:
        raise ValueError(f"views must be a MultiView, a Compose, an augmentation op or a list of them, "
                         f"got {type(views).__name__}")


def perturbed_factors(views: Any, factor_names: Sequence[str],
                      rules: Mapping[str, tuple[Sequence[str], Sequence[str]]] = FACTOR_KIND_RULES) -> dict[str, list[str]]:
    """Map each op of ``views`` (by registry name) to the factors of ``factor_names`` it perturbs.

    Ops with ``p = 0`` never apply and are left out; an op in several views appears once, with
    the union of its factors (in factor order). Every other op appears, with ``[]`` if it
    perturbs none of the factors.

    >>> from disentkit.data.augment import build_views
    >>> perturbed_factors(build_views("byol", 3), ("shape", "scale", "orientation", "posX", "posY"))
    {'crop': ['scale', 'posX', 'posY'], 'flip': ['orientation', 'posX'], 'color_jitter': [], ...}
    """
    unknown = set(rules) - set(PERTURBATION_KINDS)
    if unknown:
        raise ValueError(f"unknown perturbation kind(s) {sorted(unknown)}; valid kinds: {', '.join(PERTURBATION_KINDS)}")
    names = [str(n) for n in factor_names]
    kinds = {n: set(factor_kinds(n, rules)) for n in names}
    found: dict[str, set[str]] = {}
    for op in _ops(views):
        if op.p == 0.0:
            continue
        hit = {n for n in names if kinds[n] & set(op.perturbs)}
        found.setdefault(op.name, set()).update(hit)
    return {op: [n for n in names if n in hit] for op, hit in found.items()}
