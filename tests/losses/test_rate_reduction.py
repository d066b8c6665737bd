"""Coding rate and rate reduction against numpy log-determinants and known geometric cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disentkit.losses import class_coding_rate, coding_rate, rate_reduction, rate_reduction_between


def _rate(z: np.ndarray, eps_sq: float) -> float:
    n, d = z.shape
    return 0.5 * np.linalg.slogdet(np.eye(d) + d / (n * eps_sq) * z.T @ z)[1]


def test_coding_rate_and_class_rate_equal_numpy():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 5))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    labels = rng.integers(0, 3, size=30)
    assert coding_rate(torch.tensor(z)).item() == pytest.approx(_rate(z, 0.5), rel=1e-12)
    want_c = sum((labels == c).sum() / 30 * _rate(z[labels == c], 0.5) for c in range(3))
    assert class_coding_rate(torch.tensor(z), torch.tensor(labels), eps_sq=0.5).item() == pytest.approx(want_c, rel=1e-12)
    assert rate_reduction(torch.tensor(z), torch.tensor(labels)).item() == pytest.approx(_rate(z, 0.5) - want_c, rel=1e-12)
    zh = rng.normal(size=(30, 5))
    want_between = _rate(np.concatenate([z, zh]), 0.2) - 0.5 * (_rate(z, 0.2) + _rate(zh, 0.2))
    assert rate_reduction_between(torch.tensor(z), torch.tensor(zh), eps_sq=0.2).item() == pytest.approx(
        want_between, rel=1e-12)


def test_orthogonal_class_subspaces_reduce_more_than_shared_ones():
    # two classes of unit vectors: on orthogonal axes vs on the same axis
    e = torch.eye(4, dtype=torch.float64)
    labels = torch.tensor([0] * 10 + [1] * 10)
    orthogonal = torch.cat([e[0].expand(10, 4), e[1].expand(10, 4)])
    shared = torch.cat([e[0].expand(10, 4), e[0].expand(10, 4)])
    assert rate_reduction(orthogonal, labels) > rate_reduction(shared, labels)
    assert rate_reduction(shared, labels).item() == pytest.approx(0.0, abs=1e-12)  # classes identical
    # rank-1 rate in closed form: 1/2 log(1 + d/(n eps^2) * n) for n copies of one unit vector
    assert coding_rate(e[0].expand(10, 4)).item() == pytest.approx(0.5 * np.log(1 + 4 / 0.5), rel=1e-12)
    assert rate_reduction_between(orthogonal, orthogonal).item() == pytest.approx(
        coding_rate(torch.cat([orthogonal, orthogonal])).item() - coding_rate(orthogonal).item(), rel=1e-12)


def test_gradients_flow_and_errors_are_clear():
    z = torch.randn(16, 3, requires_grad=True)
    rate_reduction(z, torch.arange(16) % 2).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    with pytest.raises(ValueError, match="labels must be integer class labels of shape \\(16,\\)"):
        class_coding_rate(z, torch.zeros(16))
    with pytest.raises(ValueError, match="eps_sq must be > 0.0"):
        coding_rate(z, eps_sq=0.0)
