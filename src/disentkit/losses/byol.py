"""Predictor + stop-gradient cosine losses: BYOL and SimSiam.

Both compare an online *prediction* ``p`` with a *target* ``z`` that receives no gradient
(BYOL: the EMA target network's projection; SimSiam: the same network's projection under
stop-gradient). The losses detach ``z`` themselves, so a caller cannot forget it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.losses._checks import check_pair
from disentkit.validation import check_number


def _cosine(p: torch.Tensor, z: torch.Tensor, eps: float) -> torch.Tensor:
    """Row-wise ``cos(p_b, z_b)`` with both rows scaled to unit norm (norms clamped at ``eps``), (B,)."""
    return (F.normalize(p, dim=1, eps=eps) * F.normalize(z, dim=1, eps=eps)).sum(1)


class BYOLLoss(nn.Module):
    """BYOL's normalised squared error (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020).

    ``l(p, z) = mean_b || p_b/||p_b|| - z_b/||z_b|| ||^2 = mean_b [2 - 2 cos(p_b, sg(z_b))]``

    with ``p`` the online prediction q(g(f(v))) and ``z`` the target projection g_ξ(f_ξ(v'))
    of the other view; ``z`` is detached (``sg``). The symmetrised BYOL loss swaps the views,
    ``L = l(p1, z2) + l(p2, z1)``, which :meth:`symmetric` computes. (The official code's
    ``-2 sum p̂·ẑ`` differs from ``l`` by a constant only.) Inputs are (B, D); norms are
    clamped at ``eps`` before dividing.

    >>> loss_fn = BYOLLoss()
    >>> p1, p2 = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16, requires_grad=True)
    >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)  # target projections of views 1 and 2
    >>> loss = loss_fn.symmetric(p1, p2, z1, z2)  # = loss_fn(p1, z2) + loss_fn(p2, z1)
    >>> loss.backward()
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = check_number("eps", eps, 0.0, strict_min=True, finite=True)

    def forward(self, p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``mean_b [2 - 2 cos(p_b, sg(z_b))]`` for p, z of shape (B, D); a scalar in [0, 4]."""
        check_pair("p", p, "z", z)
        return (2.0 - 2.0 * _cosine(p, z.detach(), self.eps)).mean()

    def symmetric(self, p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """``l(p1, z2) + l(p2, z1)``: predictions of views 1, 2 against the targets of views 2, 1."""
        return self(p1, z2) + self(p2, z1)


class NegativeCosineLoss(nn.Module):
    """SimSiam's distance ``D(p, z) = -mean_b cos(p_b, sg(z_b))`` (Chen & He, "Exploring Simple
    Siamese Representation Learning", CVPR 2021, Eq. 1 with the stop-gradient of Eq. 3).

    ``z`` is detached; inputs are (B, D), norms clamped at ``eps``. The value lies in [-1, 1].

    >>> d = NegativeCosineLoss()
    >>> d(torch.randn(4, 8, requires_grad=True), torch.randn(4, 8)).shape
    torch.Size([])
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = check_number("eps", eps, 0.0, strict_min=True, finite=True)

    def forward(self, p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``-mean_b cos(p_b, sg(z_b))`` for p, z of shape (B, D)."""
        check_pair("p", p, "z", z)
        return -_cosine(p, z.detach(), self.eps).mean()


class SimSiamLoss(nn.Module):
    """SimSiam's symmetric loss ``L = ½ D(p1, sg(z2)) + ½ D(p2, sg(z1))`` (Chen & He, CVPR 2021, Eq. 3).

    ``p_k = h(f(x_k))`` are the predictor outputs and ``z_k = f(x_k)`` the projections of view k;
    ``D`` is :class:`NegativeCosineLoss`. Gradients reach the z's only through the p's. The
    minimum is -1.

    >>> loss_fn = SimSiamLoss()
    >>> z1, z2 = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16, requires_grad=True)
    >>> p1, p2 = 2 * z1, 2 * z2  # stand-ins for the predictor
    >>> loss_fn(p1, p2, z1, z2).backward()
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.distance = NegativeCosineLoss(eps)

    def forward(self, p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """``½ D(p1, sg z2) + ½ D(p2, sg z1)``; all four inputs (B, D) of one shape."""
        check_pair("p1", p1, "p2", p2)
        check_pair("z1", z1, "z2", z2)
        return 0.5 * self.distance(p1, z2) + 0.5 * self.distance(p2, z1)
