"""(Conditional) mutual information between two code subspaces, minimised by shuffling
(Funke, Vicol, Wang, Kümmerer, Zemel, Bethge, CoLLAs 2022, "Disentanglement and Generalization
Under Correlation Shifts", arXiv 2112.14754; spec ``methods_vae.md`` §5.1).

A batch of codes ``z = [z1, z2]`` is a sample of the joint ``q(z1, z2)``. Permuting ``z1`` across
the rows (``z2`` kept) gives a sample of ``q(z1) q(z2)``; permuting it only **within the rows of
one class** ``a = v`` gives a sample of ``q(z1 | a) q(z2 | a) p(a)``. Telling the joint from the
shuffle estimates ``I(z1; z2)`` or ``I(z1; z2 | a)``:

- **density ratio** (:class:`ShuffleDiscriminatorLoss`): a discriminator D gets the joint rows as
  real (label 1) and the shuffled rows as fake (label 0) and is trained with the binary
  cross-entropy; the encoder gets the same cross-entropy with the labels flipped (the GAN
  generator loss), which it lowers by making the shuffle indistinguishable from the joint;
- **kernel two-sample test** (:class:`ShuffleMMDLoss`): the RBF maximum mean discrepancy between
  the joint rows and the shuffled rows, within each class (conditional) or over the batch.

:func:`group_shuffle` draws the within-class permutation; rows without a label (weak supervision)
form singleton groups and are never moved.

>>> gen = torch.Generator().manual_seed(0)
>>> z1, a = torch.randn(8, 2), torch.tensor([0, 1, 0, 1, -1, 0, 1, 1])
>>> z1_shuffled = group_shuffle(z1, a, gen)  # row 4 (label missing) stays put
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.losses._checks import check_features, check_pair
from disentkit.validation import check_number

__all__ = ["ShuffleDiscriminatorLoss", "ShuffleMMDLoss", "group_shuffle", "group_permutation", "rbf_mmd"]


def _check_groups(groups: torch.Tensor, batch: int) -> torch.Tensor:
    if not isinstance(groups, torch.Tensor) or groups.dim() != 1 or groups.shape[0] != batch \
            or groups.is_floating_point() or groups.is_complex():
        got = tuple(groups.shape) if isinstance(groups, torch.Tensor) else type(groups).__name__
        raise ValueError(f"groups must be an integer tensor (B,) = ({batch},) of class labels (-1: missing), got {got}")
    return groups.long()


def group_permutation(groups: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Row indices ``perm`` (B,) such that ``x[perm]`` permutes the rows within each group.

    ``groups`` (B,) holds a class label >= 0 per row, or a negative value for a row without a label;
    such a row is its own group (``perm[i] = i``). The permutation of each group is uniform: one
    ``U(0, 1)`` key per row is drawn (on the CPU) from ``generator`` (always B draws, so the
    generator advances by the same amount whatever the labels), the rows of a group are ranked by
    their key, and the k-th row of the group in index order receives the k-th row in key order.
    """
    groups = _check_groups(groups, groups.shape[0] if isinstance(groups, torch.Tensor) else -1)
    b = groups.shape[0]
    keys = torch.rand(b, generator=generator, dtype=torch.float64).to(groups.device)
    rows = torch.arange(b, device=groups.device)
    top = groups.max().clamp_min(0) + 1 if b else 0
    group = torch.where(groups >= 0, groups, top + rows)  # missing rows: singleton groups
    by_index = torch.argsort(group, stable=True)  # each group's rows in index order
    by_key = torch.argsort(group.double() + keys, stable=True)  # ... in random order (keys < 1)
    perm = torch.empty_like(rows)
    perm[by_index] = by_key
    return perm


