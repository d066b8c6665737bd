"""TAD (NashAE's targeted AUROC difference) on hand-built codes and attributes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from disentkit.metrics import auroc_matrix, tad


def test_auroc_matrix_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    codes = np.round(rng.normal(size=(200, 3)), 1)  # ties
    labels = rng.integers(0, 2, size=(200, 2))
    got = auroc_matrix(codes, labels)
    for d in range(3):
        for a in range(2):
            assert got[d, a] == pytest.approx(roc_auc_score(labels[:, a], codes[:, d]), abs=1e-12)


def test_one_latent_per_attribute_scores_the_auroc_gaps():
    rng = np.random.default_rng(1)
    n = 2000
    attrs = rng.integers(0, 2, size=(n, 2))  # independent: entropy reduction ~0
    codes = np.column_stack([
        0.5 + 0.4 * (2 * attrs[:, 0] - 1) + 0.05 * rng.normal(size=n),  # separates attribute 0 (AUC ~1)
        0.5 - 0.4 * (2 * attrs[:, 1] - 1) + 0.05 * rng.normal(size=n),  # attribute 1, reversed polarity
        rng.uniform(size=n),  # active noise (AUC ~0.5)
        np.full(n, 0.3),  # inactive
    ])
    out = tad(codes, attrs)
    auc = auroc_matrix(codes[:, :3], attrs)
    scores = np.maximum(auc, 1 - auc)
    want = sum(np.sort(scores[:, a])[-1] - np.sort(scores[:, a])[-2] for a in range(2))
    assert out["tad"] == pytest.approx(want, rel=1e-12) and out["tad"] > 0.9  # at most 0.5 per attribute (1 - 0.5)
    assert out["num_attributes"] == 2 and out["num_active"] == 3


def test_co_determined_and_unlearnable_attributes_are_dropped():
    rng = np.random.default_rng(2)
    n = 1000
    a = rng.integers(0, 2, size=n)
    attrs = np.column_stack([a, a, rng.integers(0, 2, size=n)])  # 0 and 1 identical; 2 unlearnable
    codes = np.column_stack([a + 0.01 * rng.normal(size=n), rng.uniform(size=n)])
    out = tad(codes, attrs)
    assert out["num_attributes"] == 0 and out["tad"] == 0.0  # 0/1 co-determined, 2 below AUROC 0.75
    assert tad(codes, attrs[:, [0, 2]])["num_attributes"] == 1


def test_tad_errors():
    with pytest.raises(ValueError, match="tad needs binary attributes; factor 0 has 3 values"):
        tad(np.random.rand(10, 2), np.arange(10).reshape(-1, 1) % 3)
    with pytest.raises(ValueError, match="min_auroc must be >= 0.5"):
        tad(np.random.rand(10, 2), np.arange(10).reshape(-1, 1) % 2, min_auroc=0.2)


def test_learned_features_counts_latents_whose_range_exceeds_the_threshold():
    from disentkit.metrics import evaluate, learned_features

    codes = np.array([[0.1, 0.5, 0.0], [0.25, 0.9, 0.19], [0.2, 0.6, 0.0]])
    assert learned_features(codes, np.zeros((3, 2))) == {"num_active": 1.0, "num_factors": 2.0}
    assert learned_features(codes, threshold=0.1) == {"num_active": 3.0}
    from disentkit.data import FactorSpace, GroundTruthData

    class Two(GroundTruthData):
        factor_space = FactorSpace(("a", "b"), (4, 4))
        observation_shape = (1, 1, 3)

        def _render(self, factors, rng):  # pixel 2 is constant: an inactive "latent"
            out = np.zeros((len(factors), 1, 1, 3), dtype=np.float32)
            out[:, 0, 0, :2] = factors / 3
            return out

    result = evaluate(Two(), lambda x: x[:, 0, 0, :], ["learned_features"], num_train=100, progress=False)
    assert result["learned_features"]["values"] == {"num_active": 2.0, "num_factors": 2.0}
