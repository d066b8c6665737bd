"""Pipelines of batch augmentations (one view) and multi-view specs (several pipelines)."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch

from disentkit._random import RandomLike, check_random_state
from disentkit.data.augment._base import Augmentation, Params, check_images, restore_layout

__all__ = ["Compose", "MultiView", "ViewPipeline", "ViewSpec"]


class Compose:
    """Apply augmentations in order: ``x <- op_k(x)`` for ``op_1 .. op_K``, each drawing from ``rng``.

    The ops draw their parameters one after the other from the same generator, so the views are a
    pure function of the generator state. Inputs are checked once; the output keeps the input's
    shape, dtype, device and memory layout (channels-last in, channels-last out; otherwise standard
    contiguous). An empty pipeline returns its input.

    >>> from disentkit.data.augment import RandomResizedCrop, HorizontalFlip
    >>> pipe = Compose([RandomResizedCrop(scale=(0.5, 1.0)), HorizontalFlip()])
    >>> out = pipe(torch.rand(8, 3, 64, 64), np.random.default_rng(0))
    """

    def __init__(self, ops: Sequence[Augmentation] = ()):
        if isinstance(ops, Augmentation):
            ops = (ops,)
        ops = tuple(ops)
        for op in ops:
            if not isinstance(op, Augmentation):
                raise ValueError(f"a pipeline holds augmentation ops, got {type(op).__name__} ({op!r})")
        self.ops: tuple[Augmentation, ...] = ops

    def check_channels(self, channels: int) -> None:
        """Raise a ValueError naming the first op that cannot run on ``channels``-channel images."""
        for op in self.ops:
            op.check_channels(channels)

    def sample_params(self, batch: int, rng: RandomLike, size: tuple[int, int] | None = None) -> list[Params]:
        """The parameters of every op, drawn in order (what :meth:`__call__` draws)."""
        gen = check_random_state(rng)
        return [op.sample_params(batch, gen, size) for op in self.ops]

    def apply(self, images: torch.Tensor, params: Sequence[Params]) -> torch.Tensor:
        """Apply drawn parameters (from :meth:`sample_params`)."""
        params = list(params)
        x = images
        i = 0
        while i < len(self.ops):
            op, par = self.ops[i], dict(params[i])
            i += 1
            while i < len(self.ops) and op.absorb(par, self.ops[i], params[i]):  # e.g. crop + flip in one pass
                i += 1
            x = op.apply(x, par, inplace=x is not images)  # the intermediate batches are ours
        return x

    def __call__(self, images: torch.Tensor, rng: RandomLike) -> torch.Tensor:
        x = check_images(images)
        self.check_channels(x.shape[1])
        # every op's parameters, drawn in pipeline order (applying draws nothing), then applied; the
        # input is never overwritten
        params = self.sample_params(x.shape[0], rng, (x.shape[2], x.shape[3]))
        return restore_layout(self.apply(x, params), x)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Augmentation]:
        return iter(self.ops)

    def __getitem__(self, i: int) -> Augmentation:
        return self.ops[i]

    def to_dict(self) -> dict[str, Any]:
        """``{"ops": [op.to_dict(), ...]}`` (rebuilt by :func:`~disentkit.data.augment.build_pipeline`)."""
        return {"ops": [op.to_dict() for op in self.ops]}

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(map(repr, self.ops)) + "])"


#: Another name for :class:`Compose` (the pipeline that makes one view).
ViewPipeline = Compose


class MultiView:
    """Several pipelines applied to the same images: ``views(x, rng) = (T_1(x), ..., T_V(x))``.

    The views draw from the generator in order (all of view 1's parameters, then view 2's, ...).
    BYOL's asymmetric ``T`` and ``T'`` are two pipelines; :func:`~disentkit.data.augment.build_views`
    builds them from names. This is the ``views`` object of
    :class:`~disentkit.data.batch.ViewBatches`.

    >>> from disentkit.data.augment import build_views
    >>> byol = build_views("byol", channels=3)
    >>> v1, v2 = byol.views(torch.rand(8, 3, 64, 64), np.random.default_rng(0))
    """

    def __init__(self, pipelines: Sequence[Compose | Sequence[Augmentation] | Augmentation]):
        if isinstance(pipelines, (Compose, Augmentation)):
            raise ValueError("MultiView takes a list of pipelines (one per view), got a single pipeline")
        pipes = tuple(p if isinstance(p, Compose) else Compose(p) for p in pipelines)
        if not pipes:
            raise ValueError("MultiView needs at least one pipeline (one per view)")
        self.pipelines: tuple[Compose, ...] = pipes

    @property
    def num_views(self) -> int:
        """The number of views."""
        return len(self.pipelines)

    def check_channels(self, channels: int) -> None:
        """Raise a ValueError naming the view and op that cannot run on ``channels``-channel images."""
        for k, pipe in enumerate(self.pipelines):
            try:
                pipe.check_channels(channels)
            except ValueError as exc:
                raise ValueError(f"view {k + 1}: {exc}") from None

    def views(self, images: torch.Tensor, rng: RandomLike) -> tuple[torch.Tensor, ...]:
        """One augmented batch per pipeline, each (B, C, H, W)."""
        x = check_images(images)
        self.check_channels(x.shape[1])
        gen = check_random_state(rng)
        return tuple(pipe(x, gen) for pipe in self.pipelines)

    __call__ = views

    def __len__(self) -> int:
        return self.num_views

    def __iter__(self) -> Iterator[Compose]:
        return iter(self.pipelines)

    def __getitem__(self, i: int) -> Compose:
        return self.pipelines[i]

    def to_dict(self) -> dict[str, Any]:
        """``{"views": [[op dict, ...], ...]}`` (rebuilt by :func:`~disentkit.data.augment.build_views`)."""
        return {"views": [[op.to_dict() for op in pipe.ops] for pipe in self.pipelines]}

    def __repr__(self) -> str:
        inner = ", ".join(repr(p) for p in self.pipelines)
        return f"MultiView([{inner}])"


#: Another name for :class:`MultiView`.
ViewSpec = MultiView
