"""Nearest-subspace classification on codes whose classes live on known subspaces."""

from __future__ import annotations

import numpy as np
import pytest

from disentkit.metrics import nearest_subspace_accuracy


def test_classes_on_orthogonal_planes_are_recovered_and_the_residual_rule_holds():
    rng = np.random.default_rng(0)
    d, n = 6, 300
    labels = rng.integers(0, 3, size=n)
    codes = np.zeros((n, d))
    for c in range(3):  # class c spans axes 2c, 2c+1
        rows = labels == c
        codes[rows, 2 * c:2 * c + 2] = rng.normal(size=(rows.sum(), 2))
    test_labels = rng.integers(0, 3, size=100)
    test = np.zeros((100, d))
    for c in range(3):
        rows = test_labels == c
        test[rows, 2 * c:2 * c + 2] = rng.normal(size=(rows.sum(), 2))
    out = nearest_subspace_accuracy(codes, labels[:, None], test, test_labels[:, None], components=2, center=False)
    assert out == {"test_accuracy:0": 1.0, "test_accuracy": 1.0}
    # by hand for one test point: the residual to each class's plane is the norm off that plane
    x = np.array([[0.0, 0.0, 0.0, 0.0, 3.0, 0.1]])
    one = nearest_subspace_accuracy(codes, labels[:, None], x, np.array([[2]]), components=2, center=False)
    assert one["test_accuracy"] == 1.0


def test_components_must_leave_a_residual():
    codes = np.random.default_rng(1).normal(size=(20, 4))
    f = (np.arange(20) % 2)[:, None]
    with pytest.raises(ValueError, match=r"components must be an integer in \[1, 3\]"):
        nearest_subspace_accuracy(codes, f, codes, f, components=4)
