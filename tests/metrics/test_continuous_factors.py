"""Array metrics on datasets with continuous factors: binned, and the bins recorded."""

from __future__ import annotations

import numpy as np

from disentkit.metrics import evaluate


def test_continuous_factors_are_binned_for_the_array_metrics_and_recorded():
    from disentkit.data import ContinuousFactorSpace, Factor, GroundTruthData

    class Mixed(GroundTruthData):
        factor_space = ContinuousFactorSpace((Factor.discrete("shape", 3), Factor.continuous("size", 0.5, 1.5)))
        observation_shape = (1, 1, 2)

        def _render(self, factors, rng):
            return factors.astype(np.float32)[:, None, None, :]

    seen = {}
    result = evaluate(Mixed(), lambda x: x[:, 0, 0, :], ["mig"], num_train=500, progress=False,
                      on_splits=seen.update)
    assert result["mig"]["settings"]["discretised_factors"] == {"size": 20}
    codes, factors = seen["train"]
    np.testing.assert_array_equal(factors[:, 0], codes[:, 0].astype(np.int64))  # discrete: unchanged
    want = np.minimum(np.floor((codes[:, 1] - 0.5) / 1.0 * 20), 19).astype(np.int64)
    np.testing.assert_array_equal(factors[:, 1], want)  # 20 equal-width bins of [0.5, 1.5]
    assert factors.dtype == np.int64 and result["mig"]["values"]["discrete_mig"] > 0.5
