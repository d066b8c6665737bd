"""Contrastive losses with in-batch negatives: two-view InfoNCE and CMC's N-view combinations.

Reference: Tian, Krishnan, Isola, "Contrastive Multiview Coding" (ECCV 2020), §3.1-3.2; the
InfoNCE bound of van den Oord, Li, Vinyals, "Representation Learning with Contrastive
Predictive Coding" (2018). For CMC's memory bank with NCE, see :mod:`disentkit.losses.memory_bank`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.losses._checks import check_pair
from disentkit.validation import check_choice, check_number

MULTIVIEW_MODES = ("core", "full")


class InfoNCELoss(nn.Module):
    """Two-view InfoNCE with in-batch negatives and a cosine critic (CMC Eq. 2 with k = B - 1).

    With ``s_ij = cos(a_i, b_j) / τ`` (the B x B similarity matrix of the two views; row i's
    positive is ``b_i``, its negatives the other rows of view b),

    ``L^{a,b} = -(1/B) sum_i log[ exp(s_ii) / sum_j exp(s_ij) ]``   (cross-entropy, target i)

    and with ``symmetric=True`` (the default) CMC's symmetric loss ``L(a, b) = L^{a,b} + L^{b,a}``
    (a **sum**; ``L^{b,a}`` is the same with the transposed matrix). Negatives come from the other
    view only (as CMC; not SimCLR's NT-Xent, which also contrasts within a view). τ =
    ``temperature`` = 0.07 (CMC's default). ``log B`` minus the one-direction loss is the InfoNCE
    lower bound on I(a; b).

    >>> loss_fn = InfoNCELoss(temperature=0.07)
    >>> a, b = torch.randn(16, 128, requires_grad=True), torch.randn(16, 128)
    >>> loss_fn(a, b).backward()
    """

    def __init__(self, temperature: float = 0.07, symmetric: bool = True, eps: float = 1e-12) -> None:
        super().__init__()
        self.temperature = check_number("temperature", temperature, 0.0, strict_min=True, finite=True)
        if not isinstance(symmetric, bool):
            raise ValueError(f"symmetric must be True or False, got {symmetric!r}")
        self.symmetric = symmetric
        self.eps = check_number("eps", eps, 0.0, strict_min=True, finite=True)

    def logits(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``s_ij = cos(a_i, b_j) / τ``, (B, B), for a and b of shape (B, D)."""
        check_pair("a", a, "b", b)
        return F.normalize(a, dim=1, eps=self.eps) @ F.normalize(b, dim=1, eps=self.eps).T / self.temperature

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``L^{a,b}`` (+ ``L^{b,a}`` when symmetric) for two views (B, D) of the same B items."""
        s = self.logits(a, b)
        target = torch.arange(s.shape[0], device=s.device)
        loss = F.cross_entropy(s, target)
        if self.symmetric:
            loss = loss + F.cross_entropy(s.T, target)
        return loss


def multiview_contrastive_loss(
    features: Sequence[torch.Tensor], mode: str = "core", temperature: float = 0.07,
    symmetric: bool = True, pair_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """CMC's loss over M >= 2 views (Tian et al. 2020, §3.2), one (B, D) feature tensor per view.

    - ``mode="core"`` (V1 is the anchor): ``L_C = sum_{j=2}^{M} L(V1, Vj)``;
    - ``mode="full"`` (full graph): ``L_F = sum_{1 <= i < j <= M} L(Vi, Vj)``.

    ``L`` is ``pair_loss`` if given (any ``(a, b) -> scalar``), else
    ``InfoNCELoss(temperature, symmetric)``. With two views both modes are ``L(V1, V2)``.

    >>> views = [torch.randn(8, 32) for _ in range(3)]  # e.g. L, ab, depth: one encoder each
    >>> loss = multiview_contrastive_loss(views, mode="full")  # L(1,2) + L(1,3) + L(2,3)
    """
    check_choice("mode", mode, MULTIVIEW_MODES)
    features = list(features)
    if len(features) < 2:
        raise ValueError(f"multiview_contrastive_loss needs at least 2 views, got {len(features)}")
    for k in range(1, len(features)):
        check_pair("features[0]", features[0], f"features[{k}]", features[k])
    if pair_loss is None:
        pair_loss = InfoNCELoss(temperature, symmetric)
    if mode == "core":
        pairs = [(0, j) for j in range(1, len(features))]
    else:
        pairs = list(itertools.combinations(range(len(features)), 2))
    return sum(pair_loss(features[i], features[j]) for i, j in pairs)
