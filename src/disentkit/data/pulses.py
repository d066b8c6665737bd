"""Pulse signals: a procedural 1-D dataset with two factors, a stand-in for NashAE's Beamsynthesis.

Beamsynthesis (Yeats et al., ECCV 2022; spec ``methods_vae.md`` §4.4) holds 360 simulated
particle-beam current signals of length 1000 whose file names carry two factors: the duty cycle
(0.200, 0.205, ..., 0.795; 120 values) and a second parameter (10, 15, 20). Its simulation is not
public in a form that works offline, so this dataset keeps the *structure* (two factors with those
value grids, 360 signals, length 1000, values in [0, 1]) with a signal of its own: one
trapezoidal pulse per window,

``x(t) = clip(min((t − t_on) / r, (t_on + d L − t) / r), 0, 1)``,  ``t = 0 .. L−1``,

rising at ``t_on = 0.1 L`` over ``r`` samples, high for a duty cycle ``d`` of the window, then
falling over ``r`` samples, with ``d`` the duty cycle and ``r`` the rise time in samples (the
second factor). Observations are (1, 1, L) "images" (one channel, one row), so every
dataset-generic part of disentkit (samplers, streams, metrics) takes them as they are.
"""

from __future__ import annotations

import numpy as np

from disentkit.data.base import GroundTruthData
from disentkit.data.factors import FactorSpace
from disentkit.validation import check_int

__all__ = ["DUTY_CYCLES", "RISE_TIMES", "PulseSignals", "pulse_signals"]

#: The duty cycles of Beamsynthesis: 0.200, 0.205, ..., 0.795 (120 values).
DUTY_CYCLES = tuple(round(0.2 + 0.005 * k, 3) for k in range(120))
#: The second factor's values (rise times in samples here).
RISE_TIMES = (10, 15, 20)


class PulseSignals(GroundTruthData):
    """Trapezoidal pulses of length ``length`` with factors ``duty_cycle`` (120) x ``rise_time`` (3).

    >>> data = PulseSignals()
    >>> data.observation_shape, data.factor_sizes
    ((1, 1, 1000), (120, 3))
    """

    def __init__(self, length: int = 1000) -> None:
        self.length = check_int("length", length, 100)
        self._space = FactorSpace(("duty_cycle", "rise_time"), (len(DUTY_CYCLES), len(RISE_TIMES)))

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (1, 1, self.length)

    def factor_values(self, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The duty cycle d (float64) and rise time r (samples, float64) of factor indices (n, 2)."""
        idx = self.factor_space.validate(factors)
        return np.asarray(DUTY_CYCLES)[idx[:, 0]], np.asarray(RISE_TIMES, dtype=np.float64)[idx[:, 1]]

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        duty, rise = self.factor_values(factors)
        length = self.length
        t = np.arange(length, dtype=np.float64)[None, :]
        t_on = 0.1 * length
        rising = (t - t_on) / rise[:, None]
        falling = (t_on + duty[:, None] * length - t) / rise[:, None]
        signal = np.clip(np.minimum(rising, falling), 0.0, 1.0)
        return signal.astype(np.float32)[:, None, None, :]


def pulse_signals(length: int = 1000) -> PulseSignals:
    """The registry's factory: :class:`PulseSignals`."""
    return PulseSignals(length)
