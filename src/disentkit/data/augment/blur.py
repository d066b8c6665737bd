"""Gaussian blur with a per-image standard deviation, as a vectorised separable filter."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from disentkit._random import RandomLike
from disentkit.data.augment import _kernels as K
from disentkit.data.augment._base import Augmentation, Params, apply_rows, check_range
from disentkit.validation import check_int

__all__ = ["GaussianBlur", "default_kernel_size", "gaussian_kernels"]


def default_kernel_size(size: int) -> int:
    """The odd kernel size nearest ``size / 10`` (BYOL's 23 for 224; 7 for 64): ``2 round(size / 20) + 1``."""
    return 2 * int(round(size / 20.0)) + 1


def gaussian_kernels(sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels (n, k): ``w_d ∝ exp(-d^2 / (2 sigma^2))``, ``d = -k//2 .. k//2``."""
    r = kernel_size // 2
    d = torch.arange(-r, r + 1, dtype=sigma.dtype, device=sigma.device)
    w = torch.exp(-(d[None, :] ** 2) / (2.0 * sigma[:, None] ** 2))
    return w / w.sum(dim=1, keepdim=True)


def _taps(x: torch.Tensor, weights: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """``sum_d weights[:, d] * x.narrow(dim, d, size)``: a per-image 1-D correlation along ``dim``."""
    k = weights.shape[1]
    w = weights.view(-1, 1, 1, 1, k)
    out = x.narrow(dim, 0, size) * w[..., 0]
    for d in range(1, k):
        out.addcmul_(x.narrow(dim, d, size), w[..., d])
    return out


class GaussianBlur(Augmentation):
    """Blur each image with a Gaussian of its own ``sigma ~ U(sigma)``, with probability ``p``.

    The 2-D kernel is separable, ``G(y, x) = g(y) g(x)``, with ``g`` the normalised
    ``exp(-d^2 / (2 sigma^2))`` on ``d = -r .. r``, ``r = k // 2`` (BYOL, Grill et al. 2020:
    ``sigma ~ U[0.1, 2.0]``, kernel about a tenth of the image side). Borders are reflected
    (``x[-1] = x[1]``). The whole batch is filtered by two passes, each a sum of ``k`` shifted copies
    weighted by each image's own kernel (``addcmul``; no Python loop over images). ``kernel_size=None`` uses
    :func:`default_kernel_size` of H for the vertical and of W for the horizontal pass; an int
    must be odd. Weights sum to 1, so a constant image is unchanged.

    :meth:`sample_params` returns ``"apply"`` (B,) and ``"sigma"`` (B,).

    >>> blur = GaussianBlur(sigma=(0.1, 2.0), p=1.0)
    >>> out = blur(torch.rand(8, 3, 64, 64), np.random.default_rng(0))   # 7-tap kernels
    """

    name = "blur"
    num_uniforms = 2

    def __init__(self, sigma: Sequence[float] = (0.1, 2.0), kernel_size: int | None = None, p: float = 1.0):
        super().__init__(p)
        self.sigma = check_range(sigma, "sigma", 0.0, float("inf"), low_open=True)
        if kernel_size is not None:
            kernel_size = check_int("kernel_size", kernel_size, 1)
            if kernel_size % 2 == 0:
                raise ValueError(f"kernel_size must be None (about H/10) or an odd int >= 1, got {kernel_size!r}")
        self.kernel_size = kernel_size

    @property
    def perturbs(self) -> tuple[str, ...]:
        return ("texture",)

    def get_params(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "kernel_size": self.kernel_size, "p": self.p}

    def kernel_sizes(self, height: int, width: int) -> tuple[int, int]:
        """The (vertical, horizontal) kernel sizes used on H x W images."""
        if self.kernel_size is not None:
            kh = kw = self.kernel_size
        else:
            kh, kw = default_kernel_size(height), default_kernel_size(width)
        if kh // 2 >= height or kw // 2 >= width:
            raise ValueError(f"kernel_size {self.kernel_size} is too large for {height}x{width} images "
                             "(its radius must be below the image side)")
        return kh, kw

    def sample_params(self, batch: int, rng: RandomLike, size: tuple[int, int] | None = None) -> Params:
        u = self._uniforms(batch, rng)
        lo, hi = self.sigma
        return {"apply": u[:, 0] < self.p, "sigma": lo + (hi - lo) * u[:, 1]}

    def apply(self, images: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        kh, kw = self.kernel_sizes(images.shape[2], images.shape[3])
        if K.compiled_ok(images) and params["apply"].any():
            x = K.owned_contiguous(images, inplace)
            sigma = torch.as_tensor(params["sigma"], dtype=torch.float64)
            wv = gaussian_kernels(sigma, kh).to(x.dtype).numpy()
            wh = gaussian_kernels(sigma, kw).to(x.dtype).numpy()
            K.blur_kernel(K.as_array(x), params["apply"], wv, wh)
            return x

        def blur(x: torch.Tensor, idx: Any) -> torch.Tensor:
            n, _, h, w = x.shape
            sigma = torch.as_tensor(params["sigma"][idx], dtype=torch.float64, device=x.device)
            rh, rw = kh // 2, kw // 2
            y = F.pad(x, (rw, rw, rh, rh), mode="reflect") if (rh or rw) else x
            # each pass: a sum of k shifted slices weighted per image, accumulated in place (timings of
            # the alternatives: benchmarks/augment_speed.py)
            y = _taps(y, gaussian_kernels(sigma, kh).to(x.dtype), h, dim=2)
            y = _taps(y, gaussian_kernels(sigma, kw).to(x.dtype), w, dim=3)
            return y.clamp_(0.0, 1.0)

        return apply_rows(images, params["apply"], blur, inplace)
