"""Barlow Twins' redundancy-reduction loss (Zbontar, Jing, Misra, LeCun, Deny; ICML 2021)."""

from __future__ import annotations

import torch
from torch import nn

from disentkit.losses._checks import check_pair
from disentkit.validation import check_number


def standardize(z: torch.Tensor, eps: float) -> torch.Tensor:
    """Each column of z (B, D) to mean 0 and unit *biased* std: ``(z - mean) / sqrt(var_biased + eps)``.

    This is ``BatchNorm1d(D, affine=False)`` in training mode, the official normalisation.
    """
    centred = z - z.mean(0, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(0, keepdim=True) + eps)


class BarlowTwinsLoss(nn.Module):
    """``L = sum_i (1 - C_ii)^2 + λ sum_i sum_{j != i} C_ij^2`` (Barlow Twins, Eq. 1-2).

    ``C = ẑ_a^T ẑ_b / N`` is the (D, D) cross-correlation of the two views' projections after
    standardising every dimension over the batch of N (:func:`standardize`: mean 0, **biased**
    std, i.e. dividing by N, with ``eps`` = 1e-5 added to the variance, as the official code's
    ``BatchNorm1d(affine=False)``). So ``C_ij`` is the Pearson correlation of ``z_a[:, i]`` and
    ``z_b[:, j]`` (up to ``eps``). ``λ = lambda_offdiag`` = 5.1e-3 is the paper's default.
    :meth:`terms` also returns the unweighted on- and off-diagonal sums.

    >>> loss_fn = BarlowTwinsLoss(lambda_offdiag=5.1e-3)
    >>> z_a, z_b = torch.randn(32, 64, requires_grad=True), torch.randn(32, 64)
    >>> loss_fn(z_a, z_b).backward()
    >>> sorted(loss_fn.terms(z_a, z_b))
    ['loss', 'off_diag', 'on_diag']
    """

    def __init__(self, lambda_offdiag: float = 5.1e-3, eps: float = 1e-5) -> None:
        super().__init__()
        self.lambda_offdiag = check_number("lambda_offdiag", lambda_offdiag, 0.0, finite=True)
        self.eps = check_number("eps", eps, 0.0, finite=True)

    def cross_correlation(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """``C = standardize(z_a)^T standardize(z_b) / N``, (D, D), for z_a, z_b of shape (N, D), N >= 2."""
        check_pair("z_a", z_a, "z_b", z_b, min_batch=2)
        return standardize(z_a, self.eps).T @ standardize(z_b, self.eps) / z_a.shape[0]

    def terms(self, z_a: torch.Tensor, z_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"on_diag": sum_i (1 - C_ii)^2, "off_diag": sum_{i != j} C_ij^2, "loss": on + λ off}``."""
        c = self.cross_correlation(z_a, z_b)
        diag = torch.diagonal(c)
        on_diag = (1.0 - diag).pow(2).sum()
        off_diag = c.pow(2).sum() - diag.pow(2).sum()
        return {"on_diag": on_diag, "off_diag": off_diag, "loss": on_diag + self.lambda_offdiag * off_diag}

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """The Barlow Twins loss of two (N, D) projections (a scalar)."""
        return self.terms(z_a, z_b)["loss"]
