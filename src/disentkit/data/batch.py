"""The typed training batch and the batch samplers that make one.

A :class:`Batch` is what every method receives: one or more image **views** (each (B, C, H, W),
float32 in [0, 1]), the **factors** of each view (int64 (B, F) indices; float64 values when a
dataset has continuous factors) and named **extras** (the
changed-factor mask of a weak pair, the grid index of each item, intervention targets, a time
axis...). Methods declare which :data:`BATCH_KINDS` they train on; a batch sampler says which kind it
produces, so a config that pairs a method with the wrong sampler is rejected before anything runs.

A batch sampler has ``kind``, ``num_views``, ``factor_space`` and ``draw(n, rng) -> Batch`` (numpy
arrays or CPU tensors drawn from the numpy ``Generator`` ``rng``). :class:`~disentkit.data.streams.BatchStream`
calls it with its own seeded generator, so every batch, augmentations included, is a pure function of
the stream's seed and position (exactly resumable).

>>> import disentkit.data as dd
>>> data = dd.get("dsprites")
>>> batch = ImageBatches(data).draw(8, rng=0)
>>> batch.images.shape, batch.factors[0].shape, sorted(batch.extras)
((8, 1, 64, 64), (8, 5), ['index'])
>>> pairs = PairBatches(data, dd.WeakPairSampler(data, k=1)).draw(8, rng=0)
>>> len(pairs.views), pairs.extras["changed"].shape
(2, (8, 5))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np
import torch

from disentkit._random import RandomLike, check_random_state
from disentkit.data.base import GroundTruthData
from disentkit.data.factors import FactorSpace
from disentkit.data.samplers import DatasetSampler, FactorSampler, WeakPairSampler, as_factor_space

__all__ = [
    "BATCH_KINDS",
    "Batch",
    "BatchSampler",
    "ImageBatches",
    "PairBatches",
    "ViewBatches",
]

#: ``"images"``: one view of independent items; ``"pairs"``: two renderings of factor vectors that
#: differ in a few factors (weak supervision); ``"views"``: several augmentations of the same images.
BATCH_KINDS = ("images", "pairs", "views")


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.from_numpy(np.ascontiguousarray(value))


@dataclass(frozen=True)
class Batch:
    """One training batch: ``views``, their ``factors`` and named ``extras``.

    Fields
    ------
    kind: one of :data:`BATCH_KINDS`.
    views: a tuple of image arrays/tensors, each (B, C, H, W) (temporal data: (B, T, C, H, W)).
    factors: a tuple with the factors of each view, int64 (B, F) (float64 values for continuous
        factors; the same array for augmented views).
    extras: named arrays/tensors, e.g. ``"index"`` (B,) the grid index of each item of the first
        view, ``"changed"`` (B, F) the factors a weak pair changed.
    """

    kind: str
    views: tuple[Any, ...]
    factors: tuple[Any, ...]
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in BATCH_KINDS:
            raise ValueError(f"unknown batch kind {self.kind!r}; valid kinds: {', '.join(BATCH_KINDS)}")
        if not self.views or len(self.views) != len(self.factors):
            raise ValueError(f"a batch needs one factors array per view, got {len(self.views)} views "
                             f"and {len(self.factors)} factor arrays")
        sizes = {int(v.shape[0]) for v in (*self.views, *self.factors)}
        if len(sizes) != 1:
            raise ValueError(f"every view and factor array of a batch must have the same length, got {sorted(sizes)}")

    @property
    def images(self) -> Any:
        """The first view."""
        return self.views[0]

    @property
    def batch_size(self) -> int:
        """Items per view (B)."""
        return int(self.views[0].shape[0])

    @property
    def num_images(self) -> int:
        """Images in the batch, over all views (B x number of views)."""
        return self.batch_size * len(self.views)

    def to_torch(self, device: str | torch.device = "cpu") -> "Batch":
        """The same batch with every array a torch tensor on ``device``."""
        def conv(a: Any) -> torch.Tensor:
            return _as_tensor(a).to(device)

        return dataclasses.replace(self, views=tuple(map(conv, self.views)),
                                   factors=tuple(map(conv, self.factors)),
                                   extras={k: conv(v) for k, v in self.extras.items()})

    def channels_last(self) -> "Batch":
        """The same batch with every 4-D image tensor in channels-last memory format (other
        tensors, e.g. sequences (B, T, C, H, W), pass through unchanged)."""
        def conv(x: Any) -> Any:
            if isinstance(x, torch.Tensor) and x.dim() == 4:
                return x.contiguous(memory_format=torch.channels_last)
            return x

        return dataclasses.replace(self, views=tuple(map(conv, self.views)))


@runtime_checkable
class BatchSampler(Protocol):
    """Anything that draws whole training batches: ``draw(n, rng) -> Batch``."""

    kind: str
    num_views: int
    factor_space: FactorSpace

    def draw(self, n: int, rng: RandomLike) -> Batch:
        """``n`` items (per view) drawn with the numpy generator ``rng``."""
        ...


def _check_dataset(dataset: Any) -> GroundTruthData:
    if not isinstance(dataset, GroundTruthData):
        raise ValueError(f"dataset must be a GroundTruthData, got {type(dataset).__name__}")
    return dataset


def _check_factor_sampler(sampler: Any, dataset: GroundTruthData) -> Any:
    if not hasattr(sampler, "sample"):
        raise ValueError(f"sampler must have a sample(n, rng) method, got {type(sampler).__name__}")
    if as_factor_space(sampler) != dataset.factor_space:
        raise ValueError(f"the sampler's factors ({as_factor_space(sampler).describe()}) differ from the "
                         f"dataset's ({dataset.factor_space.describe()})")
    return sampler


def _index_extra(dataset: GroundTruthData, factors: np.ndarray) -> dict[str, np.ndarray]:
    """``{"index": ...}``: the grid index of each factor vector (C order) for a discrete factor space,
    the dataset's own ``grid_index(factors)`` for one with continuous factors that defines it
    (pendulum's grid); empty when there is no grid (continuous sampling)."""
    space = dataset.factor_space
    if space.is_discrete:
        return {"index": (factors * space.strides).sum(axis=1).astype(np.int64)}
    index_of = getattr(dataset, "grid_index", None)
    if index_of is None:
        return {}
    try:
        return {"index": np.asarray(index_of(factors), dtype=np.int64)}
    except ValueError:  # factors off the dataset's grid
        return {}


class ImageBatches:
    """Batches of ``n`` images whose factors come from ``sampler`` (by default the dataset's own
    distribution, :class:`~disentkit.data.samplers.DatasetSampler`: uniform over a procedural grid,
    the observed rows of a labelled set such as CelebA).

    Extras: ``"index"``, the grid index of each factor vector (C order; a memory bank's key; absent
    when the dataset has no grid, as pendulum's continuous sampling).
    """

    kind = "images"
    num_views = 1

    def __init__(self, dataset: GroundTruthData, sampler: FactorSampler | None = None):
        self.dataset = _check_dataset(dataset)
        self.sampler = DatasetSampler(dataset) if sampler is None else _check_factor_sampler(sampler, dataset)
        self.factor_space = dataset.factor_space

    def draw(self, n: int, rng: RandomLike) -> Batch:
        """Draw the factors, then render them with the same generator."""
        gen = check_random_state(rng)
        factors = self.sampler.sample(n, gen)
        images = self.dataset.observations(factors, gen)
        return Batch("images", (images,), (factors,), _index_extra(self.dataset, factors))

    def __repr__(self) -> str:
        return f"ImageBatches(sampler={self.sampler!r})"


class PairBatches:
    """Weakly supervised pairs: two renderings of factor vectors that differ in a few factors.

    ``pairs`` is a :class:`~disentkit.data.samplers.WeakPairSampler`. Both views are rendered in one
    call. Extras: ``"changed"`` (B, F) bool, the factors the pair changed; ``"index"`` of view 1.
    """

    kind = "pairs"
    num_views = 2

    def __init__(self, dataset: GroundTruthData, pairs: WeakPairSampler):
        self.dataset = _check_dataset(dataset)
        if not isinstance(pairs, WeakPairSampler):
            raise ValueError(f"pairs must be a WeakPairSampler, got {type(pairs).__name__}")
        self.pairs = _check_factor_sampler(pairs, dataset)
        self.factor_space = dataset.factor_space

    def draw(self, n: int, rng: RandomLike) -> Batch:
        """Draw ``n`` pairs and render both views."""
        gen = check_random_state(rng)
        f1, f2, changed = self.pairs.sample(n, gen)
        x = self.dataset.observations(np.concatenate([f1, f2]), gen)
        return Batch("pairs", (x[:n], x[n:]), (f1, f2),
                     {"changed": changed, **_index_extra(self.dataset, f1)})

    def __repr__(self) -> str:
        return f"PairBatches({self.pairs!r})"


class ViewBatches:
    """Several augmented views of the same images (the self-supervised batch).

    The images are drawn as by :class:`ImageBatches`; then each pipeline of ``views`` (a
    :class:`disentkit.data.augment.MultiView`, or anything with ``num_views`` and
    ``views(images, rng) -> tuple of tensors``) makes one view, its random parameters drawn from the
    same generator. Every view carries the same factors. Extras: ``"index"``.
    """

    kind = "views"

    def __init__(self, dataset: GroundTruthData, views: Any, sampler: FactorSampler | None = None):
        self.images = ImageBatches(dataset, sampler)
        if not callable(getattr(views, "views", None)) or not isinstance(getattr(views, "num_views", None), int):
            raise ValueError(f"views must have num_views and views(images, rng), got {type(views).__name__}")
        self.augment = views
        self.num_views = int(views.num_views)
        self.factor_space = dataset.factor_space

    @property
    def dataset(self) -> GroundTruthData:
        """The dataset the images are rendered from."""
        return self.images.dataset

    def draw(self, n: int, rng: RandomLike) -> Batch:
        """Render ``n`` images and augment them once per view."""
        gen = check_random_state(rng)
        base = self.images.draw(n, gen)
        views = tuple(self.augment.views(_as_tensor(base.images), gen))
        return Batch("views", views, (base.factors[0],) * len(views), base.extras)

    def __repr__(self) -> str:
        return f"ViewBatches({self.augment!r}, sampler={self.images.sampler!r})"
