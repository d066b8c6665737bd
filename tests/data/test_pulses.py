"""The pulse-signal stand-in for Beamsynthesis: factor grids and the trapezoid formula."""

from __future__ import annotations

import numpy as np
import pytest

from disentkit.data.pulses import DUTY_CYCLES, RISE_TIMES, PulseSignals


def test_factor_grids_are_beamsynthesis_values():
    data = PulseSignals()
    assert data.factor_sizes == (120, 3) and len(data) == 360
    assert DUTY_CYCLES[0] == 0.2 and DUTY_CYCLES[-1] == 0.795 and RISE_TIMES == (10, 15, 20)
    assert data.observation_shape == (1, 1, 1000)


def test_signal_is_the_trapezoid_of_its_factors():
    data = PulseSignals(length=200)
    x = data._render(np.array([[20, 1]]), None)[0, 0, 0]  # duty 0.3, rise 15 samples
    t_on, high = 20.0, 0.3 * 200  # rises from t = 20, falls to 0 at t = 20 + 60 = 80
    for t, want in [(0, 0.0), (20, 0.0), (35, 1.0), (50, 1.0), (65, 1.0), (80, 0.0), (199, 0.0)]:
        assert x[t] == pytest.approx(want, abs=1e-7)
    assert x[26] == pytest.approx((26 - t_on) / 15, rel=1e-6)  # on the rising ramp
    assert x[74] == pytest.approx((t_on + high - 74) / 15, rel=1e-6)  # on the falling ramp
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1


def test_each_factor_changes_the_signal_and_rendering_is_deterministic():
    data = PulseSignals()
    base = data._render(np.array([[50, 0], [51, 0], [50, 2]]), None)
    assert not np.array_equal(base[0], base[1]) and not np.array_equal(base[0], base[2])
    np.testing.assert_array_equal(base, data._render(np.array([[50, 0], [51, 0], [50, 2]]), None))
    with pytest.raises(ValueError, match="length must be an integer >= 100"):
        PulseSignals(length=10)
