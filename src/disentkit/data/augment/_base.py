"""The shared machinery of the batch augmentations: the op base class, input checks, masking.

Every op draws *all* of its per-image random numbers in one vectorised call,
``rng.random((B, k))``, whatever its probability ``p`` (so a batch always consumes the same
amount of the stream's generator), and turns those uniforms into parameters in numpy. It then
applies them with vectorised torch ops on the whole batch (or on the rows it applies to).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch

from disentkit._random import RandomLike, check_random_state
from disentkit.validation import check_number

Params = dict[str, np.ndarray]

#: The kinds of ground-truth factor an op can perturb (see :mod:`disentkit.data.augment.factors`).
PERTURBATION_KINDS = (
    "position_x",  # horizontal position in the image
    "position_y",  # vertical position in the image
    "scale",  # apparent size
    "orientation",  # in-plane rotation or azimuth (mirrored by a horizontal flip)
    "elevation",  # vertical viewpoint (no op here perturbs it; listed so rules can name it)
    "hue",
    "saturation",
    "brightness",  # intensity, contrast, lighting
    "texture",  # fine detail, edges, noise
)


def check_images(images: Any) -> torch.Tensor:
    """Check a batch of images: a floating torch tensor of shape (B, C, H, W)."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor (B, C, H, W), got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be float (float32 in [0, 1]), got dtype {images.dtype}")
    return images


def restore_layout(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``out`` in the memory format of ``like``: channels-last if ``like`` is, else standard contiguous."""
    if like.dim() == 4 and like.shape[1] > 1 and like.is_contiguous(memory_format=torch.channels_last) \
            and not like.is_contiguous():
        return out.contiguous(memory_format=torch.channels_last)
    return out.contiguous()


def check_range(value: Any, what: str, low: float, high: float, low_open: bool = False) -> tuple[float, float]:
    """A pair ``(a, b)`` of finite numbers with ``low <= a <= b <= high`` (``low < a`` if ``low_open``)."""
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair (min, max), got {value!r}") from None
    a = check_number(f"{what}[0]", a, low, high, strict_min=low_open, finite=True)
    b = check_number(f"{what}[1]", b, a, high, finite=True)
    return (a, b)


def as_tensor(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """A numpy parameter array as a tensor of ``like``'s dtype and device."""
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


def apply_rows(images: torch.Tensor, apply: np.ndarray,
               fn: Callable[[torch.Tensor, np.ndarray | slice], torch.Tensor], inplace: bool = False) -> torch.Tensor:
    """``fn(rows, index)`` on the rows where ``apply`` is true; the other rows are returned untouched.

    ``index`` selects the same rows of the per-image parameter arrays (a slice when every row
    applies). ``fn`` must not modify its input in place. When no row applies, ``images`` itself is
    returned. With ``inplace`` (the caller owns ``images``) the rows are written back into
    ``images`` instead of a copy.
    """
    if apply.all():
        return fn(images, slice(None))
    if not apply.any():
        return images
    idx = np.flatnonzero(apply)
    t_idx = torch.as_tensor(idx, device=images.device)
    out = images if inplace else images.clone()
    return out.index_copy_(0, t_idx, fn(images.index_select(0, t_idx), idx))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


class Augmentation(ABC):
    """An image augmentation applied to a whole batch with a numpy generator.

    ``op(images, rng)``: ``images`` float (B, C, H, W) in [0, 1] (standard or channels-last layout),
    ``rng`` the numpy ``Generator`` of the stream (or an int seed). The result has the same shape,
    dtype, device and memory layout, with values clipped to [0, 1]; the input is never modified
    in place (it may be returned as is when no image is augmented).

    A call is ``apply(images, sample_params(B, rng, (H, W)))``: :meth:`sample_params` makes exactly
    one ``rng.random((B, k))`` draw and returns numpy arrays (one row per image; ``"apply"`` is the
    bool mask of the images the op applies to, drawn with probability ``p``); :meth:`apply` is
    deterministic and vectorised. ``apply(..., inplace=True)`` may overwrite ``images`` (a
    pipeline passes it for the intermediate batches it owns, never for its input).

    Subclasses set :attr:`name` (the registry name), :attr:`colour_op` (a pixel-value op, never on
    binary data), and implement :meth:`sample_params`, :meth:`apply`, :meth:`get_params` and, where
    it applies, :attr:`perturbs` and :attr:`required_channels`.
    """

    name: ClassVar[str] = ""
    colour_op: ClassVar[bool] = False
    num_uniforms: ClassVar[int] = 1

    def __init__(self, p: float):
        self.p = check_number("p", p, 0.0, 1.0)

    # -- what the op does ----------------------------------------------------------------------
    @property
    def perturbs(self) -> tuple[str, ...]:
        """The kinds of factor (:data:`PERTURBATION_KINDS`) this op perturbs when it applies."""
        return ()

    @property
    def required_channels(self) -> int | None:
        """The channel count this op needs (3 for hue, saturation, grayscale), or ``None``."""
        return None

    def check_channels(self, channels: int) -> None:
        """Raise a ValueError if this op cannot run on images with ``channels`` channels."""
        need = self.required_channels
        if need is not None and int(channels) != need:
            raise ValueError(f"{self!r} needs {need}-channel (RGB) images, got channels={channels}; "
                             "leave it out for this dataset")

    # -- randomness and application -------------------------------------------------------------
    def _uniforms(self, batch: int, rng: RandomLike) -> np.ndarray:
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 0:
            raise ValueError(f"batch must be an int >= 0, got {batch!r}")
        return check_random_state(rng).random((int(batch), self.num_uniforms))

    @abstractmethod
    def sample_params(self, batch: int, rng: RandomLike, size: tuple[int, int] | None = None) -> Params:
        """Draw the parameters of ``batch`` images (of ``size`` = (H, W); square if ``None``)."""

    @abstractmethod
    def apply(self, images: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        """Apply drawn ``params`` to ``images`` (B, C, H, W) (no checks, any memory layout); with
        ``inplace`` the op may overwrite ``images`` (and return it)."""

    def absorb(self, params: Params, op: "Augmentation", op_params: Params) -> bool:
        """Take over ``op`` (the next op of a pipeline, with its drawn ``op_params``) by adding to
        ``params`` (a copy the pipeline owns): True if :meth:`apply` with the new ``params`` now gives
        what this op then ``op`` would. By default nothing is absorbed."""
        return False

    def __call__(self, images: torch.Tensor, rng: RandomLike) -> torch.Tensor:
        x = check_images(images)
        self.check_channels(x.shape[1])
        params = self.sample_params(x.shape[0], rng, (x.shape[2], x.shape[3]))
        return restore_layout(self.apply(x, params), x)

    # -- description ----------------------------------------------------------------------------
    @abstractmethod
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments of this op (``build_augmentation(name, **get_params())`` rebuilds it)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able spec ``{"name": ..., **params}`` that the registry rebuilds."""
        return {"name": self.name, **{k: _jsonable(v) for k, v in self.get_params().items()}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return repr(value)


def as_pair(value: Sequence[float]) -> tuple[float, float]:
    """A validated pair as a tuple of floats (helper for ``get_params``)."""
    return (float(value[0]), float(value[1]))
