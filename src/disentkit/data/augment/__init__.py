"""Image augmentations on whole batches, for self-supervised training (``methods_ssl_causal.md`` §1-2).

Every op is a small class called as ``op(images, rng)``: ``images`` float (B, C, H, W) in [0, 1]
(standard or channels-last layout; the output has the input's shape, dtype, device and layout,
values clipped to [0, 1]), ``rng`` the numpy ``Generator`` of the batch stream. All per-image
random parameters come from one vectorised ``rng.random((B, k))`` draw per op (whatever ``p``), so
a stream's checkpointed generator state makes the views exactly resumable; they are applied with
vectorised torch ops (one ``grid_sample`` per crop, a separable blur as per-image weighted sums of
shifted slices, closed-form HSV hue shifts), with no per-image Python loop. Inside a pipeline the
intermediate batches are changed in place (``apply(..., inplace=True)``); a pipeline's input never
is. Timings: ``benchmarks/augment_speed.py``.

=================================================  ===========  ======================================
op (registry name)                                 needs RGB    perturbs (factor kinds)
=================================================  ===========  ======================================
:class:`RandomResizedCrop` (``crop``)              no           position_x, position_y, scale
:class:`HorizontalFlip` (``flip``)                 no           position_x, orientation
:class:`ColorJitter` (``color_jitter``)            saturation   brightness; saturation; hue
                                                   or hue > 0   (by which strengths are > 0)
:class:`Grayscale` (``grayscale``)                 yes          hue, saturation
:class:`GaussianBlur` (``blur``)                   no           texture
:class:`Solarize` (``solarize``)                   no           brightness, hue, saturation
=================================================  ===========  ======================================

Pipelines: :class:`Compose` (alias :class:`ViewPipeline`) applies ops in order; :class:`MultiView`
(alias :class:`ViewSpec`) makes several views, ``views(images, rng) -> tuple``. From plain data:
:func:`build_augmentation`, :func:`build_pipeline`, :func:`build_views` (presets
:data:`VIEW_PRESETS`: ``"byol"``, ``"simclr"``, ``"none"``, or an explicit list of pipelines);
per-dataset defaults: :func:`default_views`; what they perturb: :func:`perturbed_factors`. Every op,
pipeline and view spec has a readable ``repr`` and a ``to_dict()`` that the registry rebuilds.

>>> import numpy as np, torch
>>> from disentkit.data.augment import build_views, perturbed_factors
>>> byol = build_views("byol", channels=3)          # BYOL's T and T'
>>> v1, v2 = byol.views(torch.rand(64, 3, 64, 64), np.random.default_rng(0))
>>> perturbed_factors(byol, ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"))["color_jitter"]
['floor_hue', 'wall_hue', 'object_hue']
"""

from disentkit.data.augment._base import PERTURBATION_KINDS, Augmentation
from disentkit.data.augment.blur import GaussianBlur
from disentkit.data.augment.color import ColorJitter, Grayscale, Solarize
from disentkit.data.augment.defaults import DEFAULT_VIEW_DATASETS, default_view_spec, default_views
from disentkit.data.augment.factors import FACTOR_KIND_RULES, factor_kinds, perturbed_factors
from disentkit.data.augment.geometric import HorizontalFlip, RandomResizedCrop
from disentkit.data.augment.pipeline import Compose, MultiView, ViewPipeline, ViewSpec
from disentkit.data.augment.registry import (
    AUGMENTATIONS,
    VIEW_PRESETS,
    build_augmentation,
    build_pipeline,
    build_views,
    preset_spec,
)

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "ColorJitter",
    "Compose",
    "DEFAULT_VIEW_DATASETS",
    "FACTOR_KIND_RULES",
    "GaussianBlur",
    "Grayscale",
    "HorizontalFlip",
    "MultiView",
    "PERTURBATION_KINDS",
    "RandomResizedCrop",
    "Solarize",
    "VIEW_PRESETS",
    "ViewPipeline",
    "ViewSpec",
    "build_augmentation",
    "build_pipeline",
    "build_views",
    "default_view_spec",
    "default_views",
    "factor_kinds",
    "perturbed_factors",
    "preset_spec",
]