def group_shuffle(x: torch.Tensor, groups: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``x`` (B, d) with its rows permuted within each group of ``groups`` (:func:`group_permutation`).

    ``x[perm]`` keeps the gradient: an encoder gets gradients through the shuffled copy too. With
    every row in one group (``groups = zeros``) it is the unconditional shuffle across the batch.
    """
    check_features("x", x)
    _check_groups(groups, x.shape[0])
    return x[group_permutation(groups, generator)]


def _masked_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return values.mean()
    weight = weight.to(values.dtype)
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


class ShuffleDiscriminatorLoss(nn.Module):
    """The binary cross-entropy of a discriminator that tells joint rows (1) from shuffled rows (0).

    With logits ``r_i = D(joint_i)`` and ``s_i = D(shuffled_i)`` over the rows ``i`` that take part
    (``mask``; all by default, ``n`` of them)::

        L_D   = ½ [ (1/n) Σ_i BCE(r_i, 1) + (1/n) Σ_i BCE(s_i, 0) ]
              = ½ (1/n) Σ_i [softplus(−r_i) + softplus(s_i)]
        L_enc = ½ [ (1/n) Σ_i BCE(r_i, 0) + (1/n) Σ_i BCE(s_i, 1) ]     (``flip=True``)

    ``L_D`` trains D (on detached codes); ``L_enc``, the flipped-label (GAN generator) loss, trains
    the encoder through D's logits. At D's optimum ``r − s`` estimates the log density ratio
    ``log q(z1, z2 | a) / q(z1 | a) q(z2 | a)``. A batch where no row takes part gives 0.

    >>> loss = ShuffleDiscriminatorLoss()
    >>> loss(torch.zeros(4, 1), torch.zeros(4, 1))  # an undecided D: log 2
    tensor(0.6931)
    """

    def forward(self, logits_real: torch.Tensor, logits_shuffled: torch.Tensor,
                mask: torch.Tensor | None = None, *, flip: bool = False) -> torch.Tensor:
        real, fake = logits_real.reshape(-1), logits_shuffled.reshape(-1)
        if real.shape != fake.shape:
            raise ValueError(f"logits_real and logits_shuffled must have the same shape, got "
                             f"{tuple(logits_real.shape)} and {tuple(logits_shuffled.shape)}")
        if mask is not None and tuple(mask.reshape(-1).shape) != tuple(real.shape):
            raise ValueError(f"mask must have one entry per row ({real.shape[0]}), got {tuple(mask.shape)}")
        weight = None if mask is None else mask.reshape(-1)
        if flip:  # BCE(r, 0) = softplus(r), BCE(s, 1) = softplus(-s)
            per_row = F.softplus(real) + F.softplus(-fake)
        else:  # BCE(r, 1) = softplus(-r), BCE(s, 0) = softplus(s)
            per_row = F.softplus(-real) + F.softplus(fake)
        return 0.5 * _masked_mean(per_row, weight)


def rbf_mmd(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float] = (1.0,),
            groups: torch.Tensor | None = None) -> torch.Tensor:
    """The (biased, V-statistic) squared RBF maximum mean discrepancy between rows ``x`` and ``y``.

    ``k(u, v) = Σ_σ exp(−|u − v|² / (2σ²))`` over ``bandwidths``. Without ``groups``::

        MMD² = (1/n²) Σ_ij [k(x_i, x_j) + k(y_i, y_j) − 2 k(x_i, y_j)]

    With ``groups`` (B,) (class labels, negative: the row takes no part), the class-weighted mean
    of the MMD² within each class: ``Σ_v (n_v / n) MMD²(x[g = v], y[g = v])``, n the rows with a
    label. ``x[i]`` and ``y[i]`` must belong to the same class (a within-class shuffle). Computed
    from the B x B kernel matrices and a same-class mask, no loop over classes. Gradients reach
    both inputs. Gretton et al., "A Kernel Two-Sample Test" (JMLR 2012), Eq. 5.
    """
    check_pair("x", x, "y", y)
    widths = [check_number("bandwidth", s, 0.0, strict_min=True) for s in bandwidths]
    if not widths:
        raise ValueError("bandwidths must hold at least one positive number")

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        sq = (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)
        return sum(torch.exp(-sq / (2.0 * s * s)) for s in widths)

    gap = kernel(x, x) + kernel(y, y) - kernel(x, y) - kernel(y, x)  # symmetric: mean(k_xy) counted twice
    if groups is None:
        return gap.mean()
    groups = _check_groups(groups, x.shape[0])
    valid = groups >= 0
    same = (groups.unsqueeze(1) == groups.unsqueeze(0)) & valid.unsqueeze(1) & valid.unsqueeze(0)
    n_class = same.sum(1).to(x.dtype)  # n_{g_i} for a labelled row i
    n = valid.sum().to(x.dtype)
    row_weight = torch.where(valid, 1.0 / (n.clamp_min(1.0) * n_class.clamp_min(1.0)), torch.zeros_like(n_class))
    return (gap * same.to(x.dtype) * row_weight.unsqueeze(1)).sum()


class ShuffleMMDLoss(nn.Module):
    """``MMD²(joint, shuffled)`` with an RBF kernel (:func:`rbf_mmd`): the encoder's term of the
    ``mmd_cond`` (within-class, ``groups`` given) and ``mmd_uncond`` (whole batch) estimators.

    >>> loss = ShuffleMMDLoss(bandwidths=(0.5, 1.0))
    >>> z = torch.randn(16, 4)
    >>> loss(z, z)  # a shuffle equal to the joint: 0
    tensor(0.)
    """

    def __init__(self, bandwidths: Sequence[float] = (1.0,)) -> None:
        super().__init__()
        self.bandwidths = [check_number("bandwidth", s, 0.0, strict_min=True) for s in bandwidths]
        if not self.bandwidths:
            raise ValueError("bandwidths must hold at least one positive number")

    def forward(self, joint: torch.Tensor, shuffled: torch.Tensor,
                groups: torch.Tensor | None = None) -> torch.Tensor:
        check_features("joint", joint)
        return rbf_mmd(joint, shuffled, self.bandwidths, groups)
