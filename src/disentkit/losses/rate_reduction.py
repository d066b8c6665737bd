"""Coding rates and rate reduction (Yu et al. 2020, MCR²; CTRL, Dai et al., Entropy 2022,
arXiv 2111.06636; spec ``methods_ssl_causal.md`` §9).

Features are rows, ``Z`` (n, d) (the spec's ``Z ∈ R^{d×n}`` transposed), normally L2-normalised;
``eps_sq`` is the precision ε² (0.5 in every CTRL config). Log-determinants are taken in float64
(``torch.linalg.slogdet``) and the result is returned in the features' dtype.

- coding rate ``R(Z) = ½ log det(I_d + d / (n ε²) Zᵀ Z)``;
- class-conditional rate ``R_c(Z | Π) = Σ_j (n_j / (2 n)) log det(I_d + d / (n_j ε²) Z_jᵀ Z_j)``
  over the rows ``Z_j`` of class j (``n_j = tr Π_j``);
- rate reduction ``ΔR(Z, Π) = R(Z) − R_c(Z | Π)``;
- between two sets, ``ΔR(Z, Ẑ) = R(Z ∪ Ẑ) − ½ (R(Z) + R(Ẑ))``.
"""

from __future__ import annotations

import torch

from disentkit.losses._checks import check_features, check_pair
from disentkit.validation import check_number

__all__ = ["class_coding_rate", "coding_rate", "rate_reduction", "rate_reduction_between"]


def _logdet_identity_plus(z: torch.Tensor, scale: float) -> torch.Tensor:
    """``log det(I_d + scale Zᵀ Z)`` in float64 for rows ``z`` (n, d)."""
    z64 = z.to(torch.float64)
    gram = z64.T @ z64
    eye = torch.eye(gram.shape[0], dtype=torch.float64, device=z.device)
    return torch.linalg.slogdet(eye + scale * gram).logabsdet


def coding_rate(z: torch.Tensor, eps_sq: float = 0.5) -> torch.Tensor:
    """``R(Z) = ½ log det(I + d / (n ε²) Zᵀ Z)`` of features ``z`` (n, d).

    >>> coding_rate(torch.nn.functional.normalize(torch.randn(64, 8), dim=1)).shape
    torch.Size([])
    """
    check_features("z", z)
    eps_sq = check_number("eps_sq", eps_sq, 0.0, strict_min=True, finite=True)
    n, d = z.shape
    return (0.5 * _logdet_identity_plus(z, d / (n * eps_sq))).to(z.dtype)


def class_coding_rate(z: torch.Tensor, labels: torch.Tensor, eps_sq: float = 0.5) -> torch.Tensor:
    """``R_c(Z | Π) = Σ_j (n_j / 2n) log det(I + d / (n_j ε²) Z_jᵀ Z_j)`` over the classes in
    ``labels`` (n,) (integer; classes with no row contribute nothing)."""
    check_features("z", z)
    eps_sq = check_number("eps_sq", eps_sq, 0.0, strict_min=True, finite=True)
    labels = torch.as_tensor(labels, device=z.device)
    if labels.shape != (z.shape[0],) or labels.is_floating_point():
        raise ValueError(f"labels must be integer class labels of shape ({z.shape[0]},), got "
                         f"{labels.dtype} {tuple(labels.shape)}")
    n, d = z.shape
    total = torch.zeros((), dtype=torch.float64, device=z.device)
    for c in torch.unique(labels):
        rows = z[labels == c]
        n_c = rows.shape[0]
        total = total + n_c / (2 * n) * _logdet_identity_plus(rows, d / (n_c * eps_sq))
    return total.to(z.dtype)


def rate_reduction(z: torch.Tensor, labels: torch.Tensor, eps_sq: float = 0.5) -> torch.Tensor:
    """``ΔR(Z, Π) = R(Z) − R_c(Z | Π)``: large when the classes span different (orthogonal)
    subspaces that together span much."""
    return coding_rate(z, eps_sq) - class_coding_rate(z, labels, eps_sq)


def rate_reduction_between(z: torch.Tensor, z_hat: torch.Tensor, eps_sq: float = 0.5) -> torch.Tensor:
    """``ΔR(Z, Ẑ) = R(Z ∪ Ẑ) − ½ (R(Z) + R(Ẑ))`` of two sets of features of the same shape (CTRL's
    distance between the features of the data and of their reconstructions)."""
    check_pair("z", z, "z_hat", z_hat)
    both = torch.cat([z, z_hat])
    return coding_rate(both, eps_sq) - 0.5 * (coding_rate(z, eps_sq) + coding_rate(z_hat, eps_sq))
